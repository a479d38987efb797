"""The quote providers by name: what each needs in its ``[listings.source]``, how it is built.

Every choice of provider goes through ``PROVIDERS``: the config checks a source
against it, ``make_provider`` builds from it. It is not in the providers package:
that package imports httpx and the config, and the config reads this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.errors import ConfigError

if TYPE_CHECKING:
    from tracker.config import SourceConfig
    from tracker.core.model import Listing
    from tracker.sources.providers.base import QuoteProvider


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """A provider: its name, what its source table must give, how it is built for a listing.

    ``needs_url``: it has no public host to default to. ``takes_fields``: its
    ``[listings.source.fields]`` say where its JSON keeps each figure.
    """

    name: str
    build: Callable[[Listing, SourceConfig], QuoteProvider]
    needs_url: bool = False
    takes_fields: bool = False


# The builders import their provider when called: a provider module imports httpx, a
# thirtieth of a second that reading a config must not pay.


def _feed(listing: Listing, source: SourceConfig) -> QuoteProvider:
    from tracker.sources.providers.feed import FeedProvider

    url = _url(listing, source)
    return FeedProvider(url, timezone=listing.timezone, timeout=source.timeout)


def _http_json(listing: Listing, source: SourceConfig) -> QuoteProvider:
    from tracker.sources.providers.http_json import HttpJsonProvider

    url = _url(listing, source)
    if source.fields is None:  # the config refuses this too
        raise ConfigError(f"listing {listing.id!r}: source: http_json needs fields")
    return HttpJsonProvider(url, source.fields, timezone=listing.timezone, timeout=source.timeout)


def _yahoo(listing: Listing, source: SourceConfig) -> QuoteProvider:
    from tracker.sources.providers.yahoo import YahooProvider

    return YahooProvider(listing.symbol, base=source.url, timeout=source.timeout)


def _tencent(listing: Listing, source: SourceConfig) -> QuoteProvider:
    from tracker.sources.providers.tencent import TencentProvider

    try:
        return TencentProvider(
            listing.symbol, base=source.url, timeout=source.timeout, timezone=listing.timezone
        )
    except ValueError as exc:
        raise ConfigError(f"listing {listing.id!r}: source: {exc}") from None


def _url(listing: Listing, source: SourceConfig) -> str:
    """The source's url: the config refuses a source without one; checked for the type checker."""
    if source.url is None:
        raise ConfigError(
            f"listing {listing.id!r}: source: provider {source.provider!r} needs a url"
        )
    return source.url


# In the order a config error lists them.
PROVIDERS: Mapping[str, ProviderKind] = {
    kind.name: kind
    for kind in (
        ProviderKind("feed", _feed, needs_url=True),
        ProviderKind("http_json", _http_json, needs_url=True, takes_fields=True),
        ProviderKind("yahoo", _yahoo),
        ProviderKind("tencent", _tencent),
    )
}

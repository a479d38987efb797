"""The quote providers by name: what each needs in its ``[listings.source]``, how it is built.

Every choice of provider goes through ``PROVIDERS``: the config checks a source
against it, ``make_provider`` builds from it (each provider module's ``build``). It is
not in the providers package: that package imports httpx and the config, and the
config reads this table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tracker.errors import ConfigError

if TYPE_CHECKING:
    from tracker.core.model import Listing
    from tracker.sources.providers.base import QuoteProvider


class Source(Protocol):
    """What this table reads of a ``[listings.source]`` (``tracker.config.SourceConfig``,
    which reads this table: named by its shape, so the two do not import each other)."""

    @property
    def provider(self) -> str: ...

    @property
    def url(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """A provider: its name, what its source table must give, the module that builds it.

    ``needs_url``: it has no public host to default to. ``takes_fields``: its
    ``[listings.source.fields]`` say where its JSON keeps each figure. ``module`` has a
    ``build(listing, source)``; it is imported when a provider is built, not when a
    config is read (a provider module imports httpx: a thirtieth of a second), and so
    this table imports no provider and no provider's imports lead back to the config.
    """

    name: str
    module: str
    needs_url: bool = False
    takes_fields: bool = False

    def build(self, listing: Listing, source: Source) -> QuoteProvider:
        """The provider for a listing's source, ready to fetch."""
        builder: Callable[[Listing, Any], QuoteProvider]
        builder = importlib.import_module(self.module).build
        return builder(listing, source)


def source_url(listing: Listing, source: Source) -> str:
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
        ProviderKind("feed", "tracker.sources.providers.feed", needs_url=True),
        ProviderKind(
            "http_json", "tracker.sources.providers.http_json", needs_url=True, takes_fields=True
        ),
        ProviderKind("yahoo", "tracker.sources.providers.yahoo"),
        ProviderKind("tencent", "tracker.sources.providers.tencent"),
    )
}

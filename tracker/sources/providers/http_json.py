"""Any JSON quote endpoint: the config names the dotted path of each figure.

A path is keys and list indices joined by dots (``data.last``, ``quote.0.price``).
Figures may be JSON numbers or decimal text, in the payload's units: the configured
scales turn them into the listing's (``price_scale = 0.001`` for prices in thousandths).
The time may be epoch seconds, epoch milliseconds (above 1e11) or ISO 8601 text (without
an offset: the exchange's time). The price and time paths must exist in the payload
(their values may be null before the first trade); the optional figures are None where
their path is absent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from tracker.errors import ConfigError
from tracker.sources.providers import (
    OneByOne,
    as_number,
    checked_quote,
    garbage,
    get_body,
    iso_to_us,
    load_json,
    seconds_to_us,
)
from tracker.sources.providers.base import Quote
from tracker.sources.registry import source_url

if TYPE_CHECKING:  # the config's types, read for their attributes: no import of the config
    from tracker.config import JsonFields, SourceConfig
    from tracker.core.model import Listing

MILLISECONDS_ABOVE = 1e11  # epoch seconds reach 1e11 in the year 5138


class _Missing:
    """The value of a path that the payload does not have."""


MISSING = _Missing()


class HttpJsonProvider(OneByOne):
    """Quotes from a JSON endpoint, its figures at configured paths."""

    name = "http_json"

    def __init__(
        self, url: str, fields: JsonFields, *, timezone: str, timeout: float = 5.0
    ) -> None:
        self.url = url
        self.fields = fields
        self.timezone = timezone
        self.timeout = timeout

    def fetch(self, client: httpx.Client) -> Quote:
        """Make one request and parse it; raise QuoteError on any fault."""
        return parse_http_json(get_body(client, self.url, self.timeout), self.fields, self.timezone)


def parse_http_json(body: bytes, fields: JsonFields, timezone: str) -> Quote:
    """The quote in a JSON payload, each figure read at its configured path."""
    data = load_json(body)

    def figure(path: str | None, required: bool = False) -> Any:
        if path is None:
            return None
        value = lookup(data, path)
        if value is MISSING:
            if required:
                raise garbage(f"no {path!r} in the payload")
            return None
        return value

    def number(path: str | None, scale: float, required: bool = False) -> float | None:
        value = as_number(figure(path, required), str(path), strings=True)
        return value if value is None or scale == 1 else value * scale

    price = fields.price_scale
    return checked_quote(
        number(fields.price, price, required=True),
        epoch_us(figure(fields.time, required=True), timezone, fields.time),
        number(fields.volume, fields.volume_scale),
        number(fields.turnover, fields.turnover_scale),
        number(fields.high, price),
        number(fields.low, price),
        number(fields.open, price),
        number(fields.prev_close, price),
    )


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path of keys and list indices, or MISSING."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def epoch_us(value: Any, timezone: str, name: str = "time") -> int | None:
    """Epoch microseconds of a time given as epoch seconds or milliseconds, or ISO 8601 text."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        return iso_to_us(value, timezone, name)
    number = as_number(value, name, strings=True)
    if number is None:
        return None
    return seconds_to_us(number / 1000 if number > MILLISECONDS_ABOVE else number, name)


def build(listing: Listing, source: SourceConfig) -> HttpJsonProvider:
    """A listing's http_json provider (the ``provider = "http_json"`` registry entry)."""
    url = source_url(listing, source)
    if source.fields is None:  # the config refuses this too
        raise ConfigError(f"listing {listing.id!r}: source: http_json needs fields")
    return HttpJsonProvider(url, source.fields, timezone=listing.timezone, timeout=source.timeout)

"""Our own quote format, served by ``tracker feed`` at ``GET /quotes/ID``.

``{"symbol": "6082.HK", "ts": "2026-01-02T10:15:00+08:00", "price": 37.86, "volume": ...,
"turnover": ..., "high": ..., "low": ..., "open": ..., "prev_close": ...}``: ``ts`` is the last
trade's time, ISO 8601 with the exchange's offset; volume and turnover are cumulative for the
trading day; high, low and open are the day's so far; every figure is null before the first
trade. ``open`` and ``prev_close`` extend the contract's shape: a reader may do without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx

from tracker.core.model import ts_to_datetime
from tracker.sources.providers import (
    OneByOne,
    as_number,
    checked_quote,
    garbage,
    get_body,
    iso_to_us,
    load_json,
)
from tracker.sources.providers.base import Quote
from tracker.sources.registry import source_url

if TYPE_CHECKING:
    from tracker.config import SourceConfig
    from tracker.core.model import Listing


class FeedProvider(OneByOne):
    """Quotes from a ``tracker feed`` server."""

    name = "feed"

    def __init__(self, url: str, *, timezone: str = "UTC", timeout: float = 5.0) -> None:
        self.url = url
        self.timezone = timezone
        self.timeout = timeout

    def fetch(self, client: httpx.Client) -> Quote:
        """Make one request and parse it; raise QuoteError on any fault."""
        return parse_feed(get_body(client, self.url, self.timeout), self.timezone)


def parse_feed(body: bytes, timezone: str = "UTC") -> Quote:
    """The quote in a feed answer (a time without an offset is local time in ``timezone``)."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise garbage(f"not a JSON object: {body[:60]!r}")
    missing = [key for key in ("ts", "price") if key not in data]
    if missing:
        raise garbage(f"no {' and '.join(missing)} in {body[:60]!r}")
    ts = data["ts"]
    if ts is not None and not isinstance(ts, str):
        raise garbage(f"ts {ts!r} is not ISO 8601 text")
    return checked_quote(
        as_number(data["price"], "price"),
        None if ts is None else iso_to_us(ts, timezone, "ts"),
        as_number(data.get("volume"), "volume"),
        as_number(data.get("turnover"), "turnover"),
        as_number(data.get("high"), "high"),
        as_number(data.get("low"), "low"),
        as_number(data.get("open"), "open"),
        as_number(data.get("prev_close"), "prev_close"),
    )


def feed_payload(symbol: str, quote: Quote, timezone: str) -> dict[str, Any]:
    """The feed answer for a quote, its time in the exchange's zone."""
    ts = None
    if quote.ts_us is not None:
        ts = ts_to_datetime(quote.ts_us).astimezone(ZoneInfo(timezone)).isoformat()
    return {
        "symbol": symbol,
        "ts": ts,
        "price": quote.price,
        "volume": quote.volume,
        "turnover": quote.turnover,
        "high": quote.high,
        "low": quote.low,
        "open": quote.open,
        "prev_close": quote.prev_close,
    }


def build(listing: Listing, source: SourceConfig) -> FeedProvider:
    """A listing's feed provider (the ``provider = "feed"`` registry entry)."""
    url = source_url(listing, source)
    return FeedProvider(url, timezone=listing.timezone, timeout=source.timeout)

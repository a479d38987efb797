"""Yahoo Finance's chart API v8: read its JSON, and write the same shape for the feed server.

``GET /v8/finance/chart/6082.HK?interval=1m&range=1d`` answers
``{"chart": {"result": [{"meta": {...}, "timestamp": [...], "indicators": {"quote": [{...}]}}],
"error": null}}``; the last trade is in ``meta`` (``regularMarketPrice``, ``regularMarketTime``
in epoch seconds, ``regularMarketVolume`` cumulative for the day, ``regularMarketDayHigh`` and
``regularMarketDayLow``, ``chartPreviousClose`` or ``previousClose``); the 1-minute bars hold
null where a minute had no trade, and the day's first bar opens at the day's open.
A failure answers ``{"chart": {"result": null, "error": {"code": ..., "description": ...}}}``,
for an unknown symbol with HTTP 404: ``{"chart":{"result":null,"error":{"code":"Not Found",
"description":"No data found, symbol may be delisted"}}}`` (as captured in public tests of
Yahoo clients). A meta without ``regularMarketPrice`` is Yahoo having no price to give (a
provider error); a null one, before the first trade, is "no trade yet".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote as urlquote
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from tracker.sources.providers import (
    OneByOne,
    as_number,
    checked_quote,
    garbage,
    get_body,
    load_json,
    seconds_to_us,
)
from tracker.sources.providers.base import Quote, QuoteError

if TYPE_CHECKING:
    from tracker.config import SourceConfig
    from tracker.core.model import Listing

DEFAULT_BASE = "https://query1.finance.yahoo.com"
_HEADERS = {"User-Agent": "Mozilla/5.0 (compatible; listing-tracker)"}


class Bar(NamedTuple):
    """One minute's trades: its start (epoch seconds), open, high, low, close and volume."""

    start_s: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None


def yahoo_symbol(symbol: str) -> str:
    """Yahoo's spelling of a symbol: Hong Kong codes in 4 digits (``06082.HK`` → ``6082.HK``)."""
    code, _, suffix = symbol.rpartition(".")
    if suffix.upper() == "HK" and code.isascii() and code.isdigit():
        return f"{int(code):04d}.HK"
    return symbol


class YahooProvider(OneByOne):
    """Quotes from Yahoo's chart API, or from any server that answers in its shape."""

    name = "yahoo"

    def __init__(self, symbol: str, *, base: str | None = None, timeout: float = 5.0) -> None:
        parts = urlsplit(base or DEFAULT_BASE)
        self.symbol = yahoo_symbol(symbol)
        self.timeout = timeout
        self.url = (
            f"{parts.scheme}://{parts.netloc}/v8/finance/chart/"
            f"{urlquote(self.symbol, safe='')}?interval=1m&range=1d"
        )

    def fetch(self, client: httpx.Client) -> Quote:
        """Make one request and parse it; raise QuoteError on any fault."""
        body = get_body(client, self.url, self.timeout, _HEADERS, explain=chart_error)
        return parse_yahoo(body)


def chart_error(status: int, body: bytes) -> QuoteError | None:
    """Yahoo's own error in an answer that is not 2xx (a 404 for an unknown symbol), if any."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    chart = data.get("chart") if isinstance(data, dict) else None
    error = chart.get("error") if isinstance(chart, dict) else None
    return None if error is None else QuoteError("provider error", f"HTTP {status}: {_said(error)}")


def _said(error: Any) -> str:
    """What a ``chart.error`` says: ``Not Found: No data found, symbol may be delisted``."""
    if not isinstance(error, dict):
        return str(error)
    parts = [str(error[key]) for key in ("code", "description") if error.get(key)]
    return ": ".join(parts) or str(error)


def parse_yahoo(body: bytes) -> Quote:
    """The quote in a chart API v8 answer."""
    data = load_json(body)
    chart = data.get("chart") if isinstance(data, dict) else None
    if not isinstance(chart, dict):
        raise garbage("no 'chart' object")
    error = chart.get("error")
    if error is not None:
        raise QuoteError("provider error", _said(error))
    results = chart.get("result")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise garbage("no chart.result[0]")
    result = results[0]
    meta = result.get("meta")
    if not isinstance(meta, dict):
        raise garbage("no chart.result[0].meta")
    if "regularMarketPrice" not in meta:  # null is "no trade yet"; missing, no price to give
        symbol = meta.get("symbol", "the symbol")
        raise QuoteError("provider error", f"no price: Yahoo's meta for {symbol} has none")
    price = as_number(meta["regularMarketPrice"], "regularMarketPrice")
    seconds = as_number(meta.get("regularMarketTime"), "regularMarketTime")
    ts_us = None if seconds is None else seconds_to_us(seconds, "regularMarketTime")
    volume = as_number(meta.get("regularMarketVolume"), "regularMarketVolume")
    high = as_number(meta.get("regularMarketDayHigh"), "regularMarketDayHigh")
    low = as_number(meta.get("regularMarketDayLow"), "regularMarketDayLow")
    if high is None:
        high = _from_bars(result, "high", max)
    if low is None:
        low = _from_bars(result, "low", min)
    opened = as_number(meta.get("regularMarketOpen"), "regularMarketOpen")
    if opened is None:
        opened = _from_bars(result, "open", _first)
    previous = as_number(meta.get("previousClose"), "previousClose")
    if previous is None:
        previous = as_number(meta.get("chartPreviousClose"), "chartPreviousClose")
    return checked_quote(price, ts_us, volume, None, high, low, opened, previous)


def _first(values: list[float]) -> float:
    return values[0]


def _from_bars(
    result: dict[str, Any], key: str, pick: Callable[[list[float]], float]
) -> float | None:
    """The day's high, low or open from the 1-minute bars, null entries skipped."""
    indicators = result.get("indicators")
    quotes = indicators.get("quote") if isinstance(indicators, dict) else None
    if not isinstance(quotes, list) or not quotes or not isinstance(quotes[0], dict):
        return None
    values = quotes[0].get(key)
    if values is None:
        return None
    if not isinstance(values, list):
        raise garbage(f"indicators.quote[0].{key} is not a list")
    numbers = [as_number(value, f"indicators.quote[0].{key}") for value in values]
    present = [number for number in numbers if number is not None]
    return pick(present) if present else None


def chart_payload(
    symbol: str,
    quote: Quote,
    bars: Sequence[Bar],
    *,
    timezone: str,
    currency: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """A chart API v8 answer for a quote and the day's bars (minutes without trades are null)."""
    local = now.astimezone(ZoneInfo(timezone))
    offset = local.utcoffset()
    meta = {
        "currency": currency,
        "symbol": yahoo_symbol(symbol),
        "instrumentType": "EQUITY",
        "regularMarketPrice": quote.price,
        "regularMarketTime": None if quote.ts_us is None else quote.ts_us // 1_000_000,
        "regularMarketVolume": _whole(quote.volume),
        "regularMarketDayHigh": quote.high,
        "regularMarketDayLow": quote.low,
        "chartPreviousClose": quote.prev_close,
        "gmtoffset": int(offset.total_seconds()) if offset is not None else 0,
        "timezone": local.tzname(),
        "exchangeTimezoneName": timezone,
        "dataGranularity": "1m",
        "range": "1d",
    }
    by_minute = {bar.start_s: bar for bar in bars}
    minutes = list(range(bars[0].start_s, bars[-1].start_s + 60, 60)) if bars else []
    slots = [by_minute.get(minute) for minute in minutes]
    series = {
        name: [None if bar is None else field(bar) for bar in slots]
        for name, field in _SERIES.items()
    }
    result = {"meta": meta, "timestamp": minutes, "indicators": {"quote": [series]}}
    return {"chart": {"result": [result], "error": None}}


_SERIES: dict[str, Callable[[Bar], float | None]] = {
    "open": lambda bar: bar.open,
    "high": lambda bar: bar.high,
    "low": lambda bar: bar.low,
    "close": lambda bar: bar.close,
    "volume": lambda bar: _whole(bar.volume),
}


def _whole(value: float | None) -> float | None:
    """A share count as JSON writes it: 150709945, not 150709945.0."""
    return int(value) if value is not None and value.is_integer() else value


def build(listing: Listing, source: SourceConfig) -> YahooProvider:
    """A listing's Yahoo provider (the ``provider = "yahoo"`` registry entry)."""
    return YahooProvider(listing.symbol, base=source.url, timeout=source.timeout)

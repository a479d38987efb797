"""Yahoo Finance's chart API v8: read its JSON, and write the same shape for the feed server.

``GET /v8/finance/chart/6082.HK?interval=1m&range=1d`` answers
``{"chart": {"result": [{"meta": {...}, "timestamp": [...], "indicators": {"quote": [{...}]}}],
"error": null}}``; the last trade is in ``meta`` (``regularMarketPrice``, ``regularMarketTime``
in epoch seconds, ``regularMarketVolume`` cumulative for the day, ``regularMarketDayHigh`` and
``regularMarketDayLow``); the 1-minute bars hold null where a minute had no trade.
A failure answers ``{"chart": {"result": null, "error": {"code": ..., "description": ...}}}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote as urlquote
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from tracker.sources.providers import (
    as_number,
    checked_quote,
    garbage,
    get_body,
    load_json,
    seconds_to_us,
)
from tracker.sources.providers.base import Quote, QuoteError

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


class YahooProvider:
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
        return parse_yahoo(get_body(client, self.url, self.timeout, _HEADERS))


def parse_yahoo(body: bytes) -> Quote:
    """The quote in a chart API v8 answer."""
    data = load_json(body)
    chart = data.get("chart") if isinstance(data, dict) else None
    if not isinstance(chart, dict):
        raise garbage("no 'chart' object")
    error = chart.get("error")
    if error is not None:
        if isinstance(error, dict):
            error = error.get("description") or error.get("code") or error
        raise QuoteError("provider error", str(error))
    results = chart.get("result")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise garbage("no chart.result[0]")
    result = results[0]
    meta = result.get("meta")
    if not isinstance(meta, dict) or "regularMarketPrice" not in meta:
        raise garbage("chart.result[0].meta has no regularMarketPrice")
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
    return checked_quote(price, ts_us, volume, None, high, low)


def _from_bars(
    result: dict[str, Any], key: str, pick: Callable[[list[float]], float]
) -> float | None:
    """The day's high or low from the 1-minute bars, null entries skipped."""
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

"""Live quote providers: one small interface, one module per provider format.

What the provider modules share lives here too: one GET whose every failure is a
``QuoteError`` with a short stable reason, and the checks every parsed quote passes
(a price of 0 or null before any volume is "no trade yet", not a fault).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tracker.config import SourceConfig
from tracker.core.limits import END_US, amount_problem, price_problem
from tracker.core.model import Listing, datetime_to_ts
from tracker.sources.providers.base import Quote, QuoteError, QuoteProvider
from tracker.sources.registry import PROVIDERS

logger = logging.getLogger(__name__)

GARBAGE = "garbage payload"
BAD_PRICE = "bad price"
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def make_provider(listing: Listing, source: SourceConfig) -> QuoteProvider:
    """The provider a listing's ``[listings.source]`` names, ready to fetch."""
    return PROVIDERS[source.provider].build(listing, source)


def fetch_quotes(
    client: httpx.Client, providers: Sequence[QuoteProvider]
) -> list[Quote | QuoteError]:
    """Each provider's quote or error, in order; one request for providers of one batch key."""
    if len(providers) == 1:
        try:
            return [providers[0].fetch(client)]
        except QuoteError as exc:
            return [exc]
    keys = {provider.batch_key for provider in providers}
    if len(keys) != 1 or None in keys:
        raise ValueError(f"providers of batch keys {sorted(map(str, keys))} cannot share a request")
    return providers[0].fetch_batch(client, providers)


class OneByOne:
    """For providers that answer one listing a request: no batch key, one request each."""

    batch_key: str | None = None
    batch_limit = 1

    def fetch(self, client: httpx.Client) -> Quote:
        """Make one request and parse it; raise QuoteError on any fault."""
        raise NotImplementedError

    def fetch_batch(
        self, client: httpx.Client, providers: Sequence[QuoteProvider]
    ) -> list[Quote | QuoteError]:
        """A request for each provider in turn."""
        return [quote for provider in providers for quote in fetch_quotes(client, [provider])]


Explain = Callable[[int, bytes], QuoteError | None]  # a provider's reading of an error body


def get_body(
    client: httpx.Client,
    url: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    explain: Explain | None = None,
) -> bytes:
    """Make one GET and return the body; any failure or a status other than 2xx is a QuoteError.

    ``explain`` reads the body of an answer that is not 2xx: a provider's own error
    (Yahoo's ``chart.error``, say) is that error, with its reason; otherwise the status is.
    """
    logger.debug("GET %s", url)
    try:
        response = client.get(url, timeout=timeout, headers=headers)
    except httpx.TimeoutException as exc:
        raise QuoteError("timeout", f"no answer from {url} within {timeout:g} s") from exc
    except httpx.ConnectError as exc:
        raise QuoteError("connection refused", f"{url}: {exc}") from exc
    except httpx.RemoteProtocolError as exc:
        raise QuoteError(GARBAGE, f"{url}: malformed or cut-off HTTP response: {exc}") from exc
    except httpx.HTTPError as exc:
        raise QuoteError("connection error", f"{url}: {exc}") from exc
    if not response.is_success:
        explained = explain(response.status_code, response.content) if explain else None
        if explained is not None:
            raise explained
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        detail = f"{url}: {response.reason_phrase}" if response.reason_phrase else url
        raise QuoteError(f"HTTP {response.status_code}", detail, retry_after)
    return response.content


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (wall time)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text)) if math.isfinite(float(text)) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" in an HTTP-date: UTC
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def garbage(detail: str) -> QuoteError:
    """The error for a payload that cannot be trusted: unparsable, incomplete or mistyped."""
    return QuoteError(GARBAGE, detail)


def load_json(body: bytes) -> Any:
    """A JSON body, or a garbage-payload error (truncated, not JSON, not UTF-8)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise garbage(f"not JSON: {exc}; starts {body[:60]!r}") from None


def as_number(value: Any, name: str, *, strings: bool = False) -> float | None:
    """A figure as a float (None stays None); a value of another type is garbage.

    With ``strings``, decimal text counts as a number and empty text as None.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise garbage(f"{name} {value!r} is out of range") from None
    if strings and isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _DECIMAL.fullmatch(text):
            return float(text)
    raise garbage(f"{name} {value!r} is not a number")


def seconds_to_us(seconds: float, name: str) -> int:
    """Epoch microseconds of epoch seconds; a non-finite value is garbage."""
    if not math.isfinite(seconds):
        raise garbage(f"{name} {seconds!r} is not a time")
    return round(seconds * 1_000_000)


def iso_to_us(text: str, timezone: str, name: str) -> int:
    """Epoch microseconds of an ISO 8601 time (without an offset: local time in ``timezone``)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise garbage(f"{name} {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return datetime_to_ts(moment)


def checked_quote(
    price: float | None,
    ts_us: int | None,
    volume: float | None = None,
    turnover: float | None = None,
    high: float | None = None,
    low: float | None = None,
    open: float | None = None,
    prev_close: float | None = None,
) -> Quote:
    """A Quote from a payload's figures, after the checks every provider's answer must pass.

    A price of 0 or null is "no trade yet" unless the day already has volume (then it
    is a bad price); a high below or a low above the price is widened to the price; an
    open or previous close of 0 is unknown.
    """
    # ``0 <= x < inf`` is false for NaN, infinities and negatives alike
    for name, amount in (("volume", volume), ("turnover", turnover)):
        if amount is not None and not 0 <= amount < math.inf:
            raise garbage(f"{name} {amount!r} is not a non-negative number")
        if amount is not None and (problem := amount_problem(amount)) is not None:
            raise garbage(f"{name} {amount:g} {problem}")
    if price is not None and not 0 <= price < math.inf:
        raise QuoteError(BAD_PRICE, f"price {price!r}")
    if price and (problem := price_problem(price)) is not None:
        raise QuoteError(BAD_PRICE, f"price {price:g} {problem}")
    if not price:
        if volume:
            raise QuoteError(BAD_PRICE, f"price {price!r} after {volume:g} shares traded")
        return Quote(None, None, volume, turnover)
    if ts_us is None:
        raise garbage(f"price {price!r} without a trade time")
    if not 0 < ts_us < END_US:  # before 1970 or from 2200 on: garbage
        raise garbage(f"trade time {ts_us} µs since the epoch is out of range")
    high, low = _extreme("high", high), _extreme("low", low)
    return Quote(
        ts_us,
        price,
        volume,
        turnover,
        None if high is None else max(high, price),
        None if low is None else min(low, price),
        _extreme("open", open),
        _extreme("prev_close", prev_close),
    )


def _extreme(name: str, value: float | None) -> float | None:
    """A day's price figure (high, low, open...): 0 means unknown, a negative one is garbage."""
    if value is None or value == 0:
        return None
    if not 0 < value < math.inf:
        raise garbage(f"{name} {value!r} is not a positive number")
    if (problem := price_problem(value)) is not None:
        raise garbage(f"{name} {value:g} {problem}")
    return value


def text_number(text: str, name: str) -> float | None:
    """A figure given as text: ``as_number(text, name, strings=True)``, quicker when plain."""
    if text.isascii() and "_" not in text:
        try:
            number = float(text)  # as _DECIMAL reads it, or "nan", "inf": checked here
        except ValueError:
            pass
        else:
            if -math.inf < number < math.inf:
                return number
    return as_number(text, name, strings=True)


__all__ = [
    "BAD_PRICE",
    "GARBAGE",
    "OneByOne",
    "Quote",
    "QuoteError",
    "QuoteProvider",
    "as_number",
    "checked_quote",
    "fetch_quotes",
    "garbage",
    "get_body",
    "iso_to_us",
    "load_json",
    "make_provider",
    "retry_after_seconds",
    "seconds_to_us",
    "text_number",
]

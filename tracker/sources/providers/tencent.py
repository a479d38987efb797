"""Tencent's ``qt.gtimg.cn`` quote text: read it, and write the same shape for the feed server.

``GET https://qt.gtimg.cn/q=hk06082`` answers GBK text, one record per code:
``v_hk06082="100~壁仞科技~06082~37.860~...";``. The layout below follows real answers
for ``q=hk00700`` captured in public test fixtures (``v_hk00700="100~腾讯控股~00700~479.200~
473.800~474.600~19321018.0~0~0~...~2026/04/29 16:08:43~5.400~1.14~480.600~474.600~479.200~
19321018.0~9231869057.790~...~HKD~1~50";``, 78 fields): 0 market (100 = Hong Kong), 1 name,
2 code, 3 last price, 4 previous close, 5 open, 6 volume (shares, cumulative), 29 volume again,
30 time (exchange local, ``YYYY/MM/DD HH:MM:SS``; some answers use ``-`` or no separators),
31 change, 32 change %, 33 high, 34 low, 35 last price again, 36 volume again, 37 turnover.
Trimmed answers have fewer fields, so every field is read by index defensively: a missing
optional field is None, a missing price or time is garbage. An unknown code answers
``v_pv_none_match="1";``.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from tracker.core.model import datetime_to_ts, ts_to_datetime
from tracker.sources.providers import as_number, checked_quote, garbage, get_body
from tracker.sources.providers.base import Quote, QuoteError

DEFAULT_BASE = "https://qt.gtimg.cn"
HONG_KONG = "Asia/Hong_Kong"
PRICE, PREVIOUS_CLOSE, VOLUME, TIME, HIGH, LOW, TURNOVER = 3, 4, 6, 30, 33, 34, 37
RECORD_FIELDS = 78

_RECORD = re.compile(r'v_(\w+)="([^"]*)"', re.ASCII)
_TIME = re.compile(r"(\d{4})[/-]?(\d{2})[/-]?(\d{2})[ T]?(\d{2}):?(\d{2}):?(\d{2})", re.ASCII)
_HK_SYMBOL = re.compile(r"(?:r_)?hk(\d{5})|(\d{1,5})\.HK", re.ASCII | re.IGNORECASE)


def tencent_code(symbol: str) -> str:
    """Tencent's code for a Hong Kong symbol: ``6082.HK`` → ``hk06082``."""
    match = _HK_SYMBOL.fullmatch(symbol.strip())
    if match is None:
        raise ValueError(f"symbol {symbol!r} has no Tencent code (a Hong Kong symbol like 6082.HK)")
    return f"hk{int(match.group(1) or match.group(2)):05d}"


class TencentProvider:
    """Quotes from Tencent's ``qt.gtimg.cn``, or from any server that answers in its shape."""

    name = "tencent"

    def __init__(
        self,
        symbol: str,
        *,
        base: str | None = None,
        timeout: float = 5.0,
        timezone: str = HONG_KONG,
    ) -> None:
        parts = urlsplit(base or DEFAULT_BASE)
        self.code = tencent_code(symbol)
        self.timeout = timeout
        self.timezone = timezone
        self.url = f"{parts.scheme}://{parts.netloc}/q={self.code}"

    def fetch(self, client: httpx.Client) -> Quote:
        """Make one request and parse it; raise QuoteError on any fault."""
        body = get_body(client, self.url, self.timeout)
        return parse_tencent(body, self.code, self.timezone)


def parse_tencent(body: bytes, code: str | None = None, timezone: str = HONG_KONG) -> Quote:
    """The quote in a ``qt.gtimg.cn`` answer: the record for ``code``, else the first one."""
    try:
        text = body.decode("gbk")
    except UnicodeDecodeError as exc:
        raise garbage(f"not GBK text: {exc}") from None
    records = dict(_RECORD.findall(text))
    if "pv_none_match" in records:
        raise QuoteError("provider error", f"unknown code {code or ''}".strip())
    if code is not None:
        record = records.get(code, records.get(f"r_{code}"))
    else:
        record = next(iter(records.values()), None)
    if record is None:
        raise garbage(f'no v_{code or "..."}="..."; record in {body[:60]!r}')
    fields = record.split("~")
    if len(fields) <= PRICE:
        raise garbage(f"record has {len(fields)} fields, no price (field {PRICE})")
    price = as_number(fields[PRICE], "price", strings=True)
    stamp = fields[TIME].strip() if len(fields) > TIME else ""
    return checked_quote(
        price,
        _time(stamp, timezone) if stamp else None,
        _optional(fields, VOLUME, "volume"),
        _optional(fields, TURNOVER, "turnover"),
        _optional(fields, HIGH, "high"),
        _optional(fields, LOW, "low"),
    )


def _optional(fields: list[str], index: int, name: str) -> float | None:
    """An optional figure: None when the record is too short to hold it or it is empty."""
    return as_number(fields[index], name, strings=True) if len(fields) > index else None


def _time(text: str, timezone: str) -> int:
    """Epoch microseconds of a record's local time."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise garbage(f"time {text!r} is not YYYY/MM/DD HH:MM:SS")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(timezone))
    except ValueError as exc:
        raise garbage(f"time {text!r}: {exc}") from None
    return datetime_to_ts(moment)


def tencent_record(
    code: str,
    name: str,
    quote: Quote,
    *,
    timezone: str = HONG_KONG,
    previous_close: float | None = None,
) -> bytes:
    """A ``qt.gtimg.cn`` answer (GBK) for a quote; before the first trade the figures are 0."""
    fields = [""] * RECORD_FIELDS
    price = quote.price or 0.0
    fields[7:29] = ["0"] * 22  # order book and odd-lot figures the tracker does not use
    fields[0], fields[2] = "100", code.removeprefix("hk")
    fields[1] = name.replace("~", " ").replace('"', "'")
    fields[PRICE] = fields[9] = fields[19] = fields[35] = _decimal(price, 3)
    fields[PREVIOUS_CLOSE] = _decimal(previous_close or 0.0, 3)
    fields[VOLUME] = fields[29] = fields[36] = _decimal(quote.volume or 0.0, 1)
    if quote.ts_us is not None:
        local = ts_to_datetime(quote.ts_us).astimezone(ZoneInfo(timezone))
        fields[TIME] = local.strftime("%Y/%m/%d %H:%M:%S")
    if previous_close and quote.price:
        fields[31] = f"{quote.price - previous_close:.3f}"
        fields[32] = f"{(quote.price / previous_close - 1) * 100:.2f}"
    fields[HIGH] = _decimal(quote.high or 0.0, 3)
    fields[LOW] = _decimal(quote.low or 0.0, 3)
    fields[TURNOVER] = _decimal(quote.turnover or 0.0, 3)
    fields[75] = "HKD"
    return f'v_{code}="{"~".join(fields)}";\n'.encode("gbk", errors="replace")


def _decimal(value: float, places: int) -> str:
    """A figure with Tencent's fixed decimals, or more when those would lose precision."""
    fixed = f"{value:.{places}f}"
    return fixed if float(fixed) == value else repr(value)

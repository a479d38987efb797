"""Tencent's ``qt.gtimg.cn`` quote text: read it, and write the same shape for the feed server.

``GET https://qt.gtimg.cn/q=r_hk06082`` answers GBK text, one record per code asked for:
``v_r_hk06082="100~壁仞科技~06082~37.860~...";``. The ``r_hk`` records are real time; the
plain ``hk`` ones (``q=hk06082``) lag by about 15 minutes, so only ``r_hk`` is asked for.
Several codes go in one request (``q=r_hk06082,r_hk09997``), up to 60 as Tencent's clients
ask for (easyquotation's ``max_num = 60``), each record found under the code asked for; a
code Tencent does not know gets no record, and the answer then carries
``v_pv_none_match="1";`` (once, whichever codes it was).

The layout below follows real answers captured in public code, such as
``v_r_hk09660="100~地平线机器人-W~09660~6.340~5.690~5.800~210980204.0~0~0~6.340~0~...~
210980204.0~2025/04/29 14:14:52~0.650~11.42~6.450~5.710~6.340~210980204.0~1295585259.040~...~
HKD~1~30";`` (78 fields): 0 market (100 = Hong Kong), 1 name, 2 code, 3 last price,
4 previous close (a debut's offer price), 5 open, 6 volume (shares, cumulative), 29 volume
again, 30 time of the last trade (exchange local, ``YYYY/MM/DD HH:MM:SS``; some answers use
``-`` or no separators), 31 change, 32 change %, 33 high, 34 low, 35 last price again,
36 volume again, 37 turnover. Before a listing's first trade the price is 0 and the time
``0000/00/00 00:00:00``: "no trade yet", not garbage. Trimmed answers have fewer fields, so
every field is read by index defensively: a missing optional field is None, a missing
price or time is garbage.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from tracker.core.model import datetime_to_ts, ts_to_datetime
from tracker.errors import ConfigError
from tracker.sources.providers import checked_quote, garbage, get_body, text_number
from tracker.sources.providers.base import Quote, QuoteError, QuoteProvider

if TYPE_CHECKING:
    from tracker.config import SourceConfig
    from tracker.core.model import Listing

DEFAULT_BASE = "https://qt.gtimg.cn"
HONG_KONG = "Asia/Hong_Kong"
PRICE, PREVIOUS_CLOSE, OPEN, VOLUME, TIME, HIGH, LOW, TURNOVER = 3, 4, 5, 6, 30, 33, 34, 37
RECORD_FIELDS = 78
NO_MATCH = "pv_none_match"
CODES_A_REQUEST = 60

_RECORD = re.compile(r'v_(\w+)="([^"]*)"', re.ASCII)
_TIME = re.compile(r"(\d{4})[/-]?(\d{2})[/-]?(\d{2})[ T]?(\d{2}):?(\d{2}):?(\d{2})", re.ASCII)
_NO_TIME = re.compile(r"0{4}[/-]?00[/-]?00[ T]?00:?00:?00", re.ASCII)
_HK_SYMBOL = re.compile(r"(?:r_)?hk(\d{5})|(\d{1,5})\.HK", re.ASCII | re.IGNORECASE)


def tencent_code(symbol: str) -> str:
    """Tencent's real-time code for a Hong Kong symbol: ``6082.HK`` → ``r_hk06082``."""
    match = _HK_SYMBOL.fullmatch(symbol.strip())
    if match is None:
        raise ValueError(f"symbol {symbol!r} has no Tencent code (a Hong Kong symbol like 6082.HK)")
    return f"r_hk{int(match.group(1) or match.group(2)):05d}"


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
        self.host = f"{parts.scheme}://{parts.netloc}"
        self.url = f"{self.host}/q={self.code}"
        self.batch_key: str | None = f"tencent {self.host}"
        self.batch_limit = CODES_A_REQUEST
        self._last: tuple[str, Quote] | None = None  # the last record read, and its quote

    def fetch(self, client: httpx.Client) -> Quote:
        """Make one request and parse it; raise QuoteError on any fault."""
        return self._quote(tencent_records(get_body(client, self.url, self.timeout)))

    def _quote(self, records: dict[str, str]) -> Quote:
        """This listing's quote in an answer's records: the last one again, when the record is
        unchanged (most are, from one poll to the next), so that is cheap to tell."""
        record = records.get(self.code)
        last = self._last
        if record is not None and last is not None and last[0] == record:
            return last[1]
        quote = _record_quote(records, self.code, self.timezone)
        if record is not None:
            self._last = (record, quote)
        return quote

    def fetch_batch(
        self, client: httpx.Client, providers: Sequence[QuoteProvider]
    ) -> list[Quote | QuoteError]:
        """One request for the codes of several Tencent providers on this host, in their order.

        A failed request fails them all; an unknown code fails its own listing only.
        """
        members = [p for p in providers if isinstance(p, TencentProvider)]
        if len(members) != len(providers) or {p.host for p in members} != {self.host}:
            raise ValueError("a Tencent batch takes Tencent providers of one host")
        codes = list(dict.fromkeys(p.code for p in members))
        url = f"{self.host}/q={','.join(codes)}"
        try:
            records = tencent_records(get_body(client, url, max(p.timeout for p in members)))
        except QuoteError as exc:
            return [exc for _ in members]
        answers: list[Quote | QuoteError] = []
        for provider in members:
            try:
                answers.append(provider._quote(records))
            except QuoteError as exc:
                answers.append(exc)
        return answers


def tencent_records(body: bytes) -> dict[str, str]:
    """The records of a ``qt.gtimg.cn`` answer by code (``r_hk06082``: ``100~...``)."""
    try:
        text = body.decode("gbk")
    except UnicodeDecodeError as exc:
        raise garbage(f"not GBK text: {exc}") from None
    return dict(_RECORD.findall(text))


def parse_tencent(body: bytes, code: str | None = None, timezone: str = HONG_KONG) -> Quote:
    """The quote in a ``qt.gtimg.cn`` answer: the record for ``code``, else the first one."""
    records = tencent_records(body)
    if code is None:
        code = next((key for key in records if key != NO_MATCH), "")
    return _record_quote(records, code, timezone)


def _record_quote(records: dict[str, str], code: str, timezone: str) -> Quote:
    """The quote in the record of the code asked for."""
    record = records.get(code)
    if record is None:
        if NO_MATCH in records:
            raise QuoteError("provider error", f"unknown code {code}")
        raise garbage(f'no v_{code}="..."; record among {sorted(records)[:5]}')
    fields = record.split("~", TURNOVER + 1)  # the fields read, and the rest in one
    if len(fields) <= PRICE:
        raise garbage(f"record has {len(fields)} fields, no price (field {PRICE})")
    price = text_number(fields[PRICE], "price")
    stamp = fields[TIME].strip() if len(fields) > TIME else ""
    if _NO_TIME.fullmatch(stamp):
        price, stamp = None, ""  # no trade yet
    return checked_quote(
        price,
        _time(stamp, timezone) if stamp else None,
        _optional(fields, VOLUME, "volume"),
        _optional(fields, TURNOVER, "turnover"),
        _optional(fields, HIGH, "high"),
        _optional(fields, LOW, "low"),
        _optional(fields, OPEN, "open"),
        _optional(fields, PREVIOUS_CLOSE, "previous close"),
    )


def _optional(fields: list[str], index: int, name: str) -> float | None:
    """An optional figure: None when the record is too short to hold it or it is empty."""
    return text_number(fields[index], name) if len(fields) > index else None


@functools.lru_cache(maxsize=1024)  # records of one answer, and of the next, share seconds
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
    fields[0], fields[2] = "100", code.removeprefix("r_").removeprefix("hk")
    fields[1] = name.replace("~", " ").replace('"', "'")
    fields[PRICE] = fields[9] = fields[19] = fields[35] = _decimal(price, 3)
    fields[PREVIOUS_CLOSE] = _decimal(previous_close or 0.0, 3)
    fields[OPEN] = _decimal(quote.open or 0.0, 3)
    fields[VOLUME] = fields[29] = fields[36] = _decimal(quote.volume or 0.0, 1)
    fields[TIME] = "0000/00/00 00:00:00"
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


def build(listing: Listing, source: SourceConfig) -> TencentProvider:
    """A listing's Tencent provider (the ``provider = "tencent"`` registry entry)."""
    try:
        return TencentProvider(
            listing.symbol, base=source.url, timeout=source.timeout, timezone=listing.timezone
        )
    except ValueError as exc:
        raise ConfigError(f"listing {listing.id!r}: source: {exc}") from None

"""From a provider's quote to the tick it stands for: the live path's pure step.

A quote is a provider's latest figures for one listing: its last trade (time and
price) and the day's cumulative volume and turnover, high, low, open and previous
close. Read against what is stored (the listing's state and the day's counted
volume), a quote is one of: no trade yet, a trade of an earlier trading day (stale),
the trade already stored (unchanged, or with a new high or low), or a new trade,
which becomes a tick with its share of the day's volume. A quote that cannot be
true (a price ten times the last, a trade time far ahead of the clock, a trade older
than the one stored) is refused with a reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from tracker.core.model import Extremes, Listing, ListingState, Tick, local_date, ts_to_datetime

PRICE_BAND = 10.0  # a price more than this many times the last stored one (or less than
# its inverse) is not a quote to trust: a wrong unit, a wrong listing, a corrupt feed


@dataclass(frozen=True, slots=True)
class Quote:
    """A provider's latest quote for one listing.

    ``ts_us`` is the last trade's instant (epoch microseconds, UTC); ``volume`` and
    ``turnover`` are cumulative for the trading day; ``high``, ``low`` and ``open`` are
    the day's so far, ``prev_close`` the previous trading day's close. Before the first
    trade of a debut ``price`` and ``ts_us`` are None ("no trade yet", not a fault).
    """

    ts_us: int | None
    price: float | None
    volume: float | None = None
    turnover: float | None = None
    high: float | None = None
    low: float | None = None
    open: float | None = None
    prev_close: float | None = None

    @property
    def traded(self) -> bool:
        """Whether the quote reports a trade (a price and its time)."""
        return self.price is not None and self.ts_us is not None


class QuoteRefused(ValueError):
    """A quote that cannot be true; ``reason`` is short and stable, ``detail`` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DayCounts:
    """The cumulative volume and turnover of a trading day that stored ticks account for.

    ``source`` is the provider whose cumulative figures these are; None when they are the
    sums of the stored ticks (after a start or restart), which any provider continues.
    """

    day: dt.date
    volume: float = 0.0
    turnover: float = 0.0
    source: str | None = None


class Read(StrEnum):
    """What a quote turned out to be."""

    NO_TRADE = "no trade yet"
    STALE = "stale"  # the last trade is on an earlier trading day: nothing today
    UNCHANGED = "unchanged"  # the stored trade, with the high and low already seen
    EXTREMES = "extremes"  # the stored trade, with a new high or low
    TICK = "tick"  # a new trade


@dataclass(frozen=True, slots=True)
class QuoteRead:
    """A quote read against the store: the tick and day figures to ingest, and the counts after.

    ``note`` says what was odd but not refused (a cumulative volume that went down).
    """

    read: Read
    tick: Tick | None = None
    extremes: Extremes | None = None
    counts: DayCounts | None = None
    note: str | None = None


def read_quote(
    listing: Listing,
    quote: Quote,
    state: ListingState,
    counts: DayCounts,
    *,
    source: str,
    now_us: int,
    max_future_us: int,
) -> QuoteRead:
    """What a provider's quote means for a listing whose state and day counts are these.

    ``counts`` are those of the clock's trading day; ``source`` names the provider.
    Raises QuoteRefused for a quote that cannot be true.
    """
    if quote.ts_us is None or quote.price is None:
        return QuoteRead(Read.NO_TRADE)
    _check_band(listing, quote, state)
    ts_us = quote.ts_us
    if ts_us > now_us + max_future_us:
        raise QuoteRefused("trade time in the future", _iso(listing, ts_us))
    if local_date(listing, ts_us) < counts.day:
        return QuoteRead(Read.STALE)
    last_ts = state.last_ts_us
    if last_ts is not None and ts_us < last_ts:
        raise QuoteRefused(
            "trade time went back", f"{_iso(listing, ts_us)} < stored {_iso(listing, last_ts)}"
        )
    extremes = Extremes(ts_us, quote.high, quote.low, quote.open, quote.prev_close)
    if ts_us == last_ts and not _more_traded(quote, counts, source):
        adopted = counts if counts.source == source else _adopt(counts, quote, source)
        if state.extremes is not None and extremes.range == state.extremes:
            return QuoteRead(Read.UNCHANGED, counts=adopted)
        return QuoteRead(Read.EXTREMES, extremes=extremes, counts=adopted)
    volume, volume_note = _share(counts.volume, quote.volume, counts.source, source, "volume")
    turnover, turnover_note = _share(
        counts.turnover, quote.turnover, counts.source, source, "turnover"
    )
    seq = state.last_seq + 1 if ts_us == last_ts else 0
    tick = Tick(ts_us, seq, quote.price, volume, turnover)
    after = DayCounts(
        counts.day,
        _counted(counts.volume, quote.volume, volume_note is None),
        _counted(counts.turnover, quote.turnover, turnover_note is None),
        source,
    )
    return QuoteRead(Read.TICK, tick, extremes, after, volume_note or turnover_note)


def _check_band(listing: Listing, quote: Quote, state: ListingState) -> None:
    """Refuse a quote whose prices are out of all proportion to the last stored one."""
    reference = state.last_price if state.last_price is not None else listing.offer_price
    basis = "the last stored price" if state.last_price is not None else "the offer price"
    for name, value in (
        ("price", quote.price),
        ("high", quote.high),
        ("low", quote.low),
        ("open", quote.open),
    ):
        if value is None:
            continue
        if value > reference * PRICE_BAND:
            raise QuoteRefused(
                "bad quote", f"{name} {value:g} is more than 10x {basis} {reference:g}"
            )
        if value < reference / PRICE_BAND:
            raise QuoteRefused(
                "bad quote", f"{name} {value:g} is less than a tenth of {basis} {reference:g}"
            )


def _more_traded(quote: Quote, counts: DayCounts, source: str) -> bool:
    """Whether a quote of the stored trade's instant reports more shares from the same source."""
    return counts.source == source and quote.volume is not None and quote.volume > counts.volume


def _adopt(counts: DayCounts, quote: Quote, source: str) -> DayCounts:
    """Counts that continue from this source's cumulative figures, where it gives them."""
    return DayCounts(
        counts.day,
        counts.volume if quote.volume is None else quote.volume,
        counts.turnover if quote.turnover is None else quote.turnover,
        source,
    )


def _share(
    counted: float, cumulative: float | None, whose: str | None, source: str, name: str
) -> tuple[float | None, str | None]:
    """A new trade's share of a cumulative day figure, and a note when it cannot be known.

    From the same source, or from the stored sums, it is the difference. Less than
    counted from the same source (a correction, a glitch): unknown, noted, and the count
    is kept. From another source (after a switch), the difference when it is not negative.
    """
    if cumulative is None:
        return None, None
    delta = cumulative - counted
    if delta >= 0:
        return delta, None
    if whose == source:
        return None, f"cumulative {name} went down: {cumulative:g} < {counted:g}"
    return None, None


def _counted(counted: float, cumulative: float | None, continues: bool) -> float:
    """The count after a trade: the source's cumulative figure, unless it went down."""
    return counted if cumulative is None or not continues else cumulative


def _iso(listing: Listing, ts_us: int) -> str:
    return ts_to_datetime(ts_us).astimezone(ZoneInfo(listing.timezone)).isoformat()

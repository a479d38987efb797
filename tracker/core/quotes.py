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
    """What a trading day's stored ticks account for of its cumulative volume and turnover.

    ``stored_volume`` and ``stored_turnover`` are the sums of the day's stored ticks;
    ``volume`` and ``turnover`` the cumulative figures last read from ``source``, the
    provider in use (None, with the stored sums as its figures, after a start or restart).
    A trade's share is the difference from its own provider's last figures; from another
    provider (after a switch) or after a restart, the difference from the stored sums, so
    providers that count differently never count a share twice.
    """

    day: dt.date
    stored_volume: float = 0.0
    stored_turnover: float = 0.0
    source: str | None = None
    volume: float | None = None  # None: the stored sums
    turnover: float | None = None

    @property
    def base_volume(self) -> float:
        """The source's cumulative volume as last read (the stored sum, without a source)."""
        return self.stored_volume if self.volume is None else self.volume

    @property
    def base_turnover(self) -> float:
        """The source's cumulative turnover as last read (the stored sum, without a source)."""
        return self.stored_turnover if self.turnover is None else self.turnover


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
    same = counts.source == source
    if ts_us == last_ts and not _more_traded(quote, counts, same):
        adopted = counts if same else _adopt(counts, quote, source)
        if state.extremes is not None and extremes.range == state.extremes:
            return QuoteRead(Read.UNCHANGED, counts=adopted)
        return QuoteRead(Read.EXTREMES, extremes=extremes, counts=adopted)
    volume, base_volume, volume_note = _share(
        counts.base_volume, counts.stored_volume, quote.volume, same, "volume"
    )
    turnover, base_turnover, turnover_note = _share(
        counts.base_turnover, counts.stored_turnover, quote.turnover, same, "turnover"
    )
    seq = state.last_seq + 1 if ts_us == last_ts else 0
    tick = Tick(ts_us, seq, quote.price, volume, turnover)
    after = DayCounts(
        counts.day,
        counts.stored_volume + (volume or 0.0),
        counts.stored_turnover + (turnover or 0.0),
        source,
        base_volume,
        base_turnover,
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


def _more_traded(quote: Quote, counts: DayCounts, same: bool) -> bool:
    """Whether a quote of the stored trade's instant reports more shares than are counted:
    more than its own provider's last figure, or, after a restart, than the stored sum."""
    if quote.volume is None or not (same or counts.source is None):
        return False  # another provider's figure says nothing of this one's
    return quote.volume > counts.base_volume


def _adopt(counts: DayCounts, quote: Quote, source: str) -> DayCounts:
    """Counts that continue from this provider's cumulative figures, where it gives them."""
    return DayCounts(
        counts.day,
        counts.stored_volume,
        counts.stored_turnover,
        source,
        counts.base_volume if quote.volume is None else quote.volume,
        counts.base_turnover if quote.turnover is None else quote.turnover,
    )


def _share(
    base: float, stored: float, cumulative: float | None, same: bool, name: str
) -> tuple[float | None, float, str | None]:
    """A new trade's share of a cumulative day figure, the figure to count from next, and a
    note when the share cannot be known.

    From the provider last read, the difference from its last figure; less than that (a
    correction, a glitch) is unknown, noted, and the last figure kept. From another
    provider, or after a restart, the difference from the stored sum when not negative.
    """
    if cumulative is None:
        return None, base, None
    if same:
        delta = cumulative - base
        if delta < 0:
            return None, base, f"cumulative {name} went down: {cumulative:g} < {base:g}"
        return delta, cumulative, None
    delta = cumulative - stored
    return (delta if delta >= 0 else None), cumulative, None


def _iso(listing: Listing, ts_us: int) -> str:
    return ts_to_datetime(ts_us).astimezone(ZoneInfo(listing.timezone)).isoformat()

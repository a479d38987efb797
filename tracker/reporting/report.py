"""A listing's day at a glance: the summary printed by ``demo`` and ``report``."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tracker.alerts.messages import big_money, money
from tracker.alerts.record import is_rule_alert
from tracker.core.metrics import DaySummary, PricePoint, gain_pct, market_cap
from tracker.core.model import Listing, StoredAlert, day_bounds, local_date, ts_to_datetime
from tracker.markets.calendar import DaySession, MarketCalendar, Phase
from tracker.store.columns import DayMinutes, day_minutes, ticks_within
from tracker.store.repository import SourceDay, SqlStore


@dataclass(frozen=True, slots=True)
class FirstFire:
    """When a rule first fired that day, and at what price."""

    rule_id: str
    ts_us: int
    price: float


@dataclass(frozen=True, slots=True)
class DayReport:
    """A listing's summary for one exchange-local date, with its minutes and alerts behind it."""

    listing: Listing
    date: dt.date
    summary: DaySummary
    alerts: int
    auction: PricePoint | None = None  # the pre-opening auction's price (HKEX), if traded
    prev_close: float | None = None  # the last tick stored before the day
    first_fires: tuple[FirstFire, ...] = ()
    prev_close_ts: int | None = None
    session: DaySession | None = None
    minutes: DayMinutes | None = None  # the day's traded minutes, for its chart
    stored_alerts: tuple[StoredAlert, ...] = ()  # the day's stored alerts, in firing order
    source: SourceDay | None = None  # a live provider's own figures of the day, if polled
    # The day's ticks outside its trading spans (auctions included): a Saturday's, a half
    # day's afternoon, the lunch break's; stored and shown all the same. And the first's instant.
    outside: int = 0
    first_outside_us: int | None = None

    @property
    def partial(self) -> bool:
        """Whether the day's first stored tick is not its opening trade.

        A daemon started mid-morning, say: the report then never calls it the open.
        """
        until = self.session.opening_until if self.session is not None else None
        return until is not None and self.summary.open.ts_us > until

    @property
    def source_open(self) -> float | None:
        """The provider's open of a day whose open was not stored (partial), if it had one."""
        return self.source.open if self.partial and self.source is not None else None

    @property
    def day_open(self) -> float:
        """The day's open as the rules took it: the first tick, or the provider's when partial."""
        opened = self.source_open
        return self.summary.open.price if opened is None else opened

    @property
    def source_prev_close(self) -> bool:
        """Whether the previous close is the provider's (no earlier day is stored)."""
        return self.prev_close_ts is None and self.prev_close is not None

    @property
    def closing_print(self) -> bool:
        """Whether the day's last stored trade is its closing print (from its closing auction,
        or its close), so the report calls it the close; else it is only the last trade."""
        closing = self.session.closing_from if self.session is not None else None
        return closing is None or self.summary.close.ts_us >= closing

    @property
    def prev_close_date(self) -> dt.date | None:
        """The exchange date of the previous close."""
        if self.prev_close_ts is None:
            return None
        return local_date(self.listing, self.prev_close_ts)


def day_alerts(store: SqlStore, listing: Listing, date: dt.date) -> list[StoredAlert]:
    """The alerts stored for the listing's exchange-local date, in firing order."""
    start, end = day_bounds(listing, date)
    return [a for a in store.alerts(listing.id, since_us=start) if a.ts_us < end]


def day_report(
    store: SqlStore, listing: Listing, date: dt.date, session: DaySession | None = None
) -> DayReport | None:
    """The day's summary from stored ticks and alerts; None when no tick is stored that day.

    ``session`` (the day's calendar, looked up when not given) finds the pre-opening
    auction's price and tells whether the first stored tick is the day's opening trade.
    The figures come from the database's aggregates of each traded minute, never from
    the ticks one by one. The calendar is looked up (exchange_calendars and pandas: half
    a second or more) in a thread while the database works those out.
    """
    start, end = day_bounds(listing, date)
    with ThreadPoolExecutor(1, thread_name_prefix="calendar") as pool:
        calendar = (
            pool.submit(MarketCalendar(listing.calendar).day, date, listing.timezone)
            if session is None
            else None
        )
        minutes = day_minutes(store.engine, listing.id, start, end)
        if calendar is not None:
            session = calendar.result()
    if minutes is None:
        return None
    assert session is not None  # given, or looked up
    stored = day_alerts(store, listing, date)
    firsts: dict[str, FirstFire] = {}
    for alert in stored:
        record = json.loads(alert.record)
        if is_rule_alert(record) and alert.rule_id not in firsts:
            firsts[alert.rule_id] = FirstFire(alert.rule_id, alert.ts_us, float(record["price"]))
    previous = store.last_tick(listing.id, before_us=start)
    source = store.source_day(listing.id, date)
    prev_close = previous.price if previous else None
    debut = listing.listed_on is not None and date <= listing.listed_on
    if prev_close is None and source is not None and not debut:
        prev_close = source.prev_close  # a debut's "previous close" is its offer price
    outside, first_outside = ticks_within(
        store.engine, listing.id, _gaps(session.spans, start, end)
    )
    return DayReport(
        listing,
        date,
        minutes.summary(),
        len(stored),
        _auction(store, listing, session),
        prev_close,
        tuple(firsts.values()),
        previous.ts_us if previous else None,
        session,
        minutes,
        tuple(stored),
        source,
        outside,
        first_outside,
    )


def _auction(store: SqlStore, listing: Listing, session: DaySession) -> PricePoint | None:
    """The last print of the pre-opening auction, if one traded."""
    for period in reversed([p for p in session.periods if p.phase is Phase.PRE_OPEN]):
        tick = store.last_tick(listing.id, before_us=period.end)
        if tick is not None and tick.ts_us >= period.start:
            return PricePoint(tick.ts_us, tick.price)
    return None


def _gaps(spans: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The half-open spans of ``[start, end)`` outside every trading span (ends included)."""
    gaps, at = [], start
    for a, b in spans:
        if a > at:
            gaps.append((at, min(a, end)))
        at = max(at, b + 1)
    if at < end:
        gaps.append((at, end))
    return [(a, b) for a, b in gaps if a < b]


@dataclass(frozen=True, slots=True)
class FigureRow:
    """A price figure of the report, formatted alike for the text and the HTML report."""

    label: str
    price: str
    vs_offer: str  # "" for the offer itself
    market_cap: str
    time: str  # exchange time; the date for the previous close; "" for the offer and VWAP
    vs_prev_close: str  # "" on the first day stored, and for the offer and the close itself
    note: str = ""  # "estimated" for a VWAP from price x volume; "from the source"


FIRST_STORED = "first stored"  # the label of a partial day's first tick: not its open
LAST = "last"  # the label of a day's last trade when it is not its closing print
FROM_SOURCE = "from the source"  # a figure the live provider gave, not a stored tick


def figure_rows(report: DayReport) -> list[FigureRow]:
    """Offer, previous close, auction, open, high, low, close and VWAP, as the report shows them.

    A partial day's first tick is "first stored", not "open"; its open, and a high or low
    beyond the stored ticks', are the live provider's ("from the source") where it gave
    them, as is the previous close when no earlier day is stored. The day's last trade
    is its "close" only when it is the closing print; else it is its "last".
    """
    listing, s = report.listing, report.summary

    def row(label: str, price: float, time: str = "", note: str = "") -> FigureRow:
        offer = label == "offer"
        versus = ""
        if report.prev_close and label not in ("offer", "prev close"):
            versus = f"{(price / report.prev_close - 1) * 100:+.2f}%"
        return FigureRow(
            label,
            f"{price:.2f}",
            "" if offer else f"{gain_pct(listing, price):+.2f}%",
            big_money(listing, market_cap(listing, price), 2),
            time,
            versus,
            note,
        )

    rows = [row("offer", listing.offer_price)]
    if report.prev_close is not None:
        day = report.prev_close_date
        note = FROM_SOURCE if report.source_prev_close else ""
        rows.append(row("prev close", report.prev_close, day.isoformat() if day else "", note))
    if report.auction is not None:
        auction = report.auction
        rows.append(row("auction", auction.price, clock(listing, auction.ts_us)))
    if report.source_open is not None:
        rows.append(row("open", report.source_open, note=FROM_SOURCE))
    first = FIRST_STORED if report.partial else "open"
    rows.append(row(first, s.open.price, clock(listing, s.open.ts_us)))
    for label, point, beyond in (("high", s.high, _source_high), ("low", s.low, _source_low)):
        extreme = beyond(report)
        if extreme is not None:
            rows.append(row(label, extreme, note=FROM_SOURCE))
        else:
            rows.append(row(label, point.price, clock(listing, point.ts_us)))
    last = "close" if report.closing_print else LAST
    rows.append(row(last, s.close.price, clock(listing, s.close.ts_us)))
    if s.vwap is not None:
        rows.append(row("VWAP", s.vwap, note="estimated" if s.turnover_estimated else ""))
    return rows


def _source_high(report: DayReport) -> float | None:
    """The provider's day high when it is above every stored tick (trades between polls)."""
    source = report.source
    if source is None or source.high is None or source.high <= report.summary.high.price:
        return None
    return source.high


def _source_low(report: DayReport) -> float | None:
    """The provider's day low when it is below every stored tick."""
    source = report.source
    if source is None or source.low is None or source.low >= report.summary.low.price:
        return None
    return source.low


def partial_note(report: DayReport) -> str:
    """Why a partial day's figures are not the whole day's ("" for a whole day)."""
    if not report.partial:
        return ""
    listing, session = report.listing, report.session
    continuous = session.continuous_from if session is not None else None
    opens = f" (trading from {clock(listing, continuous)})" if continuous is not None else ""
    first = clock(listing, report.summary.open.ts_us)
    source = report.source
    known = (
        f"the open is {source.provider}'s"
        if report.source_open is not None and source is not None
        else "the open is unknown"
    )
    return (
        f"partial record: the first tick stored is at {first}, after the open{opens}; "
        f"{known}, and volume, turnover and VWAP cover the stored ticks only "
        "(a daemon's first poll counts the day's earlier volume at its price)"
    )


ESTIMATED_NOTE = "turnover and VWAP estimated: price x volume for ticks without a turnover"


def clock(listing: Listing, ts_us: int) -> str:
    """An instant as the exchange's wall clock: 10:15:00."""
    return f"{ts_to_datetime(ts_us).astimezone(ZoneInfo(listing.timezone)):%H:%M:%S}"


def zone_name(listing: Listing, ts_us: int) -> str:
    """The exchange's time zone abbreviation at an instant: HKT."""
    return ts_to_datetime(ts_us).astimezone(ZoneInfo(listing.timezone)).tzname() or ""


def render(report: DayReport) -> str:
    """The report as a one-screen text table."""
    listing, s = report.listing, report.summary
    basis = f" ({listing.shares_basis})" if listing.shares_basis else ""
    versus = f"{'vs prev close':>15}" if report.prev_close else ""
    lines = [
        f"{listing.name} ({listing.symbol}) on {report.date.isoformat()}",
        f"market cap on {listing.shares_outstanding:,} shares{basis}",
    ]
    if report.partial:
        lines.append(partial_note(report))
    lines += ["", f"{'':13}{'price':>10}{'vs offer':>11}{'market cap':>14}{'time':>11}{versus}"]
    for r in figure_rows(report):
        line = f"{r.label:13}{r.price:>10}{r.vs_offer:>11}{r.market_cap:>14}{r.time:>11}"
        line += f"{r.vs_prev_close:>15}" if r.vs_prev_close else ""
        lines.append(line + (f"  {r.note}" if r.note else ""))
    if s.volume is not None and s.turnover is not None:
        lines.append(f"{'volume':13}{s.volume:>14,.0f} shares")
        turnover = f"{money(listing, s.turnover, 0):>14} ({big_money(listing, s.turnover, 2)})"
        lines.append(f"{'turnover':13}{turnover}" + ("  estimated" if s.turnover_estimated else ""))
    lines.append(f"{'ticks':13}{s.ticks:>14,}")
    if report.outside and report.first_outside_us is not None:
        first = clock(listing, report.first_outside_us)
        lines.append(
            f"{'':13}{report.outside:>14,} outside the trading sessions, the first at {first}"
        )
    lines.append(f"{'alerts':13}{report.alerts:>14,}")
    for fire in report.first_fires:
        when = clock(listing, fire.ts_us)
        lines.append(f"  first {fire.rule_id} at {when}, {money(listing, fire.price)}")
    if s.turnover_estimated and s.turnover is not None:
        lines.append(ESTIMATED_NOTE)
    return "\n".join(lines)


def as_data(report: DayReport) -> dict[str, Any]:
    """The report as plain data (``--json``)."""
    listing, s = report.listing, report.summary
    zone = ZoneInfo(listing.timezone)

    def when(ts_us: int) -> str:
        return ts_to_datetime(ts_us).astimezone(zone).isoformat()

    def figure(price: float, ts_us: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "price": price,
            "gain_pct": round(gain_pct(listing, price), 2),
            "market_cap": market_cap(listing, price),
        }
        if report.prev_close:
            data["change_pct"] = round((price / report.prev_close - 1) * 100, 2)
        if ts_us is not None:
            data["ts"] = when(ts_us)
        return data

    points = {"high": s.high, "low": s.low, "close": s.close}
    figures = {name: figure(point.price, point.ts_us) for name, point in points.items()}
    for name, beyond in (("high", _source_high), ("low", _source_low)):
        extreme = beyond(report)
        if extreme is not None:
            figures[name] = {**figure(extreme), "from_source": True}
    opened: dict[str, Any] | None = None
    if report.source_open is not None:
        opened = {**figure(report.source_open), "from_source": True}
    elif not report.partial:
        opened = figure(s.open.price, s.open.ts_us)
    source = report.source
    vwap = figure(s.vwap) if s.vwap is not None else None
    if vwap is not None:
        vwap["estimated"] = s.turnover_estimated
    prev_day = report.prev_close_date
    return {
        "listing": listing.id,
        "symbol": listing.symbol,
        "date": report.date.isoformat(),
        "currency": listing.currency,
        "offer_price": listing.offer_price,
        "shares_outstanding": listing.shares_outstanding,
        "shares_basis": listing.shares_basis,
        "prev_close": report.prev_close,
        "prev_close_date": prev_day.isoformat() if prev_day else None,
        "prev_close_ts": when(report.prev_close_ts) if report.prev_close_ts is not None else None,
        "prev_close_from_source": report.source_prev_close,
        "partial": report.partial,  # the first stored tick is not the opening trade
        "auction": figure(report.auction.price, report.auction.ts_us) if report.auction else None,
        "open": opened,  # a partial day's: the provider's ("from_source"), or null
        "first_stored": figure(s.open.price, s.open.ts_us),
        **figures,
        "closing_print": report.closing_print,  # whether "close" is the closing print
        "source": None
        if source is None
        else {
            "provider": source.provider,
            "as_of": when(source.ts_us),
            "open": source.open,
            "high": source.high,
            "low": source.low,
            "prev_close": source.prev_close,
        },
        "vwap": vwap,
        "volume": s.volume,
        "turnover": s.turnover,
        "turnover_estimated": s.turnover_estimated,  # price x volume for ticks without one
        "ticks": s.ticks,
        "ticks_outside_sessions": report.outside,
        "alerts": report.alerts,
        "first_fires": [
            {"rule": f.rule_id, "ts": when(f.ts_us), "price": f.price} for f in report.first_fires
        ],
    }

"""A listing's day at a glance: the summary printed by ``demo`` and ``report``."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tracker.alerts.messages import big_money, money
from tracker.alerts.record import is_rule_alert
from tracker.calendar import DaySession, MarketCalendar, Phase
from tracker.core.metrics import DaySummary, PricePoint, gain_pct, market_cap, summarize
from tracker.core.model import Listing, Tick, day_bounds, local_date, ts_to_datetime
from tracker.store.repository import SqlStore, StoredAlert


@dataclass(frozen=True, slots=True)
class FirstFire:
    """When a rule first fired that day, and at what price."""

    rule_id: str
    ts_us: int
    price: float


@dataclass(frozen=True, slots=True)
class DayReport:
    """A listing's summary for one exchange-local date, with the ticks and alerts behind it."""

    listing: Listing
    date: dt.date
    summary: DaySummary
    alerts: int
    auction: PricePoint | None = None  # the pre-opening auction's price (HKEX), if traded
    prev_close: float | None = None  # the last tick stored before the day
    first_fires: tuple[FirstFire, ...] = ()
    prev_close_ts: int | None = None
    session: DaySession | None = None
    ticks: tuple[Tick, ...] = ()  # the day's stored ticks
    stored_alerts: tuple[StoredAlert, ...] = ()  # the day's stored alerts, in firing order

    @property
    def partial(self) -> bool:
        """Whether the day's first stored tick is not its opening trade.

        A daemon started mid-morning, say: the report then never calls it the open.
        """
        until = self.session.opening_until if self.session is not None else None
        return until is not None and self.summary.open.ts_us > until

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
    """
    start, end = day_bounds(listing, date)
    ticks = store.ticks(listing.id, start, end)
    if not ticks:
        return None
    stored = day_alerts(store, listing, date)
    firsts: dict[str, FirstFire] = {}
    for alert in stored:
        record = json.loads(alert.record)
        if is_rule_alert(record) and alert.rule_id not in firsts:
            firsts[alert.rule_id] = FirstFire(alert.rule_id, alert.ts_us, float(record["price"]))
    previous = store.last_tick(listing.id, before_us=start)
    if session is None:
        session = MarketCalendar(listing.calendar).day(date, listing.timezone)
    return DayReport(
        listing,
        date,
        summarize(ticks),
        len(stored),
        _auction(ticks, session),
        previous.price if previous else None,
        tuple(firsts.values()),
        previous.ts_us if previous else None,
        session,
        tuple(ticks),
        tuple(stored),
    )


def _auction(ticks: list[Tick], session: DaySession) -> PricePoint | None:
    """The last print of the pre-opening auction, if one traded."""
    pre_open = [p for p in session.periods if p.phase is Phase.PRE_OPEN]
    auction = [t for t in ticks if any(p.start <= t.ts_us < p.end for p in pre_open)]
    return PricePoint(auction[-1].ts_us, auction[-1].price) if auction else None


@dataclass(frozen=True, slots=True)
class FigureRow:
    """A price figure of the report, formatted alike for the text and the HTML report."""

    label: str
    price: str
    vs_offer: str  # "" for the offer itself
    market_cap: str
    time: str  # exchange time; the date for the previous close; "" for the offer and VWAP
    vs_prev_close: str  # "" on the first day stored, and for the offer and the close itself
    note: str = ""  # "estimated" for a VWAP from price x volume


FIRST_STORED = "first stored"  # the label of a partial day's first tick: not its open


def figure_rows(report: DayReport) -> list[FigureRow]:
    """Offer, previous close, auction, open, high, low, close and VWAP, as the report shows them.

    A partial day's first tick is "first stored", not "open".
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
        rows.append(row("prev close", report.prev_close, day.isoformat() if day else ""))
    if report.auction is not None:
        auction = report.auction
        rows.append(row("auction", auction.price, clock(listing, auction.ts_us)))
    first = FIRST_STORED if report.partial else "open"
    for label, point in ((first, s.open), ("high", s.high), ("low", s.low), ("close", s.close)):
        rows.append(row(label, point.price, clock(listing, point.ts_us)))
    if s.vwap is not None:
        rows.append(row("VWAP", s.vwap, note="estimated" if s.turnover_estimated else ""))
    return rows


def partial_note(report: DayReport) -> str:
    """Why a partial day's figures are not the whole day's ("" for a whole day)."""
    if not report.partial:
        return ""
    listing, session = report.listing, report.session
    continuous = session.continuous_from if session is not None else None
    opens = f" (trading from {clock(listing, continuous)})" if continuous is not None else ""
    first = clock(listing, report.summary.open.ts_us)
    return (
        f"partial record: the first tick stored is at {first}, after the open{opens}; "
        "the open is unknown, and volume, turnover and VWAP cover the stored ticks only "
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
        "partial": report.partial,  # the first stored tick is not the opening trade
        "auction": figure(report.auction.price, report.auction.ts_us) if report.auction else None,
        "open": None if report.partial else figure(s.open.price, s.open.ts_us),
        "first_stored": figure(s.open.price, s.open.ts_us),
        **{name: figure(point.price, point.ts_us) for name, point in points.items()},
        "vwap": vwap,
        "volume": s.volume,
        "turnover": s.turnover,
        "turnover_estimated": s.turnover_estimated,  # price x volume for ticks without one
        "ticks": s.ticks,
        "alerts": report.alerts,
        "first_fires": [
            {"rule": f.rule_id, "ts": when(f.ts_us), "price": f.price} for f in report.first_fires
        ],
    }

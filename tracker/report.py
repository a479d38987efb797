"""A listing's day at a glance: the summary printed by ``demo`` and ``report``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tracker.alerts.messages import big_money, money
from tracker.core.metrics import DaySummary, PricePoint, gain_pct, market_cap, summarize
from tracker.core.model import Listing, Tick, day_bounds, ts_to_datetime
from tracker.store.repository import SqlStore

PhaseAt = Callable[[int], str]


@dataclass(frozen=True, slots=True)
class FirstFire:
    """When a rule first fired that day, and at what price."""

    rule_id: str
    ts_us: int
    price: float


@dataclass(frozen=True, slots=True)
class DayReport:
    """A listing's summary for one exchange-local date."""

    listing: Listing
    date: dt.date
    summary: DaySummary
    alerts: int
    auction: PricePoint | None = None  # the pre-opening auction's price (HKEX), if traded
    prev_close: float | None = None
    first_fires: tuple[FirstFire, ...] = ()


def day_report(
    store: SqlStore, listing: Listing, date: dt.date, phase_at: PhaseAt | None = None
) -> DayReport | None:
    """The day's summary from stored ticks and alerts; None when no tick is stored that day.

    ``phase_at`` (the market phase of an instant) finds the pre-opening auction price.
    """
    start, end = day_bounds(listing, date)
    ticks = store.ticks(listing.id, start, end)
    if not ticks:
        return None
    stored = [a for a in store.alerts(listing.id, since_us=start) if a.ts_us < end]
    firsts: dict[str, FirstFire] = {}
    for alert in stored:
        record = json.loads(alert.record)
        if record.get("kind") != "source" and alert.rule_id not in firsts:
            firsts[alert.rule_id] = FirstFire(alert.rule_id, alert.ts_us, float(record["price"]))
    previous = store.last_tick(listing.id, before_us=start)
    return DayReport(
        listing,
        date,
        summarize(ticks),
        len(stored),
        _auction(ticks, phase_at),
        previous.price if previous else None,
        tuple(firsts.values()),
    )


def _auction(ticks: list[Tick], phase_at: PhaseAt | None) -> PricePoint | None:
    if phase_at is None:
        return None
    auction = [tick for tick in ticks if phase_at(tick.ts_us) == "pre_open"]
    return PricePoint(auction[-1].ts_us, auction[-1].price) if auction else None


def render(report: DayReport) -> str:
    """The report as a one-screen text table."""
    listing, s = report.listing, report.summary
    zone = ZoneInfo(listing.timezone)
    basis = f" ({listing.shares_basis})" if listing.shares_basis else ""
    versus = "   vs close" if report.prev_close else ""
    lines = [
        f"{listing.name} ({listing.symbol}) on {report.date.isoformat()}",
        f"market cap on {listing.shares_outstanding:,} shares{basis}",
        "",
        f"{'':10}{'price':>10}{'vs offer':>11}{'market cap':>14}{'time':>11}{versus}",
    ]

    def row(label: str, price: float, ts_us: int | None = None) -> str:
        when = f"{ts_to_datetime(ts_us).astimezone(zone):%H:%M:%S}" if ts_us is not None else ""
        change = "" if label == "offer" else f"{gain_pct(listing, price):+.2f}%"
        cap = big_money(listing, market_cap(listing, price), 2)
        line = f"{label:10}{price:>10.2f}{change:>11}{cap:>14}{when:>11}"
        if report.prev_close and label != "offer":
            line += f"{(price / report.prev_close - 1) * 100:>+12.2f}%"
        return line

    lines.append(row("offer", listing.offer_price))
    if report.prev_close is not None:
        lines.append(f"{'prev close':10}{report.prev_close:>10.2f}")
    if report.auction is not None:
        lines.append(row("auction", report.auction.price, report.auction.ts_us))
    for label, point in (("open", s.open), ("high", s.high), ("low", s.low), ("close", s.close)):
        lines.append(row(label, point.price, point.ts_us))
    if s.vwap is not None:
        lines.append(row("VWAP", s.vwap))
    if s.volume is not None and s.turnover is not None:
        lines.append(f"{'volume':10}{s.volume:>14,.0f} shares")
        turnover = f"{money(listing, s.turnover, 0):>14} ({big_money(listing, s.turnover, 2)})"
        lines.append(f"{'turnover':10}{turnover}")
    lines.append(f"{'ticks':10}{s.ticks:>14,}")
    lines.append(f"{'alerts':10}{report.alerts:>14,}")
    for fire in report.first_fires:
        when = f"{ts_to_datetime(fire.ts_us).astimezone(zone):%H:%M:%S}"
        lines.append(f"  first {fire.rule_id} at {when}, {money(listing, fire.price)}")
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

    points = {"open": s.open, "high": s.high, "low": s.low, "close": s.close}
    return {
        "listing": listing.id,
        "symbol": listing.symbol,
        "date": report.date.isoformat(),
        "currency": listing.currency,
        "offer_price": listing.offer_price,
        "shares_outstanding": listing.shares_outstanding,
        "shares_basis": listing.shares_basis,
        "prev_close": report.prev_close,
        "auction": figure(report.auction.price, report.auction.ts_us) if report.auction else None,
        **{name: figure(point.price, point.ts_us) for name, point in points.items()},
        "vwap": figure(s.vwap) if s.vwap is not None else None,
        "volume": s.volume,
        "turnover": s.turnover,
        "ticks": s.ticks,
        "alerts": report.alerts,
        "first_fires": [
            {"rule": f.rule_id, "ts": when(f.ts_us), "price": f.price} for f in report.first_fires
        ],
    }

"""A listing's day at a glance: the summary table printed by ``demo`` and ``report``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tracker.alerts.messages import big_money, money
from tracker.core.metrics import DaySummary, gain_pct, market_cap, summarize
from tracker.core.model import Listing, datetime_to_ts, ts_to_datetime
from tracker.store.repository import SqlStore


@dataclass(frozen=True, slots=True)
class DayReport:
    """A listing's summary for one exchange-local date, with its alert count."""

    listing: Listing
    date: dt.date
    summary: DaySummary
    alerts: int


def day_bounds(listing: Listing, date: dt.date) -> tuple[int, int]:
    """Epoch microseconds of the exchange-local midnights around a date."""
    zone = ZoneInfo(listing.timezone)
    start = dt.datetime.combine(date, dt.time(), zone)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), zone)
    return datetime_to_ts(start), datetime_to_ts(end)


def local_date(listing: Listing, ts_us: int) -> dt.date:
    """The exchange-local date of an instant."""
    return ts_to_datetime(ts_us).astimezone(ZoneInfo(listing.timezone)).date()


def day_report(store: SqlStore, listing: Listing, date: dt.date) -> DayReport | None:
    """The day's summary from stored ticks; None when no tick is stored for that date."""
    start, end = day_bounds(listing, date)
    ticks = store.ticks(listing.id, start, end)
    if not ticks:
        return None
    alerts = [a for a in store.alerts(listing.id, since_us=start) if a.ts_us < end]
    return DayReport(listing, date, summarize(ticks), len(alerts))


def render(report: DayReport) -> str:
    """The report as a one-screen text table."""
    listing, s = report.listing, report.summary
    zone = ZoneInfo(listing.timezone)
    basis = f" ({listing.shares_basis})" if listing.shares_basis else ""
    lines = [
        f"{listing.name} ({listing.symbol}) on {report.date.isoformat()}",
        f"market cap on {listing.shares_outstanding:,} shares{basis}",
        "",
        f"{'':10}{'price':>10}{'vs offer':>11}{'market cap':>14}{'time':>11}",
    ]

    def row(label: str, price: float, ts_us: int | None = None) -> str:
        when = f"{ts_to_datetime(ts_us).astimezone(zone):%H:%M:%S}" if ts_us is not None else ""
        change = "" if label == "offer" else f"{gain_pct(listing, price):+.2f}%"
        cap = big_money(listing, market_cap(listing, price), 2)
        return f"{label:10}{price:>10.2f}{change:>11}{cap:>14}{when:>11}"

    lines.append(row("offer", listing.offer_price))
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
    return "\n".join(lines)

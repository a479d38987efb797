"""The day's report as one self-contained HTML page (``report --html``, ``demo``).

Chart, figures and alerts in one file that needs nothing else: the chart is a
PNG inside a data URI (an SVG of a day's thousands of ticks and volume bars is
several times larger), the styles are inline, and nothing is fetched. A phone
gets its own rendering of the chart, narrow and tall in larger type (a
``<picture>`` source for narrow screens); wider screens get the ``--png`` one.
Every text from the config or the alert records goes through Jinja2's
autoescaping.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracker.alerts.messages import big_money, money
from tracker.alerts.record import is_rule_alert
from tracker.core.model import StoredAlert
from tracker.reporting.report import (
    ESTIMATED_NOTE,
    DayReport,
    clock,
    figure_rows,
    partial_note,
    zone_name,
)
from tracker.resources import PACKAGE

TEMPLATE = PACKAGE / "templates" / "report.html"
FLAGS = ("gap", "inferred", "late", "silenced")
PHONE_MEDIA = "(max-width: 40rem)"  # screens that get the phone rendering of the chart


@dataclass(frozen=True, slots=True)
class AlertItem:
    """An alert as the page lists it."""

    alert_id: str
    ts: str  # ISO 8601 in exchange time, for <time datetime>
    time: str
    rule: str
    tone: str  # up, down or notice (a source down or back)
    price: str
    gain: str
    flags: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class Chart:
    """The chart as the page embeds it: base64 PNG data and its size in pixels."""

    data: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class DayFiles:
    """The day's chart (the ``--png`` file) and, when asked for, its HTML page."""

    chart: bytes
    page: bytes | None


def day_files(report: DayReport, *, page: bool = True) -> DayFiles:
    """Draw the day's chart (and, for the page, its phone rendering) and render the page."""
    from tracker.reporting.chart import DESKTOP, PHONE, day_figure, png_bytes

    listing, date, minutes = report.listing, report.date, report.minutes
    if minutes is None:
        raise ValueError("a report without its minutes has no chart")
    alerts = report.stored_alerts
    charts = {}
    for layout in (DESKTOP, PHONE) if page else (DESKTOP,):
        figure = day_figure(
            listing,
            minutes,
            alerts,
            date.isoformat(),
            prev_close=report.prev_close,
            day_open=report.day_open,
            session=report.session,
            layout=layout,
        )
        charts[layout] = png_bytes(figure)
    html = render_page(report, alerts, charts[DESKTOP], charts.get(PHONE)) if page else None
    return DayFiles(charts[DESKTOP], html.encode("utf-8") if html is not None else None)


def render_page(
    report: DayReport,
    alerts: Sequence[StoredAlert],
    chart_png: bytes | None,
    phone_png: bytes | None = None,
) -> str:
    """The page: the chart (when given; ``phone_png`` for narrow screens), figures and alerts."""
    import jinja2

    listing, s = report.listing, report.summary
    facts = []
    if s.volume is not None:
        facts.append(("volume", f"{s.volume:,.0f} shares"))
    if s.turnover is not None:
        turnover = f"{money(listing, s.turnover, 0)} ({big_money(listing, s.turnover, 2)})"
        facts.append(("turnover", turnover + (", estimated" if s.turnover_estimated else "")))
    facts += [("ticks", f"{s.ticks:,}"), ("alerts", f"{report.alerts:,}")]
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        title=f"{listing.name} ({listing.symbol}) on {report.date.isoformat()}",
        listing=listing,
        date=report.date.isoformat(),
        zone=zone_name(listing, s.open.ts_us),
        offer=money(listing, listing.offer_price),
        shares=f"{listing.shares_outstanding:,}",
        chart=_chart(chart_png) if chart_png is not None else None,
        phone_chart=_chart(phone_png) if chart_png is not None and phone_png else None,
        phone_media=PHONE_MEDIA,
        rows=figure_rows(report),
        prev_close=report.prev_close is not None,
        partial=partial_note(report),
        estimated=ESTIMATED_NOTE if s.turnover_estimated and s.turnover is not None else "",
        facts=facts,
        fires=[
            {"rule": f.rule_id, "time": clock(listing, f.ts_us), "price": money(listing, f.price)}
            for f in report.first_fires
        ],
        alerts=[_item(report, alert) for alert in alerts],
    )


def _item(report: DayReport, alert: StoredAlert) -> AlertItem:
    listing = report.listing
    record: dict[str, Any] = json.loads(alert.record)
    if not is_rule_alert(record):
        tone = "notice"
    else:
        tone = "down" if record.get("direction") == "down" else "up"
    price, gain = record.get("price"), record.get("gain_pct")
    return AlertItem(
        alert_id=alert.alert_id,
        ts=str(record.get("ts", "")),
        time=clock(listing, alert.ts_us),
        rule=alert.rule_id,
        tone=tone,
        price=money(listing, float(price)) if price is not None else "",
        gain=f"{float(gain):+.2f}%" if gain is not None else "",
        flags=tuple(
            flag for flag in FLAGS if record.get(flag) or (flag == "silenced" and alert.silenced)
        ),
        message=str(record.get("message", "")),
    )


def _chart(png: bytes) -> Chart:
    """The PNG's data and size (from its IHDR chunk, so the page keeps its layout while loading)."""
    width, height = struct.unpack(">II", png[16:24])
    return Chart(base64.b64encode(png).decode("ascii"), width, height)

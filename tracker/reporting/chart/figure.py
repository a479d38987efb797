"""The day's figure, drawn: price, levels, alerts, volume and market cap, in one layout.

The x axis is trading time: the exchange calendar's closed periods within the day
(the lunch break) take no width beyond a narrow cut, marked by a dashed line and
labelled ("lunch 12:00-13:00"). Below the price, a volume bar a minute; on the right,
the market cap the price stands for on the listing's share count. The offer and every
rule's level are drawn inside the price axis, each labelled beside its line where
neither the price nor an alert marker covers the label; alerts at one instant or
close together are stacked beside their price, so each has its own marker, all
inside the axes.

The price is drawn from each minute's first, lowest, highest and last tick
(``DayMinutes``): the same envelope as a line through every tick, from a few
points a minute however busy the day.

Two renderings: ``DESKTOP`` (the ``--png`` file) and ``PHONE`` (narrow, tall and in
larger type, for the HTML page on a small screen).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tracker.core.metrics import level_price
from tracker.core.model import (
    Listing,
    StoredAlert,
    Tick,
    local_date,
    ts_to_datetime,
)
from tracker.markets.calendar import DaySession, MarketCalendar
from tracker.reporting.chart.axis import CUT_WIDTH_S, TradingAxis, axis_between, time_ticks
from tracker.reporting.chart.layout import (
    ALERT,
    CUT,
    DESKTOP,
    LEVEL,
    MUTED,
    OFFER,
    PRICE,
    VOLUME,
    ChartLayout,
)
from tracker.reporting.chart.placing import label_lines, mark_alerts, name_off_chart
from tracker.store.columns import MINUTE_US, DayMinutes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


MIN_DAY_SHARE = 0.1  # levels that would squeeze the day's prices below this share stay off
NEAR_SHARE = 0.25  # ...unless they widen the axis by no more than this share of it


FINGERPRINT_KEY = "Tracker figure"  # PNG text chunk: a digest of the figure's objects


RENDERER_KEY = "Tracker renderer"  # PNG text chunk: the versions that drew the pixels


# (from a bar this tall, count in, unit): millions from a million shares, thousands from 10,000
_VOLUME_UNITS = ((1e6, 1e6, "M shares"), (1e4, 1e3, "k shares"), (0, 1, "shares"))


def day_figure(
    listing: Listing,
    day: DayMinutes | Sequence[Tick],
    alerts: Sequence[StoredAlert],
    title_date: str,
    *,
    prev_close: float | None = None,
    day_open: float | None = None,
    session: DaySession | None = None,
    layout: ChartLayout = DESKTOP,
) -> Figure:
    """The figure of a day's traded minutes (or its ticks, in time order, at least one).

    ``prev_close`` and ``day_open`` (default: the first tick) give the rules against them
    their levels; ``session`` is the day's calendar (looked up when not given).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    minutes = day if isinstance(day, DayMinutes) else _minutes_of(day)
    first_us, last_us = int(minutes.first_us[0]), int(minutes.last_us[-1])
    zone = ZoneInfo(listing.timezone)
    if session is None:
        date = local_date(listing, first_us)
        session = MarketCalendar(listing.calendar).day(date, listing.timezone)
    axis = axis_between(first_us, last_us, session.breaks)
    instants, prices = minutes.path()
    xs = axis.xs(instants)
    opened = day_open or float(minutes.first[0])
    levels = [
        (rule.id, price)
        for rule in listing.rules
        if (price := level_price(listing, rule, opened, prev_close)) is not None
    ]
    day_lo, day_hi = float(minutes.low.min()), float(minutes.high.max())
    lo, hi, shown = _price_range(day_lo, day_hi, listing.offer_price, levels)
    end = max(float(xs[-1]), CUT_WIDTH_S)
    left, right = -end * 0.01, end * 1.01

    figure = Figure(figsize=layout.size, dpi=layout.dpi, layout="constrained")
    FigureCanvasAgg(figure)  # a renderer, to measure texts while placing labels
    price_ax, volume_ax = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for ax in (price_ax, volume_ax):
        ax.tick_params(labelsize=layout.font)
    price_ax.plot(xs, prices, color=PRICE, linewidth=1.1, label="price", gid="price", zorder=3)
    lines = [("offer", f"offer {listing.offer_price:.2f}", listing.offer_price, OFFER, "--")]
    lines += [(f"level:{r}", f"{r} {p:.2f}", p, LEVEL, ":") for r, p in levels if r in shown]
    for gid, _, level, color, style in lines:
        price_ax.plot([left, right], [level, level], color=color, linestyle=style, linewidth=1.1,
                      gid=gid, zorder=2)  # fmt: skip
    price_ax.set_xlim(left, right)
    price_ax.set_ylim(lo, hi)
    name_off_chart(price_ax, [(r, p) for r, p in levels if r not in shown], hi, layout)
    for cut in axis.cuts:
        for ax in (price_ax, volume_ax):
            ax.axvline(cut.x, color=CUT, linestyle="--", linewidth=0.8, gid="cut")
        price_ax.annotate(
            cut.label(zone),
            (cut.x, 0.02),
            xycoords=price_ax.get_xaxis_transform(),
            xytext=(3, 0),
            textcoords="offset points",
            rotation=90,
            ha="left",
            va="bottom",
            fontsize=layout.font,
            color=MUTED,
            gid="cut-label",
        )
    _volume(volume_ax, axis, minutes, end, layout.label_font)
    price_ax.set_ylabel(f"price ({listing.currency})", fontsize=layout.label_font)
    cap_ax = price_ax.secondary_yaxis(
        "right",
        functions=(
            lambda p: p * listing.shares_outstanding / 1e9,
            lambda c: c * 1e9 / listing.shares_outstanding,
        ),
    )
    cap_ax.set_ylabel(f"market cap (bn {listing.currency})", fontsize=layout.label_font)
    cap_ax.tick_params(labelsize=layout.font)
    plot_w = (layout.size[0] - layout.side_margins) * 72
    room = (5 * 0.6 * layout.font + 8) / plot_w * (right - left)  # an "HH:MM" label's width
    times = time_ticks(first_us, last_us, axis, zone, layout.tick_minutes, room)
    volume_ax.set_xticks([x for x, _ in times], [text for _, text in times])
    zone_name = ts_to_datetime(first_us).astimezone(zone).tzname()
    cut_out = "; ".join(cut.label(zone) for cut in axis.cuts)
    volume_ax.set_xlabel(
        f"exchange time ({zone_name})" + (f", {cut_out} cut out" if cut_out else ""),
        fontsize=layout.label_font,
    )
    title = f"{listing.name} ({listing.symbol}) on {title_date}"
    price_ax.set_title(title, fontsize=layout.title_font)
    figure.legend(
        handles=_legend_handles(price_ax),
        loc="outside lower center",
        ncols=layout.legend_columns,
        fontsize=layout.label_font,
        frameon=False,
    )
    # Markers and labels go where they are seen: placed in the laid-out figure's points.
    layout_engine = figure.get_layout_engine()
    assert layout_engine is not None
    layout_engine.execute(figure)
    placed = mark_alerts(price_ax, figure, axis, alerts)
    label_lines(price_ax, figure, [(g, t, y, c) for g, t, y, c, _ in lines], placed, layout)
    figure.set_layout_engine("none")  # laid out: saving it lays it out again to the same place
    return figure


def _minutes_of(ticks: Sequence[Tick]) -> DayMinutes:
    from tracker.core.batch import TickArrays

    return DayMinutes.of_ticks(TickArrays.from_ticks(ticks))


def _price_range(
    day_lo: float, day_hi: float, offer: float, levels: Sequence[tuple[str, float]]
) -> tuple[float, float, set[str]]:
    """The price axis's limits and the levels inside: the day, the offer, levels nearest first.

    A level that widens the range so far by ``NEAR_SHARE`` of it at most is always in;
    one further out that would leave the day's own range below ``MIN_DAY_SHARE`` of the
    axis stays off (it is named at the edge instead).
    """
    day_span = max(day_hi - day_lo, day_hi * 0.02)
    lo, hi = min(day_lo, offer), max(day_hi, offer)
    shown: set[str] = set()
    for rule_id, level in sorted(levels, key=lambda item: abs(item[1] - (day_lo + day_hi) / 2)):
        wider = (min(lo, level), max(hi, level))
        near = wider[1] - wider[0] <= (hi - lo) * (1 + NEAR_SHARE)
        if near or day_span / (wider[1] - wider[0]) >= MIN_DAY_SHARE:
            lo, hi = wider
            shown.add(rule_id)
    pad = (hi - lo) * 0.05 or hi * 0.05
    return lo - pad, hi + pad, shown


def _volume(ax: Axes, axis: TradingAxis, minutes: DayMinutes, end: float, font: float) -> None:
    """A volume bar a minute (one artist for all: many patches draw slowly), in readable units.

    Each bar spans its minute, or ``end / 400`` about its middle where a minute is narrower
    (a long day's), so that it shows.
    """
    import numpy as np
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import FuncFormatter

    starts, ends = axis.xs(minutes.start_us), axis.xs(minutes.start_us + MINUTE_US)
    half = np.maximum(ends - starts, end / 400) / 2
    middle = (starts + ends) / 2
    left, right, height = middle - half, middle + half, minutes.volume
    ground = np.zeros(len(minutes))
    corners = [(left, ground), (left, height), (right, height), (right, ground)]
    vertices = np.stack([np.column_stack(corner) for corner in corners], axis=1)
    bars = PolyCollection(list(vertices), facecolors=VOLUME, edgecolors="none", gid="volume")
    bars.sticky_edges.y.append(0)  # the axis starts at zero volume, as bars do
    ax.add_collection(bars)
    ax.autoscale_view()
    peak = float(height.max(initial=0.0))
    scale, unit = next((scale, unit) for start, scale, unit in _VOLUME_UNITS if peak >= start)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / scale:,.6g}"))
    ax.set_ylabel(f"volume ({unit})", fontsize=font)


def _legend_handles(ax: Axes) -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        ax.lines[0],
        Line2D([], [], color=OFFER, linestyle="--", label="offer price"),
        Line2D([], [], color=LEVEL, linestyle=":", label="rule levels"),
        Line2D([], [], color=ALERT, marker="^", linestyle="none", label="alerts"),
    ]


def fingerprint(figure: Figure) -> str:
    """A digest of what the figure shows (limits, lines, markers, texts, bars), not its pixels.

    Level labels count by their text only: where they fit depends on the font's metrics.
    """
    import numpy as np

    def r(values: Any) -> list[float]:
        return [round(float(v), 6) for v in values]

    described: list[Any] = [r(figure.get_size_inches())]
    for ax in figure.axes:
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        described += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ticks]
        described += [r(ax.get_xlim()), r(ax.get_ylim()), r(ax.get_xticks())]
        for line in ax.lines:
            style = [line.get_gid(), line.get_color(), line.get_linestyle(), str(line.get_marker())]
            described += [style, r(line.get_xdata()), r(line.get_ydata())]
        for text in ax.texts:
            placed = not str(text.get_gid()).startswith("label:")
            described += [text.get_gid(), text.get_text(), r(text.get_position()) if placed else 0]
        for collection in ax.collections:
            paths = collection.get_paths()
            vertices = [np.asarray(path.vertices).ravel() for path in paths]
            described += [collection.get_gid(), r(v for part in vertices for v in part)]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def renderer() -> str:
    """The matplotlib and FreeType versions: with the same, the same figure is the same PNG."""
    import matplotlib
    from matplotlib import ft2font

    return f"matplotlib {matplotlib.__version__}, FreeType {ft2font.__freetype_version__}"


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG data, its fingerprint in a text chunk (1,210 x 715 pixels on DESKTOP)."""
    import io

    buffer = io.BytesIO()
    metadata = {FINGERPRINT_KEY: fingerprint(figure), RENDERER_KEY: renderer()}
    figure.savefig(buffer, format="png", dpi="figure", metadata=metadata)
    return buffer.getvalue()

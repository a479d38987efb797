"""Where alert markers and level labels go: seen, and covering neither one another nor the price."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tracker.alerts.record import is_rule_alert
from tracker.core.model import StoredAlert
from tracker.reporting.chart.axis import TradingAxis
from tracker.reporting.chart.layout import ALERT, LEVEL, ChartLayout

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in points of the figure


def points_of(ax: Axes, figure: Figure) -> Any:
    """Data to points of the figure, for the laid-out axes."""
    from matplotlib.transforms import Affine2D

    return ax.transData + Affine2D().scale(72 / figure.dpi)


def mark_alerts(
    ax: Axes, figure: Figure, axis: TradingAxis, alerts: Sequence[StoredAlert]
) -> list[Box]:
    """A triangle per alert at its price, stacked where alerts would hide one another.

    Just beside the price (below it for a rise, above for a fall), or the nearest
    free place further along that side, else along the other; always inside the
    axes. With no free place left there, the place that overlaps the fewest markers.
    """
    from matplotlib.transforms import offset_copy

    size = 9.0
    to_points = points_of(ax, figure)
    _, y0 = to_points.transform((ax.get_xlim()[0], ax.get_ylim()[0]))
    _, y1 = to_points.transform((ax.get_xlim()[1], ax.get_ylim()[1]))
    placed: list[Box] = []
    for alert in alerts:
        record = json.loads(alert.record)
        if not is_rule_alert(record) or record.get("price") is None:
            continue
        x, price, down = axis.x(alert.ts_us), float(record["price"]), record["direction"] == "down"
        px, py = to_points.transform((x, price))
        step = size + 1 if down else -(size + 1)
        inside = [
            offset
            for side in (step, -step)
            for offset in _stack(py, side, y0 + size / 2, y1 - size / 2)
        ]
        offset = next(
            (o for o in inside if not any(_overlap(_square(px, py + o, size), b) for b in placed)),
            None,
        )
        if offset is None:  # crowded out: the least covered place
            offset = min(
                inside or [0.0],
                key=lambda o: sum(_overlap(_square(px, py + o, size), b) for b in placed),
            )
        placed.append(_square(px, py + offset, size))
        ax.plot(
            [x],
            [price],
            marker="v" if down else "^",
            color=ALERT,
            markeredgecolor="white",
            markeredgewidth=0.6,
            markersize=size,
            linestyle="none",
            zorder=4,
            transform=offset_copy(ax.transData, fig=figure, y=offset, units="points"),
            gid=f"alert:{alert.alert_id}",
        )
    return placed


def _stack(y: float, step: float, lowest: float, highest: float) -> list[float]:
    """Offsets from ``y`` one ``step`` apart (the first 0.7 of one), while within the bounds."""
    offsets = []
    offset = step * 0.7
    while lowest <= y + offset <= highest:
        offsets.append(offset)
        offset += step
    return offsets


def label_lines(
    ax: Axes,
    figure: Figure,
    lines: Sequence[tuple[str, str, float, str]],
    taken: list[Box],
    layout: ChartLayout,
) -> None:
    """Label each horizontal line beside it where neither the price nor a marker covers it.

    The rightmost free place just above the line, or else just below it; with
    none free, the right end, on a white ground drawn over the price.
    """
    import numpy as np

    to_points = points_of(ax, figure)
    price = ax.lines[0]
    path = to_points.transform(np.column_stack([price.get_xdata(), price.get_ydata()]))
    x0, y0 = to_points.transform((ax.get_xlim()[0], ax.get_ylim()[0]))
    x1, y1 = to_points.transform((ax.get_xlim()[1], ax.get_ylim()[1]))
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas
    taken = taken + [_box(t.get_window_extent(renderer), figure) for t in ax.texts]
    pad = 2.0
    for gid, text, level, color in sorted(lines, key=lambda line: -line[2]):
        label = ax.annotate(text, (0, level), ha="right", va="bottom", fontsize=layout.font,
                            color=color, zorder=5, gid=f"label:{gid}")  # fmt: skip
        label.set_in_layout(False)
        extent = _box(label.get_window_extent(renderer), figure)
        width, height = extent[2] - extent[0], extent[3] - extent[1]
        _, y = to_points.transform((0, level))
        candidates = (
            (right - width, bottom, right, bottom + height)
            for bottom in (y + 1.5, y - 1.5 - height)
            for right in np.arange(x1 - pad, x0 + width + pad, -layout.font)
        )
        spot = next(
            (
                box
                for box in candidates
                if y0 <= box[1]
                and box[3] <= y1
                and not _crosses(path, box)
                and not any(_overlap(_grown(box, 4), t) for t in taken)
            ),
            None,
        )
        if spot is None:  # nowhere free: the right end, over the price
            spot = (x1 - pad - width, y + 1.5, x1 - pad, y + 1.5 + height)
            label.set_bbox({"facecolor": "white", "edgecolor": "none", "pad": 1})
        taken.append(spot)
        label.xy = tuple(to_points.inverted().transform((spot[2], spot[1])))
        label.set_position(label.xy)


def _square(x: float, y: float, size: float) -> Box:
    return (x - size / 2, y - size / 2, x + size / 2, y + size / 2)


def _grown(box: Box, by: float) -> Box:
    return (box[0] - by, box[1], box[2] + by, box[3])


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _crosses(path: Any, box: Box) -> bool:
    """Whether a polyline (points, in x order) passes through a box."""
    import numpy as np

    xs, ys = path[:, 0], path[:, 1]
    inside = (xs >= box[0]) & (xs <= box[2])
    values = list(ys[inside])
    for edge in (box[0], box[2]):  # where the line crosses the box's sides
        if xs[0] <= edge <= xs[-1]:
            values.append(float(np.interp(edge, xs, ys)))
    return bool(values) and min(values) < box[3] and max(values) > box[1]


def _box(extent: Any, figure: Figure) -> Box:
    scale = 72 / figure.dpi
    return (extent.x0 * scale, extent.y0 * scale, extent.x1 * scale, extent.y1 * scale)


def name_off_chart(
    ax: Axes, levels: Sequence[tuple[str, float]], hi: float, layout: ChartLayout
) -> None:
    """Name the levels too far from the day to draw, at the edge they lie beyond."""
    for rule_id, level in levels:
        above = level > hi
        ax.annotate(
            f"{'↑' if above else '↓'} {rule_id} {level:.2f}, off the chart",
            (0.99, 0.98 if above else 0.02),
            xycoords="axes fraction",
            ha="right",
            va="top" if above else "bottom",
            fontsize=layout.font,
            color=LEVEL,
            gid=f"off:{rule_id}",
        )

"""How a chart is rendered: the desktop and phone layouts, and the colours."""

from __future__ import annotations

from dataclasses import dataclass

PRICE, OFFER, LEVEL, ALERT, MUTED = "#1f5fa8", "#555555", "#a86400", "#b3261e", "#777777"
CUT, VOLUME = "#999999", "#7a9cc6"  # a closed period's line; the volume bars


@dataclass(frozen=True, slots=True)
class ChartLayout:
    """A rendering's size and type: inches, pixels per inch, points, tick spacing."""

    name: str
    size: tuple[float, float]
    dpi: int
    font: float  # tick and level labels
    label_font: float  # axis labels and legend
    title_font: float
    tick_minutes: int  # a time label every so many minutes
    legend_columns: int
    side_margins: float  # inches left and right of the plot, about: spaces the time labels


DESKTOP = ChartLayout("desktop", (11, 6.5), 110, 9.5, 10, 12.5, 30, 4, 1.5)


# 390 CSS pixels wide on a phone: 10 pt on a 4.6 inch figure shows as 11 CSS pixels.
PHONE = ChartLayout("phone", (4.6, 7.6), 200, 10, 10, 11.5, 60, 2, 1.35)

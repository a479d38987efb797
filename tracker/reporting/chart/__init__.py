"""The day's chart (matplotlib): price in exchange time with lunch compressed, levels, alerts.

``figure`` draws it, on the trading-time ``axis``, with markers and labels ``placing``
puts where they are seen, in one of the ``layout`` renderings (desktop, phone).
"""

from __future__ import annotations

from tracker.reporting.chart.axis import CUT_WIDTH_S, break_label, trading_axis
from tracker.reporting.chart.figure import day_figure, png_bytes
from tracker.reporting.chart.layout import DESKTOP, PHONE, ChartLayout

__all__ = [
    "CUT_WIDTH_S",
    "DESKTOP",
    "PHONE",
    "ChartLayout",
    "break_label",
    "day_figure",
    "png_bytes",
    "trading_axis",
]

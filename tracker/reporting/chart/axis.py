"""The chart's x axis: trading time, with the calendar's closed breaks cut out."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tracker.core.model import (
    MICROS,
    Tick,
    datetime_to_ts,
    ts_to_datetime,
)
from tracker.markets.calendar import Period

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

CUT_WIDTH_S = 60  # the width a closed period keeps on the x axis, its cut line in the middle


@dataclass(frozen=True, slots=True)
class Cut:
    """A closed period cut out of the x axis: where its line is and what it was."""

    x: float
    period: Period

    def label(self, zone: ZoneInfo) -> str:
        """What was cut out, in exchange time: ``lunch 12:00-13:00``."""
        return break_label(self.period, zone)


def break_label(period: Period, zone: ZoneInfo) -> str:
    """A closed period in exchange time: ``lunch 12:00-13:00`` (an en dash)."""
    start, end = (ts_to_datetime(t).astimezone(zone) for t in period[:2])
    return f"{period.phase} {start:%H:%M}\u2013{end:%H:%M}"


class TradingAxis:
    """Trading time: seconds since an origin, each closed break squeezed to ``CUT_WIDTH_S``."""

    def __init__(self, origin_us: int, breaks: Sequence[Period]) -> None:
        self.breaks = list(breaks)
        self._origin = self._squeezed(origin_us)
        self.cuts = [
            Cut(self._squeezed(b.start) - self._origin + CUT_WIDTH_S / 2, b) for b in self.breaks
        ]

    def x(self, ts_us: int) -> float:
        """An instant's x."""
        return self._squeezed(ts_us) - self._origin

    def xs(self, ts_us: NDArray[np.int64]) -> NDArray[np.float64]:
        """Instants' x, a column at a time: each the same float as ``x`` gives."""
        import numpy as np

        seconds = ts_us / MICROS
        for start, end, _ in self.breaks:
            length = (end - start) / MICROS
            inside = np.minimum(np.maximum(ts_us - start, 0) / MICROS, length)
            seconds = seconds - inside * (1 - CUT_WIDTH_S / length)
        result: NDArray[np.float64] = seconds - self._origin
        return result

    def _squeezed(self, ts_us: int) -> float:
        seconds = ts_us / MICROS
        for start, end, _ in self.breaks:
            length = (end - start) / MICROS
            inside = min(max(ts_us - start, 0) / MICROS, length)
            seconds -= inside * (1 - CUT_WIDTH_S / length)
        return seconds


def trading_axis(ticks: Sequence[Tick], breaks: Sequence[Period] = ()) -> TradingAxis:
    """The axis of a day's ticks: from the first, cutting the breaks they span."""
    return axis_between(ticks[0].ts_us, ticks[-1].ts_us, breaks)


def axis_between(first_us: int, last_us: int, breaks: Sequence[Period] = ()) -> TradingAxis:
    """The axis of a day traded from ``first_us`` to ``last_us``, cutting the breaks between."""
    return TradingAxis(first_us, [b for b in breaks if b.end > first_us and b.start < last_us])


def time_ticks(
    first_us: int, last_us: int, axis: TradingAxis, zone: ZoneInfo, minutes: int, room: float
) -> list[tuple[float, str]]:
    """A label at each round ``minutes`` of exchange time the day trades through."""
    first, last = ts_to_datetime(first_us), ts_to_datetime(last_us)
    local = first.astimezone(zone)
    moment = local.replace(minute=local.minute - local.minute % minutes, second=0, microsecond=0)
    step = dt.timedelta(minutes=minutes)
    if moment < first:
        moment += step
    labels: list[tuple[float, str]] = []
    for label_at in itertools.takewhile(lambda m: m <= last, _every(moment, step)):
        ts = datetime_to_ts(label_at)
        if any(start < ts < end for start, end, _ in axis.breaks):
            continue
        x = axis.x(ts)
        if labels and x - labels[-1][0] < room:
            labels.pop()  # the later of two labels either side of a cut: the session resumes
        labels.append((x, f"{label_at.astimezone(zone):%H:%M}"))
    return labels


def _every(start: dt.datetime, step: dt.timedelta) -> Iterator[dt.datetime]:
    while True:
        yield start
        start += step

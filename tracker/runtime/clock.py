"""Clocks: the real one, and a simulated one that runs from a chosen instant at a speed.

On a simulated clock market durations (poll intervals, "down for N minutes")
are simulated; wall-time waits (HTTP timeouts, backoff) are not.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Tells the time: UTC, tz-aware."""

    @property
    def speed(self) -> float:
        """Clock seconds per wall second."""
        ...

    def now(self) -> dt.datetime:
        """The current instant."""
        ...


class SystemClock:
    """The machine's clock."""

    speed = 1.0

    def now(self) -> dt.datetime:
        """The current instant."""
        return dt.datetime.now(dt.UTC)


class SimulatedClock:
    """Starts at ``start`` when made and runs ``speed`` times as fast as the wall clock."""

    def __init__(
        self,
        start: dt.datetime,
        speed: float = 1.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("a simulated clock starts at a tz-aware instant")
        self.start = start.astimezone(dt.UTC)
        self.speed = speed
        self._wall = wall
        self._origin = wall()

    def now(self) -> dt.datetime:
        """The simulated instant."""
        return self.start + dt.timedelta(seconds=(self._wall() - self._origin) * self.speed)

    def wall_seconds(self, clock_seconds: float) -> float:
        """How many wall seconds a span of clock seconds takes."""
        return clock_seconds / self.speed


def human_span(seconds: float) -> str:
    """A span of time as people read it: 42s, 2m03s, 1h05m, 3d04h (never negative)."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86_400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86_400}d{whole % 86_400 // 3600:02d}h"

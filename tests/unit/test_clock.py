"""The simulated clock: runs from its start at its speed, on a wall clock the test moves."""

from __future__ import annotations

import datetime as dt

import pytest

from tracker.runtime.clock import SimulatedClock

START = dt.datetime.fromisoformat("2026-01-02T09:00:00+08:00")


class Wall:
    """A monotonic wall clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_simulated_clock_starts_at_its_start_in_utc() -> None:
    clock = SimulatedClock(START, 60, wall=Wall())
    assert clock.now() == START
    assert clock.now().utcoffset() == dt.timedelta(0)
    assert clock.now() == dt.datetime(2026, 1, 2, 1, 0, tzinfo=dt.UTC)


def test_simulated_clock_runs_at_its_speed_from_when_it_was_made() -> None:
    wall = Wall(1000.0)
    clock = SimulatedClock(START, 60, wall=wall)
    wall.now = 1001.5  # 1.5 wall seconds at 60x
    assert clock.now() == START + dt.timedelta(seconds=90)
    wall.now = 1000.0 + 30 * 60  # half an hour of wall time: 30 market hours
    assert clock.now() == START + dt.timedelta(hours=30)


def test_simulated_clock_at_speed_1_follows_the_wall() -> None:
    wall = Wall(50.0)
    clock = SimulatedClock(START, wall=wall)
    wall.now = 50.25
    assert clock.speed == 1.0
    assert clock.now() == START + dt.timedelta(milliseconds=250)


def test_simulated_clock_can_run_slower_than_the_wall() -> None:
    wall = Wall(0.0)
    clock = SimulatedClock(START, 0.5, wall=wall)
    wall.now = 10.0
    assert clock.now() == START + dt.timedelta(seconds=5)


def test_wall_seconds_of_clock_seconds_divide_by_the_speed() -> None:
    clock = SimulatedClock(START, 60, wall=Wall())
    assert clock.wall_seconds(5) == pytest.approx(5 / 60)
    assert clock.wall_seconds(3600) == pytest.approx(60.0)


def test_simulated_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        SimulatedClock(dt.datetime(2026, 1, 2, 9, 0), 60, wall=Wall())  # noqa: DTZ001

"""A stored day, worked out by the database a minute at a time, gives its ticks' own figures."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import numpy as np
import pytest
from factories import HKT, make_listing, make_rule, make_tick, ts_us

from tracker.core.batch import TickArrays
from tracker.core.metrics import summarize
from tracker.core.model import ListingState, Tick, day_bounds, ts_to_datetime
from tracker.markets.calendar import MarketCalendar
from tracker.reporting.chart import day_figure
from tracker.reporting.report import as_data, day_report, render
from tracker.store.columns import MINUTE_US, DayMinutes, day_minutes, ticks_within
from tracker.store.repository import BatchRows, SqlStore

DAY = dt.date(2026, 1, 2)
LISTING = make_listing(rules=(make_rule(50), make_rule(100e9, kind="market_cap", id="mcap-100b")))


def store_ticks(store: SqlStore, listing_id: str, ticks: list[Tick]) -> None:
    arrays = TickArrays.from_ticks(ticks)
    store.commit(
        [BatchRows(listing_id, arrays, [], ListingState(ticks[-1].ts_us, ticks[-1].seq))], []
    )


def awkward_day() -> list[Tick]:
    """A day with two ticks at one instant, ticks without a volume or a turnover, a minute
    whose first tick is its low and last its high, one whose low trades twice, a tick on a
    minute's first microsecond and on its last, and ticks in the lunch break and after."""
    return [
        make_tick(35.70, "2026-01-02T09:20:00", volume=3_703_400, turnover=132_211_380),
        make_tick(35.72, "2026-01-02T09:20:00", seq=1, volume=None, turnover=None),
        make_tick(35.60, "2026-01-02T09:30:00", volume=100, turnover=3560),
        make_tick(35.64, "2026-01-02T09:30:10", volume=200, turnover=None),
        make_tick(35.80, "2026-01-02T09:30:59.999999", volume=300, turnover=10_740),
        make_tick(35.50, "2026-01-02T09:31:00", volume=100, turnover=3550),
        make_tick(35.40, "2026-01-02T09:31:05", volume=100, turnover=3540),
        make_tick(35.90, "2026-01-02T09:31:06", volume=None, turnover=3590),
        make_tick(35.40, "2026-01-02T09:31:30", seq=0, volume=100, turnover=3540),
        make_tick(35.40, "2026-01-02T09:31:30", seq=1, volume=100, turnover=3540),
        make_tick(36.00, "2026-01-02T12:30:00", volume=100, turnover=3600),
        make_tick(34.46, "2026-01-02T16:09:00", volume=2_284_400, turnover=78_720_424),
        make_tick(34.50, "2026-01-02T16:30:00", volume=100, turnover=None),
    ]


def test_a_days_minutes_from_the_database_are_those_of_its_ticks(
    db_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(db_url)
    day = awkward_day()
    before, after = make_tick(30.00, "2025-12-31T15:59:00"), make_tick(31.00, "2026-01-05T09:30")
    store_ticks(store, "biren", [before, *day, after])
    store_ticks(store, "other", [dataclasses.replace(t, price=1.0) for t in day])
    start, end = day_bounds(LISTING, DAY)

    found = day_minutes(store.engine, "biren", start, end)

    assert found is not None
    expected = DayMinutes.of_ticks(TickArrays.from_ticks(day))
    for field in dataclasses.fields(DayMinutes):
        got, want = getattr(found, field.name), getattr(expected, field.name)
        assert got.dtype == want.dtype, field.name
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=field.name)
    assert found.start_us.tolist() == sorted({t.ts_us // MINUTE_US * MINUTE_US for t in day})
    assert found.low_us[2] == ts_us("2026-01-02T09:31:05")  # the first of two at the low
    assert found.summary() == dataclasses.replace(
        summarize(day), turnover=found.summary().turnover, vwap=found.summary().vwap
    )
    assert found.summary().turnover == pytest.approx(summarize(day).turnover, rel=1e-12)
    assert day_minutes(store.engine, "biren", *day_bounds(LISTING, dt.date(2026, 1, 3))) is None
    lunch = (ts_us("2026-01-02T12:00:00"), ts_us("2026-01-02T13:00:00"))
    evening = (ts_us("2026-01-02T16:10:00.000001"), end)
    assert ticks_within(store.engine, "biren", [lunch, evening]) == (2, ts_us("2026-01-02T12:30"))
    assert ticks_within(store.engine, "biren", []) == (0, None)


def busy_day(ticks: int, seed: int = 7) -> TickArrays:
    """A random walk on the 0.02 grid through the continuous sessions, with the auction prints
    at 09:20 and 16:09, a few trades in the lunch break and after the close; one tick in a
    hundred without a volume, two without a turnover."""
    rng = np.random.default_rng(seed)
    morning = (ts_us("2026-01-02T09:30:00"), ts_us("2026-01-02T12:00:00"))
    afternoon = (ts_us("2026-01-02T13:00:00"), ts_us("2026-01-02T16:00:00"))
    lunch = (morning[1] + 1, afternoon[0])
    evening = (ts_us("2026-01-02T16:10:00.000001"), ts_us("2026-01-02T17:00:00"))
    ts = np.sort(
        np.concatenate(
            [
                [ts_us("2026-01-02T09:20:00"), ts_us("2026-01-02T16:09:00")],
                rng.integers(*morning, (ticks - 40) // 2) // 1000 * 1000,  # whole ms: some tie
                rng.integers(*afternoon, ticks - 40 - (ticks - 40) // 2) // 1000 * 1000,
                rng.integers(*lunch, 25),
                rng.integers(*evening, 13),
            ]
        )
    )
    index = np.arange(len(ts))
    first_of_instant = np.maximum.accumulate(np.where(np.diff(ts, prepend=-1) != 0, index, 0))
    cents = np.clip(3570 + np.cumsum(rng.integers(-2, 3, len(ts)) * 2), 2000, 5000)
    price = cents / 100
    volume = (rng.integers(1, 50, len(ts)) * 100).astype(np.float64)
    turnover = np.round(price * volume, 2)
    volume[rng.random(len(ts)) < 0.01] = np.nan
    turnover[rng.random(len(ts)) < 0.02] = np.nan
    return TickArrays(ts, index - first_of_instant, price, volume, turnover)


def test_a_busy_day_reports_what_a_plain_reference_finds_in_its_ticks(
    sqlite_url: str, open_store: Callable[[str], SqlStore]
) -> None:
    store = open_store(sqlite_url)
    arrays = busy_day(200_000)
    store.commit([BatchRows("biren", arrays, [], ListingState(int(arrays.ts_us[-1])))], [])
    ticks = arrays.to_ticks()
    session = MarketCalendar("XHKG").day(DAY, LISTING.timezone)

    report = day_report(store, LISTING, DAY)

    assert report is not None
    data, expected = as_data(report), summarize(ticks)  # the report's figures, tick by tick
    for name, point in (("open", expected.open), ("high", expected.high),
                        ("low", expected.low), ("close", expected.close)):  # fmt: skip
        when = ts_to_datetime(point.ts_us).astimezone(HKT).isoformat()
        assert (data[name]["price"], data[name]["ts"]) == (point.price, when), name
    assert (data["ticks"], data["volume"]) == (200_000, expected.volume)
    assert data["turnover"] == pytest.approx(expected.turnover, rel=1e-12)
    assert data["vwap"]["price"] == pytest.approx(expected.vwap, rel=1e-12)
    assert data["turnover_estimated"] is True
    outside = [t for t in ticks if not any(a <= t.ts_us <= b for a, b in session.spans)]
    assert data["ticks_outside_sessions"] == len(outside) == 25 + 13
    assert report.first_outside_us == outside[0].ts_us
    assert f"{len(outside):>14,} outside the trading sessions" in render(report)
    pre_open = [t for t in ticks if t.ts_us < ts_us("2026-01-02T09:30:00")]
    assert data["auction"]["price"] == pre_open[-1].price

    assert report.minutes is not None
    figure = day_figure(LISTING, report.minutes, [], "2026-01-02", session=session)
    price_line = next(line for line in figure.axes[0].lines if line.get_gid() == "price")
    drawn = price_line.get_ydata()
    assert (min(drawn), max(drawn)) == (expected.low.price, expected.high.price)
    assert len(drawn) <= 4 * len({t.ts_us // MINUTE_US for t in ticks})
    [bars] = [c for c in figure.axes[1].collections if c.get_gid() == "volume"]
    heights = [float(path.vertices[1, 1]) for path in bars.get_paths()]
    assert sum(heights) == expected.volume

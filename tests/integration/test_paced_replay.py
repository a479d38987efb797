"""Paced replay: market time played at a speed on the scheduler, closed periods skipped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import SAMPLE_TAPE, make_listing, make_rule, ts_us

from tracker.markets.calendar import open_intervals
from tracker.runtime.ingest import Ingestor
from tracker.runtime.replay import PacedReplay, market_offsets, replay_tape
from tracker.runtime.scheduling import PACE_INTERVAL, SteppedRun
from tracker.sources.tape import Tape, read_tape
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore

LISTING = make_listing(rules=(make_rule(50), make_rule(100e9, kind="market_cap", id="mcap-100b")))


@pytest.fixture(scope="module")
def tape() -> Tape:
    return read_tape(SAMPLE_TAPE, LISTING.timezone)


@pytest.fixture(scope="module")
def intervals(tape: Tape) -> list[tuple[int, int]]:
    return open_intervals("XHKG", tape.ticks[0].ts, tape.ticks[-1].ts)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'paced.db'}")
    ensure_schema(engine)
    yield SqlStore(engine)
    engine.dispose()


def offset_at(tape: Tape, offsets: list[float], when: str) -> float:
    return offsets[[t.ts_us for t in tape.ticks].index(ts_us(when))]


def test_market_time_skips_lunch_and_counts_the_pre_opening(tape: Tape, intervals: list) -> None:
    offsets = market_offsets(tape.ticks, intervals)
    assert offsets[0] == 0
    assert offset_at(tape, offsets, "2026-01-02T09:30:00") == 600  # 09:20 auction print to the open
    assert offset_at(tape, offsets, "2026-01-02T10:15:00") == 55 * 60
    morning = max(
        o
        for t, o in zip(tape.ticks, offsets, strict=True)
        if t.ts_us < ts_us("2026-01-02T12:00:00")
    )
    afternoon = min(
        o
        for t, o in zip(tape.ticks, offsets, strict=True)
        if t.ts_us >= ts_us("2026-01-02T13:00:00")
    )
    assert 0 < afternoon - morning < 60  # the hour of lunch is not played
    # 09:20-12:00 and 13:00-16:09: 160 + 189 minutes of market time
    assert offsets[-1] == (160 + 189) * 60


def test_a_tick_in_a_closed_period_is_due_when_the_market_opens(intervals: list) -> None:
    class T:
        def __init__(self, when: str) -> None:
            self.ts_us = ts_us(when)

    ticks = [T("2026-01-02T11:59:00"), T("2026-01-02T12:30:00"), T("2026-01-02T13:00:00")]
    assert market_offsets(ticks, intervals) == [0, 60, 60]  # type: ignore[arg-type]


def test_paced_replay_plays_what_is_due_by_the_wall_clock(
    tape: Tape, intervals: list, store: SqlStore
) -> None:
    paced = PacedReplay(LISTING, tape, Ingestor(store, []), 60, intervals)
    assert not paced.step(0.0)
    assert store.count("ticks") == 1  # the opening auction print
    assert [a.rule_id for a in paced.report.alerts] == ["gain_pct-up-50"]
    paced.step(9.99)
    assert store.count("ticks") == 1
    paced.step(10.0)  # 600 market seconds at 60x: continuous trading opens
    assert store.ticks("biren")[-1].ts_us == ts_us("2026-01-02T09:30:00")
    paced.step(55.0)  # 10:15:00 is 55 market minutes after 09:20
    assert paced.report.alerts[-1].rule_id == "mcap-100b"
    assert paced.step(349 * 60 / 60)
    assert store.count("ticks") == len(tape.ticks)


def test_paced_and_fast_replays_store_the_same(
    tape: Tape, intervals: list, store: SqlStore, tmp_path: Path
) -> None:
    paced = PacedReplay(LISTING, tape, Ingestor(store, []), 60, intervals)
    for second in range(0, 400, 7):
        paced.step(float(second))
    assert paced.done
    engine = create_engine(f"sqlite:///{tmp_path / 'fast.db'}")
    ensure_schema(engine)
    fast = SqlStore(engine)
    replay_tape(LISTING, tape, Ingestor(fast, []), chunk_size=10_000)
    assert [a.record for a in fast.alerts()] == [a.record for a in store.alerts()]
    assert fast.ticks("biren") == store.ticks("biren")
    engine.dispose()


def test_a_paced_replay_of_stored_ticks_does_not_wait_for_them(
    tape: Tape, intervals: list, store: SqlStore
) -> None:
    kept = next(i for i, t in enumerate(tape.ticks) if t.ts_us >= ts_us("2026-01-02T14:00:00"))
    replay_tape(LISTING, Tape(tape.path, tape.ticks[:kept], [], kept), Ingestor(store, []), 10_000)

    paced = PacedReplay(LISTING, tape, Ingestor(store, []), 60, intervals)
    assert not paced.step(0.0)  # the stored ticks at once, and the first one not stored
    assert paced.report.already_stored == kept
    assert paced.report.stored == 1
    paced.step(0.99)  # the next unstored ones keep the pace from there
    assert paced.report.stored == 1 + sum(
        1 for t in tape.ticks[kept + 1 :] if t.ts_us - tape.ticks[kept].ts_us <= 59_400_000
    )
    assert paced.step(1e9)

    again = PacedReplay(LISTING, tape, Ingestor(store, []), 60, intervals)
    assert again.step(0.0)  # a day stored whole: done at once, nothing added
    assert again.report.already_stored == len(tape.ticks)
    assert again.report.stored == 0


def test_stepped_run_hands_the_step_elapsed_wall_time() -> None:
    clock = iter([100.0, 100.5, 103.0]).__next__
    seen: list[float] = []
    run = SteppedRun(lambda elapsed: seen.append(elapsed) or elapsed >= 3, clock)
    run.job()
    run.job()
    assert not run.finished.is_set()
    run.job()
    assert seen == [0.0, 0.5, 3.0]
    assert run.finished.is_set()
    run.job()  # nothing runs once finished
    assert seen == [0.0, 0.5, 3.0]


def test_stepped_run_job_is_one_coalesced_interval_job() -> None:
    scheduler = SteppedRun(lambda elapsed: True).scheduler()
    [job] = scheduler.get_jobs()
    assert job.id == "replay-step"
    assert job.max_instances == 1
    assert job.coalesce is True
    assert job.trigger.interval == dt.timedelta(seconds=PACE_INTERVAL)


def test_a_failing_step_ends_the_run_with_its_error() -> None:
    def step(elapsed: float) -> bool:
        raise RuntimeError("disk full")

    run = SteppedRun(step)
    with pytest.raises(RuntimeError, match="disk full"):
        run.run()

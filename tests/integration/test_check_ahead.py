"""A tape checked in a forked child gives what a check in the replaying process gives.

Real forks, real pipes and a real shared map; ``min_bytes=0`` lets small tapes
take the path a big one takes.
"""

from __future__ import annotations

import math
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracker.sources.ahead as ahead_module
from tracker.core.model import Tick
from tracker.errors import InputError
from tracker.sources.ahead import CheckAhead, start_check
from tracker.sources.tape import TapeReader

ZONE = "Asia/Hong_Kong"


@pytest.fixture(autouse=True)
def _alone_but_for_earlier_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """start_check declines in a process with other threads. Threads that earlier tests
    left idle in this test process (asyncio's waitpid thread of a browser, say) do not
    count, so these tests fork as a replay does; a thread a test starts still counts."""
    earlier = set(threading.enumerate())
    monkeypatch.setattr(ahead_module, "_alone", lambda: not set(threading.enumerate()) - earlier)


def ahead(path: Path, **options: int) -> CheckAhead:
    started = start_check(path, min_bytes=0, **options)
    assert started is not None
    return started


def read(reader: TapeReader) -> tuple[int, list[str], list[Tick]]:
    """What a replay gets from a reader: rows, bad rows, and the ticks of its chunks."""
    checked = reader.check()
    ticks = [tick for chunk in reader.chunks() for tick in chunk.to_ticks()]
    return checked.rows, [str(row) for row in checked.bad_rows], ticks


def same_ticks(got: list[Tick], expected: list[Tick]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert (a.ts_us, a.seq, a.price) == (b.ts_us, b.seq, b.price)
        for x, y in ((a.volume, b.volume), (a.turnover, b.turnover)):
            assert x == y or (x is not None and y is not None and math.isnan(x) and math.isnan(y))


def assert_reaped(pid: int) -> None:
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def tape(folder: Path, lines: list[str], header: str = "ts,price,volume") -> Path:
    path = folder / "tape.csv"
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


def day(n: int, every: int = 1) -> list[str]:
    """``n`` clean rows, ``every`` of them at each second."""
    seconds = [i // every for i in range(n)]
    return [
        f"2026-01-02 09:{30 + s // 60:02d}:{s % 60:02d},{35 + i % 7 / 100:.2f},{i}"
        for i, s in enumerate(seconds)
    ]


def test_a_clean_tape_gives_the_ticks_of_a_check_in_process(tmp_path: Path) -> None:
    path = tape(tmp_path, day(2_500, every=3))  # runs of equal times: seq 0, 1, 2
    check = ahead(path)
    child = check.pid
    assert child is not None
    reader = TapeReader(path, ZONE, chunk_rows=1_000, ahead=check)
    got = read(reader)
    assert reader.fast
    assert check.verdict(ZONE) is not None
    assert_reaped(child)
    expected = read(TapeReader(path, ZONE, chunk_rows=1_000))
    assert got[:2] == expected[:2] == (2_500, [])
    same_ticks(got[2], expected[2])
    assert [t.seq for t in got[2][:6]] == [0, 1, 2, 0, 1, 2]
    assert {t.turnover for t in got[2]} == {None}  # no turnover column


def test_the_ticks_come_from_the_child_not_from_a_second_read(tmp_path: Path) -> None:
    path = tape(tmp_path, day(100))
    check = ahead(path)
    reader = TapeReader(path, ZONE, ahead=check)
    reader.check()
    path.write_text("ts,price\n")  # what a read now would find
    ticks = [tick for chunk in reader.chunks() for tick in chunk.to_ticks()]
    assert len(ticks) == 100


def test_a_dirty_tape_is_left_to_the_exact_reader(tmp_path: Path) -> None:
    lines = day(50)
    lines[30] = "2026-01-02 09:30:31,abc,1"
    path = tape(tmp_path, lines)
    check = ahead(path)
    verdict_reader = TapeReader(path, ZONE, ahead=check)
    got = read(verdict_reader)
    assert not verdict_reader.fast
    assert got[1] == [f"{path}:32: price 'abc' is not a number"]
    expected = read(TapeReader(path, ZONE))
    assert got[:2] == expected[:2]
    same_ticks(got[2], expected[2])


def test_a_tape_longer_than_the_map_is_read_again(tmp_path: Path) -> None:
    path = tape(tmp_path, day(300))
    check = ahead(path, keep_rows=100)
    reader = TapeReader(path, ZONE, chunk_rows=64, ahead=check)
    got = read(reader)
    verdict = check.verdict(ZONE)
    assert verdict is not None
    assert verdict.clean
    assert not verdict.kept
    with pytest.raises(ValueError, match="closed"):
        len(check._shared)  # the pages the child wrote are given back, not held all replay
    same_ticks(got[2], read(TapeReader(path, ZONE))[2])


def test_a_child_that_dies_leaves_the_check_to_the_parent(tmp_path: Path) -> None:
    path = tape(tmp_path, day(200))
    check = ahead(path)
    assert check.pid is not None
    os.kill(check.pid, signal.SIGKILL)
    reader = TapeReader(path, ZONE, ahead=check)
    got = read(reader)
    assert check.verdict(ZONE) is None
    assert reader.fast  # checked here, the fast way
    same_ticks(got[2], read(TapeReader(path, ZONE))[2])


def test_a_check_in_another_zone_is_not_taken(tmp_path: Path) -> None:
    path = tape(tmp_path, day(50))
    check = ahead(path)
    check.begin(ZONE)
    got = read(TapeReader(path, "America/New_York", ahead=check))
    assert check.verdict("America/New_York") is None
    same_ticks(got[2], read(TapeReader(path, "America/New_York"))[2])
    assert got[2][0].ts_us != read(TapeReader(path, ZONE))[2][0].ts_us


def test_closing_before_the_zone_is_known_stops_and_reaps_the_child(tmp_path: Path) -> None:
    check = ahead(tape(tmp_path, day(50)))
    child = check.pid
    assert child is not None
    check.close()
    check.close()
    assert check.pid is None
    assert_reaped(child)


def test_no_child_where_it_cannot_help_or_is_not_safe(tmp_path: Path) -> None:
    small = tape(tmp_path, day(10))
    assert start_check(small) is None  # under MIN_BYTES
    parquet = tmp_path / "tape.parquet"
    parquet.write_bytes(b"PAR1")
    assert start_check(parquet, min_bytes=0) is None
    assert start_check(tmp_path / "missing.csv", min_bytes=0) is None
    assert start_check(tmp_path, min_bytes=0) is None  # a folder
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert start_check(small, min_bytes=0) is None
    finally:
        release.set()
        other.join()


def test_a_refused_tape_is_refused_alike(tmp_path: Path) -> None:
    path = tape(tmp_path, [], header="when,price")
    check = ahead(path)
    with pytest.raises(InputError) as ahead_refusal:
        TapeReader(path, ZONE, ahead=check).check()
    with pytest.raises(InputError) as refusal:
        TapeReader(path, ZONE).check()
    assert str(ahead_refusal.value) == str(refusal.value)


ROW = st.one_of(
    st.tuples(st.integers(0, 3), st.integers(1, 9999), st.none() | st.integers(0, 500)).map(
        lambda r: (r[0], f"35.{r[1]:04d}", "" if r[2] is None else str(r[2]))
    ),
    st.sampled_from([(1, "abc", "1"), (1, "-1", ""), (0, "", "2"), (-5, "1", "1")]),
)


@st.composite
def tapes(draw: st.DrawFn) -> Iterator[str]:
    """Mostly clean tapes: times that step on by 0 to 3 s, now and then a bad row or line."""
    second = 0
    lines = []
    for step, price, volume in draw(st.lists(ROW, min_size=1, max_size=60)):
        second = max(0, second + step)
        lines.append(f"2026-01-02 09:{30 + second // 60:02d}:{second % 60:02d},{price},{volume}")
        if draw(st.integers(0, 30)) == 0:
            lines.append(draw(st.sampled_from(["", "1,2", "2026-13-01 10:00,1,1"])))
    return iter(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=tapes(), keep=st.sampled_from([5, 2_000_000]), chunk=st.integers(1, 50))
def test_checked_ahead_or_in_process_a_replay_gets_the_same(
    lines: Iterator[str], keep: int, chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = tape(Path(folder), list(lines))
        expected = read(TapeReader(path, ZONE, chunk_rows=chunk, keep_rows=keep))
        check = ahead(path, keep_rows=keep)
        got = read(TapeReader(path, ZONE, chunk_rows=chunk, keep_rows=keep, ahead=check))
        assert got[:2] == expected[:2]
        same_ticks(got[2], expected[2])

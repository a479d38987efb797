"""Checking a big CSV tape in a forked child while the replaying process starts up.

A replay writes nothing before its whole tape is checked: a million ticks take
about 0.25 s of that, and the process spends about 0.25 s reading its config and
importing what it stores with (pydantic, SQLAlchemy, numpy). ``start_check``
forks before all that. The child imports what reading a tape takes, waits for the
listing's time zone (``CheckAhead.begin``, once the config is read), reads the
tape the fast way (``tracker.sources.columns``) into a shared anonymous memory
map made before the fork, and sends its verdict down a pipe. ``TapeReader.check``
takes the verdict and maps the ticks.

This module imports only the standard library, so the fork comes before the heavy
imports. Anything out of the way (a tape the fast path does not take, a child that
dies, a tape longer than the map) ends with the parent reading the tape itself,
as it does without a child: the child only ever saves time.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.sources import is_parquet

if TYPE_CHECKING:
    from tracker.core.batch import TickArrays

MIN_BYTES = 4 << 20  # a smaller tape is checked in-process: the fork would gain nothing
KEEP_ROWS = 2_000_000  # ticks a check keeps in memory for the replay; a longer tape is read again
# No row the fast path takes is shorter ("YYYY-MM-DD HH:MM,1" and a newline), so a
# map of one row per 16 bytes of tape holds every row.
_BYTES_PER_ROW = 16
_COLUMNS = ("ts_us", "seq", "price", "volume", "turnover")
_OPTIONAL = ("volume", "turnover")
_ITEM = 8  # every column is 8 bytes a row (int64 or float64)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the child found: a clean tape of ``rows`` ticks, or why the fast path refused it.

    ``kept``: the ticks are in the shared map (the tape fitted); ``present``: the
    optional columns the tape has.
    """

    clean: bool
    rows: int = 0
    kept: bool = False
    present: tuple[str, ...] = ()
    why: str = ""


class CheckAhead:
    """A tape's check running in a child process: ``begin`` it, then wait for its ``verdict``.

    ``close`` (idempotent) stops a child still running and reaps it.
    """

    def __init__(
        self, path: Path, pid: int, zone: int, verdicts: int, shared: mmap.mmap, capacity: int
    ) -> None:
        self.path = path
        self.pid: int | None = pid
        self.timezone: str | None = None
        self._zone: int | None = zone
        self._verdicts: int | None = verdicts
        self._shared = shared
        self._capacity = capacity
        self._verdict: Verdict | None = None

    def begin(self, timezone: str) -> None:
        """Let the child check the tape, naive times being wall time in ``timezone``."""
        if self._zone is None:
            raise RuntimeError("the check has begun already")
        self.timezone = timezone
        with contextlib.suppress(OSError):  # the child is gone: the verdict will be None
            os.write(self._zone, timezone.encode())
        os.close(self._zone)
        self._zone = None

    def verdict(self, timezone: str) -> Verdict | None:
        """The verdict of the check in ``timezone``, waiting for it; None if there is none.

        None when the child died without one, or was checking in another zone.
        """
        if self._zone is not None:
            self.begin(timezone)
        if self.timezone != timezone:
            self.close()
        if self._verdicts is not None:
            try:
                self._verdict = _verdict(_read_all(self._verdicts))
            finally:
                self.close()
            if self._verdict is None or not self._verdict.kept:
                self._shared.close()  # what the child wrote there goes with the last mapping
        return self._verdict

    def arrays(self, verdict: Verdict) -> TickArrays:
        """The ticks of a clean, kept verdict: views of the shared map (no copy)."""
        from tracker.core.batch import TickArrays

        assert verdict.clean
        assert verdict.kept
        columns = _views(self._shared, self._capacity, verdict.rows)
        optional = [columns[name] if name in verdict.present else None for name in _OPTIONAL]
        return TickArrays(columns["ts_us"], columns["seq"], columns["price"], *optional)

    def close(self) -> None:
        """Stop the child if it still runs, and reap it."""
        for fd in (self._zone, self._verdicts):
            if fd is not None:
                os.close(fd)
        self._zone = self._verdicts = None
        if self.pid is not None:
            pid, self.pid = self.pid, None
            # harmless once the verdict is in: the pipe ends only as the child exits
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def start_check(
    path: Path, keep_rows: int = KEEP_ROWS, min_bytes: int = MIN_BYTES
) -> CheckAhead | None:
    """Start checking a CSV tape of at least ``min_bytes`` in a child process.

    None (check in-process) for Parquet, for a small or missing tape, off Linux,
    on one core, and in a process with more than one thread (a fork copies only
    the calling one).
    """
    if not sys.platform.startswith("linux") or not _alone():
        return None
    if len(os.sched_getaffinity(0)) < 2 or is_parquet(path):
        return None
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size < min_bytes or not path.is_file():
        return None
    capacity = max(1, min(keep_rows, size // _BYTES_PER_ROW + 1))
    # shared and anonymous: pages are only taken as the child writes them, and
    # nothing is left behind however either process ends
    shared = mmap.mmap(-1, capacity * _ITEM * len(_COLUMNS))
    zone_in, zone_out = os.pipe()
    verdict_in, verdict_out = os.pipe()
    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:  # the child, which never returns
        os.close(zone_out)
        os.close(verdict_in)
        _child(path, zone_in, verdict_out, shared, capacity, parent)
    os.close(zone_in)
    os.close(verdict_out)
    return CheckAhead(path, pid, zone_out, verdict_in, shared, capacity)


def _alone() -> bool:
    """Whether this process runs one thread only: a fork copies only the calling one."""
    return threading.active_count() == 1


def _child(
    path: Path, zone: int, verdicts: int, shared: mmap.mmap, capacity: int, parent: int
) -> None:
    """Check the tape, say so, and exit without any of the parent's clean-up (``os._exit``)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        from tracker.sources.columns import load_csv_reading

        load_csv_reading()
        timezone = _read_all(zone).decode()
        if timezone:  # else the replay stopped before it knew the zone
            verdict = _check(path, timezone, shared, capacity, parent)
            os.write(verdicts, json.dumps(asdict(verdict)).encode())
            code = 0
    finally:
        os._exit(code)


def _check(path: Path, timezone: str, shared: mmap.mmap, capacity: int, parent: int) -> Verdict:
    """Check the tape the fast way, copying its ticks into ``shared`` while they fit."""
    from tracker.sources.columns import arrow_chunks
    from tracker.sources.isotimes import Unclean

    views = _views(shared, capacity, capacity)
    rows = 0
    kept = True
    present: tuple[str, ...] | None = None
    try:
        for arrays in arrow_chunks(path, timezone, False, capacity):
            if os.getppid() != parent:
                os._exit(1)  # the replay is gone: nobody waits for the verdict
            has = tuple(name for name in _OPTIONAL if getattr(arrays, name) is not None)
            if present is None:
                present = has
            elif has != present:
                raise Unclean("columns differ between batches")
            n = len(arrays)
            if kept and rows + n <= capacity:
                for name in ("ts_us", "seq", "price", *has):
                    views[name][rows : rows + n] = getattr(arrays, name)
            else:
                kept = False
            rows += n
    except Unclean as exc:
        return Verdict(clean=False, why=str(exc))
    if rows == 0:
        return Verdict(clean=False, why="no data rows")
    return Verdict(clean=True, rows=rows, kept=kept, present=present or ())


def _views(shared: mmap.mmap, capacity: int, rows: int) -> dict[str, Any]:
    """The columns' first ``rows`` places in the shared map."""
    import numpy as np

    return {
        name: np.frombuffer(
            shared,
            np.int64 if name in ("ts_us", "seq") else np.float64,
            count=rows,
            offset=i * capacity * _ITEM,
        )
        for i, name in enumerate(_COLUMNS)
    }


def _read_all(fd: int) -> bytes:
    """What the other process wrote before it closed the pipe."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def _verdict(data: bytes) -> Verdict | None:
    """A verdict as the child wrote it; None if it wrote none."""
    if not data:
        return None
    fields = json.loads(data)
    fields["present"] = tuple(fields["present"])
    return Verdict(**fields)

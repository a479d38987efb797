"""Replaying a recorded tape through the ingest path, as fast as possible or paced."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracker.core.batch import TickArrays, accepted_start
from tracker.core.model import MICROS, Listing, StoredAlert, Tick
from tracker.markets.calendar import SessionSpans
from tracker.runtime.ingest import Ingested, Ingestor
from tracker.sources.tape import BadRow, Tape, TapeReader

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class ReplayReport:
    """What a replay read, stored and fired."""

    rows: int
    ticks: int
    bad_rows: list[BadRow]
    stored: int = 0
    already_stored: int = 0
    alerts: list[StoredAlert] = field(default_factory=list)
    outside: int = 0  # ticks outside the listing's trading sessions (replayed all the same)
    first_outside_us: int | None = None

    def sessions(self, spans: SessionSpans, ts_us: Any) -> None:
        """Count the ticks (an int64 array of instants) outside the trading sessions."""
        count, first = spans.outside(ts_us)
        self.outside += count
        if self.first_outside_us is None:
            self.first_outside_us = first


def replay_tape(
    listing: Listing,
    tape: Tape,
    ingestor: Ingestor,
    chunk_size: int,
    progress: Progress | None = None,
) -> ReplayReport:
    """Replay a tape read into memory as fast as possible, one transaction per chunk."""
    ticks = tape.ticks
    chunks = (
        TickArrays.from_ticks(ticks[start : start + chunk_size])
        for start in range(0, len(ticks), chunk_size)
    )
    report = ReplayReport(tape.rows, len(ticks), tape.bad_rows)
    return _replay_chunks(listing, chunks, ingestor, report, progress)


def replay_reader(
    listing: Listing, reader: TapeReader, ingestor: Ingestor, progress: Progress | None = None
) -> ReplayReport:
    """Replay a checked tape chunk by chunk as fast as possible, one transaction per chunk.

    Only one chunk is in memory at a time (plus what the reader kept from its check).
    """
    checked = reader.check()
    report = ReplayReport(checked.rows, checked.ticks, checked.bad_rows)
    return _replay_chunks(listing, reader.chunks(), ingestor, report, progress)


def _replay_chunks(
    listing: Listing,
    chunks: Iterable[TickArrays],
    ingestor: Ingestor,
    report: ReplayReport,
    progress: Progress | None,
) -> ReplayReport:
    done = 0
    spans = SessionSpans(listing.calendar)
    for chunk in chunks:
        _count(listing, ingestor.ingest(listing, chunk), report)
        report.sessions(spans, chunk.ts_us)
        done += len(chunk)
        if progress is not None:
            progress(done, report.ticks)
    return report


def _count(listing: Listing, done: Ingested, report: ReplayReport) -> None:
    logger.debug("stored %d ticks of %s, %d alerts", done.stored, listing.id, len(done.alerts))
    report.stored += done.stored
    report.already_stored += done.already_stored
    report.alerts.extend(done.alerts)


def market_offsets(ticks: Sequence[Tick], intervals: Sequence[tuple[int, int]]) -> list[float]:
    """Seconds of open market between the first tick and each tick.

    Closed periods (lunch, nights, holidays) count for nothing, so a tick right
    after lunch follows the last morning tick at once. A tick outside every open
    interval is due when the market next opens.
    """
    if not ticks:
        return []
    starts = [start for start, _ in intervals]
    cumulative = [0]
    for start, end in intervals:
        cumulative.append(cumulative[-1] + (end - start))

    def elapsed(ts_us: int) -> int:
        i = bisect.bisect_right(starts, ts_us) - 1
        if i < 0:
            return 0
        start, end = intervals[i]
        return cumulative[i] + min(ts_us, end) - start

    origin = elapsed(ticks[0].ts_us)
    return [(elapsed(tick.ts_us) - origin) / MICROS for tick in ticks]


class PacedReplay:
    """A tape played at ``speed`` market seconds per wall second, stepped by the scheduler."""

    def __init__(
        self,
        listing: Listing,
        tape: Tape,
        ingestor: Ingestor,
        speed: float,
        intervals: Sequence[tuple[int, int]],
        progress: Progress | None = None,
    ) -> None:
        self.listing = listing
        self.progress = progress
        self.ticks = TickArrays.from_ticks(tape.ticks)
        self.ingestor = ingestor
        self.report = ReplayReport(tape.rows, len(tape.ticks), tape.bad_rows)
        self.report.sessions(SessionSpans(listing.calendar), self.ticks.ts_us)
        # ticks stored by an earlier run are due at once (they add nothing): the pace
        # starts at the first tick not stored yet, so a replay resumed is not a wait
        stored = accepted_start(self.ticks, ingestor.state(listing))
        offsets = market_offsets(tape.ticks[stored:], intervals)
        self._due = [0.0] * stored + [offset / speed for offset in offsets]
        self._next = 0

    @property
    def done(self) -> bool:
        """Whether every tick has been played."""
        return self._next >= len(self.ticks)

    def step(self, wall_elapsed: float) -> bool:
        """Play every tick due by ``wall_elapsed`` seconds after the start; true once done."""
        end = bisect.bisect_right(self._due, wall_elapsed, lo=self._next)
        if end > self._next:
            due = self.ticks.slice(self._next, end)
            _count(self.listing, self.ingestor.ingest(self.listing, due), self.report)
            self._next = end
            if self.progress is not None:
                self.progress(end, len(self.ticks))
        return self.done

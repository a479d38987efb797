"""The live daemon: pollers, the dispatcher, a status line and a heartbeat on the scheduler."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from tracker.core.model import datetime_to_ts, ts_to_datetime
from tracker.errors import StorageError
from tracker.markets.calendar import TRADING
from tracker.runtime.clock import Clock, human_span
from tracker.runtime.ingest import Ingestor
from tracker.runtime.poller import ListingPoller, PollCycle
from tracker.runtime.scheduling import Job, recurring_scheduler
from tracker.store.repository import Heartbeat

logger = logging.getLogger(__name__)

HEARTBEAT_WALL_SECONDS = 5.0
DISPATCH_WALL_SECONDS = 1.0
CHECKPOINT_WALL_SECONDS = 5.0  # SQLite WAL checkpoints, off the commits (see defer_checkpoints)
STATUS_CLOCK_SECONDS = 60.0
WATCH_WALL_SECONDS = 1.0  # how often the SQLite file is checked to be the one opened
HEARTBEAT_NAME = "daemon"


class Daemon:
    """Runs the live path until stopped (a signal) or until its clock passes ``until``."""

    def __init__(
        self,
        cycles: Sequence[PollCycle],
        ingestor: Ingestor,
        clock: Clock,
        until: dt.datetime | None = None,
        *,
        checkpoints: bool = False,
        database: Path | None = None,
    ) -> None:
        self.cycles = list(cycles)
        self.pollers: list[ListingPoller] = [p for cycle in self.cycles for p in cycle.pollers]
        self.ingestor = ingestor
        self.clock = clock
        self.until = until
        self.checkpoints = checkpoints  # the store's WAL checkpoints are this daemon's job
        self.stopping = threading.Event()
        self.database = database  # a SQLite file: stop when it is deleted or replaced
        self._identity = _file_identity(database) if database is not None else None

    def jobs(self) -> list[Job]:
        """The jobs; intervals in wall seconds (clock seconds over the clock's speed)."""
        speed = self.clock.speed
        jobs = [Job(cycle.id, cycle.run, cycle.interval / speed) for cycle in self.cycles]
        jobs.append(Job("dispatch", self.ingestor.dispatch_soon, DISPATCH_WALL_SECONDS))
        jobs.append(Job("status", self.log_status, max(0.25, STATUS_CLOCK_SECONDS / speed)))
        jobs.append(Job("heartbeat", self.beat, HEARTBEAT_WALL_SECONDS))
        if self.checkpoints:
            jobs.append(Job("checkpoint", self.ingestor.store.checkpoint, CHECKPOINT_WALL_SECONDS))
        return jobs

    def run(self) -> None:
        """Poll until stopped; then let the jobs in flight finish and deliver what is pending.

        Alerts go out on a dispatcher thread per sink, woken by each commit; the
        ``dispatch`` job wakes them every second for retries whose time has come.
        """
        scheduler = recurring_scheduler(self.jobs())
        self.settle()
        logger.info(
            "daemon started: %d listings, clock %s at %gx",
            len(self.pollers),
            self.clock.now().isoformat(),
            self.clock.speed,
        )
        self.say_when_markets_open()
        lost: str | None = None
        try:
            with self.ingestor.background_dispatch():
                scheduler.start()
                watched = time.monotonic()
                try:
                    while not self.stopping.wait(timeout=0.1):
                        if self.until is not None and self.clock.now() >= self.until:
                            logger.info("reached --until %s", self.until.isoformat())
                            break
                        if time.monotonic() - watched >= WATCH_WALL_SECONDS:
                            watched = time.monotonic()
                            lost = self.database_lost()
                            if lost is not None:
                                break
                finally:
                    scheduler.shutdown(wait=True)
        finally:
            if lost is None:  # else nothing more is written: it would go to a new file
                self.ingestor.dispatch()
                self.beat(stopped=True)
                if self.checkpoints:
                    self.ingestor.store.checkpoint()
            logger.info("daemon stopped")
        if lost is not None:
            raise StorageError(f"{lost}: the daemon stopped (restart it on the right database)")

    def database_lost(self) -> str | None:
        """Why the SQLite file is no longer the one the daemon opened, or None while it is."""
        if self.database is None:
            return None
        identity = _file_identity(self.database)
        if identity is None:
            return f"database {self.database} was deleted"
        if identity != self._identity:
            return f"database {self.database} was replaced by another file"
        return None

    def say_when_markets_open(self) -> None:
        """Started while no listing's market trades: one line saying when polling begins."""
        now = self.clock.now()
        opens = []
        for poller in self.pollers:
            if poller.calendar.phase(now) in TRADING:
                return
            at = poller.next_open(now)
            if at is not None:
                opens.append((at, poller))
        if not opens:
            return
        at, first = min(opens, key=lambda found: found[0])
        local = ts_to_datetime(at).astimezone(ZoneInfo(first.listing.timezone))
        wait = (at - datetime_to_ts(now)) / 1_000_000 / self.clock.speed
        logger.warning(
            "no market is open now: %s's next session opens at %s (in %s of wall time); "
            "polling starts then",
            first.listing.id,
            local.isoformat(),
            human_span(wait),
        )

    def settle(self) -> None:
        """Before the first poll: keep start-up's objects out of the collector's full passes.

        Everything built so far (modules, calendars, the store) lives as long as the
        daemon; frozen, a full garbage collection no longer walks it in mid-poll.
        """
        gc.freeze()

    def stop(self) -> None:
        """Ask the daemon to stop (safe from a signal handler)."""
        self.stopping.set()

    def beat(self, stopped: bool = False) -> None:
        """Record that the daemon is alive (or has stopped cleanly)."""
        self.ingestor.store.beat(
            Heartbeat(
                HEARTBEAT_NAME,
                time.time_ns() // 1000,
                datetime_to_ts(self.clock.now()),
                os.getpid(),
                "stopped" if stopped else f"{len(self.pollers)} listings",
            )
        )

    def log_status(self) -> None:
        """The status line: per listing, ticks stored, alerts, last tick age, provider errors."""
        now = self.clock.now()
        parts = []
        for poller in self.pollers:
            known = self.ingestor.known_state(poller.listing.id)
            last = known.last_ts_us if known else None
            age = "no tick yet" if last is None else f"last tick {_age(now, last)} ago"
            stats = poller.stats
            parts.append(
                f"{poller.listing.id}: {stats.ticks} ticks, {stats.alerts} alerts, {age}, "
                f"{stats.errors} provider errors, source {poller.provider.name}"
            )
        local = now.astimezone(ZoneInfo(self.pollers[0].listing.timezone)) if self.pollers else now
        logger.info("status at %s: %s", local.strftime("%Y-%m-%d %H:%M:%S %Z"), "; ".join(parts))


def _file_identity(path: Path) -> tuple[int, int] | None:
    """The device and inode of a file, or None when there is none at ``path``."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _age(now: dt.datetime, ts_us: int) -> str:
    seconds = max(0, int((now - ts_to_datetime(ts_us)).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"

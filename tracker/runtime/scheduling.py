"""The scheduler (APScheduler 3) decides when jobs run; the jobs decide what to do.

APScheduler 3 has no injectable clock, so jobs are scheduled in wall time and
handed the elapsed wall time; tests call the job with an explicit clock and
check the wiring with ``get_jobs()``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

logger = logging.getLogger(__name__)

PACE_INTERVAL = 0.05  # wall seconds between paced-replay steps


class SteppedRun:
    """Calls ``step(elapsed wall seconds)`` on the scheduler until the step says it is done."""

    def __init__(
        self, step: Callable[[float], bool], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._step = step
        self._clock = clock
        self._origin: float | None = None
        self.finished = threading.Event()
        self.error: BaseException | None = None

    def job(self) -> None:
        """One scheduler run: play what is due; a failure ends the run and is re-raised."""
        if self.finished.is_set():
            return
        now = self._clock()
        if self._origin is None:
            self._origin = now
        try:
            if self._step(now - self._origin):
                self.finished.set()
        except Exception as exc:
            logger.debug("paced step failed", exc_info=True)
            self.error = exc
            self.finished.set()

    def scheduler(self) -> BackgroundScheduler:
        """A scheduler, not yet started, with this run's job."""
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(
            self.job,
            "interval",
            seconds=PACE_INTERVAL,
            id="replay-step",
            name="paced replay step",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        return scheduler

    def run(self) -> None:
        """Run on a fresh scheduler until done; re-raise the step's failure."""
        scheduler = self.scheduler()
        scheduler.start()
        try:
            while not self.finished.wait(timeout=0.5):
                pass
        finally:
            scheduler.shutdown(wait=True)
        if self.error is not None:
            raise self.error


@dataclass(frozen=True, slots=True)
class Job:
    """A recurring job: a stable id, what to call, and how often in wall seconds."""

    id: str
    func: Callable[[], object]
    every: float


def recurring_scheduler(jobs: list[Job]) -> BackgroundScheduler:
    """A scheduler (not started) running each job on its interval, one run at a time.

    Each job first runs at once; misfired runs are coalesced into one; a job that
    raises is logged and runs again on its next interval.
    """
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"misfire_grace_time": None})
    start = dt.datetime.now(dt.UTC)
    for job in jobs:
        scheduler.add_job(
            _logged(job),
            "interval",
            seconds=job.every,
            id=job.id,
            name=job.id,
            max_instances=1,
            coalesce=True,
            next_run_time=start,
        )
    return scheduler


def _logged(job: Job) -> Callable[[], None]:
    def run() -> None:
        try:
            job.func()
        except Exception as exc:
            logger.error(
                "job %s failed: %s", job.id, exc, exc_info=logger.isEnabledFor(logging.DEBUG)
            )

    return run

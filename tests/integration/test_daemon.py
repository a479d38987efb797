"""The daemon's wiring on the real scheduler (never started), its status line and heartbeat.

Nothing polls here: the feed URLs point at 127.0.0.1 but no job runs on its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from commands import Tracker

from tracker.bootstrap import build_app, build_daemon, build_settings
from tracker.config import load_listings
from tracker.core.model import datetime_to_ts
from tracker.runtime.clock import SimulatedClock
from tracker.runtime.daemon import STATUS_CLOCK_SECONDS, Daemon
from tracker.runtime.scheduling import Job, recurring_scheduler
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import Heartbeat, SqlStore

SPEED = 60.0
START = dt.datetime.fromisoformat("2026-01-02T09:30:00+08:00")
LISTINGS_TOML = """
[[listings]]
id = "alpha"
symbol = "0001.HK"
offer_price = 10.0
shares_outstanding = 1_000_000

[listings.source]
provider = "feed"
url = "http://127.0.0.1:9/quotes/alpha"
interval = 5

[[listings]]
id = "quiet"                # no source: the daemon does not poll it
symbol = "0002.HK"
offer_price = 20.0
shares_outstanding = 2_000_000

[[listings]]
id = "beta"
symbol = "0003.HK"
offer_price = 30.0
shares_outstanding = 3_000_000

[listings.source]
provider = "feed"
url = "http://127.0.0.1:9/quotes/beta"
interval = 2
"""
INTERVALS = {"alpha": 5.0, "beta": 2.0}


class Wall:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def listings_file(workdir: Path) -> Path:
    path = workdir / "listings.toml"
    path.write_text(LISTINGS_TOML, encoding="utf-8")
    return path


@pytest.fixture
def db_file(workdir: Path) -> Path:
    return workdir / "daemon.db"


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def daemon(listings_file: Path, db_file: Path, workdir: Path, wall: Wall) -> Iterator[Daemon]:
    """A daemon built as ``tracker run --start ... --speed 60`` builds it, never started."""
    settings = build_settings(f"sqlite:///{db_file}", str(workdir / "alerts.jsonl"))
    app = build_app(load_listings(listings_file), settings)
    built = build_daemon(app, SimulatedClock(START, SPEED, wall=wall), None)
    yield built
    for client in {id(p.client): p.client for p in built.pollers}.values():
        client.close()
    app.store.close()


# --- wiring -------------------------------------------------------------------------------------


def test_scheduler_has_a_poll_job_per_listing_with_a_source_and_the_daemon_jobs(
    daemon: Daemon,
) -> None:
    ids = [job.id for job in recurring_scheduler(daemon.jobs()).get_jobs()]
    assert sorted(ids) == [
        "checkpoint",
        "dispatch",
        "heartbeat",
        "poll:alpha",
        "poll:beta",
        "status",
    ]
    assert "poll:quiet" not in ids


def test_the_daemon_checkpoints_its_sqlite_file_on_a_job_not_in_its_commits(
    daemon: Daemon, db_file: Path
) -> None:
    store = daemon.ingestor.store
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    (poller,) = [p for p in daemon.pollers if p.listing.id == "alpha"]
    for _ in range(3):  # commits: the listing's row, its state and its poller's
        daemon.ingestor.state(poller.listing)
        store.save_poller("alpha", poller.poller_state)
    assert b"0001.HK" not in db_file.read_bytes()  # still only in the WAL
    {job.id: job for job in daemon.jobs()}["checkpoint"].func()
    assert b"0001.HK" in db_file.read_bytes()


def test_every_job_runs_one_at_a_time_and_coalesces_missed_runs(daemon: Daemon) -> None:
    jobs = recurring_scheduler(daemon.jobs()).get_jobs()
    assert jobs
    for job in jobs:
        assert (job.max_instances, job.coalesce) == (1, True), job.id


def test_poll_intervals_are_the_source_interval_over_the_clock_speed_in_wall_seconds(
    daemon: Daemon,
) -> None:
    jobs = {job.id: job for job in recurring_scheduler(daemon.jobs()).get_jobs()}
    for listing_id, interval in INTERVALS.items():
        wall_seconds = jobs[f"poll:{listing_id}"].trigger.interval.total_seconds()
        assert wall_seconds == pytest.approx(interval / SPEED, abs=1e-6)
    # the status line comes once a simulated minute
    status = jobs["status"].trigger.interval.total_seconds()
    assert status == pytest.approx(STATUS_CLOCK_SECONDS / SPEED, abs=1e-6)


def test_the_heartbeat_job_calls_the_daemons_beat(daemon: Daemon) -> None:
    jobs = {job.id: job for job in recurring_scheduler(daemon.jobs()).get_jobs()}
    assert daemon.ingestor.store.heartbeats() == []
    jobs["heartbeat"].func()
    assert [beat.name for beat in daemon.ingestor.store.heartbeats()] == ["daemon"]


# --- status line and heartbeat ------------------------------------------------------------------


def test_status_logs_one_line_naming_each_polled_listing(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tracker.runtime.daemon"):
        daemon.log_status()
    [record] = [r for r in caplog.records if r.name == "tracker.runtime.daemon"]
    line = record.getMessage()
    assert "\n" not in line
    assert "2026-01-02 09:30:00 HKT" in line  # the simulated clock, in exchange time
    assert "alpha: 0 ticks, 0 alerts, no tick yet, 0 provider errors" in line
    assert "beta: 0 ticks, 0 alerts, no tick yet, 0 provider errors" in line
    assert "quiet" not in line


def test_beat_records_the_simulated_clocks_now(daemon: Daemon, wall: Wall) -> None:
    before = time.time_ns() // 1000
    daemon.beat()
    after = time.time_ns() // 1000
    [beat] = daemon.ingestor.store.heartbeats()
    assert beat.clock_us == datetime_to_ts(START)
    assert before <= beat.wall_us <= after
    assert (beat.name, beat.pid, beat.detail) == ("daemon", os.getpid(), "2 listings")

    wall.now += 10  # ten wall seconds at 60x: ten simulated minutes
    daemon.beat(stopped=True)
    [beat] = daemon.ingestor.store.heartbeats()
    assert beat.clock_us == datetime_to_ts(START + dt.timedelta(minutes=10))
    assert beat.detail == "stopped"


# --- tracker status (the command) ---------------------------------------------------------------


def status(
    tracker: Tracker, listings_file: Path, db_file: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return tracker("status", "--config", str(listings_file), "--db", f"sqlite:///{db_file}", *extra)


def write_beat(db_file: Path, age_seconds: float, detail: str = "2 listings") -> None:
    """A daemon heartbeat ``age_seconds`` of wall time old, written straight to the store."""
    engine = create_engine(f"sqlite:///{db_file}")
    ensure_schema(engine)
    store = SqlStore(engine)
    wall_us = time.time_ns() // 1000 - round(age_seconds * 1_000_000)
    store.beat(Heartbeat("daemon", wall_us, datetime_to_ts(START), 4242, detail))
    store.close()


def test_status_exits_1_when_the_daemon_never_beat(
    tracker: Tracker, listings_file: Path, db_file: Path
) -> None:
    engine = create_engine(f"sqlite:///{db_file}")
    ensure_schema(engine)
    engine.dispose()
    result = status(tracker, listings_file, db_file)
    assert result.returncode == 1, result.stderr
    assert "no heartbeat" in result.stdout
    assert "Traceback" not in result.stderr


def test_status_exits_0_after_a_fresh_beat_from_the_daemon(
    tracker: Tracker, listings_file: Path, db_file: Path, daemon: Daemon
) -> None:
    daemon.beat()
    result = status(tracker, listings_file, db_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "daemon: heartbeat" in result.stdout
    assert f"pid {os.getpid()}" in result.stdout
    for listing_id in ("alpha", "quiet", "beta"):
        assert f"{listing_id}: no tick stored" in result.stdout


def test_status_exits_1_once_the_beat_is_older_than_max_age(
    tracker: Tracker, listings_file: Path, db_file: Path
) -> None:
    write_beat(db_file, age_seconds=120)
    assert status(tracker, listings_file, db_file, "--max-age", "600").returncode == 0
    stale = status(tracker, listings_file, db_file, "--max-age", "60")
    assert stale.returncode == 1
    assert "stale" in stale.stdout
    assert status(tracker, listings_file, db_file).returncode == 1  # default --max-age 60


def test_status_exits_1_when_the_daemon_stopped_cleanly(
    tracker: Tracker, listings_file: Path, db_file: Path
) -> None:
    write_beat(db_file, age_seconds=0, detail="stopped")
    result = status(tracker, listings_file, db_file)
    assert result.returncode == 1
    assert "stopped" in result.stdout


def store_tick(db_file: Path, listing_id: str, at: str, price: float) -> None:
    """A tick written straight to the store, as a replay would have stored it."""
    engine = create_engine(f"sqlite:///{db_file}")
    ensure_schema(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO ticks (listing_id, ts_us, seq, price) VALUES (:listing, :ts, 0, :p)"
            ),
            {
                "listing": listing_id,
                "ts": datetime_to_ts(dt.datetime.fromisoformat(at)),
                "p": price,
            },
        )
    engine.dispose()


def test_status_lists_the_listings_of_a_database_no_daemon_ran_on(
    tracker: Tracker, listings_file: Path, db_file: Path
) -> None:
    store_tick(db_file, "alpha", "2026-01-02T16:09:00+08:00", 34.46)

    result = status(tracker, listings_file, db_file)

    assert result.returncode == 1  # no daemon runs: unhealthy, and said so
    assert result.stdout.splitlines()[:2] == [
        "daemon: no heartbeat (never ran against this database)",
        "alpha: last tick 2026-01-02T16:09:00+08:00 at 34.46; source feed",
    ]
    assert "quiet: no tick stored" in result.stdout


def test_status_ages_are_readable_and_never_negative(
    tracker: Tracker, listings_file: Path, db_file: Path
) -> None:
    write_beat(db_file, age_seconds=123)  # its clock at START, 09:30
    store_tick(db_file, "alpha", "2026-01-02T09:05:56+08:00", 30.0)
    store_tick(db_file, "beta", "2026-01-02T09:54:34+08:00", 31.0)  # a replay stored it later

    result = status(tracker, listings_file, db_file, "--max-age", "600")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "daemon: heartbeat 2m03s ago (pid 4242)" in result.stdout
    assert "alpha: last tick 2026-01-02T09:05:56+08:00 at 30, 24m04s before the daemon's clock" in (
        result.stdout
    )
    assert "beta: last tick 2026-01-02T09:54:34+08:00 at 31, 24m34s after the daemon's clock" in (
        result.stdout
    )
    assert "-" not in "".join(line.split("+08:00")[-1] for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(-5, "0s"), (0, "0s"), (59.9, "59s"), (123, "2m03s"), (3600, "1h00m"), (93_784, "1d02h")],
)
def test_human_ages(seconds: float, shown: str) -> None:
    from tracker.runtime.clock import human_span

    assert human_span(seconds) == shown


def test_the_daemon_freezes_what_start_up_built_before_its_first_poll(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import tracker.runtime.daemon

    frozen_at_start: list[int] = []
    real = tracker.runtime.daemon.recurring_scheduler

    def noting(jobs: list[Job]) -> Any:
        scheduler = real(jobs)
        start = scheduler.start

        def started(*args: Any, **kwargs: Any) -> None:
            frozen_at_start.append(gc.get_freeze_count())  # no job has run before this
            start(*args, **kwargs)

        scheduler.start = started
        return scheduler

    monkeypatch.setattr(tracker.runtime.daemon, "recurring_scheduler", noting)
    gc.unfreeze()
    try:
        daemon.until = daemon.clock.now()  # stop at once
        daemon.run()
    finally:
        gc.unfreeze()
    assert len(frozen_at_start) == 1
    assert frozen_at_start[0] > 0  # full collections skip start-up's objects


# --- a feed's clock, waited for -------------------------------------------------------------


class Waited(Exception):
    """Raised by a test's sleep to end a wait it has seen enough of."""


def test_run_clock_waits_for_a_feed_that_refuses_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from feeds import free_port

    from tracker.bootstrap import fetch_clock

    url = f"http://127.0.0.1:{free_port()}/clock"  # nothing listens there yet
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise Waited

    with caplog.at_level(logging.WARNING), pytest.raises(Waited):
        fetch_clock(url, sleep=sleep)

    assert waits == [1, 2, 4]  # and so on, up to 30 s apart
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3  # one a try
    assert lines[0].startswith(f"--clock {url}: no clock yet (")
    assert lines[0].endswith("; trying again in 1s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_waiting_for_the_clock_ends_run_cleanly(
    signum: int, listings_file: Path, tmp_path: Path
) -> None:
    from commands import tracker_command, tracker_env
    from feeds import free_port

    url = f"http://127.0.0.1:{free_port()}/clock"  # no feed yet: it waits (1 s, 2 s, ...)
    db = tmp_path / "t.db"
    with subprocess.Popen(
        [*tracker_command(), "run", "--clock", url, "--config", str(listings_file)],
        env=tracker_env(TRACKER_DB_URL=f"sqlite:///{db}"),
        stderr=subprocess.PIPE,
        text=True,
    ) as daemon:
        assert daemon.stderr is not None
        assert "no clock yet" in daemon.stderr.readline()

        daemon.send_signal(signum)

        assert daemon.wait(timeout=30) == 0
        assert "Traceback" not in daemon.stderr.read()
    assert not db.exists()  # nothing opened before the clock


def test_run_clock_starts_once_a_starting_feed_answers(caplog: pytest.LogCaptureFixture) -> None:
    from quote_server import QuoteServer

    from tracker.bootstrap import fetch_clock

    with QuoteServer() as server:
        server.respond(503, b"starting")
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 2:
                server.respond(200, {"now": "2026-01-02T09:10:00+08:00", "speed": 60})

        with caplog.at_level(logging.WARNING):
            clock = fetch_clock(f"{server.base}/clock", sleep=sleep)

    assert waits == [1, 2]
    assert len(caplog.records) == 2
    assert "503 Service Unavailable" in caplog.records[0].getMessage()
    assert clock.speed == 60
    assert clock.now() >= dt.datetime.fromisoformat("2026-01-02T09:10:00+08:00")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>", "not a feed's clock"),
        (b'{"now": "2026-01-02T09:10:00+08:00", "speed": 0}', "speed 0 is not a positive"),
        (b'{"now": "9999-01-01T00:00:00+00:00", "speed": 1}', "outside the years"),
    ],
)
def test_an_answer_that_is_not_a_clock_is_refused_at_once(body: bytes, reason: str) -> None:
    from quote_server import QuoteServer

    from tracker.bootstrap import fetch_clock
    from tracker.errors import SourceUnavailableError

    with QuoteServer() as server:
        server.respond(200, body)
        with pytest.raises(SourceUnavailableError, match=reason):
            fetch_clock(f"{server.base}/clock", sleep=lambda s: pytest.fail("waited"))


# --- started while the markets are closed ---------------------------------------------------


def closed_daemon(listings_file: Path, db_file: Path, workdir: Path, at: str) -> Daemon:
    settings = build_settings(f"sqlite:///{db_file}", str(workdir / "alerts.jsonl"))
    app = build_app(load_listings(listings_file), settings)
    moment = dt.datetime.fromisoformat(at)
    return build_daemon(app, SimulatedClock(moment, 1.0), moment)  # --until: stop at once


def test_a_daemon_started_while_markets_are_closed_says_when_the_next_session_opens(
    listings_file: Path, db_file: Path, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = closed_daemon(listings_file, db_file, workdir, "2026-01-03T19:59:30+08:00")  # Sat

    with caplog.at_level(logging.INFO):
        daemon.run()

    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "no market is open now: alpha's next session opens at 2026-01-05T09:00:00+08:00 "
        "(in 1d13h of wall time); polling starts then"
    ]
    daemon.ingestor.store.close()


def test_a_poller_logs_once_a_closed_stretch_when_its_market_opens_again(
    listings_file: Path, db_file: Path, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = closed_daemon(listings_file, db_file, workdir, "2026-01-02T12:05:00+08:00")  # lunch
    [alpha] = [p for p in daemon.pollers if p.listing.id == "alpha"]

    with caplog.at_level(logging.INFO, logger="tracker.runtime.poller"):
        for minute in ("12:05", "12:20", "12:40"):
            alpha.ask(dt.datetime.fromisoformat(f"2026-01-02T{minute}:00+08:00"))
        alpha.ask(dt.datetime.fromisoformat("2026-01-02T16:40:00+08:00"))  # the day is over

    assert [r.getMessage() for r in caplog.records] == [
        "alpha: market closed; the next session opens at 2026-01-02T13:00:00+08:00",
        "alpha: market closed; the next session opens at 2026-01-05T09:00:00+08:00",
    ]
    daemon.ingestor.store.close()

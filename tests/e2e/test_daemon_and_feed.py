"""The live path as a user runs it: ``tracker feed`` and ``tracker run`` as real processes.

The feed plays the Biren sample day on a fast simulated clock; the daemon follows
that clock (``--clock``). Waits are for what the processes print, or for the feed's
clock to reach an instant, never fixed sleeps.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from commands import Tracker, tracker_env
from factories import LISTINGS, SAMPLE_TAPE
from feeds import daemon_args


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def live_and_replayed(
    feed_factory: Any,
    folder: Path,
    tracker: Tracker,
    *,
    speed: float,
    interval: float,
    start: str,
    until: str,
) -> Path:
    """The daemon on the feed's day from ``start`` to ``until`` (``live.db``, ``live.jsonl``),
    and a replay of the whole day (``replay.jsonl``); returns the config both used."""
    feed, config = feed_factory(speed=speed, interval=interval, start=start)
    daemon = subprocess.run(
        daemon_args(config, folder, feed, "--until", until),
        capture_output=True,
        text=True,
        env=tracker_env(),
        timeout=180,
        check=False,
    )
    assert daemon.returncode == 0, daemon.stderr
    replayed = tracker(
        "replay",
        str(SAMPLE_TAPE),
        "--listing",
        "biren",
        "--config",
        str(config),
        "--db",
        f"sqlite:///{folder / 'replay.db'}",
        "--alert-log",
        str(folder / "replay.jsonl"),
    )
    assert replayed.returncode == 0, replayed.stderr
    return config


def test_the_daemon_on_a_feed_gives_the_alerts_of_a_replay(
    feed_factory: Any, tmp_path: Path, tracker: Tracker
) -> None:
    interval = 30.0  # 20 ms of wall time a poll at 1500x
    # the clock starts an hour before the pre-opening: the daemon polls well before 09:00
    live_and_replayed(
        feed_factory,
        tmp_path,
        tracker,
        speed=1500,
        interval=interval,
        start="2026-01-02T08:00:00+08:00",
        until="2026-01-02T16:12:00+08:00",
    )
    live, expected = records(tmp_path / "live.jsonl"), records(tmp_path / "replay.jsonl")
    assert [r["rule"] for r in live] == [r["rule"] for r in expected]
    for got, want in zip(live, expected, strict=True):
        assert 0 <= seconds(got["ts"]) - seconds(want["ts"]) <= interval, (got, want)
    assert [r["gap"] for r in live] == [r["gap"] for r in expected]
    with sqlite3.connect(tmp_path / "live.db") as db:
        count, volume = db.execute("SELECT count(*), sum(volume) FROM ticks").fetchone()
    assert volume == 150_709_945  # every share of the day, in fewer ticks than the tape
    assert 0 < count < 2_874


def test_a_daemon_started_at_0950_is_late_at_first_then_gives_the_replays_crossings(
    feed_factory: Any, tmp_path: Path, tracker: Tracker
) -> None:
    interval = 30.0  # 50 ms of wall time a poll at 600x
    config = live_and_replayed(
        feed_factory,
        tmp_path,
        tracker,
        speed=600,
        interval=interval,
        start="2026-01-02T09:50:00+08:00",
        until="2026-01-02T16:16:00+08:00",
    )
    with sqlite3.connect(tmp_path / "live.db") as db:
        first_us, last_us = db.execute("SELECT min(ts_us), max(ts_us) FROM ticks").fetchone()
    first = first_us / 1e6
    live = [r for r in records(tmp_path / "live.jsonl") if r["kind"] != "source"]
    expected = records(tmp_path / "replay.jsonl")

    # the first poll, well after 09:32: its alerts are late, never gap
    at_first = [r for r in live if seconds(r["ts"]) == first]
    assert at_first
    assert all(r["late"] and not r["gap"] for r in at_first), at_first
    # every later crossing is the replay's, within a poll interval, and on time
    later = [r for r in live if seconds(r["ts"]) > first]
    replay_later = [r for r in expected if seconds(r["ts"]) > first]
    assert [r["rule"] for r in later] == [r["rule"] for r in replay_later]
    for got, want in zip(later, replay_later, strict=True):
        assert 0 <= seconds(got["ts"]) - seconds(want["ts"]) <= interval, (got, want)
        assert not got["late"]
        assert not got["gap"]
    # the closing auction's print (16:09) is stored: the day's close
    assert last_us / 1e6 == seconds("2026-01-02T16:09:00+08:00")
    report = tracker(
        "report",
        "biren",
        "--config",
        str(config),
        "--db",
        f"sqlite:///{tmp_path / 'live.db'}",
        "--json",
    )
    data = json.loads(report.stdout)
    assert (data["partial"], data["closing_print"], data["close"]["price"]) == (True, True, 34.46)
    assert data["open"] == {**data["open"], "price": 35.70, "from_source": True}
    status = tracker("status", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'live.db'}")
    assert "source feed" in status.stdout


def test_sigterm_then_restart_loses_nothing_and_fires_the_missed_crossing_once_as_late(
    feed_factory: Any, tmp_path: Path, tracker: Tracker
) -> None:
    feed, config = feed_factory(speed=600, interval=5, start="2026-01-02T08:30:00+08:00")
    db = tmp_path / "live.db"
    first = subprocess.Popen(
        daemon_args(config, tmp_path, feed),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=tracker_env(),
    )
    assert first.stderr is not None
    status_checked = False
    for line in first.stderr:  # status lines carry the daemon's clock
        found = re.search(r"status at 2026-01-02 (\d\d:\d\d)", line)
        if found and not status_checked:
            running = tracker("status", "--config", str(config), "--db", f"sqlite:///{db}")
            assert running.returncode == 0, running.stdout + running.stderr
            status_checked = True
        elif found and "10:05" <= found[1] < "10:11":
            break
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)
    assert first.returncode == 0
    stopped = tracker(
        "status", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'live.db'}"
    )
    assert stopped.returncode == 1
    before = records(tmp_path / "live.jsonl")
    assert "mcap-100b" not in [r["rule"] for r in before]  # 10:15 had not come yet

    feed.wait_until("2026-01-02T10:17:00+08:00")
    second = subprocess.run(
        daemon_args(config, tmp_path, feed, "--until", "2026-01-02T10:40:00+08:00"),
        capture_output=True,
        text=True,
        env=tracker_env(),
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    alerts = records(tmp_path / "live.jsonl")
    assert len({r["alert_id"] for r in alerts}) == len(alerts)
    [mcap] = [r for r in alerts if r["rule"] == "mcap-100b"]
    assert mcap["late"] is True
    with sqlite3.connect(tmp_path / "live.db") as db:
        keys = db.execute("SELECT ts_us, seq FROM ticks ORDER BY ts_us, seq").fetchall()
        stored_volume = db.execute("SELECT sum(volume) FROM ticks").fetchone()[0]
        last_us = keys[-1][0]
        assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == len(alerts)
    assert len(keys) == len(set(keys))
    # no lost volume: what is stored adds up to the day's cumulative volume at the last stored trade
    tape_volume = 0
    for row in SAMPLE_TAPE.read_text().splitlines()[1:]:
        ts, _price, volume = row.split(",")[:3]
        if seconds(ts.replace(" ", "T") + "+08:00") * 1_000_000 <= last_us:
            tape_volume += int(volume)
    assert stored_volume == tape_volume


def test_run_refuses_two_clocks_and_a_config_without_sources(
    tracker: Tracker, tmp_path: Path
) -> None:
    both = tracker(
        "run",
        "--config",
        str(LISTINGS),
        "--start",
        "2026-01-02T09:00",
        "--clock",
        "http://127.0.0.1:1/clock",
    )
    assert both.returncode == 2
    assert "--start" in both.stderr
    bare = tmp_path / "bare.toml"
    bare.write_text(LISTINGS.read_text().split("[listings.source]")[0])
    nothing = tracker("run", "--config", str(bare), "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert nothing.returncode == 2
    assert "source" in nothing.stderr
    assert "Traceback" not in nothing.stderr + both.stderr


def test_the_daemon_stops_with_exit_1_when_its_database_file_is_deleted_or_replaced(
    feed_factory: Any, tmp_path: Path
) -> None:
    import time

    for fate in ("deleted", "replaced by another file"):
        folder = tmp_path / fate.split()[0]
        folder.mkdir()
        feed, config = feed_factory(speed=60, interval=1, start="2026-01-02T09:35:00+08:00")
        db = folder / "live.db"
        daemon = subprocess.Popen(
            daemon_args(config, folder, feed),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=tracker_env(),
        )
        assert daemon.stderr is not None
        for line in daemon.stderr:  # the daemon has started on its database
            if "daemon started" in line:
                break
        if fate == "deleted":
            db.unlink()
        else:
            other = folder / "other.db"
            sqlite3.connect(other).close()
            other.replace(db)
        gone = time.monotonic()

        rest = daemon.communicate(timeout=30)[1]

        assert daemon.returncode == 1, rest
        assert time.monotonic() - gone < 5  # within a few seconds, not at --until
        assert rest.splitlines()[-1] == (
            f"database {db} was {fate}: the daemon stopped (restart it on the right database)"
        )
        assert "Traceback" not in rest


class Drip:
    """A webhook receiver on 127.0.0.1 that answers every request a byte a second, forever."""

    def __init__(self) -> None:
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks"
        self.requests = threading.Semaphore(0)
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: Any) -> None:
        with connection:
            connection.recv(65536)
            self.requests.release()
            while not self.closed.wait(1.0):
                try:
                    connection.sendall(b"H")
                except OSError:
                    return

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def test_sigterm_stops_the_daemon_within_the_webhook_deadline_however_slow_the_receiver(
    feed_factory: Any, tmp_path: Path
) -> None:
    import time

    drip = Drip()
    feed, config = feed_factory(speed=600, interval=5, start="2026-01-02T09:29:00+08:00")
    env = tracker_env(TRACKER_SINKS__WEBHOOK__URL=drip.url, TRACKER_SINKS__WEBHOOK__TIMEOUT="4")
    daemon = subprocess.Popen(
        daemon_args(config, tmp_path, feed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert drip.requests.acquire(timeout=60)  # the first alert's request, answered slowly
        daemon.send_signal(signal.SIGTERM)
        sent = time.monotonic()

        rest = daemon.communicate(timeout=30)[1]

        # the request in hand ends at its deadline; no other is started: 4 s, plus a few
        assert time.monotonic() - sent < 4 + 3
        assert daemon.returncode == 0, rest
        assert "no answer within 4s" in rest
        # what it left pending, for the next run
        assert re.match(r"webhook: \d+ alerts? pending", rest.splitlines()[-1]), rest
        logged = records(tmp_path / "live.jsonl")
        assert logged  # the alert log got every alert all the same
    finally:
        daemon.kill()
        drip.close()

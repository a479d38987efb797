"""A replay delivering to the log and a webhook, killed with SIGKILL again and again, loses nothing.

Every alert ends in the log exactly once, as in an uninterrupted run, and at the
webhook at least once; a repeat is the same request (same Idempotency-Key, same
signed body), so a receiver that drops repeats by key sees each alert once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from commands import replay_command, tracker_env
from factories import LISTINGS, write_swinging_tape

SECRET = "crash-test-secret"
KILLS = 50
MAX_RUNS = 90  # bounded: a run that finishes before its kill point is not a kill


class Receiver:
    """A loopback webhook receiver keeping every whole request it answered with 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.flaky: random.Random | None = None  # set: about one request in six gets a 503
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender was killed in mid-request
                if receiver.flaky is not None and receiver.flaky.random() < 1 / 6:
                    self.send_response(503)
                else:
                    receiver.requests.append((dict(self.headers.items()), body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def replay_args(tape: Path, folder: Path) -> list[str]:
    return replay_command(tape, folder, LISTINGS)


def stored(folder: Path) -> tuple[int, list[str], list[str]]:
    """Ticks stored, alert records in store order, webhook delivery states."""
    with sqlite3.connect(folder / "tracker.db") as db:
        ticks = db.execute("SELECT count(*) FROM ticks").fetchone()[0]
        alerts = [row[0] for row in db.execute("SELECT record FROM alerts ORDER BY id")]
        states = [
            row[0]
            for row in db.execute("SELECT state FROM alert_deliveries WHERE sink = 'webhook'")
        ]
    return ticks, alerts, states


def run_until_killed(args: list[str], env: dict[str, str], lines: int) -> bool:
    """Start a replay; SIGKILL it ``lines`` stderr lines after it starts storing new ticks."""
    process = subprocess.Popen(
        args, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert process.stderr is not None
    counting = False
    seen = 0
    killed = False
    for line in process.stderr:
        if not counting:
            found = re.search(r"stored (\d+) ticks", line)
            counting = found is not None and int(found[1]) > 0
        if counting:
            seen += 1
            if seen > lines:
                process.kill()
                killed = True
                break
    process.wait(timeout=60)
    process.stderr.close()
    return killed


def test_replay_killed_at_random_points_delivers_each_alert_to_log_once_and_webhook(
    tmp_path: Path, receiver: Receiver
) -> None:
    tape = tmp_path / "swing.csv"
    write_swinging_tape(tape, 24_000, period=50, first_day=5)
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    reference.mkdir()
    crashed.mkdir()
    settings = tmp_path / "tracker.toml"
    settings.write_text(
        f'[sinks.webhook]\nurl = "{receiver.url}"\n'
        "max_attempts = 1000\nbackoff_initial = 0.001\nbackoff_max = 0.005\ntimeout = 10\n"
    )
    env = tracker_env(TRACKER_REPLAY__CHUNK_SIZE="100")
    subprocess.run(replay_args(tape, reference), env=env, check=True, capture_output=True)
    _, expected_alerts, _ = stored(reference)
    expected_log = (reference / "alerts.jsonl").read_text().splitlines()
    assert len(expected_alerts) > 150

    env.update(TRACKER_SETTINGS=str(settings), TRACKER_SINKS__WEBHOOK__SECRET=SECRET)
    rng = random.Random(20260102)
    receiver.flaky = random.Random(7)
    kills = runs = 0
    while kills < KILLS and runs < MAX_RUNS:
        runs += 1
        kills += run_until_killed(replay_args(tape, crashed), env, rng.randint(0, 12))
    assert kills == KILLS, f"only {kills} of {runs} replays were killed before they finished"
    assert stored(crashed)[0] < 24_000, "the kills came too late"

    receiver.flaky = None
    subprocess.run(replay_args(tape, crashed), env=env, check=True, capture_output=True)
    ticks, alerts, states = stored(crashed)
    assert ticks == 24_000
    assert alerts == expected_alerts
    assert (crashed / "alerts.jsonl").read_text().splitlines() == expected_log  # exactly once
    assert set(states) == {"delivered"}

    records = {json.loads(record)["alert_id"]: record for record in expected_alerts}
    first_arrivals: list[str] = []
    for headers, body in receiver.requests:
        record = json.loads(body)
        key = headers["Idempotency-Key"]
        assert key == record["alert_id"]
        assert body == records[key].encode("utf-8")  # a repeat is the very same request
        digest = hmac.new(SECRET.encode("utf-8"), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(
            f"sha256={digest}".encode(), headers["X-Tracker-Signature"].encode()
        )
        if key not in first_arrivals:
            first_arrivals.append(key)
    assert first_arrivals == list(records)  # every alert, first seen in store order

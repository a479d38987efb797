"""``tracker alerts`` with a webhook receiver on loopback: delivery states, redeliver, test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands import Tracker
from factories import LISTINGS, SAMPLE_TAPE
from test_webhook import SECRET, Receiver, verify


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.release.set()
    running.down()


def settings_for(tmp_path: Path, receiver: Receiver) -> dict[str, str]:
    settings = tmp_path / "tracker.toml"
    settings.write_text(
        f'[sinks.webhook]\nurl = "{receiver.url}"\nmax_attempts = 1\nbackoff_initial = 0.01\n'
    )
    return {
        "TRACKER_SETTINGS": str(settings),
        "TRACKER_SINKS__WEBHOOK__SECRET": SECRET,
        "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "TRACKER_ALERT_LOG": str(tmp_path / "alerts.jsonl"),
    }


def test_a_dead_lettered_alert_is_shown_and_redelivered_once_the_receiver_is_back(
    tracker: Tracker, tmp_path: Path, receiver: Receiver
) -> None:
    env = settings_for(tmp_path, receiver)
    receiver.answer = lambda n: (503, {})
    done = tracker(
        "replay", str(SAMPLE_TAPE), "--listing", "biren", "--config", str(LISTINGS), env=env
    )
    assert done.returncode == 0, done.stderr
    listing = tracker("alerts", "--config", str(LISTINGS), env=env)
    assert listing.stdout.count("webhook: dead after 1 attempts") == 4
    assert listing.stdout.count("log: delivered") == 4
    first = json.loads(
        tracker("alerts", "--json", "--config", str(LISTINGS), env=env).stdout.splitlines()[0]
    )

    receiver.answer = lambda n: (200, {})
    again = tracker(
        "alerts",
        "redeliver",
        first["alert_id"],
        "--sink",
        "webhook",
        "--config",
        str(LISTINGS),
        env=env,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "webhook: delivered, redelivery" in again.stdout
    [received] = receiver.delivered
    assert received.headers["Idempotency-Key"] == first["alert_id"]
    assert received.headers["X-Tracker-Redelivery"] == "true"
    assert verify(SECRET, received.body, received.headers["X-Tracker-Signature"])
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 4  # the log was not redelivered to
    unknown = tracker("alerts", "redeliver", "f" * 32, "--config", str(LISTINGS), env=env)
    assert unknown.returncode == 2


def test_alerts_test_sends_through_every_sink_and_says_which_failed(
    tracker: Tracker, tmp_path: Path, receiver: Receiver
) -> None:
    env = settings_for(tmp_path, receiver)
    ok = tracker("alerts", "test", "--config", str(LISTINGS), env=env)
    assert ok.returncode == 0, ok.stderr
    assert "webhook: sent" in ok.stdout
    [received] = receiver.delivered
    assert received.record["kind"] == "test"
    assert not (tmp_path / "alerts.jsonl").exists()  # the log is not sent a test
    receiver.answer = lambda n: (500, {})
    failing = tracker("alerts", "test", "--config", str(LISTINGS), env=env)
    assert failing.returncode == 1
    assert "webhook: failed" in failing.stdout

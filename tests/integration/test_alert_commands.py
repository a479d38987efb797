"""``tracker alerts`` with a webhook receiver on loopback: delivery states, redeliver, test."""

from __future__ import annotations

import json
import subprocess
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


def replay_sample(tracker: Tracker, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return tracker(
        "replay", str(SAMPLE_TAPE), "--listing", "biren", "--config", str(LISTINGS), env=env
    )


def retrying(tmp_path: Path, receiver: Receiver, attempts: int = 5) -> dict[str, str]:
    """Settings whose webhook retries after 50 ms, ``attempts`` times in all."""
    env = settings_for(tmp_path, receiver)
    Path(env["TRACKER_SETTINGS"]).write_text(
        f'[sinks.webhook]\nurl = "{receiver.url}"\nmax_attempts = {attempts}\n'
        "backoff_initial = 0.05\nbackoff_max = 0.05\n"
    )
    return env


def test_a_replay_says_what_a_failing_webhook_left_pending_and_deliver_sends_it(
    tracker: Tracker, tmp_path: Path, receiver: Receiver
) -> None:
    env = retrying(tmp_path, receiver)
    receiver.answer = lambda n: (503, {})

    replayed = replay_sample(tracker, env)

    assert replayed.returncode == 0, replayed.stderr  # the replay itself went well
    [pending] = [line for line in replayed.stderr.splitlines() if line.startswith("webhook:")]
    assert pending.startswith("webhook: 4 alerts pending, next attempt in 0s: POST ")
    assert pending.endswith("`tracker alerts deliver --wait` delivers them")
    still = tracker("alerts", "deliver", "--config", str(LISTINGS), env=env)
    assert still.returncode == 1  # tried once more, the receiver still failing
    assert "webhook: 0 alerts delivered" in still.stdout
    assert "webhook: 4 alerts pending" in still.stderr

    receiver.answer = lambda n: (200, {})
    delivered = tracker("alerts", "deliver", "--wait", "--config", str(LISTINGS), env=env)

    assert delivered.returncode == 0, delivered.stderr
    assert delivered.stdout == "webhook: 4 alerts delivered\n"
    assert delivered.stderr == ""
    assert receiver.ids() == [json.loads(line)["alert_id"] for line in logged(tmp_path)]
    again = tracker("alerts", "deliver", "--config", str(LISTINGS), env=env)
    assert (again.returncode, again.stdout) == (0, "nothing to deliver\n")


def test_deliver_wait_waits_out_the_backoff_until_a_flaky_receiver_takes_everything(
    tracker: Tracker, tmp_path: Path, receiver: Receiver
) -> None:
    env = retrying(tmp_path, receiver)
    receiver.answer = lambda n: (503, {})
    replay_sample(tracker, env)
    receiver.answer = lambda n: (503, {}) if n % 2 else (200, {})  # every other one fails

    delivered = tracker("alerts", "deliver", "--wait", "--config", str(LISTINGS), env=env)

    assert delivered.returncode == 0, delivered.stderr
    assert delivered.stdout == "webhook: 4 alerts delivered\n"
    assert len(receiver.ids()) == 4


def test_deliver_wait_ends_with_dead_letters_when_the_receiver_never_comes_back(
    tracker: Tracker, tmp_path: Path, receiver: Receiver
) -> None:
    env = retrying(tmp_path, receiver, attempts=3)
    receiver.answer = lambda n: (503, {})
    replay_sample(tracker, env)

    gave_up = tracker("alerts", "deliver", "--wait", "--config", str(LISTINGS), env=env)

    assert gave_up.returncode == 0, gave_up.stderr  # nothing is left pending: all dead
    assert gave_up.stdout == "webhook: 0 alerts delivered, 4 dead letters\n"
    assert "webhook: 4 dead letters; `tracker alerts redeliver ID` sends one again" in (
        gave_up.stderr
    )


def test_redeliver_tries_a_dead_letter_as_often_as_asked_and_a_pending_one_at_once(
    tracker: Tracker, tmp_path: Path, receiver: Receiver
) -> None:
    env = retrying(tmp_path, receiver, attempts=2)
    receiver.answer = lambda n: (503, {})
    replay_sample(tracker, env)  # attempt 1 of 2: pending
    tracker("alerts", "deliver", "--config", str(LISTINGS), env=env)  # attempt 2: all dead
    first = json.loads(logged(tmp_path)[0])["alert_id"]

    for _ in range(3):  # dead: tried again, fails, pending; then tried again at once...
        seen = receiver.seen
        failed = tracker("alerts", "redeliver", first, "--config", str(LISTINGS), env=env)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "nothing to redeliver" not in failed.stderr
        assert receiver.seen > seen  # (with the other alerts whose retry was due)

    receiver.answer = lambda n: (200, {})
    sent = tracker("alerts", "redeliver", first, "--config", str(LISTINGS), env=env)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "webhook: delivered, redelivery" in sent.stdout
    assert receiver.ids()[0] == first  # then the others whose retry was due, in order


def test_a_replay_that_cannot_write_its_alert_log_commits_then_exits_1_and_the_next_run_writes(
    tracker: Tracker, tmp_path: Path, receiver: Receiver
) -> None:
    env = settings_for(tmp_path, receiver)
    log = tmp_path / "alerts.jsonl"
    log.mkdir()  # its path is taken: the log cannot be written

    replayed = replay_sample(tracker, env)

    assert replayed.returncode == 1
    assert replayed.stderr.splitlines()[-1] == (
        f"alert log {log}: Is a directory; "
        "4 alerts stay pending: the next run writes them (or `tracker alerts deliver`)"
    )
    assert "Traceback" not in replayed.stderr
    listed = tracker("alerts", "--json", "--config", str(LISTINGS), env=env)
    assert len(listed.stdout.splitlines()) == 4  # committed all the same
    assert len(receiver.delivered) == 4  # the webhook was not held back

    log.rmdir()
    written = tracker("alerts", "deliver", "--config", str(LISTINGS), env=env)

    assert written.returncode == 0, written.stderr
    assert written.stdout == "log: 4 alerts delivered\n"
    assert [json.loads(line)["alert_id"] for line in logged(tmp_path)] == receiver.ids()


def logged(tmp_path: Path) -> list[str]:
    return (tmp_path / "alerts.jsonl").read_text().splitlines()


def test_alerts_since_says_when_nothing_matched_and_which_time_it_compared(
    tracker: Tracker, tmp_path: Path, receiver: Receiver
) -> None:
    env = settings_for(tmp_path, receiver)
    replay_sample(tracker, env)

    recent = tracker("alerts", "--since", "2h", "--json", "--config", str(LISTINGS), env=env)
    from_ten = tracker(
        "alerts", "--since", "2026-01-02T10:15", "--json", "--config", str(LISTINGS), env=env
    )

    assert (recent.returncode, recent.stdout) == (0, "")
    assert recent.stderr.startswith("no alerts since 20")
    assert "(biren's exchange time): --since compares the time of each alert's tick" in (
        recent.stderr
    )
    assert recent.stderr.endswith("; the latest alert's tick is at 2026-01-02T10:30:38+08:00\n")
    assert [json.loads(line)["rule"] for line in from_ten.stdout.splitlines()] == [
        "mcap-100b",
        "gain_pct-up-100",
    ]
    assert from_ten.stderr == ""

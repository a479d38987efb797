"""A replay killed with SIGKILL and run again ends exactly as an uninterrupted one."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import subprocess
from pathlib import Path

from commands import replay_command, tracker_env
from factories import LISTINGS, write_swinging_tape


def replay_args(tape: Path, folder: Path) -> list[str]:
    return replay_command(tape, folder, LISTINGS)


def contents(folder: Path) -> tuple[list[tuple], list[tuple], list[str]]:
    with sqlite3.connect(folder / "tracker.db") as db:
        ticks = db.execute("SELECT ts_us, seq, price FROM ticks ORDER BY ts_us, seq").fetchall()
        alerts = db.execute("SELECT alert_id, record FROM alerts ORDER BY id").fetchall()
    return ticks, alerts, (folder / "alerts.jsonl").read_text().splitlines()


def test_replay_killed_at_random_points_ends_as_an_uninterrupted_run(tmp_path: Path) -> None:
    tape = tmp_path / "swing.csv"
    write_swinging_tape(tape, 12_000, period=150)
    env = tracker_env(TRACKER_REPLAY__CHUNK_SIZE="150")
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    reference.mkdir()
    crashed.mkdir()
    subprocess.run(replay_args(tape, reference), env=env, check=True, capture_output=True)

    rng = random.Random(7)
    kills = 0
    for _ in range(8):
        stop_after = rng.randint(1, 8)
        process = subprocess.Popen(
            replay_args(tape, crashed),
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        assert process.stderr is not None
        seen = 0
        for line in process.stderr:
            stored = re.search(r"stored (\d+) ticks", line)
            if stored and int(stored[1]) > 0:
                seen += 1
                if seen == stop_after:
                    process.kill()
                    kills += 1
                    break
        process.wait()
        process.stderr.close()
    assert kills == 8, "a replay finished before it could be killed"
    assert len(contents(crashed)[0]) < len(contents(reference)[0]), "the kills came too late"

    subprocess.run(replay_args(tape, crashed), env=env, check=True, capture_output=True)
    ticks, alerts, log = contents(crashed)
    expected_ticks, expected_alerts, expected_log = contents(reference)
    assert ticks == expected_ticks
    assert alerts == expected_alerts
    assert len(expected_alerts) > 20
    assert log == expected_log
    assert len({json.loads(line)["alert_id"] for line in log}) == len(log)

"""Values the tracker cannot hold, given on the command line: one line naming the option, exit 2.

Each is refused before anything is written: no database file, no alert log.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from commands import Tracker
from factories import LISTINGS, SAMPLE_TAPE

CONFIG = ("--config", str(LISTINGS))
DB = ("--db", "sqlite:///t.db", "--alert-log", "a.jsonl")
TAPE = str(SAMPLE_TAPE)

REFUSED = {
    "alerts --since": (
        ["alerts", "--since", "99999999d", *DB[:2]],
        "--since '99999999d': is longer than a hundred years",
    ),
    "alerts --since ISO": (
        ["alerts", "--since", "9999-12-31T23:00", *DB[:2]],
        "--since '9999-12-31T23:00': is outside the years 1900-2199",
    ),
    "replay --speed": (
        ["replay", TAPE, "--listing", "biren", "--speed", "1e308", *DB],
        "'1e308' is above 1,000,000, the fastest clock the tracker runs",
    ),
    "run --start": (
        ["run", "--start", "9999-12-31T23:00", *DB],
        "--start '9999-12-31T23:00': is outside the years 1900-2199",
    ),
    "run --speed": (
        ["run", "--start", "2026-01-02T09:00", "--speed", "1e308", *DB],
        "--speed 1e+308: is above 1,000,000",
    ),
    "run --until": (
        ["run", "--until", "99999-01-01", *DB],
        "--until '99999-01-01': not an ISO 8601 time",
    ),
    "silence --for": (
        ["alerts", "silence", "--listing", "biren", "--for", "99999999999d", *DB[:2]],
        "--for '99999999999d': is longer than a hundred years",
    ),
    "silence --until": (
        ["alerts", "silence", "--listing", "biren", "--until", "9999-12-31", *DB[:2]],
        "--until '9999-12-31': is outside the years 1900-2199",
    ),
    "report --date": (
        ["report", "biren", "--date", "9999-12-31", *DB[:2]],
        "--date '9999-12-31': is outside the years 1900-2199",
    ),
    "export --date": (
        ["export", "biren", "--date", "0001-01-01", *DB[:2]],
        "--date '0001-01-01': is outside the years 1900-2199",
    ),
    "feed --speed": (
        ["feed", TAPE, "--listing", "biren", "--speed", "1e308"],
        "--speed 1e+308: is above 1,000,000",
    ),
    "feed --port": (
        ["feed", TAPE, "--listing", "biren", "--port", "99999"],
        "'--port': 99999 is not in the range 0<=x<=65535",
    ),
    "status --max-age": (
        ["status", "--max-age", "nan", *DB[:2]],
        "--max-age nan: is not a duration",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_value_the_tracker_cannot_hold_is_refused_before_anything_is_written(
    tracker: Tracker, workdir: Path, case: str
) -> None:
    args, reason = REFUSED[case]

    result = tracker(*args, *CONFIG)

    assert result.returncode == 2, result.stderr
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(path.name for path in workdir.iterdir()) == []


def test_run_until_a_time_already_past_says_so(tracker: Tracker, workdir: Path) -> None:
    result = tracker(
        "run", "--start", "2026-01-02T10:00", "--until", "2026-01-02T09:00", *DB, *CONFIG
    )

    assert result.returncode == 2
    assert result.stderr == (
        "--until 2026-01-02T09:00: already past (the clock is at 2026-01-02T10:00:00+08:00)\n"
    )
    assert list(workdir.iterdir()) == []


def test_run_with_nothing_to_poll_creates_no_database(tracker: Tracker, workdir: Path) -> None:
    config = workdir / "listings.toml"
    config.write_text(LISTINGS.read_text().split("[listings.source]")[0])

    result = tracker("run", "--config", str(config), *DB)

    assert result.returncode == 2
    assert "nothing to poll" in result.stderr
    assert sorted(path.name for path in workdir.iterdir()) == ["listings.toml"]

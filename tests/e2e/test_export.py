"""``tracker export``: a stored day written back as a tape replays to the same ticks and alerts."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from commands import Tracker
from factories import LISTINGS, SAMPLE_TAPE

HEADER = "ts,price,volume,turnover"
DAY = "2026-01-02"


def replay(tracker: Tracker, tape: Path, db: Path) -> None:
    result = tracker(
        "replay",
        str(tape),
        "--listing",
        "biren",
        "--config",
        str(LISTINGS),
        "--db",
        f"sqlite:///{db}",
        "--alert-log",
        str(db.with_suffix(".jsonl")),
    )
    assert result.returncode == 0, result.stderr


def export(tracker: Tracker, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return tracker("export", *args, "--config", str(LISTINGS), "--db", f"sqlite:///{db}")


def stored(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """A database's ticks and alerts, in order."""
    with sqlite3.connect(db) as connection:
        ticks = connection.execute(
            "SELECT listing_id, ts_us, seq, price, volume, turnover FROM ticks ORDER BY ts_us, seq"
        ).fetchall()
        alerts = connection.execute(
            "SELECT alert_id, listing_id, rule_id, ts_us, seq, record FROM alerts ORDER BY id"
        ).fetchall()
    connection.close()
    return ticks, alerts


@pytest.fixture
def replayed(tracker: Tracker, workdir: Path) -> Path:
    """A SQLite file holding the bundled sample day, replayed with ``tracker replay``."""
    db = workdir / "original.db"
    replay(tracker, SAMPLE_TAPE, db)
    return db


def test_exported_day_replays_to_the_same_ticks_and_alerts(
    tracker: Tracker, workdir: Path, replayed: Path
) -> None:
    result = export(tracker, replayed, "biren", "--date", DAY, "--out", "day.csv")
    assert result.returncode == 0, result.stderr
    ticks, alerts = stored(replayed)
    assert f"wrote {len(ticks):,} ticks of biren on {DAY} to day.csv" in result.stderr
    tape = (workdir / "day.csv").read_text(encoding="utf-8")
    lines = tape.splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 1 + len(ticks)
    assert lines[1].startswith("2026-01-02T09:20:00+08:00,35.7,")  # exchange time with offset

    copy = workdir / "copy.db"
    replay(tracker, workdir / "day.csv", copy)
    copied_ticks, copied_alerts = stored(copy)
    assert copied_ticks == ticks
    assert [a[:5] for a in copied_alerts] == [a[:5] for a in alerts]
    assert len(alerts) == 4
    assert copied_alerts == alerts  # the records too: same ticks, same alerts


def test_export_to_stdout_writes_the_same_tape_as_to_a_file(
    tracker: Tracker, workdir: Path, replayed: Path
) -> None:
    to_file = export(tracker, replayed, "biren", "--date", DAY, "--out", "day.csv")
    to_stdout = export(tracker, replayed, "biren", "--date", DAY)
    assert to_file.returncode == to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout == (workdir / "day.csv").read_text(encoding="utf-8")
    assert to_stdout.stdout.startswith(HEADER + "\n")


def test_export_of_a_day_without_ticks_is_refused_and_writes_nothing(
    tracker: Tracker, workdir: Path, replayed: Path
) -> None:
    # a header-only tape would be refused by replay ("no data rows"): say so now instead
    result = export(tracker, replayed, "biren", "--date", "2026-01-05", "--out", "empty.csv")
    assert result.returncode == 2
    assert result.stderr.strip() == "no ticks stored for biren on 2026-01-05"
    assert not (workdir / "empty.csv").exists()


def test_export_of_a_bad_date_exits_2_with_one_line(
    tracker: Tracker, workdir: Path, replayed: Path
) -> None:
    result = export(tracker, replayed, "biren", "--date", "nonsense", "--out", "day.csv")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "nonsense" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (workdir / "day.csv").exists()


def test_export_of_an_unknown_listing_exits_2_naming_it(
    tracker: Tracker, workdir: Path, replayed: Path
) -> None:
    result = export(tracker, replayed, "nobody", "--date", DAY, "--out", "day.csv")
    assert result.returncode == 2
    assert "nobody" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "day.csv").exists()

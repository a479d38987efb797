"""``tracker report``: a stored day's summary, as text and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from commands import Tracker
from factories import LISTINGS, SAMPLE_TAPE


def replay(tracker: Tracker, tape: Path, db: str, tmp_path: Path) -> None:
    done = tracker(
        "replay",
        str(tape),
        "--listing",
        "biren",
        "--config",
        str(LISTINGS),
        "--db",
        db,
        "--alert-log",
        str(tmp_path / "a.jsonl"),
    )
    assert done.returncode == 0, done.stderr


def test_the_sample_day_report_gives_the_published_figures(
    tracker: Tracker, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, SAMPLE_TAPE, db, tmp_path)
    result = tracker(
        "report", "biren", "--date", "2026-01-02", "--json", "--config", str(LISTINGS), "--db", db
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["auction"]["price"] == 35.70
    assert data["auction"]["ts"] == "2026-01-02T09:20:00+08:00"
    assert (
        data["open"]["price"],
        data["high"]["price"],
        data["low"]["price"],
        data["close"]["price"],
    ) == (
        35.70,
        42.88,
        33.50,
        34.46,
    )
    assert data["open"]["gain_pct"] == 82.14
    assert data["close"]["gain_pct"] == 75.82
    assert data["volume"] == 150_709_945
    assert data["prev_close"] is None
    fires = {f["rule"]: (f["ts"], f["price"]) for f in data["first_fires"]}
    assert fires["mcap-100b"] == ("2026-01-02T10:15:00+08:00", 37.86)
    text = tracker("report", "biren", "--config", str(LISTINGS), "--db", db)
    assert text.returncode == 0
    assert "first mcap-100b at 10:15:00" in text.stdout


def test_a_later_day_reports_the_change_against_the_previous_close(
    tracker: Tracker, tmp_path: Path
) -> None:
    tape = tmp_path / "two-days.csv"
    tape.write_text(
        "ts,price,volume\n2026-01-02 09:30:00,35.00,100\n2026-01-02 16:00:00,40.00,100\n"
        "2026-01-05 09:30:00,42.00,100\n2026-01-05 16:00:00,44.00,100\n"
    )
    db = f"sqlite:///{tmp_path / 'r.db'}"
    replay(tracker, tape, db, tmp_path)
    data = json.loads(
        tracker("report", "biren", "--json", "--config", str(LISTINGS), "--db", db).stdout
    )
    assert data["date"] == "2026-01-05"  # the last day stored
    assert data["prev_close"] == 40.00
    assert data["close"]["change_pct"] == 10.0
    missing = tracker(
        "report", "biren", "--date", "2026-01-03", "--config", str(LISTINGS), "--db", db
    )
    assert missing.returncode == 2
    assert "no ticks stored for biren on 2026-01-03" in missing.stderr

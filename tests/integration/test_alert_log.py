"""The JSON Lines alert log: appended, each alert exactly once, torn lines cut."""

from __future__ import annotations

import json
from pathlib import Path

from tracker.alerts.sinks import JsonlAlertLog
from tracker.store.repository import StoredAlert


def alert(n: int) -> StoredAlert:
    record = json.dumps({"alert_id": f"{n:032x}", "rule": f"r{n}"})
    return StoredAlert(f"{n:032x}", "biren", f"r{n}", n, 0, record)


def ids(path: Path) -> list[str]:
    return [json.loads(line)["alert_id"] for line in path.read_text().splitlines()]


def test_alerts_are_appended_as_one_json_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text(json.dumps({"alert_id": "earlier"}) + "\n")
    delivered = JsonlAlertLog(path).deliver([alert(1), alert(2)])
    assert delivered == [alert(1).alert_id, alert(2).alert_id]
    assert ids(path) == ["earlier", alert(1).alert_id, alert(2).alert_id]


def test_an_alert_written_before_a_crash_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    JsonlAlertLog(path).deliver([alert(1)])
    # The process died before the store recorded the delivery: both come back pending.
    delivered = JsonlAlertLog(path).deliver([alert(1), alert(2)])
    assert delivered == [alert(1).alert_id, alert(2).alert_id]
    assert ids(path) == [alert(1).alert_id, alert(2).alert_id]


def test_a_torn_last_line_is_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    whole = alert(1).record + "\n"
    path.write_text(whole + alert(2).record[:25])
    JsonlAlertLog(path).deliver([alert(2), alert(3)])
    assert path.read_text().startswith(whole)
    assert ids(path) == [alert(1).alert_id, alert(2).alert_id, alert(3).alert_id]

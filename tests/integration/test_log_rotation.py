"""Rotating the alert log by size and by day: no line split, lost or written twice."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracker.alerts.sinks import Delivery, JsonlAlertLog
from tracker.core.model import StoredAlert
from tracker.runtime.ingest import Ingestor
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore


def alert(n: int) -> StoredAlert:
    alert_id = f"{n:032x}"
    record = json.dumps(
        {"alert_id": alert_id, "rule": f"r{n}", "message": "市值突破 HK$100bn " * (n % 3)},
        ensure_ascii=False,
        separators=(", ", ": "),
    )
    return StoredAlert(alert_id, "biren", f"r{n}", n, 0, record)


def deliveries(numbers: range, *, in_doubt: bool = False) -> list[Delivery]:
    return [Delivery(alert(n), in_doubt=in_doubt) for n in numbers]


class Today:
    """A local date the test turns by hand."""

    def __init__(self) -> None:
        self.date = dt.date(2026, 1, 2)

    def __call__(self) -> dt.date:
        return self.date

    def next_day(self) -> None:
        self.date += dt.timedelta(days=1)


def lines_by_file(log: JsonlAlertLog) -> dict[str, list[str]]:
    """Each file's alert ids; every file must end with a whole line, every line be JSON."""
    found = {}
    for path in log.files():
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path.name} ends in a split line"
        found[path.name] = [json.loads(line)["alert_id"] for line in data.splitlines()]
    return found


def all_ids(log: JsonlAlertLog) -> list[str]:
    return [alert_id for ids in lines_by_file(log).values() for alert_id in ids]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    ensure_schema(engine)
    yield SqlStore(engine)
    engine.dispose()


def test_by_size_files_are_renamed_whole_between_batches_numbered_in_order(tmp_path: Path) -> None:
    log = JsonlAlertLog(tmp_path / "alerts.jsonl", rotate_bytes=1000)
    for start in range(0, 60, 4):
        log.deliver(deliveries(range(start, start + 4)))
    names = [path.name for path in log.files()]
    assert names[-1] == "alerts.jsonl"
    assert names[:3] == ["alerts.jsonl.1", "alerts.jsonl.2", "alerts.jsonl.3"]
    assert all_ids(log) == [alert(n).alert_id for n in range(60)]
    for path in log.files():
        assert path.stat().st_size <= 1000
        assert len(path.read_bytes().splitlines()) % 4 == 0  # batches are never split


def test_a_batch_larger_than_the_limit_stays_whole_in_one_file(tmp_path: Path) -> None:
    log = JsonlAlertLog(tmp_path / "alerts.jsonl", rotate_bytes=300)
    log.deliver(deliveries(range(2)))
    log.deliver(deliveries(range(2, 12)))
    assert list(lines_by_file(log).values()) == [
        [alert(n).alert_id for n in range(2)],
        [alert(n).alert_id for n in range(2, 12)],
    ]


def test_by_day_each_file_holds_the_lines_written_on_its_local_date(tmp_path: Path) -> None:
    today = Today()
    log = JsonlAlertLog(tmp_path / "alerts.jsonl", rotate_daily=True, today=today)
    log.deliver(deliveries(range(0, 3)))
    log.deliver(deliveries(range(3, 5)))
    today.next_day()
    log.deliver(deliveries(range(5, 6)))
    today.next_day()
    today.next_day()  # a day without alerts makes no file
    log.deliver(deliveries(range(6, 8)))
    assert lines_by_file(log) == {
        "alerts.jsonl.2026-01-02": [alert(n).alert_id for n in range(0, 5)],
        "alerts.jsonl.2026-01-03": [alert(5).alert_id],
        "alerts.jsonl": [alert(n).alert_id for n in range(6, 8)],
    }


def test_by_day_and_size_a_days_extra_files_are_numbered_after_its_date(tmp_path: Path) -> None:
    today = Today()
    log = JsonlAlertLog(tmp_path / "alerts.jsonl", rotate_bytes=700, rotate_daily=True, today=today)
    for start in range(0, 24, 4):
        log.deliver(deliveries(range(start, start + 4)))
    today.next_day()
    log.deliver(deliveries(range(24, 26)))
    names = [path.name for path in log.files()]
    assert names[:3] == [
        "alerts.jsonl.2026-01-02",
        "alerts.jsonl.2026-01-02.1",
        "alerts.jsonl.2026-01-02.2",
    ]
    assert names[-1] == "alerts.jsonl"
    assert all_ids(log) == [alert(n).alert_id for n in range(26)]
    assert lines_by_file(log)["alerts.jsonl"] == [alert(24).alert_id, alert(25).alert_id]


def test_after_a_restart_the_current_files_day_is_its_last_write(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    JsonlAlertLog(path, rotate_daily=True).deliver(deliveries(range(2)))
    two_days_ago = time.time() - 2 * 86_400
    os.utime(path, (two_days_ago, two_days_ago))
    written_on = dt.datetime.fromtimestamp(two_days_ago, dt.UTC).astimezone().date()
    restarted = JsonlAlertLog(path, rotate_daily=True)
    restarted.deliver(deliveries(range(2, 3)))
    assert lines_by_file(restarted) == {
        f"alerts.jsonl.{written_on.isoformat()}": [alert(0).alert_id, alert(1).alert_id],
        "alerts.jsonl": [alert(2).alert_id],
    }


def test_the_recovery_scan_covers_the_last_rotated_file(tmp_path: Path) -> None:
    today = Today()
    log = JsonlAlertLog(tmp_path / "alerts.jsonl", rotate_daily=True, today=today)
    log.deliver(deliveries(range(0, 3)))  # written; the store never heard of it
    today.next_day()
    log.deliver(deliveries(range(3, 4)))  # rotates the day's file away
    log.deliver(deliveries(range(0, 5), in_doubt=True))
    assert all_ids(log) == [alert(n).alert_id for n in (0, 1, 2, 3, 4)]


def test_a_torn_line_is_cut_before_its_file_is_rotated(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    log = JsonlAlertLog(path, rotate_bytes=200)
    log.deliver(deliveries(range(0, 1)))
    with path.open("a") as handle:
        handle.write(alert(1).record[:20])  # killed in mid-write
    JsonlAlertLog(path, rotate_bytes=200).deliver(deliveries(range(1, 4), in_doubt=True))
    assert all_ids(log) == [alert(n).alert_id for n in range(4)]


def test_a_redelivery_looks_through_every_rotated_file(tmp_path: Path) -> None:
    log = JsonlAlertLog(tmp_path / "alerts.jsonl", rotate_bytes=300)
    for n in range(10):
        log.deliver(deliveries(range(n, n + 1)))
    assert len(log.files()) > 3
    log.deliver([Delivery(alert(0), redelivery=True, in_doubt=True)])
    log.deliver([Delivery(alert(10), redelivery=True, in_doubt=True)])  # never written: it is now
    assert all_ids(log) == [alert(n).alert_id for n in range(11)]


def test_rotating_while_the_outbox_delivers_loses_and_repeats_nothing(
    store: SqlStore, tmp_path: Path
) -> None:
    today = Today()
    log = JsonlAlertLog(
        tmp_path / "alerts.jsonl", rotate_bytes=2_000, rotate_daily=True, today=today
    )
    ingestor = Ingestor(store, [log])
    for day in range(3):
        for start in range(0, 40, 7):
            n = day * 100 + start
            store.add_alerts([alert(k) for k in range(n, n + 7)], ["log"])
            ingestor.dispatch()
        today.next_day()
    expected = [alert(d * 100 + k).alert_id for d in range(3) for k in range(42)]
    assert all_ids(log) == expected
    restarted = Ingestor(store, [JsonlAlertLog(log.path, rotate_bytes=2_000, rotate_daily=True)])
    restarted.dispatch()
    assert all_ids(log) == expected
    assert len(log.files()) > 3

"""The JSON Lines alert log: appended, each alert exactly once, torn lines cut."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tracker.alerts.outbox import Outbox
from tracker.alerts.sinks import Delivery, DeliveryError, JsonlAlertLog
from tracker.core.model import StoredAlert
from tracker.errors import StorageError
from tracker.store.deliveries import DELIVERED, PENDING, SqlDeliveries
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore


def alert(n: int) -> StoredAlert:
    record = json.dumps({"alert_id": f"{n:032x}", "rule": f"r{n}"})
    return StoredAlert(f"{n:032x}", "biren", f"r{n}", n, 0, record)


def batch(*numbers: int, in_doubt: bool = False) -> list[Delivery]:
    return [Delivery(alert(n), in_doubt=in_doubt) for n in numbers]


def ids(path: Path) -> list[str]:
    return [json.loads(line)["alert_id"] for line in path.read_text().splitlines()]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    ensure_schema(engine)
    yield SqlStore(engine)
    engine.dispose()


class FlakyLedger(SqlDeliveries):
    """The real ledger, except that recording deliveries fails once (the database hiccups)."""

    failures = 0

    def delivered(self, sink: str, alert_ids: Sequence[str]) -> None:
        if alert_ids and self.failures:
            self.failures -= 1
            raise StorageError("database: connection lost")
        super().delivered(sink, alert_ids)


def test_alerts_are_appended_as_one_json_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text(json.dumps({"alert_id": "earlier"}) + "\n")
    JsonlAlertLog(path).deliver(batch(1, 2))
    assert ids(path) == ["earlier", alert(1).alert_id, alert(2).alert_id]


def test_an_alert_written_before_a_crash_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    JsonlAlertLog(path).deliver(batch(1))
    # The process died before the store recorded the delivery: both come back in doubt.
    JsonlAlertLog(path).deliver(batch(1, 2, in_doubt=True))
    assert ids(path) == [alert(1).alert_id, alert(2).alert_id]


def test_a_torn_last_line_is_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    whole = alert(1).record + "\n"
    path.write_text(whole + alert(2).record[:25])
    JsonlAlertLog(path).deliver(batch(2, 3, in_doubt=True))
    assert path.read_text().startswith(whole)
    assert ids(path) == [alert(1).alert_id, alert(2).alert_id, alert(3).alert_id]


def test_a_last_line_longer_than_any_record_is_ended_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    junk = "x" * (2 << 20)  # no record is 2 MB long: not a torn record, something else
    path.write_text(alert(1).record + "\n" + junk)

    JsonlAlertLog(path).deliver(batch(2, in_doubt=True))

    assert path.read_text() == alert(1).record + "\n" + junk + "\n" + alert(2).record + "\n"


FULL_DISK = """
import json, resource, signal, sys
from pathlib import Path
from tracker.alerts.sinks import Delivery, DeliveryError, JsonlAlertLog
from tracker.core.model import StoredAlert

path = Path(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 40, resource.RLIM_INFINITY))
batch = [
    Delivery(StoredAlert(f"{n:032x}", "biren", "r", n, 0, json.dumps({"alert_id": f"{n:032x}"})))
    for n in (2, 3)
]
try:
    JsonlAlertLog(path).deliver(batch)
except DeliveryError as exc:
    print(exc.message)
"""


def test_a_write_the_disk_cannot_take_leaves_no_torn_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "alerts.jsonl"
    before = alert(1).record + "\n"
    path.write_text(before)

    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path)], capture_output=True, text=True, check=True
    )

    assert done.stdout == f"alert log {path}: File too large\n"  # the disk took 40 bytes of it
    assert path.read_text() == before  # ... and they were cut off again
    JsonlAlertLog(path).deliver(batch(2, in_doubt=True))  # the next run appends after it
    assert ids(path) == [alert(1).alert_id, alert(2).alert_id]


def test_a_fresh_outbox_finds_what_a_killed_process_wrote_but_never_recorded(
    store: SqlStore, tmp_path: Path
) -> None:
    path = tmp_path / "alerts.jsonl"
    store.add_alerts([alert(1), alert(2), alert(3)], ["log"])
    JsonlAlertLog(path).deliver(batch(1, 2))  # written, fsynced... and the process was killed
    with path.open("a") as handle:
        handle.write(alert(3).record[:10])  # killed in mid-write of the next line
    restarted = Outbox(SqlDeliveries(store.engine), [JsonlAlertLog(path)])
    assert restarted.dispatch() == 3
    assert ids(path) == [alert(1).alert_id, alert(2).alert_id, alert(3).alert_id]
    assert {s["log"].state for s in restarted.states().values()} == {DELIVERED}


def test_when_recording_a_written_batch_fails_the_next_pass_does_not_write_it_again(
    store: SqlStore, tmp_path: Path
) -> None:
    path = tmp_path / "alerts.jsonl"
    ledger = FlakyLedger(store.engine)
    outbox = Outbox(ledger, [JsonlAlertLog(path)])
    store.add_alerts([alert(1)], ["log"])
    outbox.dispatch()  # the first pass after a start is in doubt: it scans, then is trusted
    store.add_alerts([alert(2), alert(3)], ["log"])
    ledger.failures = 1
    with pytest.raises(StorageError):
        outbox.dispatch()
    assert outbox.states()[alert(2).alert_id]["log"].state == PENDING
    assert outbox.dispatch() == 2
    assert ids(path) == [alert(1).alert_id, alert(2).alert_id, alert(3).alert_id]


def test_a_log_that_cannot_be_written_is_retried_never_dead_lettered(
    store: SqlStore, tmp_path: Path
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    path = folder / "alerts.jsonl"
    wall = [1_767_312_000_000_000]
    outbox = Outbox(SqlDeliveries(store.engine), [JsonlAlertLog(path)], lambda: wall[0])
    shutil.rmtree(folder)
    with pytest.raises(DeliveryError, match=r"alert log .*alerts\.jsonl"):
        JsonlAlertLog(path).deliver(batch(1))
    store.add_alerts([alert(1), alert(2)], ["log"])
    for _ in range(30):
        outbox.dispatch()
        wall[0] += 120_000_000
    state = outbox.states()[alert(1).alert_id]["log"]
    assert (state.state, state.attempts) == (PENDING, 30)
    folder.mkdir()
    assert outbox.dispatch() == 2
    assert ids(path) == [alert(1).alert_id, alert(2).alert_id]

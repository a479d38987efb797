"""Alert sinks: where alert records go once they are committed, and the JSON Lines alert log."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tracker.core.model import StoredAlert
from tracker.errors import TrackerError
from tracker.store.deliveries import LOG_SINK

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff between a sink's failed attempts (wall seconds) and when to give up.

    ``max_attempts`` None: the sink is never dead-lettered (the alert log).
    """

    max_attempts: int | None = 8
    backoff_initial: float = 1.0
    backoff_max: float = 300.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert handed to a sink.

    ``attempt`` counts from 1. ``redelivery``: a user asked for it again (after a
    dead letter, or to send a delivered alert once more). ``in_doubt``: an earlier
    attempt may have reached the sink (it failed, or the process died before the
    outcome was recorded), so a sink that can check for a copy should.
    """

    alert: StoredAlert
    attempt: int = 1
    redelivery: bool = False
    in_doubt: bool = False


class DeliveryError(TrackerError):
    """A sink could not take alerts; the outbox retries later.

    ``delivered``: how many of the batch, from its start, the sink did take.
    ``retry_after``: the least wait, in wall seconds, the receiver asked for.
    """

    def __init__(self, reason: str, delivered: int = 0, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.delivered = delivered
        self.retry_after = retry_after


class AlertSink(Protocol):
    """Something that takes alerts, in order, up to ``batch_size`` at a time.

    A ``local`` sink (a file on this machine) is delivered to by the thread that
    committed the alerts, right after the commit; any other has a thread of its own
    in the daemon, so a slow receiver holds up nothing else.
    """

    name: str
    batch_size: int
    retry: RetryPolicy
    local: bool

    def deliver(self, batch: Sequence[Delivery]) -> None:
        """Deliver every alert of the batch, or raise DeliveryError saying how many got through."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def local_today() -> dt.date:
    """The machine's local date now."""
    return dt.datetime.now(dt.UTC).astimezone().date()


_ID_PREFIX = b'{"alert_id": "'
_TAIL = 1 << 20  # bytes read from the end of the log to find where its last line ends


class JsonlAlertLog:
    """The alert log: JSON Lines, appended, each alert exactly once, rotated between batches.

    Each batch is flushed and fsynced before the store records it delivered. If the
    process dies in between, the alerts come back in doubt: the log looks for them
    (in the current file and the last rotated one; in every file for a redelivery)
    and appends only the missing ones. A line torn by a crash in mid-write is not a
    record; it is cut off before anything more is appended. Rotation renames the
    whole file before a batch, never within one: ``alerts.jsonl.1``, ``.2``... by
    size; ``alerts.jsonl.2026-01-02`` (the local date of writing) by day.
    """

    name = LOG_SINK
    batch_size = 500
    local = True
    retry = RetryPolicy(max_attempts=None, backoff_initial=1.0, backoff_max=60.0)

    def __init__(
        self,
        path: Path,
        rotate_bytes: int | None = None,
        rotate_daily: bool = False,
        today: Callable[[], dt.date] = local_today,
    ) -> None:
        self.path = path
        self.rotate_bytes = rotate_bytes
        self.rotate_daily = rotate_daily
        self._today = today
        self._day: dt.date | None = None  # local date of the current file's last write
        self._rotated_name = re.compile(
            re.escape(path.name) + r"\.(?:(\d{4}-\d{2}-\d{2})(?:\.(\d+))?|(\d+))"
        )

    def deliver(self, batch: Sequence[Delivery]) -> None:
        """Append the batch's alerts not already in the log, then sync them to the disk."""
        if not batch:
            return
        try:
            # Another process may deliver to the same log (a replay or `alerts redeliver`
            # beside a running daemon): check-then-append holds an exclusive file lock.
            with self._exclusive():
                present = self._present(batch)
                data = "".join(
                    d.alert.record + "\n" for d in batch if d.alert.alert_id not in present
                ).encode()
                if data:
                    self._rotate_if_due(len(data))
                    self._append(data)
                    self._day = self._today()
        except OSError as exc:
            raise DeliveryError(f"alert log {self.path}: {exc.strerror or exc}") from None

    def _append(self, data: bytes) -> None:
        """Append and sync; a write that fails (disk full) is cut off again: no torn line."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:  # unbuffered: a short write is seen, and what it wrote is known
                    view = view[os.write(fd, view) :]
                _datasync(fd)
            except OSError:
                with suppress(OSError):  # else what is left is cut off before the next append
                    os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """An advisory lock shared by every process that writes this log."""
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def close(self) -> None:
        """Nothing to release: each batch opens and closes the file."""

    def files(self) -> list[Path]:
        """Every file of the log, oldest first: the rotated ones, then the current one."""
        found = []
        for entry in self.path.parent.iterdir():
            match = self._rotated_name.fullmatch(entry.name)
            if match:
                date, dated_counter, counter = match.groups()
                found.append(((date or "", int(dated_counter or counter or 0)), entry))
        return [entry for _, entry in sorted(found)] + [self.path]

    def _present(self, batch: Sequence[Delivery]) -> set[str]:
        """Which doubtful alerts of the batch the log already holds; cuts a torn last line."""
        wanted = {d.alert.alert_id for d in batch if d.in_doubt}
        if not wanted:
            return set()
        self._cut_torn_line()
        files = self.files()
        if not any(d.redelivery for d in batch):
            files = files[-2:]  # the crash window never reaches further back
        present: set[str] = set()
        for path in files:
            present |= _ids_in(path, wanted)
        return present

    def _cut_torn_line(self) -> None:
        try:
            handle = self.path.open("rb+")
        except FileNotFoundError:
            return
        with handle:
            size = handle.seek(0, os.SEEK_END)
            tail_start = max(0, size - _TAIL)  # a record is a few hundred bytes: its line too
            handle.seek(tail_start)
            tail = handle.read()
            newline = tail.rfind(b"\n")
            if newline < 0 and tail_start > 0:  # no record is that long: end it, keep it
                handle.write(b"\n")
                os.fsync(handle.fileno())
                return
            end = tail_start + newline + 1
            if end < size:
                logger.warning(
                    "alert log %s: cutting a torn last line (%d bytes)", self.path, size - end
                )
                handle.truncate(end)
                os.fsync(handle.fileno())

    def _rotate_if_due(self, incoming: int) -> None:
        """Rename the current file when its day is over or the batch would overfill it."""
        if not (self.rotate_daily or self.rotate_bytes):
            return
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return
        if stat.st_size == 0:
            return
        today = self._today()
        day = self._day or _local_date(stat.st_mtime)
        if self.rotate_daily and day != today:
            target = self._free_name(day.isoformat())
        elif self.rotate_bytes and stat.st_size + incoming > self.rotate_bytes:
            target = self._free_name(today.isoformat() if self.rotate_daily else None)
        else:
            return
        os.rename(self.path, target)
        _fsync_folder(self.path.parent)
        self._day = None
        logger.info("alert log %s rotated to %s", self.path, target.name)

    def _free_name(self, stamp: str | None) -> Path:
        """``NAME.DATE`` (``NAME.DATE.N`` when taken), or ``NAME.N`` after the highest N."""
        taken = {entry.name for entry in self.files()[:-1]}
        base = f"{self.path.name}.{stamp}" if stamp else self.path.name
        if stamp and base not in taken:
            return self.path.with_name(base)
        counters = [
            int(name[len(base) + 1 :])
            for name in taken
            if name.startswith(base + ".") and name[len(base) + 1 :].isdigit()
        ]
        return self.path.with_name(f"{base}.{max(counters, default=0) + 1}")


def _ids_in(path: Path, wanted: set[str]) -> set[str]:
    """The wanted alert ids that lines of a log file hold."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    return {found for found in _line_ids(data.splitlines()) if found in wanted}


def _line_ids(lines: Iterable[bytes]) -> Iterable[str]:
    for line in lines:
        if line.startswith(_ID_PREFIX) and line[46:47] == b'"' and b'"' not in line[14:46]:
            yield line[14:46].decode("ascii", "replace")  # the contract's records: the fast way
            continue
        try:
            record: Any = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("alert_id"), str):
            yield record["alert_id"]


def _local_date(epoch_seconds: float) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).astimezone().date()


# An appended file's data and new size reach the disk with fdatasync, without waiting for
# its timestamps as fsync does (half fsync's worst times on ext4); fsync where there is none.
_datasync = getattr(os, "fdatasync", os.fsync)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

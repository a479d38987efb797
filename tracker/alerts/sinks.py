"""Alert sinks: where alert records go once they are committed."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tracker.errors import ConfigError, StorageError
from tracker.store.repository import StoredAlert

logger = logging.getLogger(__name__)


class AlertSink(Protocol):
    """Something that takes alert records, in order, and says which it now has."""

    name: str

    def deliver(self, alerts: Sequence[StoredAlert]) -> list[str]:
        """Deliver alerts; return the ids now delivered (a prefix on failure)."""
        ...


class JsonlAlertLog:
    """The alert log: JSON Lines, appended, each alert exactly once.

    Each line is flushed and fsynced before the store records it delivered. If
    the process dies in between, the first delivery after a restart finds the
    line already in the file and only records it. A line torn by a crash in
    mid-write is not a record; it is cut off before anything more is appended.
    """

    name = "log"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked = False

    def deliver(self, alerts: Sequence[StoredAlert]) -> list[str]:
        if not alerts:
            return []
        try:
            present = set() if self._checked else self._recover({a.alert_id for a in alerts})
            self._checked = True
            lines = [a.record + "\n" for a in alerts if a.alert_id not in present]
            if lines:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write("".join(lines))
                    handle.flush()
                    os.fsync(handle.fileno())
        except FileNotFoundError:
            raise ConfigError(f"alert log {self.path}: folder does not exist") from None
        except OSError as exc:
            raise StorageError(f"alert log {self.path}: {exc.strerror}") from None
        return [a.alert_id for a in alerts]

    def _recover(self, wanted: set[str]) -> set[str]:
        """Cut a torn last line and return which wanted ids the log already holds."""
        if not self.path.exists():
            return set()
        present: set[str] = set()
        with self.path.open("rb+") as handle:
            data = handle.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                logger.warning(
                    "alert log %s: cutting a torn last line (%d bytes)", self.path, len(data) - end
                )
                handle.truncate(end)
        for line in data[:end].splitlines():
            try:
                found = json.loads(line).get("alert_id")
            except (ValueError, AttributeError):
                continue
            if found in wanted:
                present.add(found)
        return present

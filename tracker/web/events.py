"""New ticks and alerts, fanned out to every connected page as server-sent events.

Two publishers feed the one hub: in ``tracker run`` the ingest path's listeners,
right after each commit; in ``tracker serve`` a ``StoreWatcher`` that polls the
store another process writes.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tracker.config import Listings
from tracker.core.model import Listing, StoredAlert, Tick
from tracker.store.repository import SqlStore
from tracker.web.api import alert_payload, tick_payload

logger = logging.getLogger(__name__)

BACKLOG = 10_000  # events a page may fall behind by before it is dropped (it reconnects)
WATCH_SECONDS = 0.25  # how often ``serve`` looks for new rows (wall time)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One server-sent event: its type (``ticks`` or ``alert``), listing and JSON data."""

    kind: str
    listing_id: str
    data: str

    def encode(self) -> bytes:
        """The event in the ``text/event-stream`` format."""
        return f"event: {self.kind}\ndata: {self.data}\n\n".encode()


class EventHub:
    """Fans published events out to every subscriber's queue; never blocks a publisher."""

    def __init__(self, backlog: int = BACKLOG) -> None:
        self._backlog = backlog
        self._lock = threading.Lock()
        self._inboxes: set[queue.Queue[LiveEvent | None]] = set()
        self._closed = False

    def ticks_committed(self, listing: Listing, ticks: Sequence[Tick]) -> None:
        """Publish a batch of newly stored ticks (an ingest tick listener)."""
        zone = ZoneInfo(listing.timezone)
        data = {
            "listing": listing.id,
            "ticks": [tick_payload(tick, zone) for tick in ticks],
            "published_at": round(time.time(), 3),
        }
        self.publish(LiveEvent("ticks", listing.id, json.dumps(data)))

    def alert_committed(self, alert: StoredAlert) -> None:
        """Publish a newly stored alert (an ingest alert listener)."""
        data = {
            "listing": alert.listing_id,
            "alert": alert_payload(alert),
            "published_at": round(time.time(), 3),
        }
        self.publish(LiveEvent("alert", alert.listing_id, json.dumps(data)))

    def publish(self, event: LiveEvent) -> None:
        """Hand an event to every subscriber; one too far behind is dropped (it reconnects)."""
        with self._lock:
            for inbox in list(self._inboxes):
                try:
                    inbox.put_nowait(event)
                except queue.Full:
                    logger.warning("web: a page fell %d events behind: dropped", self._backlog)
                    self._inboxes.discard(inbox)
                    _end(inbox)

    @contextmanager
    def subscribe(self) -> Iterator[queue.Queue[LiveEvent | None]]:
        """A queue of the events published while inside; ``None`` in it means the hub closed."""
        inbox: queue.Queue[LiveEvent | None] = queue.Queue(self._backlog)
        with self._lock:
            if self._closed:
                inbox.put(None)
            else:
                self._inboxes.add(inbox)
        try:
            yield inbox
        finally:
            with self._lock:
                self._inboxes.discard(inbox)

    @property
    def subscribers(self) -> int:
        """How many pages listen now."""
        with self._lock:
            return len(self._inboxes)

    def close(self) -> None:
        """End every subscription (the server is stopping)."""
        with self._lock:
            self._closed = True
            for inbox in self._inboxes:
                _end(inbox)
            self._inboxes.clear()


def _end(inbox: queue.Queue[LiveEvent | None]) -> None:
    """Put the end marker in a queue, making room for it if it is full."""
    while True:
        try:
            inbox.put_nowait(None)
            return
        except queue.Full:
            with suppress(queue.Empty):
                inbox.get_nowait()


class StoreWatcher:
    """Publishes the rows another process commits to the store (``tracker serve``).

    Ticks are new past the last (ts, seq) seen; alerts by id, looked for from the
    last alert's instant on.
    """

    def __init__(
        self, store: SqlStore, listings: Listings, hub: EventHub, every: float = WATCH_SECONDS
    ) -> None:
        self.store = store
        self.listings = listings
        self.hub = hub
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_tick: dict[str, tuple[int, int]] = {}
        self._alert_since: dict[str, int | None] = {}
        self._seen: dict[str, set[str]] = {}
        for listing in listings.by_id.values():
            last = store.last_tick(listing.id)
            if last is not None:
                self._last_tick[listing.id] = (last.ts_us, last.seq)
            since = last.ts_us if last is not None else None
            known = store.alerts(listing.id, since)
            self._seen[listing.id] = {alert.alert_id for alert in known}
            self._alert_since[listing.id] = known[-1].ts_us if known else since

    def start(self) -> None:
        """Watch on a background (daemon) thread."""
        self._thread = threading.Thread(target=self._run, name="web:watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.poll()
            except Exception:
                logger.exception("web: cannot read new rows from the store")

    def poll(self) -> None:
        """Publish what was committed since the last look."""
        for listing in self.listings.by_id.values():
            # alerts read before ticks: the ticks behind every alert read are read too (they
            # commit together), so a page always hears of a tick before its alerts
            stored_alerts = self.store.alerts(listing.id, self._alert_since[listing.id])
            mark = self._last_tick.get(listing.id)
            ticks = self.store.ticks(listing.id, mark[0] if mark else None)
            if mark is not None:
                ticks = [tick for tick in ticks if (tick.ts_us, tick.seq) > mark]
            if ticks:
                self._last_tick[listing.id] = (ticks[-1].ts_us, ticks[-1].seq)
                self.hub.ticks_committed(listing, ticks)
            seen = self._seen[listing.id]
            for alert in stored_alerts:
                if alert.alert_id not in seen:
                    seen.add(alert.alert_id)
                    since = self._alert_since[listing.id]
                    self._alert_since[listing.id] = max(since or alert.ts_us, alert.ts_us)
                    self.hub.alert_committed(alert)

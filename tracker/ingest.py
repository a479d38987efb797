"""The one path from ticks to stored alerts, shared by replay and live polling."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tracker.alerts.record import stored_alert
from tracker.alerts.sinks import AlertSink
from tracker.core.model import Extremes, Listing, ListingState, Tick
from tracker.core.rules import evaluate
from tracker.store.repository import SqlStore, StoredAlert

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one batch did: ticks stored, ticks already stored before, alerts fired."""

    stored: int
    already_stored: int
    alerts: tuple[StoredAlert, ...]


AlertListener = Callable[[StoredAlert], None]


class Ingestor:
    """Evaluates ticks, commits them with their alerts and rule state, then dispatches.

    Listeners hear of each new alert once it is committed and dispatched (the
    command line prints them); unlike sinks they are not part of the outbox.
    """

    def __init__(
        self,
        store: SqlStore,
        sinks: Sequence[AlertSink],
        language: str = "en",
        listeners: Sequence[AlertListener] = (),
    ) -> None:
        self.store = store
        self.sinks = tuple(sinks)
        self.language = language
        self.listeners = list(listeners)
        self._states: dict[str, ListingState] = {}
        self._dispatching = threading.Lock()

    def state(self, listing: Listing) -> ListingState:
        """The listing's rule state, loaded from the store on first use."""
        if listing.id not in self._states:
            self.store.save_listing(listing)
            self._states[listing.id] = self.store.load_state(listing.id)
        return self._states[listing.id]

    def ingest(
        self,
        listing: Listing,
        ticks: Sequence[Tick],
        extremes: Extremes | None = None,
        *,
        late: bool = False,
    ) -> Ingested:
        """Store a batch of a listing's ticks (in order) atomically and deliver its alerts.

        Ticks at or before the stored high-water mark are already stored and are
        skipped. ``extremes`` (live polls) may fire inferred alerts; ``late`` marks
        the alerts of a poll that follows missed polls.
        """
        evaluation = evaluate(listing, self.state(listing), ticks, extremes)
        alerts = tuple(
            stored_alert(listing, alert, self.language, late=late) for alert in evaluation.alerts
        )
        if evaluation.ticks or extremes is not None:
            self.store.commit_batch(
                listing.id,
                evaluation.ticks,
                alerts,
                evaluation.state,
                [sink.name for sink in self.sinks],
            )
            self._states[listing.id] = evaluation.state
        if alerts:
            self.dispatch()
            for alert in alerts:
                for listener in self.listeners:
                    listener(alert)
        return Ingested(len(evaluation.ticks), len(ticks) - len(evaluation.ticks), alerts)

    def notify(self, notice: StoredAlert) -> None:
        """Store a notice that comes with no tick (a source down or back) and deliver it."""
        self.store.add_alerts([notice], [sink.name for sink in self.sinks])
        self.dispatch()
        for listener in self.listeners:
            listener(notice)

    def dispatch(self) -> int:
        """Deliver every pending alert to every sink; return how many deliveries were made.

        One dispatch at a time: the daemon's dispatcher job and a poll's own
        dispatch must not hand the same pending alert to a sink twice.
        """
        with self._dispatching:
            return self._dispatch()

    def _dispatch(self) -> int:
        delivered = 0
        for sink in self.sinks:
            pending = self.store.pending_alerts(sink.name)
            if pending:
                done = sink.deliver(pending)
                self.store.mark_delivered(sink.name, done)
                delivered += len(done)
        return delivered

"""The one path from ticks to stored alerts, shared by replay and live polling."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.alerts.record import stored_alert
from tracker.alerts.sinks import AlertSink
from tracker.core.model import Extremes, Listing, ListingState, Tick
from tracker.core.rules import PhaseOf, evaluate
from tracker.store.repository import SqlStore, StoredAlert

if TYPE_CHECKING:
    from tracker.calendar import MarketCalendar

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
        wall_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.store = store
        self.wall_us = wall_us
        self.sinks = tuple(sinks)
        self.language = language
        self.listeners = list(listeners)
        self._states: dict[str, ListingState] = {}
        self._calendars: dict[str, MarketCalendar] = {}
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
        evaluation = evaluate(listing, self.state(listing), ticks, extremes, self._phases(listing))
        muted = self._muted(listing) if evaluation.alerts else set()
        alerts = tuple(
            stored_alert(listing, alert, self.language, late=late, silenced=alert.rule.id in muted)
            for alert in evaluation.alerts
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

    def _muted(self, listing: Listing) -> set[str]:
        """Ids of the listing's rules silenced now (wall time: ``tracker alerts silence``)."""
        silences = self.store.silences(listing.id, self.wall_us())
        if any(silence.rule_id is None for silence in silences):
            return {rule.id for rule in listing.rules}
        return {silence.rule_id for silence in silences if silence.rule_id is not None}

    def _phases(self, listing: Listing) -> PhaseOf | None:
        """The market-phase lookup, for listings with rules scoped to phases only."""
        if not any(rule.phases for rule in listing.rules):
            return None
        if listing.calendar not in self._calendars:
            from tracker.calendar import MarketCalendar

            self._calendars[listing.calendar] = MarketCalendar(listing.calendar)
        return self._calendars[listing.calendar].phase_at

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

"""The one path from ticks to stored alerts, shared by replay and live polling."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.alerts.outbox import DispatchThreads, Outbox
from tracker.alerts.record import stored_alert
from tracker.alerts.sinks import AlertSink
from tracker.core.model import Extremes, Listing, ListingState, ThresholdCrossed, Tick
from tracker.core.rules import OpeningOf, PhaseOf, evaluate
from tracker.store.deliveries import SqlDeliveries
from tracker.store.repository import PollerState, SourceDay, SqlStore, StoredAlert

if TYPE_CHECKING:
    from tracker.calendar import MarketCalendar, OpeningPrints
    from tracker.core.batch import TickArrays

logger = logging.getLogger(__name__)

SILENCES_FRESH_US = 1_000_000  # wall µs a read of the silences is trusted for


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one batch did: ticks stored, ticks already stored before, alerts fired."""

    stored: int
    already_stored: int
    alerts: tuple[StoredAlert, ...]
    committed: bool = True  # False when there was nothing new to store


AlertListener = Callable[[StoredAlert], None]
TickListener = Callable[[Listing, Sequence[Tick]], None]


class Ingestor:
    """Evaluates ticks, commits them with their alerts and rule state, then dispatches.

    Listeners hear of each new alert once it is committed and handed to the outbox
    (the command line prints them); unlike sinks they are not part of the outbox.
    Tick listeners hear of each batch of newly stored ticks once committed, before
    the alert listeners hear of the batch's alerts (the live page pushes both).
    """

    def __init__(
        self,
        store: SqlStore,
        sinks: Sequence[AlertSink],
        language: str = "en",
        listeners: Sequence[AlertListener] = (),
        wall_us: Callable[[], int] = lambda: time.time_ns() // 1000,
        tick_listeners: Sequence[TickListener] = (),
    ) -> None:
        self.store = store
        self.wall_us = wall_us
        self.sinks = tuple(sinks)
        self.language = language
        self.listeners = list(listeners)
        self.tick_listeners = list(tick_listeners)
        self._states: dict[str, ListingState] = {}
        self._loading = threading.RLock()
        self._guards: dict[str, threading.Lock] = {}
        self._calendars: dict[str, MarketCalendar] = {}
        self._openings: dict[str, OpeningPrints] = {}
        self._mutes: dict[str, tuple[int, frozenset[str]]] = {}  # fresh until (wall µs), ids
        self.outbox = Outbox(SqlDeliveries(store.engine), self.sinks, lambda: self.wall_us())
        self._background: DispatchThreads | None = None

    def state(self, listing: Listing) -> ListingState:
        """The listing's rule state, loaded from the store on first use."""
        with self._loading:
            if listing.id not in self._states:
                self.store.save_listing(listing)
                self._states[listing.id] = self.store.load_state(listing.id)
            return self._states[listing.id]

    def known_state(self, listing_id: str) -> ListingState | None:
        """The listing's rule state if it was loaded already (never loads: for status lines)."""
        return self._states.get(listing_id)

    def _guard(self, listing_id: str) -> threading.Lock:
        """The lock that makes evaluate-and-commit of one listing one step at a time."""
        with self._loading:
            return self._guards.setdefault(listing_id, threading.Lock())

    def ingest(
        self,
        listing: Listing,
        ticks: Sequence[Tick],
        extremes: Extremes | None = None,
        *,
        late: bool = False,
        poller: PollerState | None = None,
        source_day: SourceDay | None = None,
    ) -> Ingested:
        """Store a batch of a listing's ticks (in order) atomically and deliver its alerts.

        Ticks at or before the stored high-water mark are already stored and are
        skipped. ``extremes`` (a live poll's day figures) may fire inferred alerts;
        ``late`` marks the alerts of a poll that came after the daemon missed the
        market; ``poller`` (the poll's own state) and ``source_day`` (its provider's day
        figures) are stored in the same transaction.
        """
        with self._guard(listing.id):
            phases = self._phases(listing)
            previous = self.state(listing)
            evaluation = evaluate(
                listing, previous, ticks, extremes, phases, self._opening(listing)
            )
            alerts = self._stored(listing, evaluation.alerts, late=late)
            committed = bool(evaluation.ticks) or extremes is not None
            if committed:
                self.store.commit_batch(
                    listing.id,
                    evaluation.ticks,
                    alerts,
                    evaluation.state,
                    [sink.name for sink in self.sinks],
                    previous=previous,
                    poller=poller,
                    source_day=source_day,
                )
                self.outbox.committed(alerts)  # in the listing's guard: in commit order
                self._states[listing.id] = evaluation.state
        self._announce(listing, lambda: evaluation.ticks, alerts)
        stored = len(evaluation.ticks)
        return Ingested(stored, len(ticks) - stored, alerts, committed)

    def ingest_arrays(self, listing: Listing, ticks: TickArrays) -> Ingested:
        """``ingest`` for columns of ticks (replays): batch evaluation and bulk storage."""
        from tracker.core.batch import evaluate_batch

        with self._guard(listing.id):
            phases = self._phases(listing)
            previous = self.state(listing)
            evaluation = evaluate_batch(listing, previous, ticks, phases, self._opening(listing))
            alerts = self._stored(listing, evaluation.alerts, late=False)
            accepted = ticks.slice(evaluation.start)
            if len(accepted):
                names = [sink.name for sink in self.sinks]
                self.store.commit_arrays(
                    listing.id, accepted, alerts, evaluation.state, names, previous=previous
                )
                self.outbox.committed(alerts)
                self._states[listing.id] = evaluation.state
        self._announce(listing, accepted.to_ticks, alerts)
        return Ingested(len(accepted), evaluation.start, alerts, bool(len(accepted)))

    def _stored(
        self, listing: Listing, fired: Sequence[ThresholdCrossed], *, late: bool
    ) -> tuple[StoredAlert, ...]:
        """Alert records of what fired, silenced ones marked so."""
        muted = self._muted(listing) if fired else frozenset()
        return tuple(
            stored_alert(listing, alert, self.language, late=late, silenced=alert.rule.id in muted)
            for alert in fired
        )

    def _announce(
        self,
        listing: Listing,
        ticks: Callable[[], Sequence[Tick]],
        alerts: Sequence[StoredAlert],
    ) -> None:
        """After a commit: deliver what is due, then tell the listeners of new ticks and alerts.

        ``ticks`` gives the newly stored ticks (made only when a tick listener wants them).
        """
        if alerts or self._background is None:
            # without a dispatcher running, also what an earlier run left pending and the
            # retries now due; with one, its every-second wake-up serves those
            self.dispatch_soon(fresh=bool(alerts))
        if self.tick_listeners:
            stored = ticks()
            if stored:
                for tick_listener in self.tick_listeners:
                    tick_listener(listing, stored)
        for alert in alerts:
            for listener in self.listeners:
                listener(alert)

    def _muted(self, listing: Listing) -> frozenset[str]:
        """Ids of the listing's rules silenced now (wall time: ``tracker alerts silence``).

        Read from the store at most once every ``SILENCES_FRESH_US`` (a silence set by
        another process takes effect within that), and again when one in force ends.
        """
        now_us = self.wall_us()
        known = self._mutes.get(listing.id)
        if known is not None and now_us < known[0]:
            return known[1]
        silences = self.store.silences(listing.id, now_us)
        if any(silence.rule_id is None for silence in silences):
            muted = frozenset(rule.id for rule in listing.rules)
        else:
            muted = frozenset(s.rule_id for s in silences if s.rule_id is not None)
        fresh_until = min([now_us + SILENCES_FRESH_US, *(s.until_us for s in silences)])
        self._mutes[listing.id] = (fresh_until, muted)
        return muted

    def _phases(self, listing: Listing) -> PhaseOf | None:
        """The market-phase lookup, for listings with rules scoped to phases only."""
        if not any(rule.phases for rule in listing.rules):
            return None
        if listing.calendar not in self._calendars:
            from tracker.calendar import MarketCalendar

            self._calendars[listing.calendar] = MarketCalendar(listing.calendar)
        return self._calendars[listing.calendar].phase_at

    def _opening(self, listing: Listing) -> OpeningOf:
        """Whether a day's first trade is its opening print (for the ``gap`` flag)."""
        key = f"{listing.calendar} {listing.timezone}"
        if key not in self._openings:
            from tracker.calendar import OpeningPrints

            self._openings[key] = OpeningPrints(listing.calendar, listing.timezone)
        return self._openings[key]

    def notify(self, notice: StoredAlert) -> None:
        """Store a notice that comes with no tick (a source down or back) and deliver it."""
        self.store.add_alerts([notice], [sink.name for sink in self.sinks])
        self.outbox.committed([notice])
        self.dispatch_soon(fresh=True)
        for listener in self.listeners:
            listener(notice)

    def dispatch(self) -> int:
        """Attempt every due delivery to every sink once, now; return how many were delivered.

        Nothing here waits for a backoff: a failed delivery stays pending with the
        wall time of its next attempt. One pass per sink at a time, so this and the
        background dispatcher never hand the same alert to a sink twice.
        """
        return self.outbox.dispatch()

    def dispatch_soon(self, fresh: bool = False) -> None:
        """Deliver what is due to every sink.

        Local sinks are delivered to now, in this thread; remote ones on their
        dispatcher threads when those run, else here too. ``fresh``: right after a
        commit of alerts (``Outbox.dispatch_sink``).
        """
        background = self._background
        if background is not None:
            background.wake(fresh)
        else:
            self.outbox.dispatch(fresh)

    @contextmanager
    def background_dispatch(self) -> Iterator[DispatchThreads]:
        """Deliver on a thread per sink while inside, so ingesting never waits on a sink."""
        threads = DispatchThreads(self.outbox)
        threads.start()
        self._background = threads
        try:
            yield threads
        finally:
            self._background = None
            threads.stop()

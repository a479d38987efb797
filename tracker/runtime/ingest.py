"""The one path from ticks to stored alerts, shared by replay and live polling."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracker.alerts.outbox import DispatchThreads, Outbox
from tracker.alerts.record import stored_alert
from tracker.alerts.sinks import AlertSink
from tracker.core.evaluate import OpeningOf, PhaseOf, evaluate
from tracker.core.model import Extremes, Listing, ListingState, StoredAlert, ThresholdCrossed, Tick
from tracker.errors import StorageError
from tracker.store.deliveries import SqlDeliveries
from tracker.store.repository import BatchRows, PollerState, Silence, SourceDay, SqlStore

if TYPE_CHECKING:
    from tracker.core.batch import TickArrays
    from tracker.markets.calendar import MarketCalendar, OpeningPrints

logger = logging.getLogger(__name__)

SILENCES_FRESH_US = 1_000_000  # wall µs a read of the silences is trusted for


@dataclass(frozen=True, slots=True)
class Batch:
    """A listing's ticks to ingest, in (ts, seq) order, with what a live poll brings along them.

    A replay's chunk is many ticks; a live poll's is one tick (or none, when only its day
    figures are new).
    """

    listing: Listing
    ticks: TickArrays
    extremes: Extremes | None = None  # the provider's day figures as of the last tick
    late: bool = False  # the poll came after the daemon missed the market
    poller: PollerState | None = None  # the poll's own state, stored in the same transaction
    source_day: SourceDay | None = None  # the provider's day figures, when they changed


@dataclass(frozen=True, slots=True)
class _Evaluated:
    """A batch run through the core: the state before and after, new ticks, alert records."""

    batch: Batch
    previous: ListingState
    state: ListingState
    ticks: TickArrays  # those after the high-water mark: the ones to store
    alerts: tuple[StoredAlert, ...]

    @property
    def listing(self) -> Listing:
        return self.batch.listing

    @property
    def committed(self) -> bool:
        """Whether there is something to store: new ticks, or a poll's day figures."""
        return bool(len(self.ticks)) or self.batch.extremes is not None

    @property
    def rows(self) -> BatchRows:
        """What the batch writes."""
        batch = self.batch
        return BatchRows(
            batch.listing.id,
            self.ticks,
            self.alerts,
            self.state,
            self.previous,
            batch.poller,
            batch.source_day,
        )

    @property
    def ingested(self) -> Ingested:
        """What the batch did."""
        stored = len(self.ticks)
        return Ingested(stored, len(self.batch.ticks) - stored, self.alerts, self.committed)


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one batch did: ticks stored, ticks already stored before, alerts fired.

    ``error``: its commit failed (``ingest_batches`` only; ``ingest`` raises it): nothing of
    it is stored, and the listing's state is as before it.
    """

    stored: int
    already_stored: int
    alerts: tuple[StoredAlert, ...]
    committed: bool = True  # False when there was nothing new to store
    error: StorageError | None = None


AlertListener = Callable[[StoredAlert], None]
TickListener = Callable[[Listing, Sequence[Tick]], None]  # rows, made only when one listens


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
        self._silences: tuple[int, tuple[Silence, ...]] = (0, ())  # fresh until (wall µs)
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
        ticks: TickArrays,
        extremes: Extremes | None = None,
        *,
        late: bool = False,
        poller: PollerState | None = None,
        source_day: SourceDay | None = None,
    ) -> Ingested:
        """Store a batch of a listing's ticks, in (ts, seq) order, atomically; deliver its alerts.

        A replay's chunk of many ticks and a live poll's one tick go the same way: the core
        evaluates them (``tracker.core.evaluate``), the store writes them the fastest way
        for their number. Ticks at or before the stored high-water mark are already stored
        and are skipped. ``extremes`` (a live poll's day figures) may fire inferred alerts;
        ``late`` marks the alerts of a poll that came after the daemon missed the
        market; ``poller`` (the poll's own state) and ``source_day`` (its provider's day
        figures) are stored in the same transaction.
        """
        [done] = self.ingest_batches([Batch(listing, ticks, extremes, late, poller, source_day)])
        if done.error is not None:
            raise done.error
        return done

    def ingest_batches(self, batches: Sequence[Batch]) -> list[Ingested]:
        """``ingest`` for batches of several listings at once (a poll of many listings).

        Each listing's batch is stored atomically; those that fire alerts are committed
        first, in one transaction, and their alerts handed to the local sinks before the
        others are committed in a second, so a listing's alert never waits for the rest.
        When a transaction of several listings fails, each is tried on its own, so one
        listing's failure is its own (its ``Ingested`` carries the error).
        """
        if len({batch.listing.id for batch in batches}) < len(batches):
            raise ValueError("one batch a listing: the batches of a listing go in order")
        names = [sink.name for sink in self.sinks]
        failed: dict[str, StorageError] = {}
        with ExitStack() as guards:
            for listing_id in sorted({batch.listing.id for batch in batches}):
                guards.enter_context(self._guard(listing_id))
            done = [self._evaluated(batch) for batch in batches]
            firing = [part for part in done if part.alerts]
            if firing:
                failed |= self._commit(firing, names)
                self.dispatch_soon(fresh=True)
            quiet = [part for part in done if part.committed and not part.alerts]
            failed |= self._commit(quiet, names)
        if not firing and self._background is None:
            self.dispatch_soon()  # what an earlier run left pending, and retries now due
        results = []
        for part in done:
            error = failed.get(part.listing.id)
            if error is None:
                self._tell(part.listing, part.ticks.to_ticks, part.alerts)
                results.append(part.ingested)
            else:
                results.append(Ingested(0, 0, (), False, error))
        return results

    def _evaluated(self, batch: Batch) -> _Evaluated:
        """A batch run through the core (under its listing's guard), not yet committed."""
        listing = batch.listing
        previous = self.state(listing)
        evaluation = evaluate(
            listing,
            previous,
            batch.ticks,
            batch.extremes,
            self._phases(listing),
            self._opening(listing),
        )
        alerts = self._stored(listing, evaluation.alerts, late=batch.late)
        stored = batch.ticks.slice(evaluation.start)
        return _Evaluated(batch, previous, evaluation.state, stored, alerts)

    def _commit(self, parts: Sequence[_Evaluated], sinks: Sequence[str]) -> dict[str, StorageError]:
        """Commit evaluated batches in one transaction, then take their states as current.

        If it fails, each batch is committed on its own; returns the failures by listing.
        """
        if not parts:
            return {}
        try:
            self.store.commit([part.rows for part in parts], sinks)
        except StorageError as error:
            if len(parts) == 1:
                return {parts[0].listing.id: error}
            failed: dict[str, StorageError] = {}
            for part in parts:
                failed |= self._commit([part], sinks)
            return failed
        self.outbox.committed([alert for part in parts for alert in part.alerts])  # guarded
        for part in parts:
            self._states[part.listing.id] = part.state
        return {}

    def _stored(
        self, listing: Listing, fired: Sequence[ThresholdCrossed], *, late: bool
    ) -> tuple[StoredAlert, ...]:
        """Alert records of what fired, silenced ones (at their tick's instant) marked so."""
        mine = [s for s in self.silences() if s.listing_id == listing.id] if fired else []
        return tuple(
            stored_alert(
                listing,
                alert,
                self.language,
                late=late,
                silenced=any(s.covers(alert.rule.id, alert.tick.ts_us) for s in mine),
            )
            for alert in fired
        )

    def _tell(
        self,
        listing: Listing,
        ticks: Callable[[], Sequence[Tick]],
        alerts: Sequence[StoredAlert],
    ) -> None:
        """Tell the listeners of newly stored ticks, then of the alerts (once delivered to)."""
        if self.tick_listeners:
            stored = ticks()
            if stored:
                for tick_listener in self.tick_listeners:
                    tick_listener(listing, stored)
        for alert in alerts:
            for listener in self.listeners:
                listener(alert)

    def silences(self) -> tuple[Silence, ...]:
        """Every listing's silences (``tracker alerts silence``), read again when not fresh.

        They are read from the store at most once every ``SILENCES_FRESH_US`` of wall
        time (a silence set by another process takes effect within that); each applies
        to the alerts of ticks within its span of event time. A poll calls this before
        its request, so an alert does not wait for the read.
        """
        now_us = self.wall_us()
        fresh_until, silences = self._silences
        if now_us >= fresh_until:
            silences = tuple(self.store.silences())
            self._silences = (now_us + SILENCES_FRESH_US, silences)
        return silences

    def _phases(self, listing: Listing) -> PhaseOf | None:
        """The market-phase lookup, for listings with rules scoped to phases only."""
        if not any(rule.phases for rule in listing.rules):
            return None
        if listing.calendar not in self._calendars:
            from tracker.markets.calendar import MarketCalendar

            self._calendars[listing.calendar] = MarketCalendar(listing.calendar)
        return self._calendars[listing.calendar].phase_at

    def _opening(self, listing: Listing) -> OpeningOf:
        """Whether a day's first trade is its opening print (for the ``gap`` flag)."""
        key = f"{listing.calendar} {listing.timezone}"
        if key not in self._openings:
            from tracker.markets.calendar import OpeningPrints

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

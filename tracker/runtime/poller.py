"""Polling a listing's quote sources: quotes become ticks on the same ingest path as replay.

What a poll means is the design's "a live day (polling)". A listing is polled while its
exchange trades, and after the closing auction until its closing print is stored or the
source's ``close_grace`` has passed. A poll after the day's opening window that is the
daemon's first of the day, or that follows three or more missed intervals of trading,
is late: its alerts say so and are never ``gap``. Each quote is read by the core
(``tracker.core.quotes``): a trade of an earlier trading day is stale and stores
nothing. A listing's sources are tried in priority order: the one in use is left for
the next when it has been down for ``down_after`` or when its quotes are stale after
the opening while another's are not; a preferred source is tried again every minute.
Switches, a source down and back, and quotes that stay stale get ``"kind": "source"``
notices.

A ``PollCycle`` is the daemon's poll job: it polls those of its listings that are due,
in one request for every group of sources that can share one (Tencent's ``q=``).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import httpx

from tracker.alerts.record import source_notice
from tracker.core.backoff import backoff_delay
from tracker.core.batch import TickArrays
from tracker.core.model import Listing, datetime_to_ts, day_bounds, local_date, ts_to_datetime
from tracker.core.quotes import DayCounts, QuoteRead, QuoteRefused, Read, read_quote
from tracker.core.rules import Triage
from tracker.markets.calendar import TRADING, DaySession, MarketCalendar
from tracker.runtime.clock import Clock
from tracker.runtime.ingest import Batch, Ingested, Ingestor
from tracker.sources.providers import fetch_quotes
from tracker.sources.providers.base import Quote, QuoteError, QuoteProvider
from tracker.store.repository import PollerState, SourceDay

logger = logging.getLogger(__name__)

MISSED_POLLS_FOR_LATE = 3
PREFERRED_RETRY_US = 60_000_000  # clock µs between tries of a preferred source not in use


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How a source is polled. Clock seconds are simulated on a simulated clock; wall are not."""

    interval: float = 5.0  # clock seconds between polls
    down_after: float = 300.0  # clock seconds of failing polls before the source is down
    max_future: float = 300.0  # clock seconds a trade time may run ahead of the clock
    backoff_max: float = 60.0  # wall seconds
    close_grace: float = 300.0  # clock seconds after the closing auction to await its print


@dataclass(frozen=True, slots=True)
class PolledSource:
    """One of a listing's quote sources, with how it is polled."""

    provider: QuoteProvider
    settings: PollSettings = PollSettings()


@dataclass(slots=True)
class PollStats:
    """Counters for the status line."""

    polls: int = 0
    ticks: int = 0
    alerts: int = 0
    errors: int = 0


@dataclass(slots=True)
class _Health:
    """What a poller knows of one source: its failures, backoff and when it was last stale."""

    failing_since_us: int | None = None  # clock
    reason: str | None = None
    attempt: int = 0
    retry_at: float = float("-inf")  # wall
    stale_at_us: int | None = None  # clock: its quote was of an earlier trading day


class ListingPoller:
    """Polls one listing's sources and ingests what is new."""

    def __init__(
        self,
        listing: Listing,
        sources: Sequence[PolledSource],
        ingestor: Ingestor,
        calendar: MarketCalendar,
        clock: Clock,
        client: httpx.Client,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if not sources:
            raise ValueError(f"listing {listing.id!r} has no source to poll")
        self.listing = listing
        self.sources = list(sources)
        self.ingestor = ingestor
        self.calendar = calendar
        self.clock = clock
        self.client = client
        self.stats = PollStats()
        self.outcome = "idle"  # what the last poll did
        self._wall = wall
        self._zone = ZoneInfo(listing.timezone)
        self._health = [_Health() for _ in self.sources]
        self._state = ingestor.store.load_poller(listing.id)
        if not 0 <= self._state.source < len(self.sources):  # the sources were reconfigured
            self._state = replace(self._state, source=0)
        self._health[self.active].failing_since_us = self._state.failing_since_us
        self._unsaved = False  # the poller state changed since it was last stored
        self.pending: Batch | None = None  # what this poll has to ingest, once answered
        self._taken: Quote | None = None  # the last quote answered
        self._triage = Triage(listing)
        self._late = False  # a late poll's answer is still to come
        self._opens_us: int | None = None  # clock: when the market opens next, while closed
        self._asked: set[int] = set()  # the sources asked in this poll
        self._asked_at_us: int | None = None  # clock: the last poll that asked a source
        self._preferred_at_us = 0  # clock: when a preferred source is tried again
        self._session: DaySession | None = None
        self._counts: DayCounts | None = None
        self._written: SourceDay | None = None  # the provider's day figures last stored
        # what takes effect once the pending batch is committed: day counts, figures stored
        self._after_commit: tuple[DayCounts | None, SourceDay | None] = (None, None)
        self._stale_trade_us: int | None = None  # the last trade the stale source shows

    @property
    def active(self) -> int:
        """The position of the source in use."""
        return self._state.source

    @property
    def settings(self) -> PollSettings:
        """The settings of the source in use."""
        return self.sources[self.active].settings

    @property
    def provider(self) -> QuoteProvider:
        """The source in use."""
        return self.sources[self.active].provider

    @property
    def poller_state(self) -> PollerState:
        """What this poller remembers across restarts."""
        return self._state

    def poll(self) -> str:
        """One poll of this listing alone, now; returns what happened."""
        poll_together([self], self.client, self.clock.now())
        return self.outcome

    def due(self, now: dt.datetime, slack_us: int) -> bool:
        """Whether an interval (less ``slack_us``) has passed since this listing's last poll."""
        last = self._asked_at_us
        interval_us = round(self.settings.interval * 1_000_000)
        return last is None or datetime_to_ts(now) - last >= interval_us - slack_us

    # --- one poll: ask a source, take its answer, maybe ask another ------------------------

    def ask(self, now: dt.datetime) -> int | None:
        """Start a poll: the source to ask now, or None (the market is closed, or backoff)."""
        now_us = datetime_to_ts(now)
        session = self._day(now)
        if not self._open(now, now_us, session):
            if self._opens_us is None or now_us >= self._opens_us:
                self._closed(now)
            self.outcome = "idle"
            return None
        self._late = self._late or self._is_late(now, now_us, session)
        self._asked = set()
        self._asked_at_us = now_us
        self.pending = None
        index = self._first_to_ask(now_us)
        if index is None:
            self._remember(last_poll_us=now_us)
            self.outcome = "backoff"
            return None
        self.stats.polls += 1
        # stored with the poll's ticks when it has any, in their transaction, else on its own
        self._state = replace(self._state, last_poll_us=now_us)
        self._unsaved = True
        return index

    def answer(self, index: int, answer: Quote | QuoteError, now: dt.datetime) -> int | None:
        """Take a source's answer; returns another source to ask in this poll, or None."""
        self._asked.add(index)
        now_us = datetime_to_ts(now)
        follow: int | None = None
        try:
            if isinstance(answer, QuoteError):
                raise answer
            self._taken = answer
            read = self._read(index, answer, now_us)
            if read.read is Read.STALE or (index != self.active and read.read is Read.NO_TRADE):
                # another source with no trade yet is no way out of stale quotes either
                follow = self._stale(index, now_us, answer.ts_us)
            else:
                self._fresh(index, read, now_us)
        except QuoteError as exc:
            follow = self._failed(index, exc, now_us)
        return follow

    def urgent(self, answer: Quote | QuoteError) -> bool:
        """Whether an answer may fire an alert (``could_fire``): to be taken first.

        The very quote taken last time (a provider's answer for an unchanged record) cannot.
        """
        if not isinstance(answer, Quote) or answer.ts_us is None or answer is self._taken:
            return False
        state = self.ingestor.known_state(self.listing.id)
        return state is None or self._triage.could_fire(
            state, answer.ts_us, answer.price, answer.high, answer.low
        )

    @property
    def unsaved(self) -> bool:
        """Whether this poller's state changed since it was last stored."""
        return self._unsaved

    def saved(self) -> None:
        """The poller's state was stored (with other listings' pollers)."""
        self._unsaved = False

    def ingested(self, done: Ingested) -> None:
        """This poll's batch was ingested (with other listings' batches), or failed to be.

        Only then do its day counts, its provider's day figures and the end of a late
        spell take effect: a batch that failed leaves them for the next poll.
        """
        self.pending = None
        if done.error is not None:
            self.stats.errors += 1
            self.outcome = "fault"
            logger.error("%s: storing the poll failed: %s", self.listing.id, done.error)
            return
        if done.committed:
            self._unsaved = False  # its state went in the batch's transaction
        self._counts, self._written = self._after_commit
        self._late = False
        self.stats.ticks += done.stored
        self.stats.alerts += len(done.alerts)
        self.outcome = "tick" if done.stored else "extremes"

    def _read(self, index: int, quote: Quote, now_us: int) -> QuoteRead:
        """The core's reading of a quote; a quote that cannot be true is a QuoteError."""
        today = local_date(self.listing, now_us)
        if self._counts is None or self._counts.day != today:
            start, end = day_bounds(self.listing, today)
            volume, turnover = self.ingestor.store.totals(self.listing.id, start, end)
            self._counts = DayCounts(today, volume, turnover)
        try:
            return read_quote(
                self.listing,
                quote,
                self.ingestor.state(self.listing),
                self._counts,
                source=self._name(index),
                now_us=now_us,
                max_future_us=round(self.sources[index].settings.max_future * 1_000_000),
            )
        except QuoteRefused as exc:
            raise QuoteError(exc.reason, exc.detail) from None

    def _fresh(self, index: int, read: QuoteRead, now_us: int) -> None:
        """A quote of today (or no trade yet): switch to its source if need be, and ingest it."""
        self._answered(index, now_us)
        if index != self.active:
            old = self._health[self.active]
            stale = self.active in self._asked and old.stale_at_us == now_us
            why = "its quotes are of an earlier trading day" if stale else old.reason
            self._switch(index, why or "the preferred source answers again", now_us)
        if read.read is not Read.NO_TRADE and self._state.stale_notified:
            self._notify("fresh", now_us, now_us, index, "trades today")
            self._state = replace(self._state, stale_notified=False)
            self._unsaved = True
        if read.note:
            logger.warning("%s: %s: %s", self.listing.id, self._name(index), read.note)
        self.outcome = str(read.read)
        if read.read in (Read.TICK, Read.EXTREMES):
            self._ingest(index, read)  # last: it carries the poll's final state
            return
        if read.counts is not None:
            self._counts = read.counts
        self._late = False

    def _ingest(self, index: int, read: QuoteRead) -> None:
        """Leave the tick and day figures to ingest with the other listings polled now."""
        day = self._source_day(index, read)
        self._after_commit = (read.counts or self._counts, self._written if day is None else day)
        self.pending = Batch(
            self.listing,
            TickArrays.from_ticks([] if read.tick is None else [read.tick]),
            read.extremes,
            self._late,
            self._state,
            day,
        )

    def _source_day(self, index: int, read: QuoteRead) -> SourceDay | None:
        """The provider's day figures to store with this poll, when they changed."""
        figures = read.extremes
        if figures is None:
            return None
        day = SourceDay(
            self.listing.id,
            local_date(self.listing, figures.ts_us),
            self._name(index),
            figures.ts_us,
            figures.open,
            figures.high,
            figures.low,
            figures.prev_close,
        )
        written = self._written
        if written is not None and replace(written, ts_us=day.ts_us) == day:
            return None
        return day

    def _stale(self, index: int, now_us: int, trade_us: int | None) -> int | None:
        """A quote of an earlier trading day (or another source's "no trade yet"): ask
        another source, or say the listing's quotes are stale."""
        self._answered(index, now_us)
        self._health[index].stale_at_us = now_us
        if index == self.active:
            self._stale_trade_us = trade_us
        self._late = False
        self.outcome = "stale"
        if index != self.active and self.active not in self._asked:
            return self._unasked(self.active)  # a preferred source, no better: the one in use
        return self._stale_onward(index, now_us)

    def _stale_onward(self, index: int, now_us: int) -> int | None:
        """The source in use is stale in this poll and ``index`` no way out: the next source
        to ask, or, after the opening window, one "stale" notice."""
        until = self._session.opening_until if self._session is not None else None
        if until is None or now_us <= until:
            return None  # before the opening auction is done, yesterday's quote is no news
        follow = self._next_source(index, now_us, skip_stale=True)
        if follow is not None:
            return follow
        if not self._state.stale_notified:
            last = self._stale_trade_us
            seen = "" if last is None else f": the last trade shown is of {self._date(last)}"
            self._notify("stale", now_us, now_us, self.active, f"no trade today{seen}")
            self._state = replace(self._state, stale_notified=True)
            self._unsaved = True
        return None

    def _failed(self, index: int, exc: QuoteError, now_us: int) -> int | None:
        """A source failed: back off from it; when the source in use is down, try the next."""
        health = self._health[index]
        self.stats.errors += 1
        self.outcome = "fault"
        if exc.reason != health.reason:
            logger.warning("%s: %s poll failed: %s", self.listing.id, self._name(index), exc)
            health.reason = exc.reason
        health.attempt += 1
        delay = backoff_delay(health.attempt, 1.0, self.settings.backoff_max, random.random())
        health.retry_at = self._wall() + max(delay, exc.retry_after or 0.0)
        if health.failing_since_us is None:
            health.failing_since_us = now_us
        if index == self.active:
            self._state = replace(self._state, failing_since_us=health.failing_since_us)
            self._unsaved = True
        elif self.active not in self._asked and self._ready(self.active):
            return self.active  # a preferred source still failing: the one in use next
        elif self._health[self.active].stale_at_us == now_us:
            return self._stale_onward(index, now_us)  # a way out of stale quotes, failing
        return self._failover(index, now_us) if self._down(now_us) else None

    def _failover(self, after: int, now_us: int) -> int | None:
        """The source in use is down: the next source to ask, or a "down" notice if none is left."""
        follow = self._next_source(after, now_us, skip_stale=False)
        if follow is not None:
            return follow
        if not self._state.down_notified:
            since = self._state.failing_since_us or now_us
            reason = self._health[self.active].reason or ""
            self._notify("down", now_us, since, self.active, reason)
            self._state = replace(self._state, down_notified=True)
            self._unsaved = True
        return None

    def _answered(self, index: int, now_us: int) -> None:
        """A source answered: it is not failing; a listing whose source was down is back."""
        health = self._health[index]
        if health.failing_since_us is not None:
            logger.info("%s: %s polls work again", self.listing.id, self._name(index))
        health.failing_since_us, health.reason, health.attempt = None, None, 0
        health.retry_at = float("-inf")
        state = self._state
        if index != self.active and not state.down_notified:
            return  # a preferred source answered; the one in use may still be failing
        if state.down_notified:
            reason = self._health[self.active].reason or ""
            self._notify("back", now_us, state.failing_since_us or now_us, index, reason)
        if state.failing_since_us is not None or state.down_notified:
            self._state = replace(state, failing_since_us=None, down_notified=False)
            self._unsaved = True

    def _switch(self, index: int, reason: str, now_us: int) -> None:
        """Use another source from now on, and say so in the alert log."""
        old = self.active
        since = self._health[old].failing_since_us or now_us
        self._notify("switched", now_us, since, index, reason, previous=old)
        logger.warning(
            "%s: switched from %s to %s: %s",
            self.listing.id,
            self._name(old),
            self._name(index),
            reason,
        )
        self._state = replace(
            self._state,
            source=index,
            failing_since_us=self._health[index].failing_since_us,
            down_notified=False,
        )
        self._preferred_at_us = now_us + PREFERRED_RETRY_US
        self._unsaved = True

    # --- choosing sources ------------------------------------------------------------------

    def _first_to_ask(self, now_us: int) -> int | None:
        """A preferred source due to be tried again, else the source in use; while that one
        backs off, the next source when it is down, else none."""
        if self.active > 0 and now_us >= self._preferred_at_us:
            self._preferred_at_us = now_us + PREFERRED_RETRY_US
            for index in range(self.active):
                if self._ready(index):
                    return index
        if self._ready(self.active):
            return self.active
        return (
            self._next_source(self.active, now_us, skip_stale=False) if self._down(now_us) else None
        )

    def _down(self, now_us: int) -> bool:
        """Whether the source in use has failed for ``down_after`` or longer."""
        since = self._state.failing_since_us
        return since is not None and now_us - since >= self.settings.down_after * 1_000_000

    def _next_source(self, after: int, now_us: int, *, skip_stale: bool) -> int | None:
        """The next source in priority order (round from ``after``) worth asking in this poll."""
        count = len(self.sources)
        for step in range(1, count):
            index = (after + step) % count
            health = self._health[index]
            if index in self._asked or not self._ready(index):
                continue  # a failing source is asked again when its backoff is over
            recent = health.stale_at_us is not None and now_us - health.stale_at_us < (
                PREFERRED_RETRY_US
            )
            if skip_stale and recent:
                continue
            return index
        return None

    def _unasked(self, index: int) -> int | None:
        """``index`` when it is still to be asked in this poll and not backing off."""
        return index if index not in self._asked and self._ready(index) else None

    def _ready(self, index: int) -> bool:
        """Whether a source may be asked now (not inside a backoff, which is wall time)."""
        return self._wall() >= self._health[index].retry_at

    def _name(self, index: int) -> str:
        return self.sources[index].provider.name

    def _date(self, ts_us: int) -> str:
        return local_date(self.listing, ts_us).isoformat()

    # --- the day ---------------------------------------------------------------------------

    def _day(self, now: dt.datetime) -> DaySession:
        """Today's session (exchange calendar), looked up once a day."""
        today = now.astimezone(self._zone).date()
        if self._session is None or self._session.date != today:
            self._session = self.calendar.day(today, self.listing.timezone)
        return self._session

    def _open(self, now: dt.datetime, now_us: int, session: DaySession) -> bool:
        """Whether to poll now: while the market trades, and past the closing auction until
        the closing print is stored or the close grace has passed."""
        if self.calendar.phase(now) in TRADING:
            return True
        ends, closing = session.ends, session.closing_from
        if ends is None or closing is None:
            return False
        if not ends <= now_us < ends + round(self.settings.close_grace * 1_000_000):
            return False
        last = self.ingestor.state(self.listing).last_ts_us
        return last is None or last < closing

    def next_open(self, now: dt.datetime) -> int | None:
        """When the listing's market next opens after ``now`` (epoch µs), if within a month."""
        return self.calendar.next_open(now)

    def _closed(self, now: dt.datetime) -> None:
        """Log, once a closed stretch, when the market opens again."""
        opens = self.next_open(now)
        self._opens_us = opens if opens is not None else datetime_to_ts(now) + 86_400_000_000
        if opens is not None:
            logger.info(
                "%s: market closed; the next session opens at %s",
                self.listing.id,
                ts_to_datetime(opens).astimezone(self._zone).isoformat(),
            )

    def _is_late(self, now: dt.datetime, now_us: int, session: DaySession) -> bool:
        """Whether this poll comes after the daemon missed the market: its first poll of the
        day after the opening window, or three or more intervals of trading after the last."""
        last = self._state.last_poll_us
        if last is None or local_date(self.listing, last) != session.date:
            self._new_day()
            until = session.opening_until
            return until is not None and now_us > until
        enough = MISSED_POLLS_FOR_LATE * self.settings.interval
        if now_us - last < enough * 1_000_000:
            return False  # too soon to have missed that much trading, closed or not
        return self.calendar.trading_seconds(ts_to_datetime(last), now) >= enough

    def _new_day(self) -> None:
        """The first poll of a trading day: yesterday's stale notice is done with."""
        for health in self._health:
            health.stale_at_us = None
        if self._state.stale_notified:
            self._state = replace(self._state, stale_notified=False)
            self._unsaved = True

    # --- the record ------------------------------------------------------------------------

    def _notify(
        self,
        event: str,
        at_us: int,
        since_us: int,
        index: int,
        reason: str,
        previous: int | None = None,
    ) -> None:
        notice = source_notice(
            self.listing,
            event,
            at_us,
            since_us,
            self._name(index),
            reason,
            self.ingestor.language,
            previous=None if previous is None else self._name(previous),
        )
        self.ingestor.notify(notice)

    def _remember(self, **changes: object) -> None:
        self._state = replace(self._state, **changes)  # type: ignore[arg-type]
        self.ingestor.store.save_poller(self.listing.id, self._state)
        self._unsaved = False


def poll_together(pollers: Sequence[ListingPoller], client: httpx.Client, now: dt.datetime) -> None:
    """Poll listings at one instant: one request for each group of sources that can share one.

    A listing whose answer sends it to another source (a failover, a preferred source
    still failing) asks that one in a further round of the same poll. Of each answer, the
    listings whose quotes may fire an alert are taken and stored first, so their alerts
    are logged before the quiet ones are even read.
    """
    asking = {}
    for poller in pollers:
        index = poller.ask(now)
        if index is not None:
            asking[poller] = index
    for ingestor in {id(p.ingestor): p.ingestor for p in asking}.values():
        ingestor.silences()  # fresh now, not when an alert needs them
    while asking:
        groups: dict[object, list[ListingPoller]] = {}
        for poller, index in asking.items():
            provider = poller.sources[index].provider
            key = provider.batch_key if provider.batch_key is not None else id(poller)
            groups.setdefault(key, []).append(poller)
        following: dict[ListingPoller, int] = {}
        quiet: list[tuple[ListingPoller, Quote | QuoteError]] = []
        for group in groups.values():
            limit = max(1, group[0].sources[asking[group[0]]].provider.batch_limit)
            for start in range(0, len(group), limit):  # a request for as many as it takes
                members = group[start : start + limit]
                providers = [poller.sources[asking[poller]].provider for poller in members]
                urgent: list[tuple[ListingPoller, Quote | QuoteError]] = []
                for poller, answer in zip(members, fetch_quotes(client, providers), strict=True):
                    (urgent if poller.urgent(answer) else quiet).append((poller, answer))
                _take(urgent, asking, following, now)
        _take(quiet, asking, following, now)
        asking = following


def _take(
    answers: Sequence[tuple[ListingPoller, Quote | QuoteError]],
    asking: dict[ListingPoller, int],
    following: dict[ListingPoller, int],
    now: dt.datetime,
) -> None:
    """Have pollers take their answers, then store what those bring (``following``: the
    pollers that ask another source next)."""
    finished = []
    for poller, answer in answers:
        follow = poller.answer(asking[poller], answer, now)
        if follow is None:
            finished.append(poller)
        else:
            following[poller] = follow
    _conclude(finished)


def _conclude(pollers: Sequence[ListingPoller]) -> None:
    """Store what answered polls bring: their batches in one go, then the other pollers' states."""
    by_ingestor: dict[int, list[tuple[ListingPoller, Batch]]] = {}
    for poller in pollers:
        if poller.pending is not None:
            by_ingestor.setdefault(id(poller.ingestor), []).append((poller, poller.pending))
    for pending in by_ingestor.values():
        ingestor = pending[0][0].ingestor
        done = ingestor.ingest_batches([batch for _, batch in pending])
        for (poller, _), ingested in zip(pending, done, strict=True):
            poller.ingested(ingested)
    unsaved = [poller for poller in pollers if poller.unsaved]
    if unsaved:
        store = unsaved[0].ingestor.store
        store.save_pollers([(poller.listing.id, poller.poller_state) for poller in unsaved])
        for poller in unsaved:
            poller.saved()


class PollCycle:
    """A poll job: the listings (one, or several whose sources share requests) polled together.

    Each run polls those that are due, so listings of different intervals can share it;
    it runs at the shortest of their intervals.
    """

    def __init__(self, pollers: Sequence[ListingPoller], client: httpx.Client, clock: Clock):
        if not pollers:
            raise ValueError("a poll cycle needs a listing")
        self.pollers = list(pollers)
        self.client = client
        self.clock = clock
        self.interval = min(p.sources[0].settings.interval for p in self.pollers)

    @property
    def id(self) -> str:
        """The job's stable id: ``poll:ID`` for one listing, ``poll:PROVIDER@HOST`` for a batch."""
        if len(self.pollers) == 1:
            return f"poll:{self.pollers[0].listing.id}"
        provider = self.pollers[0].sources[0].provider
        return f"poll:{provider.name}@{provider.batch_key or provider.url}"

    def run(self) -> None:
        """Poll the listings that are due now, the garbage collector held off meanwhile."""
        now = self.clock.now()
        slack = round(self.interval * 500_000)  # half the cycle: a run a little early is on time
        with _collector.held():
            poll_together([p for p in self.pollers if p.due(now, slack)], self.client, now)


HOLD_AT_MOST = 2.0  # wall seconds the collector may be held off by overlapping cycles


class _CollectorHold:
    """Holds Python's cyclic garbage collector off while poll cycles run, in every thread.

    A collection that falls inside a poll cycle makes its alerts wait (1-3 ms for the
    middle generation, tens of ms for the oldest, on a daemon polling 200 listings);
    held off, it runs between cycles. Cycles that overlap share the hold; when they have
    kept it for ``HOLD_AT_MOST`` on end, the cycle that ends collects before it goes.
    """

    def __init__(self, wall: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self._holders = 0
        self._since = 0.0  # when the collector was last held off, or last collected

    @contextmanager
    def held(self) -> Iterator[None]:
        """The collector held off while inside."""
        with self._lock:
            self._holders += 1
            if self._holders == 1:
                gc.disable()
                self._since = self._wall()
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    gc.enable()
                elif self._wall() - self._since >= HOLD_AT_MOST:
                    gc.collect()  # held off too long by cycles that overlap
                    self._since = self._wall()


_collector = _CollectorHold()


def poll_cycles(
    pollers: Sequence[ListingPoller], client: httpx.Client, clock: Clock
) -> list[PollCycle]:
    """The poll jobs: listings whose first sources share a batch key together, others alone."""
    batched: dict[str, list[ListingPoller]] = {}
    cycles: list[PollCycle] = []
    for poller in pollers:
        key = poller.sources[0].provider.batch_key
        if key is None:
            cycles.append(PollCycle([poller], client, clock))
        else:
            batched.setdefault(key, []).append(poller)
    cycles.extend(PollCycle(members, client, clock) for members in batched.values())
    return cycles

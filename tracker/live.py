"""Polling a listing's quote source: quotes become ticks on the same ingest path as replay."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import httpx
import tenacity

from tracker.alerts.record import source_notice
from tracker.calendar import TRADING, MarketCalendar
from tracker.clock import Clock
from tracker.core.model import (
    Extremes,
    Listing,
    Tick,
    datetime_to_ts,
    day_bounds,
    local_date,
    ts_to_datetime,
)
from tracker.ingest import Ingestor
from tracker.sources.providers.base import Quote, QuoteError, QuoteProvider
from tracker.store.repository import PollerState

logger = logging.getLogger(__name__)

MISSED_POLLS_FOR_LATE = 3


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How a listing is polled. Clock seconds are simulated on a simulated clock; wall are not."""

    interval: float = 5.0  # clock seconds between polls
    down_after: float = 300.0  # clock seconds of failing polls before a "source down" notice
    max_future: float = 300.0  # clock seconds a trade time may run ahead of the clock
    backoff_max: float = 60.0  # wall seconds


@dataclass(slots=True)
class PollStats:
    """Counters for the status line."""

    polls: int = 0
    ticks: int = 0
    alerts: int = 0
    errors: int = 0


class ListingPoller:
    """Polls one listing's provider and ingests what is new; the daemon's poll job."""

    def __init__(
        self,
        listing: Listing,
        provider: QuoteProvider,
        ingestor: Ingestor,
        calendar: MarketCalendar,
        clock: Clock,
        client: httpx.Client,
        settings: PollSettings,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.listing = listing
        self.provider = provider
        self.ingestor = ingestor
        self.calendar = calendar
        self.clock = clock
        self.client = client
        self.settings = settings
        self.stats = PollStats()
        self._wall = wall
        self._zone = ZoneInfo(listing.timezone)
        self._state = ingestor.store.load_poller(listing.id)
        self._day: dt.date | None = None
        self._volume = 0.0  # stored volume and turnover of self._day
        self._turnover = 0.0
        self._reason: str | None = None
        self._attempt = 0
        self._unsaved = False  # the poller state changed since it was last stored
        self._retry_at = float("-inf")
        self._backoff = tenacity.wait_exponential_jitter(initial=1, max=settings.backoff_max)

    def poll(self) -> str:
        """One scheduled poll; returns what happened (``idle``, ``backoff``, ``fault``, ...)."""
        now = self.clock.now()
        if self.calendar.phase(now) not in TRADING:
            return "idle"
        late = self._missed_polls(now)
        if self._wall() < self._retry_at:
            self._remember(last_poll_us=datetime_to_ts(now))
            return "backoff"
        self.stats.polls += 1
        # stored with the poll's ticks when it has any, in their transaction, else on its own
        self._state = replace(self._state, last_poll_us=datetime_to_ts(now))
        self._unsaved = True
        try:
            quote = self.provider.fetch(self.client)
            outcome = self._take(quote, now, late)
        except QuoteError as exc:
            self._failed(exc, now)
            return "fault"
        finally:
            if self._unsaved:
                self._remember()
        self._recovered(now)
        return outcome

    def _missed_polls(self, now: dt.datetime) -> bool:
        """Whether three or more poll intervals of trading passed since the last poll."""
        last = self._state.last_poll_us
        if last is None:
            return False
        missed = self.calendar.trading_seconds(ts_to_datetime(last), now)
        return missed >= MISSED_POLLS_FOR_LATE * self.settings.interval

    def _take(self, quote: Quote, now: dt.datetime, late: bool) -> str:
        if not quote.traded:
            return "no trade yet"
        assert quote.ts_us is not None
        assert quote.price is not None
        state = self.ingestor.state(self.listing)
        if state.last_ts_us is not None and quote.ts_us < state.last_ts_us:
            raise QuoteError("stale trade time", ts_to_datetime(quote.ts_us).isoformat())
        if quote.ts_us > datetime_to_ts(now) + self.settings.max_future * 1_000_000:
            raise QuoteError("trade time in the future", ts_to_datetime(quote.ts_us).isoformat())
        self._load_day(quote.ts_us)
        same_trade = quote.ts_us == state.last_ts_us
        if same_trade and (quote.volume is None or quote.volume == self._volume):
            extremes = Extremes(quote.ts_us, quote.high, quote.low)
            if extremes == state.extremes:
                return "unchanged"
            return self._ingest([], extremes, late)
        volume = _delta("volume", quote.volume, self._volume)
        turnover = _delta("turnover", quote.turnover, self._turnover)
        seq = state.last_seq + 1 if same_trade else 0
        tick = Tick(quote.ts_us, seq, quote.price, volume, turnover)
        outcome = self._ingest([tick], Extremes(quote.ts_us, quote.high, quote.low), late)
        self._volume += volume or 0.0
        self._turnover += turnover or 0.0
        return outcome

    def _ingest(self, ticks: list[Tick], extremes: Extremes, late: bool) -> str:
        done = self.ingestor.ingest(self.listing, ticks, extremes, late=late, poller=self._state)
        self._unsaved = not done.committed
        self.stats.ticks += done.stored
        self.stats.alerts += len(done.alerts)
        return "tick" if done.stored else "extremes"

    def _load_day(self, ts_us: int) -> None:
        """Know the stored volume and turnover of the trade's day, to difference cumulative ones."""
        day = local_date(self.listing, ts_us)
        if day == self._day:
            return
        start, end = day_bounds(self.listing, day)
        self._volume, self._turnover = self.ingestor.store.totals(self.listing.id, start, end)
        self._day = day

    def _failed(self, exc: QuoteError, now: dt.datetime) -> None:
        self.stats.errors += 1
        if exc.reason != self._reason:
            logger.warning("%s: %s poll failed: %s", self.listing.id, self.provider.name, exc)
            self._reason = exc.reason
        self._attempt += 1
        retry = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        retry.attempt_number = self._attempt
        delay = max(self._backoff(retry), exc.retry_after or 0.0)
        self._retry_at = self._wall() + delay
        now_us = datetime_to_ts(now)
        since = self._state.failing_since_us
        if since is None:
            self._remember(failing_since_us=now_us)
        elif not self._state.down_notified and now_us - since >= self.settings.down_after * 1e6:
            notice = source_notice(
                self.listing,
                "down",
                now_us,
                since,
                self.provider.name,
                exc.reason,
                self.ingestor.language,
            )
            self.ingestor.notify(notice)
            self._remember(down_notified=True)

    def _recovered(self, now: dt.datetime) -> None:
        if self._state.failing_since_us is None:
            return
        if self._state.down_notified:
            notice = source_notice(
                self.listing,
                "back",
                datetime_to_ts(now),
                self._state.failing_since_us,
                self.provider.name,
                self._reason or "",
                self.ingestor.language,
            )
            self.ingestor.notify(notice)
        logger.info("%s: %s polls work again", self.listing.id, self.provider.name)
        self._reason = None
        self._attempt = 0
        self._retry_at = float("-inf")
        self._remember(failing_since_us=None, down_notified=False)

    def _remember(self, **changes: object) -> None:
        self._state = replace(self._state, **changes)  # type: ignore[arg-type]
        self.ingestor.store.save_poller(self.listing.id, self._state)
        self._unsaved = False

    @property
    def poller_state(self) -> PollerState:
        """What this poller remembers across restarts."""
        return self._state


def _delta(name: str, cumulative: float | None, stored: float) -> float | None:
    """A tick's share of a cumulative day figure."""
    if cumulative is None:
        return None
    delta = cumulative - stored
    if delta < 0:
        raise QuoteError(f"cumulative {name} went down", f"{cumulative:g} < {stored:g}")
    return delta

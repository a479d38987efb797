"""The alert state machine: rules fire on crossings and re-arm past a hysteresis band."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tracker.core.model import (
    Direction,
    Extremes,
    Listing,
    ListingState,
    Rule,
    RuleState,
    ThresholdCrossed,
    Tick,
    datetime_to_ts,
    to_micros,
    ts_to_datetime,
)

PhaseOf = Callable[[int], str]  # the market phase at an instant (epoch microseconds)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The alerts a batch of ticks fired and the state after it."""

    alerts: tuple[ThresholdCrossed, ...]
    state: ListingState
    ticks: tuple[Tick, ...]


def evaluate(
    listing: Listing,
    state: ListingState,
    ticks: Iterable[Tick],
    extremes: Extremes | None = None,
    phase_of: PhaseOf | None = None,
) -> Evaluation:
    """Run ticks, in (ts, seq) order, through the listing's rules.

    Ticks at or before the state's high-water mark were evaluated before and are
    dropped, so a batch that is replayed again fires nothing twice.

    ``extremes`` (live polling only) is the provider's day high and low after
    these ticks: a new high or low that passed an armed rule's level which no
    polled tick reached fires the rule as ``inferred``. Extremes never re-arm a rule.
    ``phase_of`` tells the market phase of an instant; rules scoped to phases need it.
    """
    run = _Run(listing, state, phase_of)
    for tick in ticks:
        run.tick(tick)
    if extremes is not None:
        run.extremes(extremes)
    return run.result()


class _Run:
    """One batch: the rules' live state, the day context, and what fired."""

    def __init__(self, listing: Listing, state: ListingState, phase_of: PhaseOf | None) -> None:
        if phase_of is None and any(rule.phases for rule in listing.rules):
            raise ValueError(f"listing {listing.id!r} has rules scoped to phases: pass phase_of")
        self.listing = listing
        self.state = state
        self.phase_of = phase_of
        self.states = dict(state.rules)
        self.day = _Day(listing.timezone)
        self.day.seed(state.last_ts_us)
        self.last_ts, self.last_seq = state.last_ts_us, state.last_seq
        self.last_price, self.day_open = state.last_price, state.day_open
        self.prev_close = state.prev_close
        self.rules = [_Compiled(rule) for rule in listing.rules]
        for rule in self.rules:
            self._relevel(rule)
        # Extremes are reached at or before the polled trade: only a rule armed before the
        # batch can have crossed between polls (not one re-armed by the batch's ticks).
        self.armed_before = [rule.armed for rule in self.rules]
        self.seen = state.extremes
        self.alerts: list[ThresholdCrossed] = []
        self.accepted: list[Tick] = []

    def tick(self, tick: Tick) -> None:
        if self.last_ts is not None and (tick.ts_us, tick.seq) <= (self.last_ts, self.last_seq):
            return
        self.accepted.append(tick)
        self.last_ts, self.last_seq = tick.ts_us, tick.seq
        gap = self.day.starts_new_day(tick.ts_us)
        if gap:
            if self.last_price is not None:
                self.prev_close = self.last_price
            self.day_open = tick.price
            for rule in self.rules:
                if rule.rule.daily:
                    self._relevel(rule)
        self.last_price = tick.price
        price = to_micros(tick.price)
        phase = self._phase(tick.ts_us) if self.phase_of is not None else None
        for rule in self.rules:
            if rule.gated and not rule.active(tick.ts_us, phase):
                continue
            if rule.step(price, tick.ts_us):
                self.alerts.append(self._crossed(rule, tick, gap, False))

    def extremes(self, extremes: Extremes) -> None:
        seq = self.last_seq if extremes.ts_us == self.last_ts else 0
        fresh = _fresh_extremes(extremes, self.seen, self.day)
        phase = self._phase(extremes.ts_us)
        for rule, armed_before in zip(self.rules, self.armed_before, strict=True):
            extreme = fresh.high if rule.up else fresh.low
            if extreme is None or not (rule.armed and armed_before):
                continue
            if not rule.active(extremes.ts_us, phase):
                continue
            if rule.fire(to_micros(extreme), extremes.ts_us):
                tick = Tick(extremes.ts_us, seq, extreme)
                self.alerts.append(self._crossed(rule, tick, False, True))
        self.seen = extremes

    def result(self) -> Evaluation:
        for rule in self.rules:
            self._save(rule)
        state = ListingState(
            self.last_ts,
            self.last_seq,
            self.states,
            self.seen,
            self.last_price,
            self.day_open,
            self.prev_close,
        )
        return Evaluation(tuple(self.alerts), state, tuple(self.accepted))

    def _phase(self, ts_us: int) -> str | None:
        if self.phase_of is None:
            return None
        return self.phase_of(ts_us)

    def _relevel(self, rule: _Compiled) -> None:
        """Point a rule at its level for the current day, with that level's stored state."""
        base = rule.rule.base_price(self.listing.offer_price, self.day_open, self.prev_close)
        level = None if base is None else rule.rule.level(base, self.listing.shares_outstanding)
        if level == rule.level:
            return
        self._save(rule)
        stored = self.states.get((rule.rule.id, level)) if level is not None else None
        rule.point(level, base, stored)

    def _save(self, rule: _Compiled) -> None:
        if rule.level is not None:
            key = (rule.rule.id, rule.level)
            self.states[key] = RuleState(rule.rule.id, rule.level, rule.armed, rule.last_fired)

    def _crossed(self, rule: _Compiled, tick: Tick, gap: bool, inferred: bool) -> ThresholdCrossed:
        assert rule.level is not None
        base = rule.base if rule.rule.daily else None
        return ThresholdCrossed(self.listing.id, rule.rule, rule.level, tick, gap, inferred, base)


class _Compiled:
    """One rule's current level, re-arm bound, armed flag and last fire, stepped tick by tick."""

    __slots__ = ("armed", "base", "bound", "cooldown", "gated", "last_fired", "level", "rule", "up")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.up = rule.direction is Direction.UP
        self.cooldown = rule.cooldown_us
        # whether ``active`` can ever say no: the per-tick check is skipped for plain rules
        self.gated = rule.daily or rule.expires_us is not None or rule.phases is not None
        self.level: int | None = None
        self.base: float | None = None
        self.bound = 0
        self.armed = False
        self.last_fired: int | None = None

    def point(self, level: int | None, base: float | None, stored: RuleState | None) -> None:
        self.level, self.base = level, base
        self.bound = self.rule.rearm_bound(level) if level is not None else 0
        self.armed = stored.armed if stored else True
        self.last_fired = stored.last_fired_us if stored else None

    def active(self, ts_us: int, phase: str | None) -> bool:
        """Whether the rule takes part at an instant: it has a level, is unexpired, is in phase."""
        rule = self.rule
        if self.level is None or (rule.expires_us is not None and ts_us >= rule.expires_us):
            return False
        return rule.phases is None or phase in rule.phases

    def step(self, price: int, ts_us: int) -> bool:
        """Advance on one price (millionths); true when the rule fires."""
        if self.armed:
            level = self.level
            if level is None or not (price >= level if self.up else price < level):
                return False
            return self.fire(price, ts_us)
        if not self.rule.once and (price < self.bound if self.up else price >= self.bound):
            self.armed = True
        return False

    def fire(self, price: int, ts_us: int) -> bool:
        """Fire if armed, crossed and out of cooldown (a crossing in cooldown stays armed)."""
        assert self.level is not None
        crossed = price >= self.level if self.up else price < self.level
        if not crossed or not self.armed:
            return False
        if self.last_fired is not None and ts_us - self.last_fired < self.cooldown:
            return False
        self.armed = False
        self.last_fired = ts_us
        return True


class _Day:
    """Finds the first tick of each exchange-local trading day (for the ``gap`` flag)."""

    def __init__(self, timezone: str) -> None:
        self._zone = ZoneInfo(timezone)
        self._end_us = -1

    def starts_new_day(self, ts_us: int) -> bool:
        if ts_us < self._end_us:
            return False
        local = ts_to_datetime(ts_us).astimezone(self._zone)
        midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), self._zone)
        self._end_us = datetime_to_ts(midnight)
        return True

    def same_day(self, a_us: int, b_us: int) -> bool:
        """Whether two instants fall on the same exchange-local date."""
        return self._date(a_us) == self._date(b_us)

    def _date(self, ts_us: int) -> dt.date:
        return ts_to_datetime(ts_us).astimezone(self._zone).date()

    def seed(self, ts_us: int | None) -> None:
        if ts_us is not None:
            self.starts_new_day(ts_us)


def _fresh_extremes(extremes: Extremes, seen: Extremes | None, day: _Day) -> Extremes:
    """The parts of a day high and low that are new since the last ones seen (same day)."""
    if seen is None or not day.same_day(seen.ts_us, extremes.ts_us):
        return extremes
    high = extremes.high
    if high is not None and seen.high is not None and high <= seen.high:
        high = None
    low = extremes.low
    if low is not None and seen.low is not None and low >= seen.low:
        low = None
    return Extremes(extremes.ts_us, high, low)

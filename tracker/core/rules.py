"""The alert state machine: rules fire on crossings and re-arm past a hysteresis band."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tracker.core.model import (
    MICROS,
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


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The alerts a batch of ticks fired and the state after it."""

    alerts: tuple[ThresholdCrossed, ...]
    state: ListingState
    ticks: tuple[Tick, ...]


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


def evaluate(
    listing: Listing,
    state: ListingState,
    ticks: Iterable[Tick],
    extremes: Extremes | None = None,
) -> Evaluation:
    """Run ticks, in (ts, seq) order, through the listing's rules.

    Ticks at or before the state's high-water mark were evaluated before and are
    dropped, so a batch that is replayed again fires nothing twice.

    ``extremes`` (live polling only) is the provider's day high and low after
    these ticks: a new high or low that passed an armed rule's level which no
    polled tick reached fires the rule as ``inferred``. Extremes never re-arm a rule.
    """
    compiled = [_compile(listing, rule, state) for rule in listing.rules]
    day = _Day(listing.timezone)
    day.seed(state.last_ts_us)
    alerts: list[ThresholdCrossed] = []
    accepted: list[Tick] = []
    last_ts, last_seq = state.last_ts_us, state.last_seq
    for tick in ticks:
        if last_ts is not None and (tick.ts_us, tick.seq) <= (last_ts, last_seq):
            continue
        accepted.append(tick)
        last_ts, last_seq = tick.ts_us, tick.seq
        gap = day.starts_new_day(tick.ts_us)
        price = to_micros(tick.price)
        for rule in compiled:
            if rule.step(price):
                alerts.append(ThresholdCrossed(listing.id, rule.rule, rule.level, tick, gap))
    seen = state.extremes
    if extremes is not None:
        seq = last_seq if extremes.ts_us == last_ts else 0
        fresh = _fresh_extremes(extremes, seen, day)
        alerts.extend(_inferred(listing, compiled, fresh, seq))
        seen = extremes
    rules = dict(state.rules)
    for rule in compiled:
        rules[(rule.rule.id, rule.level)] = RuleState(rule.rule.id, rule.level, rule.armed)
    new_state = ListingState(last_ts, last_seq, rules, seen)
    return Evaluation(tuple(alerts), new_state, tuple(accepted))


def _inferred(
    listing: Listing, compiled: list[_Compiled], fresh: Extremes, seq: int
) -> list[ThresholdCrossed]:
    """Armed rules whose level a new high (up rules) or low (down rules) passed."""
    fired = []
    for rule in compiled:
        extreme = fresh.high if rule.up else fresh.low
        if extreme is not None and rule.armed and rule.step(to_micros(extreme)):
            tick = Tick(fresh.ts_us, seq, extreme)
            fired.append(ThresholdCrossed(listing.id, rule.rule, rule.level, tick, False, True))
    return fired


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


class _Compiled:
    """One rule's level, re-arm bound and armed flag, stepped tick by tick."""

    __slots__ = ("armed", "bound", "level", "rule", "up")

    def __init__(self, rule: Rule, level: int, armed: bool) -> None:
        self.rule = rule
        self.level = level
        self.bound = rule.rearm_bound(level)
        self.up = rule.direction is Direction.UP
        self.armed = armed

    def step(self, price: int) -> bool:
        """Advance on one price (millionths); true when the rule fires."""
        if self.armed:
            crossed = price >= self.level if self.up else price < self.level
            if crossed:
                self.armed = False
                return True
        elif not self.rule.once and (price < self.bound if self.up else price >= self.bound):
            self.armed = True
        return False


def _compile(listing: Listing, rule: Rule, state: ListingState) -> _Compiled:
    level = rule.level(listing.offer_price, listing.shares_outstanding)
    previous = state.rules.get((rule.id, level))
    return _Compiled(rule, level, previous.armed if previous else True)


def level_price(level: int) -> float:
    """A level in millionths as a price."""
    return level / MICROS

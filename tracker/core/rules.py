"""The alert state machine: rules fire on crossings and re-arm past a hysteresis band."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tracker.core.model import (
    MICROS,
    Direction,
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

    def seed(self, ts_us: int | None) -> None:
        if ts_us is not None:
            self.starts_new_day(ts_us)


def evaluate(listing: Listing, state: ListingState, ticks: Iterable[Tick]) -> Evaluation:
    """Run ticks, in (ts, seq) order, through the listing's rules.

    Ticks at or before the state's high-water mark were evaluated before and are
    dropped, so a batch that is replayed again fires nothing twice.
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
    rules = dict(state.rules)
    for rule in compiled:
        rules[(rule.rule.id, rule.level)] = RuleState(rule.rule.id, rule.level, rule.armed)
    new_state = ListingState(last_ts, last_seq, rules)
    return Evaluation(tuple(alerts), new_state, tuple(accepted))


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

"""The alert state machine: rules fire on crossings and re-arm past a hysteresis band."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tracker.core.model import (
    Direction,
    Extremes,
    Listing,
    ListingState,
    Rule,
    RuleState,
    ThresholdCrossed,
    Tick,
    to_micros,
    zone_date,
    zone_day_bounds,
)

PhaseOf = Callable[[int], str]  # the market phase at an instant (epoch microseconds)
# Whether a day's first trade at an instant (epoch microseconds) is that day's opening print.
OpeningOf = Callable[[int], bool]


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
    opening_of: OpeningOf | None = None,
) -> Evaluation:
    """Run ticks, in (ts, seq) order, through the listing's rules.

    Ticks at or before the state's high-water mark were evaluated before and are
    dropped, so a batch that is replayed again fires nothing twice.

    A day's first tick fires its alerts as ``gap`` when it is the day's opening print
    (``opening_of``; without it, every day's first tick is).

    ``extremes`` (a live poll) is the provider's day figures as of the poll's trade, the
    batch's last tick: its high and low were reached at or before that trade. Per rule
    the poll is the sequence [extreme, trade], where the extreme is the one that can
    change the rule's state: the high (up rule) or low (down rule) of an armed rule,
    which fires it as ``inferred`` unless the trade reaches the level too (then the
    alert is the trade's); the low (up rule) or high (down rule) of a disarmed rule,
    which re-arms it when past the re-arm bound. A high or low counts only when it is
    new since the last poll of the same day; a poll with no new trade fires no rule that
    fired at the stored trade's time already (its alert would be that trade's again). The
    provider's open stands for the day's open when the day's first tick is not its
    opening print.
    ``phase_of`` tells the market phase of an instant; rules scoped to phases need it.
    """
    run = _Run(listing, state, phase_of, opening_of, extremes)
    batch = ticks if isinstance(ticks, list | tuple) else list(ticks)
    if extremes is None:
        for tick in batch:
            run.tick(tick)
        return run.result()
    for tick in batch[:-1]:
        run.tick(tick)
    trade = batch[-1] if batch and run.accepts(batch[-1]) else None
    run.extremes(extremes, trade)
    if trade is not None:
        run.tick(trade)
    return run.result()


class Triage:
    """Tells cheaply whether a listing's poll may fire an alert, so it can be stored first.

    It never says no to a poll ``evaluate`` fires alerts for. It says yes to a listing's
    first poll, to listings with rules against the open or previous close (their levels
    move with the day) or scoped to phases or an expiry, and to a poll with a price across
    the level of a rule that could fire: the trade for any rule (a disarmed one may be
    re-armed by the low or high first), and a new high (up) or low (down) for an armed one.
    """

    __slots__ = ("_levels", "_listing")

    def __init__(self, listing: Listing) -> None:
        self._listing = listing
        plain = not any(
            rule.daily or rule.phases is not None or rule.expires_us for rule in listing.rules
        )
        offer, shares = listing.offer_price, listing.shares_outstanding
        self._levels = (
            [
                (rule.id, rule.level(offer, shares), rule.direction is Direction.UP)
                for rule in listing.rules
            ]
            if plain
            else None
        )

    def could_fire(
        self,
        state: ListingState,
        ts_us: int,
        trade: float | None,
        high: float | None = None,
        low: float | None = None,
    ) -> bool:
        """Whether this poll of the listing may fire an alert, given its state before."""
        if self._levels is None or state.last_ts_us is None:
            return True
        seen = state.extremes
        if seen is not None:
            timezone = self._listing.timezone
            if zone_date(timezone, seen.ts_us) == zone_date(timezone, ts_us):
                if high is not None and seen.high is not None and high <= seen.high:
                    high = None
                if low is not None and seen.low is not None and low >= seen.low:
                    low = None
        traded = None if trade is None else to_micros(trade)
        rules = state.rules
        for rule_id, level, up in self._levels:
            stored = rules.get((rule_id, level))
            if traded is not None and (traded >= level if up else traded < level):
                return True
            extreme = high if up else low
            if extreme is None or (stored is not None and not stored.armed):
                continue
            price = to_micros(extreme)
            if price >= level if up else price < level:
                return True
        return False


class _Run:
    """One batch: the rules' live state, the day context, and what fired."""

    def __init__(
        self,
        listing: Listing,
        state: ListingState,
        phase_of: PhaseOf | None,
        opening_of: OpeningOf | None,
        figures: Extremes | None,
    ) -> None:
        if phase_of is None and any(rule.phases for rule in listing.rules):
            raise ValueError(f"listing {listing.id!r} has rules scoped to phases: pass phase_of")
        self.listing = listing
        self.state = state
        self.phase_of = phase_of
        self.opening_of = opening_of
        self.figures = figures
        self.states = dict(state.rules)
        self.day = _Day(listing.timezone)
        self.day.seed(state.last_ts_us)
        self.last_ts, self.last_seq = state.last_ts_us, state.last_seq
        self.last_price, self.day_open = state.last_price, state.day_open
        self.prev_close = state.prev_close
        self.rules = [_Compiled(rule) for rule in listing.rules]
        for rule in self.rules:
            self._relevel(rule)
        self.seen = state.extremes
        self.alerts: list[ThresholdCrossed] = []
        self.accepted: list[Tick] = []

    def accepts(self, tick: Tick) -> bool:
        """Whether a tick is after the high-water mark (not evaluated before)."""
        return self.last_ts is None or (tick.ts_us, tick.seq) > (self.last_ts, self.last_seq)

    def tick(self, tick: Tick) -> None:
        if not self.accepts(tick):
            return
        self.accepted.append(tick)
        self.last_ts, self.last_seq = tick.ts_us, tick.seq
        if self.day.is_new(tick.ts_us):
            self._begin_day(tick.ts_us, self._open_price(tick))
        gap = self.day.first_trade() and self._opening(tick.ts_us)
        self.last_price = tick.price
        price = to_micros(tick.price)
        phase = self._phase(tick.ts_us) if self.phase_of is not None else None
        for rule in self.rules:
            if rule.gated and not rule.active(tick.ts_us, phase):
                continue
            if rule.step(price, tick.ts_us):
                self.alerts.append(self._crossed(rule, tick, gap, False))

    def extremes(self, extremes: Extremes, trade: Tick | None) -> None:
        """A poll's high and low, reached at or before its trade (``trade``, when new)."""
        ts = extremes.ts_us
        if trade is not None and trade.ts_us == ts:
            seq = trade.seq
        else:
            seq = self.last_seq if ts == self.last_ts else 0
        if self.day.is_new(ts):  # the poll's trade opens a day: begin it before its extremes
            self._begin_day(ts, self._open_price(trade) if trade else extremes.open)
        fresh = _fresh_extremes(extremes, self.seen, self.day)
        phase = self._phase(ts)
        trade_price = None if trade is None else to_micros(trade.price)
        trade_phase = phase if trade is None or trade.ts_us == ts else self._phase(trade.ts_us)
        for rule in self.rules:
            if not rule.active(ts, phase):
                continue
            if rule.armed:
                extreme = fresh.high if rule.up else fresh.low
                if extreme is None or not rule.crosses(to_micros(extreme)):
                    continue
                if trade is None and rule.last_fired == ts:
                    # no new trade: an alert would be at the stored trade's (ts, seq), where
                    # the rule fired already (an alert is one a rule and tick); the next
                    # trade across the level fires it instead
                    continue
                if (
                    trade is not None
                    and trade_price is not None
                    and rule.crosses(trade_price)
                    and rule.active(trade.ts_us, trade_phase)
                ):
                    continue  # the trade reaches the level too: the alert is the trade's
                if rule.fire(to_micros(extreme), ts):
                    self.alerts.append(self._crossed(rule, Tick(ts, seq, extreme), False, True))
            else:
                extreme = fresh.low if rule.up else fresh.high
                if extreme is not None:
                    rule.rearm(to_micros(extreme))
        self.seen = extremes.range

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

    def _opening(self, ts_us: int) -> bool:
        """Whether a day's first trade at this instant is its opening print."""
        return self.opening_of is None or self.opening_of(ts_us)

    def _open_price(self, first: Tick) -> float | None:
        """The open of the day a tick begins: the tick, unless a provider knew an earlier open."""
        figures = self.figures
        if figures is None or figures.open is None or self._opening(first.ts_us):
            return first.price
        return figures.open if self.day.same_day(figures.ts_us, first.ts_us) else first.price

    def _begin_day(self, ts_us: int, day_open: float | None) -> None:
        """A new exchange-local day: its open and previous close, and the daily rules' levels."""
        self.day.enter(ts_us)
        if self.last_price is not None:
            self.prev_close = self.last_price
        else:
            self.prev_close = self._source_prev_close(ts_us)
        self.day_open = day_open
        for rule in self.rules:
            if rule.rule.daily:
                self._relevel(rule)

    def _source_prev_close(self, ts_us: int) -> float | None:
        """The provider's previous close for a first stored day (none on the listing day)."""
        figures = self.figures
        if figures is None or figures.prev_close is None:
            return self.prev_close
        if not self.day.same_day(figures.ts_us, ts_us):
            return self.prev_close
        if self.listing.listed_on is not None and self.day.date(ts_us) <= self.listing.listed_on:
            return self.prev_close  # a debut's "previous close" is its offer price
        return figures.prev_close

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

    def crosses(self, price: int) -> bool:
        """Whether a price (millionths) is across the level: at or above it (up), below (down)."""
        assert self.level is not None
        return price >= self.level if self.up else price < self.level

    def step(self, price: int, ts_us: int) -> bool:
        """Advance on one price (millionths); true when the rule fires."""
        if self.armed:
            level = self.level
            if level is None or not (price >= level if self.up else price < level):
                return False
            return self.fire(price, ts_us)
        self.rearm(price)
        return False

    def rearm(self, price: int) -> None:
        """Arm a disarmed rule again when a price (millionths) is past its re-arm bound."""
        if not self.rule.once and (price < self.bound if self.up else price >= self.bound):
            self.armed = True

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
    """The exchange-local day of the ticks: when a new one begins, and its first trade."""

    def __init__(self, timezone: str) -> None:
        self._timezone = timezone
        self._end_us = -1
        self._traded = False  # the current day has had a tick

    def is_new(self, ts_us: int) -> bool:
        """Whether an instant is on a later day than the current one."""
        return ts_us >= self._end_us

    def enter(self, ts_us: int) -> None:
        """Make the instant's day the current one (it has no tick yet)."""
        self._end_us = zone_day_bounds(self._timezone, self.date(ts_us))[1]
        self._traded = False

    def first_trade(self) -> bool:
        """Called for each tick of the current day: whether it is the day's first."""
        first = not self._traded
        self._traded = True
        return first

    def same_day(self, a_us: int, b_us: int) -> bool:
        """Whether two instants fall on the same exchange-local date."""
        return self.date(a_us) == self.date(b_us)

    def date(self, ts_us: int) -> dt.date:
        """The exchange-local date of an instant."""
        return zone_date(self._timezone, ts_us)

    def seed(self, ts_us: int | None) -> None:
        """Start from the day of the last evaluated tick, which has had its first trade."""
        if ts_us is not None:
            self.enter(ts_us)
            self._traded = True


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

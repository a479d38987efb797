"""Batch evaluation with numpy: the streaming state machine's alerts and state, level by level.

``evaluate_batch`` returns exactly what ``rules.evaluate`` returns for the same ticks (the
streaming engine is the reference; ``tracker.core.evaluate`` picks between them), but
instead of stepping every rule on every tick it finds, per rule and level, where the price
is across the level and where it is past the re-arm bound, and jumps between them: the
next crossing that is out of cooldown fires, the next re-arming tick after it arms again,
and so on. Each rule costs a few vectorized passes over the prices plus O(fires · log n).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from tracker.core.model import (
    MICROS,
    Direction,
    Listing,
    ListingState,
    Rule,
    RuleState,
    ThresholdCrossed,
    Tick,
    day_bounds,
    local_date,
)
from tracker.core.rules import OpeningOf

_INT64 = np.iinfo(np.int64)
_SCALED_LIMIT = 2.0**63  # prices in millionths must fit an int64


@dataclass(frozen=True, slots=True)
class TickArrays:
    """Columns of ticks in (ts, seq) order: the one batch shape below the source.

    A replay's chunk and a live poll's one tick alike. ``ts_us`` is non-decreasing and
    (ts, seq) strictly increasing (``check_order``); NaN in ``volume`` or ``turnover`` is a
    missing value (``None`` on a Tick), and a column of None has no values at all.
    """

    ts_us: NDArray[np.int64]
    seq: NDArray[np.int64]
    price: NDArray[np.float64]
    volume: NDArray[np.float64] | None = None
    turnover: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        shape = self.ts_us.shape
        if len(shape) != 1:
            raise ValueError(f"ts_us must be one-dimensional, not of shape {shape}")
        columns = ("seq", self.seq), ("price", self.price)
        for name, column in (*columns, ("volume", self.volume), ("turnover", self.turnover)):
            if column is not None and column.shape != shape:
                raise ValueError(f"{name} has shape {column.shape}, ts_us {shape}")

    def __len__(self) -> int:
        return len(self.ts_us)

    def slice(self, start: int, stop: int | None = None) -> TickArrays:
        """Ticks ``start:stop`` as views of these columns (no copy)."""
        if start == 0 and stop is None:
            return self  # all of them (a poll's one tick, most chunks): not even new views
        cut = slice(start, stop)
        return TickArrays(
            self.ts_us[cut],
            self.seq[cut],
            self.price[cut],
            None if self.volume is None else self.volume[cut],
            None if self.turnover is None else self.turnover[cut],
        )

    def tick(self, i: int) -> Tick:
        """The i-th tick."""
        return Tick(
            int(self.ts_us[i]),
            int(self.seq[i]),
            float(self.price[i]),
            None if self.volume is None else _present(float(self.volume[i])),
            None if self.turnover is None else _present(float(self.turnover[i])),
        )

    def to_ticks(self) -> list[Tick]:
        """All the ticks, in order."""
        missing = [None] * len(self)
        return [
            Tick(*row)
            for row in zip(
                self.ts_us.tolist(),
                self.seq.tolist(),
                self.price.tolist(),
                missing if self.volume is None else map(_present, self.volume.tolist()),
                missing if self.turnover is None else map(_present, self.turnover.tolist()),
                strict=True,
            )
        ]

    @classmethod
    def from_ticks(cls, ticks: Sequence[Tick]) -> TickArrays:
        """Columns of ticks given in (ts, seq) order."""
        return cls(
            np.array([tick.ts_us for tick in ticks], dtype=np.int64),
            np.array([tick.seq for tick in ticks], dtype=np.int64),
            np.array([tick.price for tick in ticks], dtype=np.float64),
            _column([tick.volume for tick in ticks]),
            _column([tick.turnover for tick in ticks]),
        )


def _present(value: float) -> float | None:
    return None if math.isnan(value) else value


def _column(values: list[float | None]) -> NDArray[np.float64] | None:
    if all(value is None for value in values):
        return None
    return np.array([math.nan if value is None else value for value in values], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class BatchEvaluation:
    """The alerts a batch of tick columns fired and the state after it."""

    alerts: tuple[ThresholdCrossed, ...]
    state: ListingState
    start: int  # ticks[start:] are the accepted ticks (those after the high-water mark)


def evaluate_batch(
    listing: Listing,
    state: ListingState,
    ticks: TickArrays,
    opening_of: OpeningOf | None = None,
) -> BatchEvaluation:
    """Run tick columns through the listing's rules: ``rules.evaluate`` without extremes.

    The alerts (in tick order, within a tick in rule order) and the state equal what
    ``evaluate(listing, state, ticks.to_ticks(), None, None, opening_of)`` gives, and its
    accepted ticks are ``ticks.slice(start)``. Plain, ``once``, cooldown, expiring and
    daily rules take the numpy path; a listing with rules scoped to phases (a call per
    tick) or with two rules of one id (they share stored state) is the streaming engine's
    (``vectorizes``).

    Raises ValueError for such a listing, when the ticks are out of (ts, seq) order or
    when a price is not a finite number of millionths that fits an int64.
    """
    if not vectorizes(listing):
        raise ValueError(f"listing {listing.id!r} has rules only the streaming engine runs")
    check_order(ticks)
    start = accepted_start(ticks, state)
    tape = _Tape.of(listing, state, ticks.slice(start), opening_of)
    states = dict(state.rules)
    found: list[tuple[int, int, ThresholdCrossed]] = []
    for position, rule in enumerate(listing.rules):
        for index, level, base in _fires(listing, rule, tape, states):
            alert = ThresholdCrossed(
                listing.id,
                rule,
                level,
                tape.ticks.tick(index),
                index in tape.gaps,
                False,
                base if rule.daily else None,
            )
            found.append((index, position, alert))
    found.sort(key=lambda item: item[:2])
    return BatchEvaluation(tuple(alert for _, _, alert in found), tape.state_after(states), start)


def to_micros_array(prices: NDArray[np.float64]) -> NDArray[np.int64]:
    """``model.to_micros`` of each price: round half to even of ``price * 1e6``.

    ``np.rint`` rounds the same double product as Python's ``round`` does, to even.
    Raises ValueError for a price that is not finite or whose millionths overflow an int64.
    """
    scaled = np.rint(prices * MICROS)
    if scaled.size and not (scaled.min() >= -_SCALED_LIMIT and scaled.max() < _SCALED_LIMIT):
        bad = int(np.flatnonzero(~((scaled >= -_SCALED_LIMIT) & (scaled < _SCALED_LIMIT)))[0])
        raise ValueError(f"price {float(prices[bad])!r} at index {bad} is not a usable price")
    return scaled.astype(np.int64)


def vectorizes(listing: Listing) -> bool:
    """Whether ``evaluate_batch`` runs the listing's rules (no phases, no repeated rule id)."""
    ids = {rule.id for rule in listing.rules}
    return len(ids) == len(listing.rules) and all(r.phases is None for r in listing.rules)


def check_order(ticks: TickArrays) -> None:
    """Raise ValueError naming the first tick that is not after the one before in (ts, seq)."""
    if len(ticks) < 2:
        return
    steps = np.diff(ticks.ts_us)
    ties = np.flatnonzero(steps == 0)
    out_of_order = steps < 0
    out_of_order[ties[ticks.seq[ties + 1] <= ticks.seq[ties]]] = True
    if out_of_order.any():
        index = int(np.argmax(out_of_order)) + 1
        raise ValueError(f"tick {index} is not after tick {index - 1} in (ts, seq) order")


def _at_or_after(ts: NDArray[np.int64], value: int) -> int:
    """Index of the first timestamp at or after ``value``."""
    return int(np.searchsorted(ts, _clamped(value), side="left"))


def _clamped(value: int) -> int:
    """A value clamped to int64, which compares with int64 columns as the value does."""
    return max(int(_INT64.min), min(int(_INT64.max), value))


def accepted_start(ticks: TickArrays, state: ListingState) -> int:
    """Index of the first tick after the state's high-water mark (earlier ones were evaluated)."""
    if state.last_ts_us is None:
        return 0
    ts = _clamped(state.last_ts_us)
    first = int(np.searchsorted(ticks.ts_us, ts, side="left"))
    last = int(np.searchsorted(ticks.ts_us, ts, side="right"))
    return first + int(np.searchsorted(ticks.seq[first:last], state.last_seq, side="right"))


def _day_starts(listing: Listing, ts: NDArray[np.int64], seed_us: int | None) -> list[int]:
    """Indices of the ticks that open an exchange-local day, as ``rules._Day`` finds them.

    A tick opens a day when it is at or past the midnight that ends the day last opened
    (the high-water mark's day). ``_Day`` starts from an end of -1, so with no high-water
    mark the first tick at or after -1 µs opens a day. The search resumes after the tick
    that opened a day: were a zone's clocks to go back across midnight, ``_Day`` would mark
    each tick of the repeated time as opening a day, and so does this.
    """
    end = -1
    if seed_us is not None and seed_us >= end:
        end = _midnight_after(listing, seed_us)
    starts: list[int] = []
    index = _at_or_after(ts, end)
    while index < len(ts):
        starts.append(index)
        end = _midnight_after(listing, int(ts[index]))
        index = max(index + 1, _at_or_after(ts, end))
    return starts


def _midnight_after(listing: Listing, ts_us: int) -> int:
    return day_bounds(listing, local_date(listing, ts_us))[1]


@dataclass(frozen=True, slots=True)
class _Tape:
    """The accepted ticks with what the rules read: millionths, day starts, the state before."""

    before: ListingState
    ticks: TickArrays
    micros: NDArray[np.int64]
    day_starts: list[int]
    gaps: frozenset[int]  # the day starts that are their day's opening print, to look up
    lowest: int  # the least and greatest price in millionths (0 when there are no ticks)
    highest: int

    @classmethod
    def of(
        cls,
        listing: Listing,
        before: ListingState,
        ticks: TickArrays,
        opening_of: OpeningOf | None = None,
    ) -> _Tape:
        micros = to_micros_array(ticks.price)
        lowest, highest = (int(micros.min()), int(micros.max())) if len(micros) else (0, 0)
        starts = _day_starts(listing, ticks.ts_us, before.last_ts_us)
        gaps = frozenset(
            start for start in starts if opening_of is None or opening_of(int(ticks.ts_us[start]))
        )
        return cls(before, ticks, micros, starts, gaps, lowest, highest)

    def day_open(self, day: int) -> float:
        return float(self.ticks.price[self.day_starts[day]])

    def prev_close(self, day: int) -> float | None:
        """The previous close as of a day's first tick: the tick before, or the state's."""
        start = self.day_starts[day]
        if start > 0:
            return float(self.ticks.price[start - 1])
        before = self.before
        return before.last_price if before.last_price is not None else before.prev_close

    def state_after(self, rules: dict[tuple[str, int], RuleState]) -> ListingState:
        """The listing's state once these ticks are evaluated, with the given rule states."""
        before, ticks = self.before, self.ticks
        if len(ticks) == 0:
            return ListingState(
                before.last_ts_us,
                before.last_seq,
                rules,
                before.extremes,
                before.last_price,
                before.day_open,
                before.prev_close,
            )
        last_day = len(self.day_starts) - 1
        return ListingState(
            int(ticks.ts_us[-1]),
            int(ticks.seq[-1]),
            rules,
            before.extremes,
            float(ticks.price[-1]),
            self.day_open(last_day) if self.day_starts else before.day_open,
            self.prev_close(last_day) if self.day_starts else before.prev_close,
        )


def _bases(listing: Listing, rule: Rule, tape: _Tape) -> Iterator[tuple[int, int, float | None]]:
    """Stretches ``[start, stop)`` of the ticks over which a rule's base price holds, with it.

    A plain rule has one stretch, at the offer price. A daily rule has the state's day up
    to the first new day, then each day at its open or previous close: streaming re-levels
    at the first tick of each day, before stepping it.
    """
    bounds = [*tape.day_starts, len(tape.ticks)]
    if not rule.daily:
        yield 0, bounds[-1], listing.offer_price
        return
    before, offer = tape.before, listing.offer_price
    yield 0, bounds[0], rule.base_price(offer, before.day_open, before.prev_close)
    for day, (start, stop) in enumerate(pairwise(bounds)):
        yield start, stop, rule.base_price(offer, tape.day_open(day), tape.prev_close(day))


def _fires(
    listing: Listing, rule: Rule, tape: _Tape, states: dict[tuple[str, int], RuleState]
) -> list[tuple[int, int, float | None]]:
    """A rule's fires as (tick index, level, base); its state per level saved in ``states``.

    As in streaming, a new level saves the old level's state and takes the new level's
    stored state (or armed, never fired); an unchanged level keeps its state and its
    first base; a rule with no level (no base yet) takes no part; an expired rule neither
    fires nor re-arms.
    """
    ticks = tape.ticks
    active = len(ticks) if rule.expires_us is None else _at_or_after(ticks.ts_us, rule.expires_us)
    fires: list[tuple[int, int, float | None]] = []
    level: int | None = None
    base: float | None = None
    armed, last_fired = False, None
    for start, stop, new_base in _bases(listing, rule, tape):
        new_level = None if new_base is None else rule.level(new_base, listing.shares_outstanding)
        if new_level != level:
            if level is not None:
                states[(rule.id, level)] = RuleState(rule.id, level, armed, last_fired)
            level, base = new_level, new_base
            stored = states.get((rule.id, level)) if level is not None else None
            armed = stored.armed if stored else True
            last_fired = stored.last_fired_us if stored else None
        stop = min(stop, active)
        if level is None or start >= stop:
            continue
        walk = _Walk(rule, level, tape, start, stop)
        found, armed, last_fired = walk.run(armed, last_fired)
        fires.extend((start + index, level, base) for index in found)
    if level is not None:
        states[(rule.id, level)] = RuleState(rule.id, level, armed, last_fired)
    return fires


class _Where:
    """Ticks of a stretch whose price is at or above a value (or below it), found lazily.

    ``first_from(i)`` is the first such index at or after ``i``: ``i`` itself if it
    qualifies, else the next index where the condition changes (from false, to true).
    The tape's price range rules a condition out without a pass over the prices.
    """

    def __init__(self, micros: NDArray[np.int64], value: int, above: bool, tape: _Tape) -> None:
        self._micros, self._value, self._above = micros, _clamped(value), above
        self.possible = tape.highest >= value if above else tape.lowest < value
        self._holds: NDArray[np.bool_] | None = None
        self._changes: NDArray[np.intp] | None = None

    def first_from(self, index: int) -> int | None:
        if not self.possible or index >= len(self._micros):
            return None
        if self._holds is None:
            self._holds = self._micros >= self._value if self._above else self._micros < self._value
            self._changes = np.flatnonzero(self._holds[1:] != self._holds[:-1]) + 1
        assert self._changes is not None
        if self._holds[index]:
            return index
        after = int(np.searchsorted(self._changes, index, side="right"))
        return int(self._changes[after]) if after < len(self._changes) else None


class _Walk:
    """One rule at one level over a stretch of ticks: fires and re-arms by jumps."""

    def __init__(self, rule: Rule, level: int, tape: _Tape, start: int, stop: int) -> None:
        up = rule.direction is Direction.UP
        micros = tape.micros[start:stop]
        self.rule = rule
        self.ts = tape.ticks.ts_us[start:stop]
        self.crossing = _Where(micros, level, up, tape)
        self.rearming = _Where(micros, rule.rearm_bound(level), not up, tape)

    def run(self, armed: bool, last_fired: int | None) -> tuple[list[int], bool, int | None]:
        """Indices that fire, with the armed flag and last fire after the stretch.

        Invariant: ``pos`` is the first tick not yet stepped. Armed, the rule fires at the
        first crossing at or after ``pos`` that is out of cooldown (crossings in cooldown
        leave it armed). Disarmed, it arms at the first re-arming tick at or after ``pos``,
        unless ``once``. Either tick moves ``pos`` past itself: the tick that fires does
        not re-arm and the tick that re-arms does not fire.
        """
        fires: list[int] = []
        pos = 0
        while armed or not self.rule.once:
            if armed:
                if last_fired is not None:
                    pos = max(pos, _at_or_after(self.ts, last_fired + self.rule.cooldown_us))
                found = self.crossing.first_from(pos)
            else:
                found = self.rearming.first_from(pos)
            if found is None:
                break
            if armed:
                fires.append(found)
                last_fired = int(self.ts[found])
            armed = not armed
            pos = found + 1
        return fires, armed, last_fired

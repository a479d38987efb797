"""Batch evaluation with numpy gives exactly the streaming state machine's alerts and state."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from factories import make_listing, make_rule, make_tick
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.core import batch as vectorized
from tracker.core import evaluate as entry
from tracker.core.batch import BatchEvaluation, TickArrays, evaluate_batch, to_micros_array
from tracker.core.evaluate import evaluate as evaluate_arrays
from tracker.core.model import (
    Direction,
    Extremes,
    Kind,
    Listing,
    ListingState,
    Reference,
    Rule,
    Tick,
    datetime_to_ts,
    to_micros,
)
from tracker.core.rules import evaluate

# Hong Kong; New York across both daylight-saving nights; Santiago, whose clocks change at
# midnight (on 2026-04-05 they go back from 00:00 to 23:00 of the 4th; 2026-09-06 starts at 01:00).
ZONES_AND_DAYS = [
    ("Asia/Hong_Kong", dt.date(2026, 1, 2)),
    ("America/New_York", dt.date(2026, 3, 7)),
    ("America/New_York", dt.date(2025, 10, 31)),
    ("America/Santiago", dt.date(2026, 4, 3)),
    ("America/Santiago", dt.date(2026, 9, 4)),
]
DAYS = 4
HOUR_US = 3_600_000_000


def check_batch_equals_streaming(
    listing: Listing,
    state: ListingState,
    arrays: TickArrays,
    opening_of: Callable[[int], bool] | None = None,
) -> BatchEvaluation:
    """Assert the contract for one batch and return the batch's evaluation."""
    batch = evaluate_batch(listing, state, arrays, opening_of=opening_of)
    streamed = evaluate(listing, state, arrays.to_ticks(), opening_of=opening_of)

    assert batch.alerts == streamed.alerts
    assert batch.state == streamed.state
    assert arrays.slice(batch.start).to_ticks() == list(streamed.ticks)
    return batch


# --- strategies ---------------------------------------------------------------------------------


def local_midnights(timezone: str, first_day: dt.date) -> list[int]:
    zone = ZoneInfo(timezone)
    return [
        datetime_to_ts(dt.datetime.combine(first_day + dt.timedelta(days=day), dt.time(), zone))
        for day in range(DAYS + 1)
    ]


@st.composite
def instants(draw: st.DrawFn, timezone: str, first_day: dt.date) -> list[int]:
    """A few instants over several local days, often at and around local midnights.

    Around each midnight: 1 µs either side, and the next two hours (Santiago's clocks go
    back at midnight, so the hour after it is the previous date's 23:00 again).
    """
    midnights = local_midnights(timezone, first_day)
    marks = [m + delta for m in midnights for delta in (-1, 0, 1, HOUR_US // 2, HOUR_US + 1)]
    anywhere = st.integers(midnights[0], midnights[-1])
    return draw(st.lists(st.one_of(st.sampled_from(marks), anywhere), min_size=1, max_size=20))


@st.composite
def rules(draw: st.DrawFn, offer_cents: int, shares: int, moments: list[int]) -> tuple[Rule, ...]:
    """1-6 rules of every kind and direction, with every control a batch computes."""
    gaps = sorted({abs(a - b) for a in moments[:4] for b in moments[:4]})
    made = []
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(list(Kind)))
        reference = Reference.OFFER
        if kind is Kind.GAIN_PCT:
            reference = draw(st.sampled_from([Reference.OFFER, *Reference]))
            near = st.sampled_from([-3, -1, 0, 1, 3])
            threshold = float(
                draw(near if reference is not Reference.OFFER else st.integers(-60, 150))
            )
        elif kind is Kind.MARKET_CAP:
            target = Decimal(draw(st.integers(offer_cents // 2, offer_cents * 3))) / 100
            threshold = float(int(target * shares) + draw(st.integers(-shares // 4, shares // 4)))
        else:
            threshold = draw(st.integers(offer_cents // 2, offer_cents * 3)) / 100
        made.append(
            Rule(
                id=f"r{i}",
                kind=kind,
                threshold=threshold,
                direction=draw(st.sampled_from(list(Direction))),
                rearm_pct=draw(st.sampled_from([0.0, 0.5, 1.0, 5.0, 60.0, 150.0])),
                once=draw(st.booleans()),
                cooldown_us=draw(st.sampled_from([0, 0, 1, *gaps, HOUR_US])),
                expires_us=draw(st.none() | st.sampled_from(moments) | st.just(moments[0] + 1)),
                reference=reference,
            )
        )
    return tuple(made)


def price_grid(listing: Listing) -> list[float]:
    """Prices at and 1 µ either side of each fixed level and re-arm bound (and their nearest
    cents), and at whole percents near the offer, where daily levels fall."""
    offer = listing.offer_price
    grid = {round(offer * (1 + pct / 100), 2) for pct in range(-5, 6)}
    for rule in listing.rules:
        if rule.daily:
            continue
        level = rule.level(offer, listing.shares_outstanding)
        for point in (level, rule.rearm_bound(level)):
            for micros in (point - 1, point, point + 1, round(point, -4)):
                grid.add(float(Decimal(micros) / 1_000_000))
    return sorted(price for price in grid if price > 0)


@st.composite
def tapes(draw: st.DrawFn, listing: Listing, moments: list[int]) -> list[Tick]:
    """0-60 ticks at the given instants (equal instants get seq 0, 1, 2...), priced by a walk.

    The walk steps over the price grid, sometimes jumps, so levels are crossed, hit
    exactly and re-armed over and over.
    """
    grid = price_grid(listing)
    size = draw(st.integers(0, 60))
    stamps = sorted(draw(st.lists(st.sampled_from(moments), min_size=size, max_size=size)))
    steps = draw(
        st.lists(
            st.integers(-3, 3) | st.integers(-len(grid), len(grid)), min_size=size, max_size=size
        )
    )
    amounts = st.none() | st.floats(0, 1e9, allow_nan=False)
    position = draw(st.integers(0, len(grid) - 1))
    ticks: list[Tick] = []
    for ts, step in zip(stamps, steps, strict=True):
        position = min(max(position + step, 0), len(grid) - 1)
        seq = ticks[-1].seq + 1 if ticks and ticks[-1].ts_us == ts else 0
        ticks.append(Tick(ts, seq, grid[position], draw(amounts), draw(amounts)))
    return ticks


Scenario = tuple[
    Listing, list[Tick], int, int, list[int], Extremes | None, Callable[[int], bool] | None
]


def opening_until_hour(timezone: str, hour: int) -> Callable[[int], bool]:
    """An ``opening_of`` for the tests: a day's first trade before ``hour`` local time opens it."""
    zone = ZoneInfo(timezone)
    return lambda ts_us: dt.datetime.fromtimestamp(ts_us / 1e6, tz=zone).hour < hour


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A listing, a tape, how much of it was streamed before (``seen``), where the batches
    start (``replay_from``, at or before ``seen``), where to cut them, and the extremes in
    the state (a live poller's, passed through untouched)."""
    timezone, first_day = draw(st.sampled_from(ZONES_AND_DAYS))
    moments = draw(instants(timezone, first_day))
    offer_cents = draw(st.integers(100, 5_000))
    shares = draw(st.integers(10**8, 5 * 10**9))
    listing = make_listing(
        draw(rules(offer_cents, shares, moments)),
        offer_price=offer_cents / 100,
        shares_outstanding=shares,
        timezone=timezone,
    )
    ticks = draw(tapes(listing, moments))
    seen = draw(st.integers(0, len(ticks)))
    replay_from = draw(st.integers(0, seen))
    cuts = draw(st.lists(st.integers(0, len(ticks) - replay_from), max_size=5))
    extremes = draw(st.none() | st.just(Extremes(moments[0], 30.0, None)))
    # instants cluster around midnights: these cutoffs make some day starts opening, some not
    hour = draw(st.none() | st.sampled_from([0, 1, 12]))
    opening = None if hour is None else opening_until_hour(timezone, hour)
    return listing, ticks, seen, replay_from, sorted(set(cuts)), extremes, opening


# --- property -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_batches_give_the_streaming_alerts_and_state(scenario: Scenario) -> None:
    listing, ticks, seen, replay_from, cuts, extremes, opening = scenario
    before = evaluate(listing, ListingState(), ticks[:seen], opening_of=opening).state
    before = dataclasses.replace(before, extremes=extremes)
    arrays = TickArrays.from_ticks(ticks[replay_from:])
    assert arrays.to_ticks() == ticks[replay_from:]

    state, alerts, start = before, [], 0
    for stop in [*cuts, len(arrays)]:
        batch = check_batch_equals_streaming(listing, state, arrays.slice(start, stop), opening)
        state, start = batch.state, stop
        alerts.extend(batch.alerts)

    whole = evaluate(listing, before, ticks[replay_from:], opening_of=opening)
    assert alerts == list(whole.alerts)
    assert state == whole.state
    replayed = evaluate_batch(listing, state, arrays)
    assert replayed.alerts == ()
    assert replayed.start == len(arrays)


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.sampled_from([0, 10**9]), st.booleans())
def test_the_entry_gives_the_streaming_alerts_and_state_whichever_engine_it_picks(
    scenario: Scenario, vectorized_from: int, poll: bool
) -> None:
    listing, ticks, seen, _, _, extremes, opening = scenario
    before = evaluate(listing, ListingState(), ticks[:seen], opening_of=opening).state
    figures = extremes if poll else None  # a poll's day figures: always streamed
    arrays = TickArrays.from_ticks(ticks)

    with mock.patch.object(entry, "VECTORIZED_FROM", vectorized_from):
        got = evaluate_arrays(listing, before, arrays, figures, opening_of=opening)

    streamed = evaluate(listing, before, ticks, figures, opening_of=opening)
    assert got.alerts == streamed.alerts
    assert got.state == streamed.state
    assert arrays.slice(got.start).to_ticks() == list(streamed.ticks)


# --- by example ---------------------------------------------------------------------------------


def test_the_entry_vectorizes_a_large_batch_and_streams_a_small_one_and_a_poll() -> None:
    listing = make_listing((make_rule(50), make_rule(0, "gain_pct", "down")))
    ticks = [make_tick(29.0 + (i % 7) - 3, seq=i) for i in range(entry.VECTORIZED_FROM)]
    poll = Extremes(ticks[-1].ts_us, 33.0, 18.0)
    batches = [  # (ticks, poll figures, vectorized)
        (ticks[1:], None, False),
        (ticks, None, True),
        (ticks, poll, False),
    ]

    for some, figures, vectorizes in batches:
        with mock.patch.object(vectorized, "evaluate_batch", wraps=evaluate_batch) as engine:
            got = evaluate_arrays(listing, ListingState(), TickArrays.from_ticks(some), figures)
        streamed = evaluate(listing, ListingState(), some, figures)
        assert engine.called == vectorizes
        assert (got.alerts, got.state, got.start) == (streamed.alerts, streamed.state, 0)
        assert got.alerts  # each fires, so the engines have something to agree on


def test_batch_replayed_again_fires_nothing_twice() -> None:
    listing = make_listing((make_rule(50, id="plus-50"), make_rule(0, "gain_pct", "down")))
    ticks = [
        make_tick(29.40, "2026-01-02T09:30:00+08:00"),
        make_tick(19.00, "2026-01-02T09:31:00+08:00"),
        make_tick(29.00, "2026-01-02T09:32:00+08:00"),
        make_tick(29.40, "2026-01-02T09:32:00+08:00", seq=1),
    ]
    arrays = TickArrays.from_ticks(ticks)
    first = check_batch_equals_streaming(listing, ListingState(), arrays)
    assert [(a.rule.id, a.tick.price, a.gap) for a in first.alerts] == [
        ("plus-50", 29.40, True),
        ("gain_pct-down-0", 19.00, False),
        ("plus-50", 29.40, False),
    ]

    again = check_batch_equals_streaming(listing, first.state, arrays)
    assert again.alerts == ()
    assert again.start == 4
    assert again.state == first.state


def test_batch_starting_before_the_high_water_mark_evaluates_only_the_ticks_after_it() -> None:
    listing = make_listing((make_rule(50, id="plus-50", rearm_pct=0),))
    ticks = [
        make_tick(29.40, "2026-01-02T09:30:00+08:00"),
        make_tick(29.00, "2026-01-02T09:31:00+08:00"),
        make_tick(29.40, "2026-01-02T09:31:00+08:00", seq=1),
        make_tick(29.00, "2026-01-02T09:31:00+08:00", seq=2),
        make_tick(29.50, "2026-01-02T09:32:00+08:00"),
    ]
    seen = evaluate(listing, ListingState(), ticks[:3]).state

    batch = check_batch_equals_streaming(listing, seen, TickArrays.from_ticks(ticks))
    assert batch.start == 3
    assert [(a.tick.price, a.tick.seq) for a in batch.alerts] == [(29.50, 0)]


def test_cooldown_keeps_a_crossing_rule_armed_until_it_ends() -> None:
    rule = dataclasses.replace(make_rule(50, id="plus-50", rearm_pct=0), cooldown_us=120_000_000)
    ticks = [
        make_tick(29.40, "2026-01-02T09:30:00+08:00"),
        make_tick(29.00, "2026-01-02T09:31:00+08:00"),
        make_tick(29.40, "2026-01-02T09:31:59+08:00"),
        make_tick(29.40, "2026-01-02T09:32:00+08:00"),
    ]

    batch = check_batch_equals_streaming(
        make_listing((rule,)), ListingState(), TickArrays.from_ticks(ticks)
    )
    assert [a.tick.ts_us for a in batch.alerts] == [ticks[0].ts_us, ticks[3].ts_us]


def test_listing_with_rules_scoped_to_phases_is_streamed() -> None:
    rule = dataclasses.replace(make_rule(50, id="plus-50"), phases=frozenset({"continuous"}))
    listing = make_listing((rule, make_rule(60)))
    ticks = [make_tick(29.40, "2026-01-02T09:20:00+08:00"), make_tick(31.40, "2026-01-02T09:40")]
    arrays = TickArrays.from_ticks(ticks)

    def phase_of(ts_us: int) -> str:
        return "auction" if ts_us < ticks[1].ts_us else "continuous"

    with mock.patch.object(entry, "VECTORIZED_FROM", 0):  # large enough to vectorize
        batch = evaluate_arrays(listing, ListingState(), arrays, None, phase_of)
    streamed = evaluate(listing, ListingState(), ticks, None, phase_of)
    assert batch == BatchEvaluation(streamed.alerts, streamed.state, 0)
    assert [a.rule.id for a in batch.alerts] == ["plus-50", "gain_pct-up-60"]
    with pytest.raises(ValueError, match="phase_of"):
        evaluate_arrays(listing, ListingState(), arrays)
    with pytest.raises(ValueError, match="only the streaming engine runs"):
        evaluate_batch(listing, ListingState(), arrays)


def test_ticks_out_of_order_are_refused() -> None:
    ticks = [make_tick(30.0, seq=1), make_tick(30.0, seq=1)]

    with pytest.raises(ValueError, match=r"tick 1 is not after tick 0"):
        evaluate_batch(make_listing(), ListingState(), TickArrays.from_ticks(ticks))
    with pytest.raises(ValueError, match=r"tick 1 is not after tick 0"):  # streamed: the same
        evaluate_arrays(make_listing(), ListingState(), TickArrays.from_ticks(ticks))


@pytest.mark.parametrize("price", [float("nan"), float("inf"), 1e13])
def test_price_with_no_int64_millionths_is_refused(price: float) -> None:
    with pytest.raises(ValueError, match=r"at index 1 is not a usable price"):
        to_micros_array(np.array([1.0, price]))


def test_tick_arrays_slice_is_a_view_and_missing_values_are_none() -> None:
    ticks = [make_tick(30.0, volume=None), make_tick(31.0, seq=1, volume=5, turnover=155.0)]
    arrays = TickArrays.from_ticks(ticks)

    assert arrays.to_ticks() == ticks
    assert arrays.tick(0).volume is None
    assert arrays.tick(0).turnover is None
    tail = arrays.slice(1)
    assert len(tail) == 1
    assert tail.tick(0) == ticks[1]
    assert np.shares_memory(tail.price, arrays.price)
    assert TickArrays.from_ticks([make_tick(volume=None)]).volume is None


# --- rounding to millionths ---------------------------------------------------------------------

# Every finite double whose millionths fit an int64, halves at the 7th decimal written out,
# and exact binary halves of a millionth (k + 0.5) / 1e6 that are ties after scaling.
LIMIT = 9.2e12
seventh_decimal_fives = st.integers(-(10**12), 10**12).map(
    lambda n: float(Decimal(n) / 1_000_000 + Decimal("0.0000005"))
)
binary_halves = st.integers(-(2**52), 2**52).map(lambda k: (k + 0.5) / 1_000_000)


@settings(max_examples=500)
@given(
    st.lists(
        st.floats(-LIMIT, LIMIT) | seventh_decimal_fives | binary_halves, min_size=1, max_size=50
    )
)
def test_vectorized_millionths_round_as_to_micros(prices: list[float]) -> None:
    assert to_micros_array(np.array(prices)).tolist() == [to_micros(p) for p in prices]

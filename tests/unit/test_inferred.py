"""Inferred alerts: a provider's new day high or low passes an armed rule's level between polls."""

from __future__ import annotations

import dataclasses
import datetime as dt

from factories import make_listing, make_rule, make_tick, ts_us
from hypothesis import given, settings
from hypothesis import strategies as st

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
)
from tracker.core.rules import Evaluation, evaluate

UP = make_rule(37.00, "price", "up", id="up-37")  # re-arms below 36.63
DOWN = make_rule(19.60, "price", "down", id="below-offer")  # re-arms at or above 19.796
LISTING = make_listing((UP, DOWN))
UP_KEY = ("up-37", 37_000_000)


def extremes(ts: str, high: float | None, low: float | None) -> Extremes:
    return Extremes(ts_us(ts), high, low)


def fired(evaluation: Evaluation) -> list[tuple[str, float, bool]]:
    """The alerts as (rule id, price, inferred)."""
    return [(a.rule.id, a.tick.price, a.inferred) for a in evaluation.alerts]


# --- what fires ---------------------------------------------------------------------------------


def test_new_high_past_an_armed_up_rule_fires_it_once_as_inferred() -> None:
    ticks = [make_tick(36.00, "2026-01-02T10:00:00"), make_tick(36.20, "2026-01-02T10:00:00", 1)]
    high = extremes("2026-01-02T10:00:00", 38.00, 35.50)

    first = evaluate(LISTING, ListingState(), ticks, high)
    again = evaluate(LISTING, first.state, ticks, high)

    [alert] = first.alerts
    assert alert == ThresholdCrossed(
        "biren", UP, 37_000_000, Tick(high.ts_us, 1, 38.00), gap=False, inferred=True
    )
    assert again.alerts == ()


def test_inferred_alert_is_at_the_extremes_time_with_seq_0_when_no_tick_shares_it() -> None:
    ticks = [make_tick(36.00, "2026-01-02T10:00:00")]
    high = extremes("2026-01-02T10:00:05", 37.00, 36.00)

    [alert] = evaluate(LISTING, ListingState(), ticks, high).alerts

    assert (alert.tick.ts_us, alert.tick.seq, alert.tick.price) == (high.ts_us, 0, 37.00)


def test_high_exactly_at_the_level_fires_and_just_below_does_not() -> None:
    below = evaluate(LISTING, ListingState(), [], extremes("2026-01-02T10:00", 36.999999, None))
    at = evaluate(LISTING, ListingState(), [], extremes("2026-01-02T10:00", 37.00, None))
    assert fired(below) == []
    assert fired(at) == [("up-37", 37.00, True)]


def test_new_low_below_an_armed_down_rule_fires_it_as_inferred() -> None:
    ticks = [make_tick(20.00, "2026-01-02T15:00:00")]

    at_level = evaluate(LISTING, ListingState(), ticks, extremes("2026-01-02T15:00", 36, 19.60))
    below = evaluate(LISTING, ListingState(), ticks, extremes("2026-01-02T15:00", 36, 19.50))

    assert fired(at_level) == []  # a down rule fires strictly below its level
    assert fired(below) == [("below-offer", 19.50, True)]
    assert below.alerts[0].tick == Tick(ts_us("2026-01-02T15:00"), 0, 19.50)


def test_high_that_is_not_new_on_the_same_day_fires_nothing() -> None:
    seen = ListingState(extremes=extremes("2026-01-02T10:00", 38.00, 35.00))

    same = evaluate(LISTING, seen, [], extremes("2026-01-02T10:05", 38.00, 35.00))
    lower = evaluate(LISTING, seen, [], extremes("2026-01-02T10:05", 37.50, 35.00))
    higher = evaluate(LISTING, seen, [], extremes("2026-01-02T10:05", 38.01, 35.00))

    assert fired(same) == fired(lower) == []
    assert fired(higher) == [("up-37", 38.01, True)]


def test_previous_days_extremes_do_not_count() -> None:
    yesterday = ListingState(extremes=extremes("2026-01-01T15:00", 50.00, 10.00))

    today = evaluate(LISTING, yesterday, [], extremes("2026-01-02T09:31", 38.00, 19.00))

    assert fired(today) == [("up-37", 38.00, True), ("below-offer", 19.00, True)]


def test_the_day_of_extremes_is_the_exchange_local_day_not_the_utc_one() -> None:
    # 07:30 and 09:31 in Hong Kong are one local day, though 07:30 HKT is the previous UTC date.
    early = ListingState(extremes=extremes("2026-01-01T23:30:00+00:00", 38.00, 35.00))

    later = evaluate(LISTING, early, [], extremes("2026-01-02T09:31", 38.00, 35.00))

    assert fired(later) == []


def test_polled_tick_that_fired_a_rule_is_not_followed_by_an_inferred_fire() -> None:
    ticks = [make_tick(37.20, "2026-01-02T10:00:00")]

    evaluation = evaluate(LISTING, ListingState(), ticks, extremes("2026-01-02T10:00", 38, 36))

    assert fired(evaluation) == [("up-37", 37.20, False)]


# --- re-arming ----------------------------------------------------------------------------------


def test_inferred_fire_disarms_and_only_a_later_polled_tick_rearms() -> None:
    first = evaluate(
        LISTING,
        ListingState(),
        [make_tick(36.00, "2026-01-02T10:00")],
        extremes("2026-01-02T10:00", 38.00, 35.90),
    )
    assert fired(first) == [("up-37", 38.00, True)]
    assert first.state.rules[UP_KEY].armed is False

    # a new low below the re-arm bound (36.63) and a new high: neither re-arms nor fires
    second = evaluate(
        LISTING,
        first.state,
        [make_tick(36.80, "2026-01-02T10:01")],
        extremes("2026-01-02T10:01", 39.00, 35.00),
    )
    assert fired(second) == []
    assert second.state.rules[UP_KEY].armed is False

    # still disarmed: a polled tick above the level fires nothing either
    third = evaluate(
        LISTING,
        second.state,
        [make_tick(37.50, "2026-01-02T10:02")],
        extremes("2026-01-02T10:02", 39.00, 35.00),
    )
    assert fired(third) == []

    # a polled tick below the bound re-arms; the next one through the level fires
    fourth = evaluate(
        LISTING,
        third.state,
        [make_tick(36.50, "2026-01-02T10:03"), make_tick(37.50, "2026-01-02T10:04")],
        extremes("2026-01-02T10:04", 39.00, 35.00),
    )
    assert fired(fourth) == [("up-37", 37.50, False)]


def test_once_rule_fired_by_an_extreme_never_fires_again() -> None:
    listing = make_listing((make_rule(37.00, "price", once=True, id="once"),))
    first = evaluate(listing, ListingState(), [], extremes("2026-01-02T10:00", 38.0, 36.0))
    later = evaluate(
        listing,
        first.state,
        [make_tick(30.00, "2026-01-02T10:01"), make_tick(40.00, "2026-01-02T10:02")],
        extremes("2026-01-02T10:02", 40.0, 30.0),
    )
    assert fired(first) == [("once", 38.0, True)]
    assert fired(later) == []


# --- state --------------------------------------------------------------------------------------


def test_state_keeps_the_latest_extremes_and_a_batch_without_them_keeps_the_old() -> None:
    reported = extremes("2026-01-02T10:00", 38.00, 35.00)
    tick = make_tick(36.00, "2026-01-02T10:00")

    with_extremes = evaluate(LISTING, ListingState(), [tick], reported)
    without = evaluate(LISTING, with_extremes.state, [make_tick(36.1, "2026-01-02T10:01")])

    assert with_extremes.state.extremes == reported
    assert (with_extremes.state.last_ts_us, with_extremes.state.last_seq) == (tick.ts_us, 0)
    assert without.state.extremes == reported


def test_extremes_alone_keep_the_high_water_mark() -> None:
    tick = make_tick(36.00, "2026-01-02T10:00")
    first = evaluate(LISTING, ListingState(), [tick])

    only_extremes = evaluate(LISTING, first.state, [], extremes("2026-01-02T10:01", 36.5, 35.0))

    assert (only_extremes.state.last_ts_us, only_extremes.state.last_seq) == (tick.ts_us, 0)
    assert only_extremes.ticks == ()


# --- properties ---------------------------------------------------------------------------------

CENTS = st.integers(3_000, 4_000)  # prices and levels between 30.00 and 40.00


@st.composite
def rule_sets(draw: st.DrawFn) -> Listing:
    """A listing with 1-5 price rules, up and down, levels among the tape's prices."""
    count = draw(st.integers(1, 5))
    rules = tuple(
        make_rule(
            draw(CENTS) / 100,
            "price",
            draw(st.sampled_from(list(Direction))),
            draw(st.sampled_from([0.0, 0.5, 1.0, 5.0])),
            draw(st.booleans()),
            id=f"r{i}",
        )
        for i in range(count)
    )
    return make_listing(rules)


@st.composite
def tapes(draw: st.DrawFn, start: str, min_size: int = 1) -> list[Tick]:
    """Ticks in time order from ``start``, several may share an instant (then seq counts up)."""
    steps = draw(st.lists(st.integers(0, 30), min_size=min_size, max_size=25))
    moment = dt.datetime.fromisoformat(start)
    ticks: list[Tick] = []
    for step in steps:
        moment += dt.timedelta(seconds=step)
        seq = ticks[-1].seq + 1 if ticks and step == 0 else 0
        ticks.append(make_tick(draw(CENTS) / 100, moment.isoformat(), seq))
    return ticks


def crossed(rule: Rule, extremes_: Extremes, level: int) -> bool:
    if rule.direction is Direction.UP:
        return extremes_.high is not None and to_micros(extremes_.high) >= level
    return extremes_.low is not None and to_micros(extremes_.low) < level


@settings(deadline=None)
@given(
    listing=rule_sets(),
    history=tapes("2026-01-02T09:30:00+08:00", min_size=0),
    batch=tapes("2026-01-02T11:00:00+08:00"),
    later=tapes("2026-01-02T14:00:00+08:00"),
)
def test_batch_extremes_add_only_inferred_alerts_for_rules_left_armed_within_the_range(
    listing: Listing, history: list[Tick], batch: list[Tick], later: list[Tick]
) -> None:
    state = evaluate(listing, ListingState(), history).state
    prices = [tick.price for tick in batch]
    last = batch[-1]
    reported = Extremes(last.ts_us, max(prices), min(prices))

    plain = evaluate(listing, state, batch)
    with_extremes = evaluate(listing, state, batch, reported)

    # the ticks fire exactly what they fire without extremes, and first
    count = len(plain.alerts)
    assert with_extremes.alerts[:count] == plain.alerts
    assert not any(alert.inferred for alert in plain.alerts)
    inferred = with_extremes.alerts[count:]

    # inferred alerts: rules armed before the batch that its ticks left armed (a rule the
    # ticks re-armed cannot have crossed between the polls: the extremes came before the
    # polled trade), whose level the high (up) or low (down) passed
    levels = {
        rule.id: rule.level(listing.offer_price, listing.shares_outstanding)
        for rule in listing.rules
    }

    def armed(rules: dict[tuple[str, int], RuleState], rule: Rule) -> bool:
        known = rules.get((rule.id, levels[rule.id]))
        return known is None or known.armed

    expected = [
        rule.id
        for rule in listing.rules
        if armed(state.rules, rule)
        and armed(plain.state.rules, rule)
        and crossed(rule, reported, levels[rule.id])
    ]
    assert [alert.rule.id for alert in inferred] == expected
    for alert in inferred:
        up = alert.rule.direction is Direction.UP
        assert alert.inferred is True
        assert alert.gap is False
        assert alert.tick == Tick(last.ts_us, last.seq, reported.high if up else reported.low)
        # so the level lies within the batch's price range
        if up:
            assert alert.level <= to_micros(max(prices))
        else:
            assert alert.level > to_micros(min(prices))

    # extremes only ever disarm, and only the rules they fired
    fired_ids = set(expected)
    for key, rule_state in with_extremes.state.rules.items():
        assert rule_state.armed == (plain.state.rules[key].armed and key[0] not in fired_ids)
    assert with_extremes.state.extremes == reported
    assert with_extremes.ticks == plain.ticks
    assert (with_extremes.state.last_ts_us, with_extremes.state.last_seq) == (
        plain.state.last_ts_us,
        plain.state.last_seq,
    )

    # the same poll again fires nothing twice
    assert evaluate(listing, with_extremes.state, batch, reported).alerts == ()

    # later ticks behave as if the inferred rules had fired on a tick: no other difference
    disarmed = {
        key: RuleState(rs.rule_id, rs.level, False) if key[0] in fired_ids else rs
        for key, rs in plain.state.rules.items()
    }
    as_if_fired = dataclasses.replace(plain.state, rules=disarmed)
    assert evaluate(listing, with_extremes.state, later).alerts == (
        evaluate(listing, as_if_fired, later).alerts
    )


def test_a_rule_re_armed_by_the_polled_trade_does_not_infer_from_an_earlier_high() -> None:
    listing = make_listing((make_rule(37.00, "price", "up", id="r37"),))
    first = evaluate(listing, ListingState(), [make_tick(37.20, "2026-01-02T10:00")])
    assert [a.rule.id for a in first.alerts] == ["r37"]
    # the next poll: the trade at 36.50 re-arms the rule, and the day high of 38.00 was
    # reached before it (while the rule was disarmed): no new crossing to report
    second = evaluate(
        listing,
        first.state,
        [make_tick(36.50, "2026-01-02T10:01")],
        extremes("2026-01-02T10:01", 38.00, 35.0),
    )
    assert second.alerts == ()

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
    Reference,
    RuleState,
    ThresholdCrossed,
    Tick,
    local_date,
    to_micros,
)
from tracker.core.rules import Evaluation, Triage, evaluate

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


def test_inferred_fire_is_rearmed_by_the_polled_trade_that_came_after_the_high() -> None:
    # the high of 38.00 crossed 37.00, then the polled trade at 36.00 is below the bound 36.63
    first = evaluate(
        LISTING,
        ListingState(),
        [make_tick(36.00, "2026-01-02T10:00")],
        extremes("2026-01-02T10:00", 38.00, 35.90),
    )
    assert fired(first) == [("up-37", 38.00, True)]
    assert first.state.rules[UP_KEY].armed is True

    # so the next real crossing fires
    second = evaluate(LISTING, first.state, [make_tick(37.10, "2026-01-02T10:01")])
    assert fired(second) == [("up-37", 37.10, False)]


def test_inferred_fire_stays_disarmed_when_the_trade_is_inside_the_band() -> None:
    first = evaluate(
        LISTING,
        ListingState(),
        [make_tick(36.80, "2026-01-02T10:00")],  # below 37.00, above the bound 36.63
        extremes("2026-01-02T10:00", 38.00, 36.70),
    )
    assert fired(first) == [("up-37", 38.00, True)]
    assert first.state.rules[UP_KEY].armed is False
    # still disarmed: a polled tick above the level fires nothing
    second = evaluate(
        LISTING,
        first.state,
        [make_tick(37.50, "2026-01-02T10:01")],
        extremes("2026-01-02T10:01", 38.00, 36.70),
    )
    assert fired(second) == []


def test_a_new_low_past_the_bound_rearms_a_disarmed_rule_and_the_trade_fires_it() -> None:
    fired_before = evaluate(LISTING, ListingState(), [make_tick(37.20, "2026-01-02T10:00")])
    assert fired(fired_before) == [("up-37", 37.20, False)]
    # between the polls the price fell to 36.00 (past the bound 36.63), then traded at 37.40
    poll = evaluate(
        LISTING,
        fired_before.state,
        [make_tick(37.40, "2026-01-02T10:01")],
        extremes("2026-01-02T10:01", 37.40, 36.00),
    )
    assert fired(poll) == [("up-37", 37.40, False)]


def test_a_disarmed_rule_is_never_fired_by_a_high_whose_order_with_the_low_is_unknown() -> None:
    fired_before = evaluate(LISTING, ListingState(), [make_tick(37.20, "2026-01-02T10:00")])
    # the low re-arms the rule; the new high of 38.00 may have come before the low: no alert
    poll = evaluate(
        LISTING,
        fired_before.state,
        [make_tick(36.90, "2026-01-02T10:01")],
        extremes("2026-01-02T10:01", 38.00, 36.00),
    )
    assert fired(poll) == []
    assert poll.state.rules[UP_KEY].armed is True


def test_a_new_high_without_a_new_trade_fires_no_rule_that_fired_at_that_trade() -> None:
    # the high of 38 fired the rule at the trade of 10:00, which re-armed it (36.00)
    trade = make_tick(36.00, "2026-01-02T10:00")
    first = evaluate(LISTING, ListingState(), [trade], extremes("2026-01-02T10:00", 38.0, 35.9))
    assert fired(first) == [("up-37", 38.0, True)]
    assert first.state.rules[UP_KEY].armed
    # the provider shows that trade still, with a higher high: no second alert for (10:00, 0)
    again = evaluate(LISTING, first.state, [], extremes("2026-01-02T10:00", 38.5, 35.9))
    assert again.alerts == ()
    assert again.state.rules[UP_KEY].armed  # the next trade across the level fires it
    later = evaluate(LISTING, again.state, [make_tick(37.5, "2026-01-02T10:00:05")])
    assert fired(later) == [("up-37", 37.5, False)]


def test_when_the_high_and_the_trade_both_reach_the_level_the_alert_is_the_trades() -> None:
    poll = evaluate(
        LISTING,
        ListingState(),
        [make_tick(37.50, "2026-01-02T10:00", seq=2)],
        extremes("2026-01-02T10:00", 38.00, 36.00),
    )
    [alert] = poll.alerts
    assert (alert.tick.price, alert.tick.seq, alert.inferred) == (37.50, 2, False)


def test_a_daemon_started_late_is_not_left_blind_by_the_days_low() -> None:
    # the day: trading from 09:20, the daemon's first poll at 09:50; the day's low of
    # 19.00 came before the polled trade at 20.50, above the down rule's re-arm bound 19.796
    first = evaluate(
        LISTING,
        ListingState(),
        [make_tick(20.50, "2026-01-02T09:50")],
        extremes("2026-01-02T09:50", 36.00, 19.00),
    )
    assert fired(first) == [("below-offer", 19.00, True)]
    assert first.state.rules[("below-offer", 19_600_000)].armed is True
    # the next real crossing is not missed
    later = evaluate(LISTING, first.state, [make_tick(19.40, "2026-01-02T10:30")])
    assert fired(later) == [("below-offer", 19.40, False)]


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


def reference_poll(
    listing: Listing, before: ListingState, trade: Tick | None, reported: Extremes
) -> tuple[list[tuple[str, int, int, float, bool]], dict[str, bool]]:
    """A poll per rule as the contract says it: the sequence [extreme, trade].

    The ordinary semantics on two prices, where the extreme is the armed rule's high (up)
    or low (down), or the disarmed rule's low (up) or high (down); new since the last poll
    of the day only. Returns the alerts as (rule, ts, seq, price, inferred): the extremes'
    first, as they came before the trade, each part in rule order; and each rule's armed
    flag after the poll.
    """
    seen = before.extremes
    same_day = seen is not None and local_date(listing, seen.ts_us) == local_date(
        listing, reported.ts_us
    )
    high, low = reported.high, reported.low
    if same_day and seen is not None and high is not None and seen.high is not None:
        high = high if high > seen.high else None
    if same_day and seen is not None and low is not None and seen.low is not None:
        low = low if low < seen.low else None
    alerts: list[tuple[str, int, int, float, bool]] = []
    armed_after: dict[str, bool] = {}
    for rule in listing.rules:
        level = rule.level(listing.offer_price, listing.shares_outstanding)
        bound = rule.rearm_bound(level)
        up = rule.direction is Direction.UP
        stored = before.rules.get((rule.id, level))
        armed = stored is None or stored.armed
        last_fired = None if stored is None else stored.last_fired_us
        extreme = (high if up else low) if armed else (low if up else high)

        def crosses(price: float, level: int = level, up: bool = up) -> bool:
            return to_micros(price) >= level if up else to_micros(price) < level

        steps = [] if extreme is None else [(extreme, True)]
        if trade is not None:
            steps.append((trade.price, False))
        for price, is_extreme in steps:
            if armed:
                cooling = last_fired is not None and reported.ts_us - last_fired < rule.cooldown_us
                if not crosses(price) or cooling:
                    continue
                if trade is None and last_fired == reported.ts_us:
                    continue  # it fired at the stored trade already: one alert a rule and tick
                if is_extreme and trade is not None and crosses(trade.price):
                    continue  # both reach the level: the alert is the trade's
                armed, last_fired = False, reported.ts_us
                seq = trade.seq if trade is not None else before.last_seq
                alerts.append((rule.id, reported.ts_us, seq, price, is_extreme))
            elif not rule.once:
                past = to_micros(price) < bound if up else to_micros(price) >= bound
                armed = armed or past
        armed_after[rule.id] = armed
    alerts.sort(key=lambda alert: not alert[4])  # stable: rule order within each part
    return alerts, armed_after


PRICES = st.integers(3_000, 4_000).map(lambda cents: cents / 100)


@st.composite
def prior_states(draw: st.DrawFn, listing: Listing) -> ListingState:
    """A state after a trade at 10:00: each rule armed or not, fired at some time, and the
    day's high and low seen at the last poll (of this day, of the day before, or none)."""
    rules = {}
    for rule in listing.rules:
        level = rule.level(listing.offer_price, listing.shares_outstanding)
        # never, at the stored trade (10:00, where a poll with no new trade is), or before
        fired_at = draw(
            st.sampled_from([None, "2026-01-02T10:00", "2026-01-02T09:59:30", "2026-01-02T09:40"])
        )
        rules[(rule.id, level)] = RuleState(
            rule.id, level, draw(st.booleans()), None if fired_at is None else ts_us(fired_at)
        )
    seen = draw(
        st.one_of(
            st.none(),
            st.builds(
                lambda day, a, b: extremes(f"{day}T10:00", max(a, b), min(a, b)),
                st.sampled_from(["2026-01-02", "2025-12-31"]),
                PRICES,
                PRICES,
            ),
        )
    )
    return ListingState(ts_us("2026-01-02T10:00"), 0, rules, seen, 36.0, 35.7, None)


@st.composite
def polls(draw: st.DrawFn) -> tuple[Listing, ListingState, Tick | None, Extremes]:
    count = draw(st.integers(1, 5))
    rules = tuple(
        dataclasses.replace(
            make_rule(
                draw(PRICES),
                "price",
                draw(st.sampled_from(list(Direction))),
                draw(st.sampled_from([0.0, 0.5, 1.0, 5.0])),
                draw(st.booleans()),
                id=f"r{i}",
            ),
            cooldown_us=draw(st.sampled_from([0, 60_000_000])),
        )
        for i in range(count)
    )
    listing = make_listing(rules)
    before = draw(prior_states(listing))
    trade = draw(st.one_of(st.none(), PRICES))
    highs = draw(st.one_of(st.none(), PRICES))
    lows = draw(st.one_of(st.none(), PRICES))
    when = "2026-01-02T10:00:30" if trade is not None else "2026-01-02T10:00"
    if trade is not None:  # a provider's day range holds its last trade
        highs = None if highs is None else max(highs, trade)
        lows = None if lows is None else min(lows, trade)
    elif highs is not None and lows is not None:
        highs, lows = max(highs, lows), min(highs, lows)
    tick = None if trade is None else make_tick(trade, when, seq=draw(st.integers(0, 2)))
    return listing, before, tick, extremes(when, highs, lows)


@settings(deadline=None, max_examples=400)
@given(poll=polls())
def test_a_poll_is_evaluated_per_rule_as_the_sequence_extreme_then_trade(
    poll: tuple[Listing, ListingState, Tick | None, Extremes],
) -> None:
    listing, before, trade, reported = poll
    expected, armed_after = reference_poll(listing, before, trade, reported)

    got = evaluate(listing, before, [] if trade is None else [trade], reported)

    assert [
        (a.rule.id, a.tick.ts_us, a.tick.seq, a.tick.price, a.inferred) for a in got.alerts
    ] == expected
    assert all(not alert.gap for alert in got.alerts)
    for rule in listing.rules:
        level = rule.level(listing.offer_price, listing.shares_outstanding)
        assert got.state.rules[(rule.id, level)].armed is armed_after[rule.id], rule.id
    assert got.state.extremes == reported.range
    # the same poll again fires nothing twice
    assert evaluate(listing, got.state, [] if trade is None else [trade], reported).alerts == ()


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


# --- triage ------------------------------------------------------------------------------------


@st.composite
def triaged_polls(draw: st.DrawFn) -> tuple[Listing, ListingState, Tick | None, Extremes]:
    """The polls of ``polls``, some a day later than the state, some listings with daily rules."""
    listing, before, trade, reported = draw(polls())
    if draw(st.booleans()) and trade is not None:
        later = make_tick(trade.price, "2026-01-05T10:00:30", trade.seq)
        trade, reported = later, dataclasses.replace(reported, ts_us=later.ts_us)
    if draw(st.integers(0, 3)) == 0:  # 3% below the open: its level is not the offer's
        below_open = make_rule(-3, direction="down", id="open-down-3")
        daily = dataclasses.replace(below_open, reference=Reference.OPEN)
        listing = dataclasses.replace(listing, rules=(*listing.rules, daily))
    return listing, before, trade, reported


@settings(deadline=None, max_examples=600)
@given(poll=triaged_polls())
def test_triage_never_passes_over_a_poll_that_fires(
    poll: tuple[Listing, ListingState, Tick | None, Extremes],
) -> None:
    listing, before, trade, reported = poll
    fires = evaluate(listing, before, [] if trade is None else [trade], reported).alerts

    triage = Triage(listing).could_fire(
        before,
        reported.ts_us,
        None if trade is None else trade.price,
        reported.high,
        reported.low,
    )

    assert triage or not fires


def test_triage_passes_over_a_quiet_poll_whose_high_is_not_new() -> None:
    # fired at 37.20 and re-armed by 36.00: the day's high of 37.20 is seen already
    fired = evaluate(LISTING, ListingState(), [make_tick(37.20, "2026-01-02T10:00")])
    rearmed = evaluate(
        LISTING,
        fired.state,
        [make_tick(36.00, "2026-01-02T10:01")],
        extremes("2026-01-02T10:01", 37.20, 36.00),
    )
    assert rearmed.state.rules[UP_KEY].armed
    triage = Triage(LISTING)
    quiet = triage.could_fire(rearmed.state, ts_us("2026-01-02T10:02"), 36.1, 37.20, 36.00)
    loud = triage.could_fire(rearmed.state, ts_us("2026-01-02T10:02"), 36.1, 37.21, 36.00)
    assert (quiet, loud) == (False, True)

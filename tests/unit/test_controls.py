"""Alert controls in the core: cooldown (event time), expiry, phases, daily references."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from factories import make_listing, make_tick, ts_us
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.core.model import Direction, Kind, Listing, ListingState, Reference, Rule, Tick
from tracker.core.rules import evaluate


def rule(threshold: float = 50, **controls: object) -> Rule:
    return Rule(f"r{threshold:g}", Kind.GAIN_PCT, threshold, **controls)  # type: ignore[arg-type]


def fired(listing: Listing, ticks: Sequence[Tick], **kwargs: object) -> list[tuple[str, float]]:
    evaluation = evaluate(listing, ListingState(), ticks, **kwargs)  # type: ignore[arg-type]
    return [(a.rule.id, a.tick.price) for a in evaluation.alerts]


def swings(*prices: float, start: str = "2026-01-02T10:00:00", step_s: int = 60) -> list[Tick]:
    base = ts_us(start)
    return [Tick(base + i * step_s * 1_000_000, 0, p) for i, p in enumerate(prices)]


def test_a_crossing_inside_the_cooldown_does_not_fire_but_the_next_one_after_it_does() -> None:
    listing = make_listing(rules=(rule(50, cooldown_us=10 * 60 * 1_000_000),))
    # 29.40 is +50%: fire at 10:00, re-arm at 10:01, cross again at 10:02 (in cooldown)
    # and stay above: the still-armed rule fires on the first tick once 10 minutes passed.
    ticks = swings(29.4, 28.0, 29.5, *[29.6] * 9, 29.7)
    evaluation = evaluate(listing, ListingState(), ticks)
    assert [a.tick for a in evaluation.alerts] == [ticks[0], ticks[10]]
    assert ticks[10].ts_us - ticks[0].ts_us == 10 * 60 * 1_000_000


def test_cooldown_is_event_time_and_survives_batches() -> None:
    listing = make_listing(rules=(rule(50, cooldown_us=300 * 1_000_000),))
    first = evaluate(listing, ListingState(), swings(29.4, 28.0))
    later = evaluate(listing, first.state, swings(29.5, start="2026-01-02T10:03:00"))
    assert later.alerts == ()
    after = evaluate(listing, later.state, swings(29.5, start="2026-01-02T10:05:00"))
    assert len(after.alerts) == 1


def test_an_expired_rule_fires_nothing() -> None:
    listing = make_listing(rules=(rule(50, expires_us=ts_us("2026-01-02T10:01:00")),))
    assert fired(listing, swings(28.0, 29.5)) == []  # 10:01 is the expiry instant
    assert fired(listing, swings(29.5)) == [("r50", 29.5)]


def test_a_phase_scoped_rule_fires_only_in_its_phases() -> None:
    listing = make_listing(rules=(rule(50, phases=frozenset({"continuous"})),))
    ticks = [make_tick(35.70, "2026-01-02T09:20:00"), make_tick(35.80, "2026-01-02T09:30:00")]

    def phase_of(ts: int) -> str:
        return "pre_open" if ts < ts_us("2026-01-02T09:30:00") else "continuous"

    assert fired(listing, ticks, phase_of=phase_of) == [("r50", 35.80)]
    with pytest.raises(ValueError, match="phase"):
        evaluate(listing, ListingState(), ticks)


def test_gain_against_the_open_moves_with_each_day() -> None:
    listing = make_listing(rules=(rule(10, reference=Reference.OPEN),))
    ticks = [
        make_tick(30.0, "2026-01-02T09:30:00"),  # open 30: level 33
        make_tick(32.9, "2026-01-02T10:00:00"),
        make_tick(33.0, "2026-01-02T11:00:00"),  # fires
        make_tick(40.0, "2026-01-05T09:30:00"),  # next day opens at 40: level 44
        make_tick(43.9, "2026-01-05T10:00:00"),
        make_tick(44.0, "2026-01-05T11:00:00"),  # fires against the new open
    ]
    evaluation = evaluate(listing, ListingState(), ticks)
    assert [(a.tick.price, a.base_price) for a in evaluation.alerts] == [(33.0, 30.0), (44.0, 40.0)]


def test_gain_against_the_previous_close_waits_for_a_previous_day() -> None:
    listing = make_listing(
        rules=(rule(-10, direction=Direction.DOWN, reference=Reference.PREV_CLOSE),)
    )
    day_one = [make_tick(40.0, "2026-01-02T09:30:00"), make_tick(20.0, "2026-01-02T15:00:00")]
    first = evaluate(listing, ListingState(), day_one)
    assert first.alerts == ()  # no previous close on the first day
    day_two = [make_tick(18.5, "2026-01-05T09:30:00"), make_tick(17.9, "2026-01-05T10:00:00")]
    second = evaluate(listing, first.state, day_two)  # level 18.00 from the close of 20.00
    assert [(a.tick.price, a.base_price) for a in second.alerts] == [(17.9, 20.0)]


# --- the cooldown against a plain reference -------------------------------------------------


def reference_fires(
    prices: list[float], times: list[int], level: float, cooldown: int
) -> list[int]:
    """Up rule, re-arm 1%: the plain loop, with the cooldown in event time."""
    armed, last, out = True, None, []
    bound = round(level * 0.99, 6)
    for i, (p, t) in enumerate(zip(prices, times, strict=True)):
        if armed and p >= level:
            if last is None or t - last >= cooldown:
                armed, last = False, t
                out.append(i)
        elif not armed and p < bound:
            armed = True
    return out


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(st.sampled_from([29.0, 29.1, 29.3, 29.4, 29.5, 30.0]), min_size=1, max_size=40),
    gaps=st.lists(st.integers(0, 600), min_size=40, max_size=40),
    cooldown=st.sampled_from([0, 60, 300, 900]),
)
def test_cooldown_matches_a_plain_reference(
    prices: list[float], gaps: list[int], cooldown: int
) -> None:
    times, now = [], ts_us("2026-01-02T10:00:00")
    for gap in gaps[: len(prices)]:
        now += gap * 1_000_000
        times.append(now)
    ticks, seen = [], {}
    for t, p in zip(times, prices, strict=True):
        seq = seen.get(t, -1) + 1
        seen[t] = seq
        ticks.append(Tick(t, seq, p))
    listing = make_listing(rules=(rule(50, cooldown_us=cooldown * 1_000_000),))
    got = [ticks.index(a.tick) for a in evaluate(listing, ListingState(), ticks).alerts]
    assert got == reference_fires(prices, times, 29.4, cooldown * 1_000_000)

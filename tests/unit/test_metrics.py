"""Figures of a day: turnover said to be estimated, and a rule's level on a given day."""

from __future__ import annotations

import dataclasses

import pytest
from factories import make_listing, make_rule, make_tick

from tracker.core.metrics import level_price, summarize
from tracker.core.model import Reference, Tick

OPEN = dataclasses.replace(make_rule(5, id="open-up-5"), reference=Reference.OPEN)
PREV = dataclasses.replace(
    make_rule(-5, direction="down", id="prev-down-5"), reference=Reference.PREV_CLOSE
)


def test_turnover_is_fact_when_every_tick_carries_one() -> None:
    summary = summarize(
        [make_tick(35.70, volume=100, turnover=3570.0), make_tick(36.0, volume=10, turnover=360.0)]
    )

    assert summary.turnover == 3930.0
    assert summary.turnover_estimated is False


@pytest.mark.parametrize(
    "missing",
    [make_tick(36.0, volume=10, turnover=None), make_tick(36.0, volume=None, turnover=None)],
    ids=["volume without turnover", "neither"],
)
def test_turnover_and_vwap_are_estimated_when_any_tick_lacks_a_turnover(missing: Tick) -> None:
    summary = summarize([make_tick(35.70, volume=100, turnover=3570.0), missing])

    assert summary.turnover_estimated is True
    assert summary.vwap is not None


def test_nothing_is_estimated_without_any_volume() -> None:
    summary = summarize([make_tick(35.70, volume=None), make_tick(36.0, volume=None)])

    assert summary.turnover is None
    assert summary.turnover_estimated is False


def test_a_rules_level_on_a_day_is_measured_from_its_reference() -> None:
    listing = make_listing(rules=(make_rule(100), OPEN, PREV))

    assert level_price(listing, make_rule(100), None, None) == 39.2
    assert level_price(listing, make_rule(100e9, kind="market_cap"), None, None) == 37.784431
    assert level_price(listing, OPEN, 40.0, 30.0) == 42.0
    assert level_price(listing, PREV, 40.0, 30.0) == 28.5
    assert level_price(listing, OPEN, None, 30.0) is None  # no trade yet that day
    assert level_price(listing, PREV, 40.0, None) is None  # no earlier day

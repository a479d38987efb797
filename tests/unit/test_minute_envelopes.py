"""A day's traded minutes give the ticks' own figures, and a price line with their envelope."""

from __future__ import annotations

import pytest
from factories import make_tick, ts_us
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.core.batch import TickArrays
from tracker.core.metrics import summarize
from tracker.core.model import Tick
from tracker.store.columns import MINUTE_US, DayMinutes

OPEN_US = ts_us("2026-01-02T09:30:00")


@st.composite
def days(draw: st.DrawFn) -> list[Tick]:
    """Ticks over a few minutes: several at one instant, now and then without a volume or a
    turnover, prices on the 0.02 grid (often equal, so a minute's extreme repeats)."""
    offsets = sorted(
        draw(st.lists(st.integers(0, 5 * MINUTE_US), min_size=1, max_size=60))
        + draw(st.lists(st.sampled_from([0, MINUTE_US - 1, MINUTE_US, 2 * MINUTE_US]), max_size=4))
    )
    ticks: list[Tick] = []
    for i, offset in enumerate(offsets):
        same = i > 0 and offsets[i - 1] == offset
        seq = ticks[-1].seq + 1 if same else 0
        price = draw(st.integers(1700, 1800)) * 0.02
        volume = draw(st.one_of(st.none(), st.integers(1, 50).map(lambda lots: lots * 100.0)))
        turnover = draw(st.one_of(st.none(), st.just(round(price * (volume or 100), 2))))
        ticks.append(Tick(OPEN_US + offset, seq, price, volume, turnover))
    return ticks


def minutes_of(ticks: list[Tick]) -> DayMinutes:
    return DayMinutes.of_ticks(TickArrays.from_ticks(ticks))


@settings(max_examples=200, deadline=None)
@given(days())
def test_the_minutes_summary_is_the_ticks_summary(ticks: list[Tick]) -> None:
    summary, expected = minutes_of(ticks).summary(), summarize(ticks)

    assert (summary.open, summary.high, summary.low, summary.close) == (
        expected.open, expected.high, expected.low, expected.close,
    )  # fmt: skip
    assert (summary.ticks, summary.turnover_estimated) == (
        expected.ticks,
        expected.turnover_estimated,
    )
    assert summary.volume == expected.volume  # whole shares: exact in any order
    assert summary.turnover == pytest.approx(expected.turnover, rel=1e-12)
    assert summary.vwap == pytest.approx(expected.vwap, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(days())
def test_the_price_line_reaches_every_minutes_extremes_at_their_instants(
    ticks: list[Tick],
) -> None:
    instants, prices = minutes_of(ticks).path()
    line = list(zip(instants.tolist(), prices.tolist(), strict=True))

    assert line == sorted(line, key=lambda point: point[0])  # in time order
    assert set(line) <= {(t.ts_us, t.price) for t in ticks}  # only the ticks' own points
    assert line[0] == (ticks[0].ts_us, ticks[0].price)
    assert line[-1] == (ticks[-1].ts_us, ticks[-1].price)
    for minute in {t.ts_us // MINUTE_US for t in ticks}:
        mine = [t for t in ticks if t.ts_us // MINUTE_US == minute]
        drawn = [p for ts, p in line if ts // MINUTE_US == minute]
        assert (min(drawn), max(drawn)) == (min(t.price for t in mine), max(t.price for t in mine))
        low = next(t for t in mine if t.price == min(drawn))  # the first at the low, and the high
        high = next(t for t in mine if t.price == max(drawn))
        assert (low.ts_us, low.price) in line
        assert (high.ts_us, high.price) in line
        assert len(drawn) <= 4


def test_a_busy_minute_is_drawn_from_four_points_and_a_quiet_one_from_its_own() -> None:
    busy = [make_tick(35.70 + 0.02 * ((i + 3) % 7), f"2026-01-02T09:31:{i:02d}") for i in range(60)]
    quiet = [make_tick(36.00, "2026-01-02T09:40:00")]
    instants, prices = minutes_of([*busy, *quiet]).path()

    assert len(instants) == 5  # first, low, high, last; the quiet minute's one tick
    assert prices.tolist()[-1] == 36.00
    assert min(prices[:4]) == pytest.approx(35.70)
    assert max(prices[:4]) == pytest.approx(35.82)


def test_volume_and_turnover_count_only_ticks_with_a_volume() -> None:
    ticks = [
        make_tick(35.70, "2026-01-02T09:30:00", volume=100, turnover=3570),
        make_tick(35.80, "2026-01-02T09:30:01", volume=None, turnover=9999),
        make_tick(35.90, "2026-01-02T09:31:00", volume=200, turnover=None),
    ]
    minutes = minutes_of(ticks)

    assert minutes.volume.tolist() == [100, 200]
    assert minutes.turnover.tolist() == [3570, 35.90 * 200]
    assert (minutes.volumes.tolist(), minutes.turnovers.tolist()) == ([1, 1], [2, 0])
    assert minutes.summary().turnover_estimated

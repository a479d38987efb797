"""Reading a provider's quote against what is stored (core.quotes): pure, no I/O."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from factories import make_listing, make_tick, ts_us
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.core.model import Extremes, ListingState
from tracker.core.quotes import DayCounts, Quote, QuoteRefused, Read, read_quote

LISTING = make_listing()
DAY = dt.date(2026, 1, 2)
NOW = ts_us("2026-01-02T10:00:10")
STORED = make_tick(36.0, "2026-01-02T10:00:00", volume=1000)
STATE = ListingState(STORED.ts_us, 0, {}, Extremes(STORED.ts_us, 36.5, 35.5), 36.0, 35.7)


def quote(
    price: float | None = 36.1, at: str = "2026-01-02T10:00:05", volume: float = 1500
) -> Quote:
    return Quote(ts_us(at), price, volume, None, 36.5, 35.5)


def read(
    q: Quote,
    state: ListingState = STATE,
    counts: DayCounts | None = None,
    source: str = "tencent",
) -> tuple[Read, float | None, DayCounts | None]:
    counts = counts or DayCounts(DAY, 1000.0, 0.0, "tencent", 1000.0, 0.0)
    done = read_quote(
        LISTING, q, state, counts, source=source, now_us=NOW, max_future_us=300_000_000
    )
    return done.read, None if done.tick is None else done.tick.volume, done.counts


def test_no_trade_yet_and_a_trade_of_an_earlier_day_store_nothing() -> None:
    assert read(Quote(None, None))[0] is Read.NO_TRADE
    assert read(quote(at="2025-12-31T16:08:00"))[0] is Read.STALE


def test_a_new_trade_takes_its_share_of_the_days_volume() -> None:
    kind, volume, after = read(quote(volume=1500))
    assert (kind, volume) == (Read.TICK, 500)
    assert after is not None
    assert (after.stored_volume, after.base_volume, after.source) == (1500, 1500, "tencent")


@pytest.mark.parametrize(
    ("price", "reason"),
    [(360.01, "more than 10x the last stored price 36"), (3.59, "less than a tenth")],
)
def test_a_price_out_of_all_proportion_is_refused(price: float, reason: str) -> None:
    with pytest.raises(QuoteRefused, match=reason):
        read(quote(price))


def test_before_a_first_trade_the_band_is_the_offer_prices() -> None:
    with pytest.raises(QuoteRefused, match=r"offer price 19\.6"):
        read(quote(196.01), state=ListingState(), counts=DayCounts(DAY))
    assert read(quote(195.99), state=ListingState(), counts=DayCounts(DAY))[0] is Read.TICK


def test_a_trade_far_in_the_future_or_before_the_stored_one_is_refused() -> None:
    with pytest.raises(QuoteRefused, match="future"):
        read(quote(at="2026-01-02T10:05:11"))
    with pytest.raises(QuoteRefused, match="went back"):
        read(quote(at="2026-01-02T09:59:59"))


def test_a_cumulative_volume_that_went_down_is_unknown_and_noted_and_the_count_kept() -> None:
    counts = DayCounts(DAY, 1000.0, 0.0, "tencent", 1000.0, 0.0)
    done = read_quote(
        LISTING,
        quote(volume=900),
        STATE,
        counts,
        source="tencent",
        now_us=NOW,
        max_future_us=300_000_000,
    )
    assert done.tick is not None
    assert done.tick.volume is None
    assert done.note == "cumulative volume went down: 900 < 1000"
    assert done.counts is not None
    assert done.counts.base_volume == 1000  # the next 1,200 counts 200, not 300


def test_after_a_restart_a_same_second_quote_with_more_shares_is_a_new_trade() -> None:
    restarted = DayCounts(DAY, 1000.0)  # the stored sums, no provider read yet
    same_second = quote(36.1, at="2026-01-02T10:00:00", volume=1700)
    done = read_quote(
        LISTING,
        same_second,
        STATE,
        restarted,
        source="tencent",
        now_us=NOW,
        max_future_us=300_000_000,
    )
    assert done.tick is not None
    assert (done.tick.seq, done.tick.volume) == (1, 700)


def test_another_sources_same_trade_is_not_a_new_one() -> None:
    kind, volume, after = read(quote(at="2026-01-02T10:00:00", volume=1800), source="yahoo")
    assert (kind, volume) == (Read.UNCHANGED, None)
    assert after is not None
    assert (after.source, after.base_volume, after.stored_volume) == ("yahoo", 1800, 1000)


# --- providers that count differently never count a share twice --------------------------------


@st.composite
def readings(draw: st.DrawFn) -> list[tuple[str, float, float]]:
    """Quotes from two providers in any order: (provider, its cumulative volume, the shares
    really traded so far). The second sees up to 30% fewer of the same trades."""
    steps = draw(st.lists(st.tuples(st.sampled_from("AB"), st.integers(0, 500)), max_size=30))
    seen_by_b = draw(st.floats(0.7, 1.0))
    total, seen = 0, []
    for source, traded in steps:
        total += traded
        cumulative = total if source == "A" else math.floor(total * seen_by_b)
        seen.append((source, float(cumulative), float(total)))
    return seen


@settings(max_examples=400)
@given(readings=readings(), restarts=st.lists(st.integers(0, 30), max_size=3))
def test_the_stored_volume_never_exceeds_what_traded(
    readings: list[tuple[str, float, float]], restarts: list[int]
) -> None:
    counts, state = DayCounts(DAY), ListingState()
    for i, (source, cumulative, traded) in enumerate(readings):
        if i in restarts:  # a restart: the stored sums, no provider read
            counts = DayCounts(DAY, counts.stored_volume)
        at = f"2026-01-02T10:{i // 60:02d}:{i % 60:02d}"
        done = read_quote(
            LISTING,
            Quote(ts_us(at), 36.0, cumulative),
            state,
            counts,
            source=source,
            now_us=ts_us("2026-01-02T11:00:00"),
            max_future_us=0,
        )
        assert done.tick is not None
        assert done.counts is not None
        counts = done.counts
        state = ListingState(done.tick.ts_us, done.tick.seq, last_price=36.0)
        assert counts.stored_volume <= traded
    if readings and {source for source, _, _ in readings} == {"A"}:
        assert counts.stored_volume == readings[-1][1]  # one provider: every share, once

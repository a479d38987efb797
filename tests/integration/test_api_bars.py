"""Bars of ticks computed by the database, on a SQLite file and a real PostgreSQL database.

The store's query is held to a plain reference written here, over random ticks (equal
instants with several seqs, ticks on bar edges and before 1970, missing volumes); the API's
``/bars`` is read over real HTTP on loopback, from the sample day replayed into each backend.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest
from factories import LISTINGS, SAMPLE_TAPE, make_rows, ts_us
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.config import Listings, load_listings
from tracker.core.model import ListingState, Tick
from tracker.runtime.ingest import Ingestor
from tracker.runtime.replay import replay_tape
from tracker.sources.tape import read_tape
from tracker.store.bars import Bar, tick_bars
from tracker.store.repository import SqlStore
from tracker.web.api import ReadApi
from tracker.web.events import EventHub
from tracker.web.server import WebServer

DAY_TICKS = 2_874
INTERVALS = {"1s": 1, "5s": 5, "1m": 60, "5m": 300}
BAR_KEYS = {
    "ts",
    "ts_us",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "turnover",
    "turnover_estimated",
    "trades",
    "last_ts_us",
    "last_seq",
}


def reference_bars(ticks: Sequence[Tick], interval_us: int) -> list[Bar]:
    """Bars as the contract defines them, the plain way: group, then read each group."""
    ordered = sorted(ticks, key=lambda tick: (tick.ts_us, tick.seq))
    bars = []
    for start, group in itertools.groupby(ordered, key=lambda t: t.ts_us - t.ts_us % interval_us):
        ticks_of = list(group)
        traded = [t for t in ticks_of if t.volume is not None]  # as the report counts them
        volumes = [t.volume for t in traded]
        turnovers = [t.price * t.volume if t.turnover is None else t.turnover for t in traded]
        bars.append(
            Bar(
                start_us=start,
                open=ticks_of[0].price,
                high=max(t.price for t in ticks_of),
                low=min(t.price for t in ticks_of),
                close=ticks_of[-1].price,
                volume=math.fsum(volumes) if volumes else None,
                turnover=math.fsum(turnovers) if turnovers else None,
                trades=len(ticks_of),
                last_ts_us=ticks_of[-1].ts_us,
                last_seq=ticks_of[-1].seq,
                turnover_estimated=any(t.turnover is None for t in traded),
            )
        )
    return bars


def approximately(bars: Sequence[Bar]) -> list[Bar]:
    """Bars whose sums compare to 1e-9: a database adds in its own order (PostgreSQL in parallel).

    (The random ticks' amounts are whole numbers, which doubles add exactly in any order.)
    """

    def near(amount: float | None) -> Any:
        return None if amount is None else pytest.approx(amount, rel=1e-9)

    return [
        Bar(
            b.start_us,
            b.open,
            b.high,
            b.low,
            b.close,
            near(b.volume),
            near(b.turnover),
            b.trades,
            b.last_ts_us,
            b.last_seq,
            b.turnover_estimated,
        )
        for b in bars
    ]


# --- the store's query against the reference ---------------------------------------------------

EDGE_BASES = [ts_us("2026-01-02T09:30:00+08:00"), ts_us("1969-12-31T23:55:00+00:00")]
_listing_ids = (f"random-{n}" for n in itertools.count())


@st.composite
def random_ticks(draw: st.DrawFn) -> tuple[int, list[Tick]]:
    """An interval, and ticks near its bar edges: several at one instant, some with no volume."""
    interval_us = draw(st.sampled_from(sorted(INTERVALS.values()))) * 1_000_000
    base = draw(st.sampled_from(EDGE_BASES))
    base -= base % interval_us  # a bar edge
    offsets = st.sampled_from([0, 1, interval_us // 2, interval_us - 1])
    instants = draw(
        st.lists(
            st.builds(lambda k, d: base + k * interval_us + d, st.integers(-2, 3), offsets),
            min_size=1,
            max_size=40,
        )
    )
    amounts = st.one_of(st.none(), st.integers(0, 10**9).map(float))
    ticks = []
    for instant, seqs in itertools.groupby(sorted(instants)):
        seq = draw(st.integers(0, 3))  # a seq need not start at 0, only grow at one instant
        for _ in seqs:
            price = draw(st.sampled_from([19.6, 35.7, 35.72, 42.88, 0.01, 1e6]))
            ticks.append(Tick(instant, seq, price, draw(amounts), draw(amounts)))
            seq += draw(st.integers(1, 3))
    return interval_us, ticks


@pytest.fixture
def store(db_url: str, open_store: Callable[[str], SqlStore]) -> SqlStore:
    """An empty store on each backend in turn."""
    return open_store(db_url)


def store_ticks(store: SqlStore, ticks: Sequence[Tick]) -> str:
    """The ticks stored under a listing id of their own (examples share the database)."""
    listing_id = next(_listing_ids)
    last = ticks[-1]
    store.commit([make_rows(listing_id, ticks, [], ListingState(last.ts_us, last.seq))], [])
    return listing_id


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawn=random_ticks(), cut=st.tuples(st.integers(0, 100), st.integers(0, 100)))
def test_bars_equal_the_reference_of_the_same_ticks(
    store: SqlStore, drawn: tuple[int, list[Tick]], cut: tuple[int, int]
) -> None:
    interval_us, ticks = drawn
    listing_id = store_ticks(store, ticks)
    bars = tick_bars(store.engine, listing_id, interval_us)
    assert bars == approximately(reference_bars(ticks, interval_us))
    # a window [start, end) of instants the ticks have: its bars are of its ticks only
    instants = sorted({tick.ts_us for tick in ticks})
    start = instants[cut[0] * (len(instants) - 1) // 100]
    end = instants[cut[1] * (len(instants) - 1) // 100]
    inside = [tick for tick in ticks if start <= tick.ts_us < end]
    window = tick_bars(store.engine, listing_id, interval_us, start, end)
    assert window == approximately(reference_bars(inside, interval_us))


def test_a_tick_with_a_volume_and_no_turnover_counts_at_its_price_as_in_the_report(
    store: SqlStore,
) -> None:
    at = ts_us("2026-01-02T09:30:00+08:00")
    ticks = [Tick(at, 0, 35.0, 100, 3500.0), Tick(at, 1, 36.0, 100), Tick(at, 2, 36.0, 100, 3600.0)]
    [bar] = tick_bars(store.engine, store_ticks(store, ticks), 60_000_000)
    assert (bar.volume, bar.turnover, bar.turnover_estimated) == (300, 10_700, True)
    assert round(bar.turnover / bar.volume, 2) == 35.67  # the report's (estimated) VWAP
    alone = [Tick(at, 0, 35.0, 100, 3500.0), Tick(at, 1, 36.0, None, 9.0)]  # no volume: no part
    [bar] = tick_bars(store.engine, store_ticks(store, alone), 60_000_000)
    assert (bar.volume, bar.turnover, bar.turnover_estimated) == (100, 3500, False)


def test_a_bar_of_ticks_with_no_volume_has_null_sums_and_the_seq_order_decides_open_and_close(
    store: SqlStore,
) -> None:
    at = ts_us("2026-01-02T09:30:00+08:00")
    ticks = [
        Tick(at, 0, 35.70),
        Tick(at, 1, 36.00),
        Tick(at + 59_999_999, 0, 35.90),
        Tick(at + 59_999_999, 5, 35.80),  # the same instant: its greater seq is the close
        Tick(at + 60_000_000, 0, 36.10, 100.0, None),  # the next bar's edge
    ]
    listing_id = store_ticks(store, ticks)

    first, second = tick_bars(store.engine, listing_id, 60_000_000)

    assert first == Bar(at, 35.70, 36.00, 35.70, 35.80, None, None, 4, at + 59_999_999, 5)
    edge = at + 60_000_000
    estimated = pytest.approx(36.10 * 100)  # its price x volume: a volume with no turnover
    assert second == Bar(edge, 36.10, 36.10, 36.10, 36.10, 100.0, estimated, 1, edge, 0, True)


def test_bars_of_a_listing_leave_other_listings_ticks_out(store: SqlStore) -> None:
    at = ts_us("2026-01-02T09:30:00+08:00")
    mine = store_ticks(store, [Tick(at, 0, 35.70, 10.0)])
    store_ticks(store, [Tick(at, 0, 99.0, 1.0), Tick(at, 1, 98.0, 1.0)])
    [bar] = tick_bars(store.engine, mine, 60_000_000)
    assert (bar.high, bar.trades, bar.volume) == (35.70, 1, 10.0)


def test_no_ticks_make_no_bars(store: SqlStore) -> None:
    assert tick_bars(store.engine, "nothing-stored", 1_000_000) == []


# --- the API over real HTTP, on the sample day ---------------------------------------------------


@pytest.fixture(scope="module")
def listings() -> Listings:
    return load_listings(LISTINGS)


@pytest.fixture
def day(store: SqlStore, listings: Listings) -> SqlStore:
    """The sample day, replayed into the store."""
    listing = listings.get("biren")
    replay_tape(listing, read_tape(SAMPLE_TAPE, listing.timezone), Ingestor(store, []), 500)
    return store


@pytest.fixture
def client(day: SqlStore, listings: Listings) -> Iterator[httpx.Client]:
    with (
        WebServer(ReadApi(day, listings), EventHub(), "127.0.0.1", 0) as web,
        httpx.Client(base_url=web.url.rstrip("/"), timeout=30) as http,
    ):
        yield http


def payload_ticks(payload: dict[str, Any]) -> list[Tick]:
    """The ticks of a ``/ticks`` answer."""
    return [
        Tick(t["ts_us"], t["seq"], t["price"], t["volume"], t["turnover"]) for t in payload["ticks"]
    ]


def payload_bars(payload: dict[str, Any]) -> list[Bar]:
    """The bars of a ``/bars`` answer."""
    return [
        Bar(
            b["ts_us"],
            b["open"],
            b["high"],
            b["low"],
            b["close"],
            b["volume"],
            b["turnover"],
            b["trades"],
            b["last_ts_us"],
            b["last_seq"],
            b["turnover_estimated"],
        )
        for b in payload["bars"]
    ]


def test_bars_default_to_minutes_of_the_last_stored_day(client: httpx.Client) -> None:
    answer = client.get("/api/listings/biren/bars")
    assert answer.status_code == 200
    payload = answer.json()
    assert {k: v for k, v in payload.items() if k != "bars"} == {
        "listing": "biren",
        "date": "2026-01-02",
        "interval": "1m",
        "interval_s": 60,
    }
    first = payload["bars"][0]
    assert set(first) == BAR_KEYS
    assert first["ts"] == "2026-01-02T09:20:00+08:00"  # the opening auction's print
    assert first["ts_us"] == 1_767_316_800_000_000
    assert (first["open"], first["trades"], first["last_seq"]) == (35.7, 1, 0)
    assert first["volume"] == 3_703_400
    assert sum(bar["trades"] for bar in payload["bars"]) == DAY_TICKS
    assert payload["bars"][-1]["close"] == 34.46  # the closing auction's print
    assert client.get("/api/listings/biren/bars?interval=1m&date=2026-01-02").json() == payload


@pytest.mark.parametrize("interval", list(INTERVALS))
def test_bars_of_each_interval_equal_the_reference_of_the_served_ticks(
    client: httpx.Client, interval: str
) -> None:
    ticks = payload_ticks(client.get("/api/listings/biren/ticks").json())
    payload = client.get(f"/api/listings/biren/bars?interval={interval}").json()
    assert payload["interval_s"] == INTERVALS[interval]
    expected = reference_bars(ticks, INTERVALS[interval] * 1_000_000)
    assert payload_bars(payload) == approximately(expected)
    assert all(bar["ts_us"] % (INTERVALS[interval] * 1_000_000) == 0 for bar in payload["bars"])


def test_a_bars_last_key_is_where_the_ticks_go_on(client: httpx.Client) -> None:
    bars = client.get("/api/listings/biren/bars?interval=5m").json()["bars"]
    cut = bars[len(bars) // 2]
    after = f"{cut['last_ts_us']}:{cut['last_seq']}"
    rest = client.get(f"/api/listings/biren/ticks?after={after}").json()["ticks"]
    later = client.get(f"/api/listings/biren/bars?interval=5m&since={rest[0]['ts_us']}").json()
    assert sum(bar["trades"] for bar in later["bars"]) == len(rest)
    assert sum(bar["trades"] for bar in bars[: len(bars) // 2 + 1]) + len(rest) == DAY_TICKS


def test_bars_since_an_instant_are_of_the_ticks_from_it_on(client: httpx.Client) -> None:
    since = "2026-01-02T16:08:30"
    ticks = payload_ticks(client.get(f"/api/listings/biren/ticks?since={since}").json())
    payload = client.get(f"/api/listings/biren/bars?interval=1m&since={since}").json()
    assert payload["date"] is None
    assert payload_bars(payload) == approximately(reference_bars(ticks, 60_000_000))
    [closing] = payload["bars"]  # 16:08:30 is mid-bar: only that bar's ticks from it on
    assert closing["ts"] == "2026-01-02T16:09:00+08:00"


def test_a_day_with_no_ticks_has_no_bars(client: httpx.Client) -> None:
    payload = client.get("/api/listings/biren/bars?date=2026-01-05&interval=5s").json()
    assert payload == {
        "listing": "biren",
        "date": "2026-01-05",
        "interval": "5s",
        "interval_s": 5,
        "bars": [],
    }


def test_with_nothing_stored_there_is_no_day_and_no_bars(
    store: SqlStore, listings: Listings
) -> None:
    payload = ReadApi(store, listings).answer("/api/listings/biren/bars", {}).payload
    assert payload == {
        "listing": "biren",
        "date": None,
        "interval": "1m",
        "interval_s": 60,
        "bars": [],
    }


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("interval=2m", "interval '2m': one of 1s, 5s, 1m, 5m"),
        ("interval=1M", "interval '1M': one of 1s, 5s, 1m, 5m"),
        ("interval=60", "interval '60': one of 1s, 5s, 1m, 5m"),
        ("date=Friday", "date 'Friday': not a date (YYYY-MM-DD)"),
        ("since=soon", "since 'soon': not an ISO 8601 time nor epoch microseconds"),
    ],
)
def test_a_bad_bars_query_is_400_naming_the_value(
    client: httpx.Client, query: str, error: str
) -> None:
    answer = client.get(f"/api/listings/biren/bars?{query}")
    assert answer.status_code == 400
    assert answer.json() == {"error": error}


def test_bars_of_an_unknown_listing_are_404(client: httpx.Client) -> None:
    answer = client.get("/api/listings/nope/bars")
    assert answer.status_code == 404
    assert "nope" in answer.json()["error"]

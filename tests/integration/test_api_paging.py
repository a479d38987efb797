"""Pages of ticks read by key (``limit``, ``after``), on SQLite and a real PostgreSQL server.

Paging through a selection with ``next`` gives every tick of it exactly once, in order, on
the store (random ticks, many at one instant, page edges among them) and over real HTTP
(the sample day replayed into each backend).
"""

from __future__ import annotations

import itertools
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
from tracker.store.repository import SqlStore
from tracker.web.api import ReadApi
from tracker.web.events import EventHub
from tracker.web.server import WebServer

DAY_TICKS = 2_874
_listing_ids = (f"paged-{n}" for n in itertools.count())


@pytest.fixture
def store(db_url: str, open_store: Callable[[str], SqlStore]) -> SqlStore:
    """An empty store on each backend in turn."""
    return open_store(db_url)


# --- the store's keyset read ---------------------------------------------------------------------


@st.composite
def crowded_ticks(draw: st.DrawFn) -> list[Tick]:
    """Ticks in (ts, seq) order, many of them at a few instants."""
    at = ts_us("2026-01-02T09:30:00+08:00")
    counts = draw(st.lists(st.integers(1, 6), min_size=1, max_size=12))
    ticks = []
    for n, count in enumerate(counts):
        first = draw(st.integers(0, 2))
        ticks += [Tick(at + n * 1_000_000, first + k, 35.0 + k / 100) for k in range(count)]
    return ticks


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ticks=crowded_ticks(), limit=st.integers(1, 8))
def test_paging_by_key_gives_every_tick_once_in_order(
    store: SqlStore, ticks: list[Tick], limit: int
) -> None:
    listing_id = next(_listing_ids)
    store.commit(
        [make_rows(listing_id, ticks, [], ListingState(ticks[-1].ts_us, ticks[-1].seq))], []
    )
    read: list[Tick] = []
    after = None
    for _ in range(len(ticks) + 1):
        page = store.ticks(listing_id, after=after, limit=limit)
        assert len(page) <= limit
        read += page
        if len(page) < limit:
            break
        after = (page[-1].ts_us, page[-1].seq)
    assert read == ticks


def test_a_page_stays_within_its_window_and_after_its_cursor(store: SqlStore) -> None:
    at = ts_us("2026-01-02T09:30:00+08:00")
    ticks = [Tick(at + s * 1_000_000, q, 35.0) for s in range(3) for q in range(3)]
    store.commit([make_rows("biren", ticks, [], ListingState(ticks[-1].ts_us, 2))], [])
    page = store.ticks("biren", at, at + 2_000_000, after=(at + 1_000_000, 0), limit=10)
    assert [(t.ts_us - at, t.seq) for t in page] == [(1_000_000, 1), (1_000_000, 2)]
    assert store.ticks("biren", after=(at, 1)) == ticks[2:]  # no limit: all of them


# --- the API over real HTTP, on the sample day ---------------------------------------------------


@pytest.fixture(scope="module")
def listings() -> Listings:
    return load_listings(LISTINGS)


@pytest.fixture
def client(store: SqlStore, listings: Listings) -> Iterator[httpx.Client]:
    """A client of a server of the sample day, replayed into the store."""
    listing = listings.get("biren")
    replay_tape(listing, read_tape(SAMPLE_TAPE, listing.timezone), Ingestor(store, []), 500)
    with (
        WebServer(ReadApi(store, listings), EventHub(), "127.0.0.1", 0) as web,
        httpx.Client(base_url=web.url.rstrip("/"), timeout=30) as http,
    ):
        yield http


def page_through(client: httpx.Client, query: str, limit: int) -> list[list[dict[str, Any]]]:
    """Every page of a selection, following ``next``."""
    pages = []
    after = ""
    while True:
        answer = client.get(f"/api/listings/biren/ticks?{query}&limit={limit}{after}")
        assert answer.status_code == 200, answer.text
        payload = answer.json()
        pages.append(payload["ticks"])
        if payload["next"] is None:
            return pages
        last = payload["ticks"][-1]
        assert payload["next"] == f"{last['ts_us']}:{last['seq']}"
        after = f"&after={payload['next']}"


def keys(ticks: Sequence[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(t["ts_us"], t["seq"]) for t in ticks]


@pytest.mark.parametrize("limit", [1_000, 97, DAY_TICKS - 1])
def test_paging_through_a_day_returns_every_tick_once_in_order(
    client: httpx.Client, limit: int
) -> None:
    whole = client.get("/api/listings/biren/ticks?date=2026-01-02").json()["ticks"]
    pages = page_through(client, "date=2026-01-02", limit)
    assert [tick for page in pages for tick in page] == whole
    assert len(pages) == -(-DAY_TICKS // limit)
    assert all(len(page) == limit for page in pages[:-1])
    # some pages end among ticks of one instant: the next one starts at the next seq
    edges = [(a[-1], b[0]) for a, b in itertools.pairwise(pages)]
    assert limit != 97 or any(last["ts_us"] == first["ts_us"] for last, first in edges)


def test_a_limit_that_takes_the_whole_selection_has_no_next(client: httpx.Client) -> None:
    payload = client.get(f"/api/listings/biren/ticks?limit={DAY_TICKS}").json()
    assert len(payload["ticks"]) == DAY_TICKS
    assert payload["next"] is None
    assert payload["date"] == "2026-01-02"


def test_without_a_limit_the_answer_is_as_it_always_was(client: httpx.Client) -> None:
    payload = client.get("/api/listings/biren/ticks").json()
    assert set(payload) == {"listing", "date", "ticks"}  # no "next"
    assert len(payload["ticks"]) == DAY_TICKS


def test_without_a_limit_a_day_over_a_page_stops_at_a_page_and_says_where_it_goes_on(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.web import api

    whole = client.get("/api/listings/biren/ticks").json()["ticks"]
    monkeypatch.setattr(api, "PAGE_MAX", 1_000)  # a day of 2,874 ticks is then a busy one
    first = client.get("/api/listings/biren/ticks").json()
    assert first["ticks"] == whole[:1_000]
    assert first["next"] == f"{whole[999]['ts_us']}:{whole[999]['seq']}"
    rest = client.get(f"/api/listings/biren/ticks?after={first['next']}").json()
    assert rest["ticks"] == whole[1_000:2_000]


def test_after_alone_gives_the_rest_of_the_selection(client: httpx.Client) -> None:
    whole = client.get("/api/listings/biren/ticks").json()["ticks"]
    cut = next(n for n, t in enumerate(whole) if t["seq"] == 1)  # after the first of an instant
    cursor = f"{whole[cut - 1]['ts_us']}:{whole[cut - 1]['seq']}"
    rest = client.get(f"/api/listings/biren/ticks?after={cursor}").json()
    assert set(rest) == {"listing", "date", "ticks"}
    assert rest["ticks"] == whole[cut:]


def test_paging_from_an_instant_on_keeps_to_it(client: httpx.Client) -> None:
    since = "2026-01-02T15:00"
    whole = client.get(f"/api/listings/biren/ticks?since={since}").json()["ticks"]
    pages = page_through(client, f"since={since}", 50)
    assert keys([tick for page in pages for tick in page]) == keys(whole)
    # a cursor before the instant does not widen the selection
    early = client.get(f"/api/listings/biren/ticks?since={since}&after=0:0&limit=5").json()
    assert early["ticks"] == whole[:5]


def test_a_page_of_a_day_with_no_ticks_is_empty_with_no_next(client: httpx.Client) -> None:
    payload = client.get("/api/listings/biren/ticks?date=2026-01-05&limit=10").json()
    assert payload == {"listing": "biren", "date": "2026-01-05", "ticks": [], "next": None}


def test_with_nothing_stored_a_page_is_empty(store: SqlStore, listings: Listings) -> None:
    payload = ReadApi(store, listings).answer("/api/listings/biren/ticks", {"limit": "5"}).payload
    assert payload == {"listing": "biren", "date": None, "ticks": [], "next": None}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("limit=0", "limit '0': not a whole number from 1 to 100000"),
        ("limit=100001", "limit '100001': not a whole number from 1 to 100000"),
        ("limit=-5", "limit '-5': not a whole number from 1 to 100000"),
        ("limit=1.5", "limit '1.5': not a whole number from 1 to 100000"),
        ("limit=ten", "limit 'ten': not a whole number from 1 to 100000"),
        ("limit=" + "9" * 5000, "not a whole number from 1 to 100000"),
        ("after=soon", "after 'soon': not a cursor TS_US:SEQ"),
        ("after=1767316800000000", "after '1767316800000000': not a cursor TS_US:SEQ"),
        ("after=1767316800000000:1:2", "after '1767316800000000:1:2': not a cursor TS_US:SEQ"),
        ("after=:0", "after ':0': not a cursor TS_US:SEQ"),
        ("after=1767316800000000:-1", "after '1767316800000000:-1': not a cursor TS_US:SEQ"),
        ("after=99999999999999999999:0", "outside the years 1900-2199"),
        ("after=1767316800000000:99999999999", "seq is above 2147483647"),
    ],
)
def test_a_bad_limit_or_cursor_is_400_naming_the_value(
    client: httpx.Client, query: str, error: str
) -> None:
    answer = client.get(f"/api/listings/biren/ticks?{query}")
    assert answer.status_code == 400
    assert error in answer.json()["error"]


def test_the_greatest_limit_is_taken(client: httpx.Client) -> None:
    payload = client.get("/api/listings/biren/ticks?limit=100000").json()
    assert (len(payload["ticks"]), payload["next"]) == (DAY_TICKS, None)

"""The live poll path: real HTTP on loopback, a real SQLite file, time set by the test."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import FixedClock, Wall, make_listing, make_rule, ts_us
from quote_server import QuoteServer
from sql_trace import transactions

from tracker.alerts.sinks import JsonlAlertLog
from tracker.config import JsonFields
from tracker.markets.calendar import MarketCalendar
from tracker.runtime.ingest import Ingestor
from tracker.runtime.poller import ListingPoller, PolledSource, PollSettings
from tracker.sources.providers.http_json import HttpJsonProvider
from tracker.store.repository import SqlStore

LISTING = make_listing(
    rules=(make_rule(80), make_rule(100e9, kind="market_cap", id="mcap-100b"), make_rule(100))
)
FIELDS = JsonFields(
    price="price", time="ts", volume="volume", turnover="turnover", high="high", low="low"
)
CALENDAR = MarketCalendar("XHKG")


def quote(
    price: float | None = 36.0,
    ts: str | None = "2026-01-02T09:31:00+08:00",
    volume: float | None = 1000,
    high: float | None = None,
    low: float | None = None,
) -> dict[str, Any]:
    return {
        "price": price,
        "ts": ts,
        "volume": volume,
        "turnover": None if volume is None or price is None else volume * price,
        "high": high if high is not None else price,
        "low": low if low is not None else price,
    }


@pytest.fixture
def make_poller(
    server: QuoteServer, store: SqlStore, client: httpx.Client, tmp_path: Path
) -> Callable[..., ListingPoller]:
    def make(clock: FixedClock, wall: Wall | None = None, **settings: float) -> ListingPoller:
        ingestor = Ingestor(store, [JsonlAlertLog(tmp_path / "alerts.jsonl")])
        provider = HttpJsonProvider(server.url, FIELDS, timezone=LISTING.timezone, timeout=2)
        source = PolledSource(provider, PollSettings(**settings))
        return ListingPoller(LISTING, [source], ingestor, CALENDAR, clock, client, wall or Wall())

    return make


def logged(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(
    ("when", "requests"),
    [
        ("2026-01-02T09:25:00+08:00", 1),  # pre-opening auction
        ("2026-01-02T09:31:00+08:00", 1),
        ("2026-01-02T13:01:00+08:00", 1),
        ("2026-01-02T16:05:00+08:00", 1),  # closing auction
        ("2026-01-02T12:30:00+08:00", 0),  # lunch
        ("2026-01-02T20:00:00+08:00", 0),
        ("2026-01-03T10:00:00+08:00", 0),  # Saturday
        ("2026-02-17T10:00:00+08:00", 0),  # Lunar New Year
        ("2026-02-16T12:05:00+08:00", 1),  # half day: closing auction 12:00-12:10
        ("2026-02-16T12:11:00+08:00", 1),  # its close grace: no closing print stored yet
        ("2026-02-16T12:15:00+08:00", 0),  # half day, the grace over
        ("2026-02-16T14:00:00+08:00", 0),
        ("2026-01-02T16:14:59+08:00", 1),  # the close grace (5 minutes by default)
        ("2026-01-02T16:15:00+08:00", 0),
    ],
)
def test_polls_only_while_the_market_trades(
    make_poller: Callable[..., ListingPoller], server: QuoteServer, when: str, requests: int
) -> None:
    server.respond(body=quote(ts=when))
    poller = make_poller(FixedClock(when))
    outcome = poller.poll()
    assert server.requests == requests
    assert (outcome == "idle") == (requests == 0)


def test_cumulative_volume_becomes_per_tick_volume_and_repeats_store_nothing(
    make_poller: Callable[..., ListingPoller], server: QuoteServer, store: SqlStore
) -> None:
    clock = FixedClock("2026-01-02T09:31:00+08:00")
    poller = make_poller(clock)
    server.respond(body=quote(36.0, "2026-01-02T09:31:00+08:00", 1000))
    assert poller.poll() == "tick"
    assert poller.poll() == "unchanged"
    server.respond(body=quote(36.1, "2026-01-02T09:31:00+08:00", 1500))  # same second, more trades
    clock.set("2026-01-02T09:31:05+08:00")
    assert poller.poll() == "tick"
    server.respond(body=quote(36.2, "2026-01-02T09:31:07+08:00", 2100))
    clock.set("2026-01-02T09:31:10+08:00")
    poller.poll()
    ticks = store.ticks("biren")
    assert [(t.seq, t.price, t.volume) for t in ticks] == [
        (0, 36.0, 1000),
        (1, 36.1, 500),
        (0, 36.2, 600),
    ]
    assert ticks[1].turnover == pytest.approx(36.1 * 1500 - 36.0 * 1000)


def test_no_trade_yet_is_not_a_fault(
    make_poller: Callable[..., ListingPoller], server: QuoteServer, store: SqlStore
) -> None:
    server.respond(body=quote(price=None, ts=None, volume=0))
    poller = make_poller(FixedClock("2026-01-02T09:05:00+08:00"))
    assert poller.poll() == "no trade yet"
    assert poller.stats.errors == 0
    assert store.count("ticks") == 0


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ({"status": 503}, "HTTP 503"),
        ({"status": 429, "Retry_After": "30"}, "HTTP 429"),
        ({"body": b'{"price": 36.0, "ts": '}, "garbage"),
        ({"body": quote(ts="2026-01-02T09:29:00+08:00")}, "trade time went back"),
        ({"body": quote(ts="2026-01-02T11:00:00+08:00")}, "future"),
        ({"body": {**quote(), "price": -1, "turnover": None}}, "bad price"),
        ({"body": quote(360.01)}, "more than 10x the last stored price 36"),
        ({"body": quote(3.59)}, "less than a tenth of the last stored price 36"),
        ({"body": quote(36.0, high=400.0)}, "high 400 is more than 10x"),
        ({"body": {**quote(1e308), "turnover": None}}, "price 1e+308 is above 1,000,000,000"),
        ({"body": {**quote(1e-308), "turnover": None}}, "price 1e-308 is below 0.000001"),
        ({"body": quote(36.0, high=1e300)}, "high 1e+300 is above 1,000,000,000"),
        ({"body": {**quote(36.0), "volume": 1e300}}, "volume 1e+300 is above 1e+15"),
    ],
)
def test_a_fault_is_logged_once_stores_nothing_and_polling_goes_on(
    make_poller: Callable[..., ListingPoller],
    server: QuoteServer,
    store: SqlStore,
    caplog: pytest.LogCaptureFixture,
    response: dict[str, Any],
    reason: str,
) -> None:
    clock, wall = FixedClock("2026-01-02T09:31:00+08:00"), Wall()
    poller = make_poller(clock, wall)
    server.respond(body=quote(36.0, "2026-01-02T09:30:00+08:00", 1000))
    poller.poll()
    headers = {k.replace("_", "-"): v for k, v in response.items() if k not in ("status", "body")}
    server.respond(response.get("status", 200), response.get("body", b""), **headers)
    for _ in range(3):
        clock.set("2026-01-02T09:31:05+08:00")
        wall.now += 120  # past any backoff
        assert poller.poll() == "fault"
    assert store.count("ticks") == 1
    assert poller.stats.errors == 3
    assert len([r for r in caplog.records if reason in r.getMessage()]) == 1
    server.respond(body=quote(36.4, "2026-01-02T09:31:04+08:00", 1200))
    wall.now += 120
    assert poller.poll() == "tick"
    assert store.count("ticks") == 2


@pytest.mark.parametrize("price", [1e308, 1e-308])
def test_a_first_quote_out_of_range_is_a_bad_quote_and_polling_goes_on(
    make_poller: Callable[..., ListingPoller],
    server: QuoteServer,
    store: SqlStore,
    caplog: pytest.LogCaptureFixture,
    price: float,
) -> None:
    clock, wall = FixedClock("2026-01-02T09:31:00+08:00"), Wall()
    poller = make_poller(clock, wall)  # nothing stored yet: no last price to compare with
    server.respond(body={**quote(price, "2026-01-02T09:30:00+08:00", 1000), "turnover": None})

    assert poller.poll() == "fault"
    wall.now += 120
    assert poller.poll() == "fault"

    assert store.count("ticks") == 0
    assert len([r for r in caplog.records if f"price {price:g} is" in r.getMessage()]) == 1
    server.respond(body=quote(36.4, "2026-01-02T09:30:04+08:00", 1200))
    wall.now += 120
    assert poller.poll() == "tick"


def test_retry_after_holds_polls_back_in_wall_time(
    make_poller: Callable[..., ListingPoller], server: QuoteServer
) -> None:
    wall = Wall()
    poller = make_poller(FixedClock(), wall)
    server.respond(429, b"slow down", **{"Retry-After": "30"})
    assert poller.poll() == "fault"
    wall.now += 29
    assert poller.poll() == "backoff"
    assert server.requests == 1
    wall.now += 2
    poller.poll()
    assert server.requests == 2


def test_a_source_down_for_long_gets_one_down_and_one_back_notice(
    make_poller: Callable[..., ListingPoller], server: QuoteServer, tmp_path: Path
) -> None:
    clock, wall = FixedClock("2026-01-02T10:00:00+08:00"), Wall()
    poller = make_poller(clock, wall, down_after=300)
    server.respond(500)
    for minute in range(0, 12):
        clock.set(f"2026-01-02T10:{minute:02d}:00+08:00")
        wall.now += 120
        poller.poll()
    server.respond(body=quote(36.0, "2026-01-02T10:12:00+08:00", 1000))
    clock.set("2026-01-02T10:12:00+08:00")
    wall.now += 120
    poller.poll()
    notices = [r for r in logged(tmp_path) if r["kind"] == "source"]
    assert [(n["event"], n["ts"]) for n in notices] == [
        ("down", "2026-01-02T10:05:00+08:00"),
        ("back", "2026-01-02T10:12:00+08:00"),
    ]
    assert notices[0]["reason"] == "HTTP 500"


def test_a_new_high_between_polls_fires_an_armed_rule_as_inferred(
    make_poller: Callable[..., ListingPoller], server: QuoteServer, tmp_path: Path
) -> None:
    clock = FixedClock("2026-01-02T10:14:00+08:00")
    poller = make_poller(clock)
    server.respond(body=quote(37.0, "2026-01-02T10:14:00+08:00", 1000, high=37.2, low=35.0))
    poller.poll()
    # between two polls the price touched 37.90 and came back to 37.60
    server.respond(body=quote(37.6, "2026-01-02T10:15:05+08:00", 2000, high=37.9, low=35.0))
    clock.set("2026-01-02T10:15:05+08:00")
    poller.poll()
    records = logged(tmp_path)
    mcap = [r for r in records if r["rule"] == "mcap-100b"]
    assert len(mcap) == 1
    assert mcap[0]["inferred"] is True
    assert mcap[0]["price"] == 37.9
    assert mcap[0]["ts"] == "2026-01-02T10:15:05+08:00"
    # the same high again fires nothing; an inferred crossing never re-arms
    clock.set("2026-01-02T10:15:10+08:00")
    server.respond(body=quote(37.5, "2026-01-02T10:15:09+08:00", 2100, high=37.9, low=35.0))
    poller.poll()
    assert len([r for r in logged(tmp_path) if r["rule"] == "mcap-100b"]) == 1


def test_after_a_restart_that_missed_polls_a_crossing_fires_once_as_late(
    make_poller: Callable[..., ListingPoller], server: QuoteServer, tmp_path: Path, store: SqlStore
) -> None:
    clock = FixedClock("2026-01-02T10:10:00+08:00")
    server.respond(body=quote(37.0, "2026-01-02T10:10:00+08:00", 1000, high=37.2))
    make_poller(clock).poll()
    # the daemon was down 10:10-10:20; meanwhile the price crossed the market-cap level
    clock.set("2026-01-02T10:20:00+08:00")
    server.respond(body=quote(38.0, "2026-01-02T10:19:58+08:00", 9000, high=38.1))
    restarted = make_poller(clock)
    restarted.poll()
    clock.set("2026-01-02T10:20:05+08:00")
    server.respond(body=quote(38.5, "2026-01-02T10:20:03+08:00", 9500, high=38.5))
    restarted.poll()
    mcap = [r for r in logged(tmp_path) if r["rule"] == "mcap-100b"]
    assert len(mcap) == 1
    assert mcap[0]["late"] is True
    assert [t.volume for t in store.ticks("biren")] == [1000, 8000, 500]


def test_a_poll_right_after_the_last_is_not_late(
    make_poller: Callable[..., ListingPoller], server: QuoteServer, tmp_path: Path
) -> None:
    clock = FixedClock("2026-01-02T10:14:55+08:00")
    server.respond(body=quote(37.0, "2026-01-02T10:14:55+08:00", 1000))
    make_poller(clock).poll()
    clock.set("2026-01-02T10:15:00+08:00")
    server.respond(body=quote(37.86, "2026-01-02T10:15:00+08:00", 2000))
    make_poller(clock).poll()
    [mcap] = [r for r in logged(tmp_path) if r["rule"] == "mcap-100b"]
    assert mcap["late"] is False
    assert mcap["inferred"] is False


def test_a_poll_with_a_trade_stores_its_own_state_in_the_ticks_transaction(
    make_poller: Callable[..., ListingPoller],
    server: QuoteServer,
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FixedClock("2026-01-02T09:31:00+08:00")
    poller = make_poller(clock)
    server.respond(body=quote(36.0, "2026-01-02T09:31:00+08:00", 1000))

    def separately(*_: object) -> None:
        raise AssertionError("the poll's state was written in a transaction of its own")

    monkeypatch.setattr(store, "save_pollers", separately)
    with transactions(store.engine) as traced:
        assert poller.poll() == "tick"
    writes_pollers = [tx for tx in traced if any("INTO pollers" in s for s in tx)]
    assert len(writes_pollers) == 1  # once, and in the transaction that stores the tick
    assert any("INTO ticks" in statement for statement in writes_pollers[0])
    assert store.load_poller("biren").last_poll_us == ts_us("2026-01-02T09:31:00+08:00")
    monkeypatch.undo()
    clock.set("2026-01-02T09:31:05+08:00")
    assert poller.poll() == "unchanged"  # nothing to store: the state goes on its own
    assert store.load_poller("biren").last_poll_us == ts_us("2026-01-02T09:31:05+08:00")

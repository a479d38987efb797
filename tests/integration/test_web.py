"""The live page's server over real HTTP on loopback, on a real SQLite file of the sample day."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import LISTINGS, SAMPLE_TAPE, FixedClock, make_tick

from tracker.config import Listings, load_listings
from tracker.core.batch import TickArrays
from tracker.core.model import Extremes
from tracker.runtime.ingest import Ingestor
from tracker.runtime.replay import replay_tape
from tracker.sources.tape import read_tape
from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SourceDay, SqlStore
from tracker.web.api import ReadApi
from tracker.web.events import EventHub, LiveEvent, StoreWatcher
from tracker.web.server import WebServer, parse_address

DAY_TICKS = 2_874
DAY_RULES = ["gain_pct-up-50", "gain_pct-up-80", "mcap-100b", "gain_pct-up-100"]
# 40.00 on the next trading day: the rules the day re-armed (its low was 33.50) fire again
CROSSING_RULES = ["gain_pct-up-80", "mcap-100b", "gain_pct-up-100"]


@pytest.fixture(scope="module")
def listings() -> Listings:
    return load_listings(LISTINGS)


@pytest.fixture(scope="module")
def replayed_day(tmp_path_factory: pytest.TempPathFactory, listings: Listings) -> Path:
    """A SQLite file holding the sample day, replayed once for the module."""
    path = tmp_path_factory.mktemp("day") / "tracker.db"
    store = open_sqlite(path)
    listing = listings.get("biren")
    replay_tape(listing, read_tape(SAMPLE_TAPE, listing.timezone), Ingestor(store, []), 500)
    store.close()
    return path


def open_sqlite(path: Path) -> SqlStore:
    engine = create_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    return SqlStore(engine)


@pytest.fixture
def store(replayed_day: Path, tmp_path: Path) -> Iterator[SqlStore]:
    """This test's own copy of the replayed day."""
    path = tmp_path / "tracker.db"
    shutil.copy(replayed_day, path)
    opened = open_sqlite(path)
    yield opened
    opened.close()


@pytest.fixture
def hub() -> EventHub:
    return EventHub()


@pytest.fixture
def web(store: SqlStore, listings: Listings, hub: EventHub) -> Iterator[WebServer]:
    with WebServer(ReadApi(store, listings), hub, "127.0.0.1", 0) as server:
        yield server


@pytest.fixture
def client(web: WebServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web.url.rstrip("/"), timeout=10) as http:
        yield http


def test_listings_carry_rule_levels_and_the_last_price(client: httpx.Client) -> None:
    answer = client.get("/api/listings")
    assert answer.status_code == 200
    [biren] = answer.json()["listings"]
    assert biren["offer_price"] == 19.6
    assert biren["currency"] == "HKD"
    assert biren["shares_outstanding"] == 2_646_592_710
    levels = {rule["id"]: rule["level"] for rule in biren["rules"]}
    assert levels["gain_pct-up-50"] == 29.4
    assert levels["mcap-100b"] == 37.784431
    assert levels["below-offer"] == 19.6
    assert biren["last"]["price"] == 34.46
    assert biren["last"]["ts"] == "2026-01-02T16:09:00+08:00"
    assert biren["last"]["gain_pct"] == 75.82
    assert biren["last"]["market_cap"] == round(34.46 * 2_646_592_710)
    assert biren["day"] == "2026-01-02"
    assert answer.json()["chart"] == {"gap_width_s": 60}
    assert client.get("/api/listings/biren").json()["id"] == "biren"


def test_a_listing_carries_its_days_session_from_the_exchange_calendar(
    client: httpx.Client,
) -> None:
    session = client.get("/api/listings/biren").json()["session"]
    assert session["date"] == "2026-01-02"  # the last day stored
    assert [(span["start"], span["end"]) for span in session["spans"]] == [
        ("2026-01-02T09:00:00+08:00", "2026-01-02T12:00:00+08:00"),
        ("2026-01-02T13:00:00+08:00", "2026-01-02T16:10:00+08:00"),
    ]
    [lunch] = session["breaks"]
    assert lunch["phase"] == "lunch"
    assert lunch["label"] == "lunch 12:00\u201313:00"
    assert (lunch["start_us"], lunch["end_us"]) == (1_767_326_400_000_000, 1_767_330_000_000_000)
    assert session["opening_until"] == "2026-01-02T09:32:00+08:00"
    half_day = client.get("/api/listings/biren?date=2026-02-16").json()["session"]
    assert half_day["breaks"] == []  # Lunar New Year's Eve: the morning only
    assert [s["end"] for s in half_day["spans"]] == ["2026-02-16T12:10:00+08:00"]
    holiday = client.get("/api/listings/biren?date=2026-02-17").json()["session"]
    assert holiday == {**holiday, "spans": [], "breaks": [], "opening_until": None}
    assert client.get("/api/listings/biren?date=Friday").status_code == 400


def daily_listings(folder: Path) -> Listings:
    """The shipped listings with two daily rules: +5% on the open, -5% on the previous close."""
    extra = (
        '\n[[listings.rules]]\nid = "open-up-5"\nkind = "gain_pct"\nthreshold = 5\n'
        'reference = "open"\n\n[[listings.rules]]\nid = "prev-down-5"\nkind = "gain_pct"\n'
        'threshold = -5\ndirection = "down"\nreference = "prev_close"\n'
    )
    path = folder / "listings.toml"
    path.write_text(LISTINGS.read_text() + extra)
    return load_listings(path)


def test_with_nothing_stored_a_listing_carries_the_session_of_its_clocks_today(
    open_store: Callable[[str], SqlStore], tmp_path: Path
) -> None:
    empty = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    api = ReadApi(empty, load_listings(LISTINGS), FixedClock("2026-01-05T08:00"))
    payload = api.answer("/api/listings/biren", {}).payload
    assert payload["last"] is None
    assert payload["session"]["date"] == "2026-01-05"  # the simulated day, not the machine's


def test_listings_say_whether_a_daemon_writes_the_database(store: SqlStore) -> None:
    from tracker.store.repository import Heartbeat

    api = ReadApi(store, load_listings(LISTINGS))
    assert api.listings_payload()["daemon"] == {"running": False, "clock": None, "clock_us": None}
    now_us = int(time.time() * 1e6)
    clock_us = 1_767_319_200_000_000  # its simulated clock: 2026-01-02T10:00+08:00
    store.beat(Heartbeat("daemon", now_us, clock_us, 4242, "1 listings"))
    assert api.listings_payload()["daemon"] == {
        "running": True,
        "clock": "2026-01-02T02:00:00+00:00",
        "clock_us": clock_us,
    }
    store.beat(Heartbeat("daemon", now_us - 61_000_000, clock_us, 4242, "1 listings"))
    assert api.listings_payload()["daemon"]["running"] is False  # a beat over a minute old
    store.beat(Heartbeat("daemon", now_us, clock_us, 4242, "stopped"))
    assert api.listings_payload()["daemon"]["running"] is False


def test_a_day_outside_the_calendars_years_is_a_day_without_a_session(
    client: httpx.Client,
) -> None:
    answer = client.get("/api/listings/biren", params={"date": "1900-07-25"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["session"]["spans"] == []


def test_a_daily_rules_level_is_served_for_the_day_it_is_asked_about(
    store: SqlStore, tmp_path: Path
) -> None:
    listings = daily_listings(tmp_path)
    Ingestor(store, []).ingest(
        listings.get("biren"), TickArrays.from_ticks([make_tick(40.0, "2026-01-05T09:30:00+08:00")])
    )
    api = ReadApi(store, listings)

    def levels(query: dict[str, str]) -> dict[str, float | None]:
        payload = api.answer("/api/listings/biren", query).payload
        return {rule["id"]: rule["level"] for rule in payload["rules"]}

    first, later = levels({"date": "2026-01-02"}), levels({})
    assert first["open-up-5"] == round(35.70 * 1.05, 6)  # the first day's first trade
    assert first["prev-down-5"] is None  # no day before it stored
    assert later["open-up-5"] == 42.0
    assert later["prev-down-5"] == round(34.46 * 0.95, 6)  # the close of 2026-01-02
    assert later["mcap-100b"] == first["mcap-100b"] == 37.784431
    references = {
        r["id"]: r["reference"] for r in api.listing_payload(listings.get("biren"))["rules"]
    }
    assert references["open-up-5"] == "open"
    assert references["mcap-100b"] == "offer"


def test_on_a_day_joined_late_a_rule_against_the_open_is_at_the_providers_open(
    store: SqlStore, tmp_path: Path
) -> None:
    listings = daily_listings(tmp_path)
    listing = listings.get("biren")
    joined = make_tick(40.0, "2026-01-05T10:00:00+08:00")  # the open (09:20-09:32) was missed
    figures = Extremes(joined.ts_us, 41.0, 37.0, open=38.0, prev_close=34.46)
    day = SourceDay("biren", dt.date(2026, 1, 5), "tencent", joined.ts_us, 38.0, 41.0, 37.0, 34.46)
    Ingestor(store, []).ingest(
        listing, TickArrays.from_ticks([joined]), figures, late=True, source_day=day
    )

    payload = ReadApi(store, listings).answer("/api/listings/biren", {}).payload
    levels = {rule["id"]: rule["level"] for rule in payload["rules"]}

    assert levels["open-up-5"] == round(38.0 * 1.05, 6)  # not the first stored tick's 40.00


def test_ticks_default_to_the_last_stored_day_in_exchange_time(client: httpx.Client) -> None:
    day = client.get("/api/listings/biren/ticks").json()
    assert day["date"] == "2026-01-02"
    assert len(day["ticks"]) == DAY_TICKS
    first = day["ticks"][0]
    assert first["ts"] == "2026-01-02T09:20:00+08:00"
    assert first["price"] == 35.7
    assert first["seq"] == 0
    assert first["ts_us"] == 1_767_316_800_000_000
    assert client.get("/api/listings/biren/ticks?date=2026-01-02").json() == day
    assert client.get("/api/listings/biren/ticks?date=2026-01-05").json()["ticks"] == []


@pytest.mark.parametrize(
    "since",
    [
        "2026-01-02T16:08:00",  # exchange time
        "2026-01-02T16:08:00+08:00",  # a raw "+" in the query
        "2026-01-02T16:08:00%2B08:00",
        "2026-01-02T08:08:00Z",
        "1767341280000000",  # epoch microseconds, as the ticks' ts_us
    ],
)
def test_since_fetches_from_an_instant_on_however_it_is_written(
    client: httpx.Client, since: str
) -> None:
    answer = client.get(f"/api/listings/biren/ticks?since={since}")
    assert answer.status_code == 200, answer.text
    ticks = answer.json()["ticks"]
    assert ticks
    assert ticks[0]["ts"] >= "2026-01-02T16:08:00+08:00"
    assert ticks[-1]["ts"] == "2026-01-02T16:09:00+08:00"


def test_since_the_last_tick_held_returns_only_that_tick_to_drop(client: httpx.Client) -> None:
    last = client.get("/api/listings/biren/ticks").json()["ticks"][-1]
    again = client.get(f"/api/listings/biren/ticks?since={last['ts_us']}").json()["ticks"]
    assert again == [last]  # inclusive: the reader drops what it has by (ts_us, seq)


def test_alerts_in_firing_order_by_listing_day_and_since(client: httpx.Client) -> None:
    alerts = client.get("/api/alerts").json()["alerts"]
    assert [a["rule"] for a in alerts] == DAY_RULES
    assert alerts[2]["ts"] == "2026-01-02T10:15:00+08:00"
    assert alerts[2]["price"] == 37.86
    assert client.get("/api/alerts?listing=biren&date=2026-01-02").json()["alerts"] == alerts
    assert client.get("/api/alerts?date=2026-01-03").json()["alerts"] == []
    later = client.get("/api/alerts?listing=biren&since=2026-01-02T10:15").json()["alerts"]
    assert [a["rule"] for a in later] == ["mcap-100b", "gain_pct-up-100"]


@pytest.mark.parametrize(
    "path",
    ["/api/listings/nope", "/api/listings/nope/ticks", "/api/alerts?listing=nope", "/api/other"],
)
def test_unknown_ids_and_paths_are_404_json(client: httpx.Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert "error" in answer.json()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/api/listings/biren/ticks?since=soon", "not an ISO 8601 time nor epoch microseconds"),
        ("/api/alerts?date=Friday", "not a date"),
        ("/api/alerts?since=9223372036854775808", "outside the years 1900-2199"),
        ("/api/listings/biren/ticks?since=99999999999999999999", "outside the years 1900-2199"),
        ("/api/listings/biren?date=9999-12-31", "outside the years 1900-2199"),
        ("/api/listings/biren/ticks?since=9999-12-31T23:59", "outside the years 1900-2199"),
    ],
)
def test_a_bad_query_is_400_naming_the_value(client: httpx.Client, path: str, reason: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert path.rpartition("=")[2] in error
    assert reason in error


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "BREW"]
)
def test_only_get_and_head_are_served(client: httpx.Client, method: str) -> None:
    answer = client.request(method, "/api/alerts", content=b"{}")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD"
    assert answer.json() == {"error": f"{method} not allowed: read-only"}
    assert client.get("/api/listings").status_code == 200  # a new connection, as it was told


@pytest.mark.parametrize(
    "path", ["/", "/static/app.js", "/api/listings", "/api/alerts?listing=biren", "/api/nope"]
)
def test_head_answers_as_get_does_without_the_body(client: httpx.Client, path: str) -> None:
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code
    # (httpx reads no body for HEAD: the GET on the same connection below shows none was sent)
    for name in ("Content-Type", "Content-Length", "Cache-Control"):
        assert head.headers[name] == got.headers[name], name
    assert client.get("/api/listings").status_code == 200  # the connection is still good


def test_head_of_the_event_stream_answers_its_headers_and_ends(web: WebServer) -> None:
    import socket

    with socket.create_connection((web.host, web.port), timeout=5) as raw:
        request = f"HEAD /api/events HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\n\r\n"
        raw.sendall(request.encode())
        answer = b""
        while chunk := raw.recv(65536):  # to the end: the server closes the stream
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200")
    assert b"Content-Type: text/event-stream" in head
    assert rest == b""  # headers only, then the end
    assert web.hub.subscribers == 0  # it never listened for events


def test_a_foreign_host_name_is_refused_on_loopback(web: WebServer) -> None:
    refused = httpx.get(web.url + "api/listings", headers={"Host": "attacker.example:8080"})
    assert refused.status_code == 403
    allowed = httpx.get(web.url + "api/listings", headers={"Host": f"localhost:{web.port}"})
    assert allowed.status_code == 200


def test_the_page_and_every_file_it_loads_are_served_from_the_package(
    client: httpx.Client,
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    loaded = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    library = "/static/vendor/lightweight-charts.standalone.production.js"
    assert sorted(loaded) == ["/static/app.css", "/static/app.js", library]
    for path in ["/", *loaded]:
        text = client.get(path).text
        urls = set(re.findall(r"https?://[^\s\"'`]+", text)) - NOT_LOADED
        assert urls == set(), f"{path} loads from elsewhere: {urls}"  # no CDN: a closed network


# URLs in the page's files that are never fetched: an XML namespace, the chart library's
# licence banner, TradingView's attribution link in the footer, and the link of the library's
# attribution logo (the page turns the logo off and credits TradingView in its footer).
NOT_LOADED = {
    "http://www.w3.org/2000/svg",
    "https://www.apache.org/licenses/LICENSE-2.0",
    "https://www.tradingview.com/",
    "https://www.tradingview.com/?utm_medium=lwc-link&utm_campaign=lwc-chart${this.hm()}"
    "&utm_content=lwc-5.3.0",
}


def test_parse_address_takes_host_port_and_bracketed_ipv6() -> None:
    assert parse_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    assert parse_address(":8081") == ("127.0.0.1", 8081)


class EventReader:
    """Reads a server-sent event stream: each event's type and parsed data."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()
        for line in self.lines:  # the server subscribes before it writes this
            if line == ": connected":
                break

    def next(self) -> tuple[str, dict[str, Any]]:
        kind = None
        for line in self.lines:
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind is not None:
                return kind, json.loads(line.removeprefix("data: "))
        raise AssertionError("the stream ended")


def ingest_crossing(store: SqlStore, listings: Listings, hub: EventHub | None) -> None:
    """A tick on the next trading day at 40.00, firing the rules the day re-armed."""
    ingestor = Ingestor(
        store,
        [],
        listeners=[hub.alert_committed] if hub else [],
        tick_listeners=[hub.ticks_committed] if hub else [],
    )
    done = ingestor.ingest(
        listings.get("biren"), TickArrays.from_ticks([make_tick(40.0, "2026-01-05T09:30:00+08:00")])
    )
    assert [alert.rule_id for alert in done.alerts] == CROSSING_RULES


def test_events_push_a_tick_and_its_alerts_committed_after_connecting(
    web: WebServer, store: SqlStore, listings: Listings, hub: EventHub
) -> None:
    with httpx.stream("GET", web.url + "api/events?listing=biren", timeout=10) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        events = EventReader(response)
        ingest_crossing(store, listings, hub)
        kind, data = events.next()
        assert kind == "ticks"
        assert data["listing"] == "biren"
        assert [(t["ts"], t["price"]) for t in data["ticks"]] == [
            ("2026-01-05T09:30:00+08:00", 40.0)
        ]
        for rule in CROSSING_RULES:
            kind, data = events.next()
            assert kind == "alert"
            assert data["alert"]["rule"] == rule
            assert data["alert"]["ts"] == "2026-01-05T09:30:00+08:00"
            assert data["published_at"] > 0


def test_serve_publishes_rows_another_writer_commits(
    web: WebServer, store: SqlStore, listings: Listings, hub: EventHub, tmp_path: Path
) -> None:
    watcher = StoreWatcher(store, listings, hub, every=0.02)
    watcher.start()
    writer = open_sqlite(tmp_path / "tracker.db")  # its own engine, as another process has
    try:
        with httpx.stream("GET", web.url + "api/events", timeout=10) as response:
            events = EventReader(response)
            ingest_crossing(writer, listings, None)
            kinds = [events.next() for _ in range(4)]
    finally:
        watcher.stop()
        writer.close()
    assert [kind for kind, _ in kinds] == ["ticks", "alert", "alert", "alert"]
    assert kinds[0][1]["ticks"][0]["price"] == 40.0
    assert [data["alert"]["rule"] for _, data in kinds[1:]] == CROSSING_RULES


def test_a_watcher_tells_of_a_tick_before_its_alerts_when_they_commit_between_its_reads(
    store: SqlStore, listings: Listings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[str] = []

    class Recorder:
        def ticks_committed(self, _listing: object, _ticks: object) -> None:
            heard.append("ticks")

        def alert_committed(self, _alert: object) -> None:
            heard.append("alert")

    watcher = StoreWatcher(store, listings, Recorder())  # type: ignore[arg-type]
    writer = open_sqlite(tmp_path / "tracker.db")  # another process's engine
    reads = {"ticks": store.ticks, "alerts": store.alerts}
    pending = [True]

    def then_commit(name: str) -> Any:
        def read(*args: Any, **kwargs: Any) -> Any:
            rows = reads[name](*args, **kwargs)
            if pending and pending.pop():  # the other process commits right after the first read
                ingest_crossing(writer, listings, None)
            return rows

        return read

    monkeypatch.setattr(store, "ticks", then_commit("ticks"))
    monkeypatch.setattr(store, "alerts", then_commit("alerts"))
    try:
        watcher.poll()
        watcher.poll()
    finally:
        writer.close()
    assert heard == ["ticks", "alert", "alert", "alert"]


def test_stopping_ends_open_event_streams(
    store: SqlStore, listings: Listings, hub: EventHub
) -> None:
    server = WebServer(ReadApi(store, listings), hub, "127.0.0.1", 0)
    server.start()
    with httpx.stream("GET", server.url + "api/events", timeout=10) as response:
        events = EventReader(response)
        server.stop()
        with pytest.raises(AssertionError, match="stream ended"):
            events.next()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url)


def test_a_page_too_far_behind_is_dropped_and_the_publisher_never_waits() -> None:
    hub = EventHub(backlog=2)
    with hub.subscribe() as inbox:
        for n in range(3):
            hub.publish(LiveEvent("ticks", "biren", str(n)))
        assert hub.subscribers == 0
        drained = [inbox.get_nowait() for _ in range(inbox.qsize())]
    assert drained[-1] is None  # the end marker: the stream closes, the page reconnects

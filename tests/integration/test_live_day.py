"""A live day as the market delivers it: real HTTP on loopback, a real SQLite file, a set clock.

The contract is the design's "a live day (polling)": the open and late polls, crossings
inferred from a poll's high and low, the close published after the closing auction,
stale quotes, several sources with failover, Tencent's batched real-time records, the
provider's own day figures, and quotes that cannot be true.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from factories import FixedClock, Wall, make_listing, make_rule
from quote_server import QuoteServer
from sql_trace import transactions

from tracker.alerts.sinks import JsonlAlertLog
from tracker.config import JsonFields
from tracker.core.model import Listing, Reference, Rule
from tracker.errors import StorageError
from tracker.markets.calendar import MarketCalendar
from tracker.reporting.report import as_data, day_report, figure_rows
from tracker.runtime import poller as live
from tracker.runtime.ingest import Ingestor
from tracker.runtime.poller import ListingPoller, PolledSource, PollSettings, poll_cycles
from tracker.sources.providers.feed import FeedProvider
from tracker.sources.providers.http_json import HttpJsonProvider
from tracker.sources.providers.tencent import TencentProvider
from tracker.store.repository import SqlStore

UP_80 = make_rule(80)  # 35.28
BELOW_OFFER = make_rule(19.60, "price", "down", id="below-offer")  # re-arms at 19.796
CLOSE_RULE = make_rule(34.40, "price", "up", id="price-34.4")
LISTING = make_listing((UP_80, BELOW_OFFER))
CALENDAR = MarketCalendar("XHKG")
FIELDS = JsonFields(price="p", time="t", volume="v", high="h", low="l", open="o", prev_close="pc")


def feed(
    price: float | None,
    ts: str | None,
    volume: float | None = 1000,
    *,
    high: float | None = None,
    low: float | None = None,
    open: float | None = None,
    prev_close: float | None = None,
) -> dict[str, Any]:
    """A ``tracker feed`` answer (the contract's quote shape)."""
    return {
        "symbol": "6082.HK",
        "ts": ts,
        "price": price,
        "volume": volume,
        "turnover": None,
        "high": high if high is not None else price,
        "low": low if low is not None else price,
        "open": open,
        "prev_close": prev_close,
    }


def as_json(quote: dict[str, Any]) -> dict[str, Any]:
    """The same quote in the ``http_json`` shape of ``FIELDS`` (epoch seconds)."""
    moment = dt.datetime.fromisoformat(quote["ts"])
    return {
        "p": quote["price"],
        "t": moment.timestamp(),
        "v": quote["volume"],
        "h": quote["high"],
        "l": quote["low"],
        "o": quote["open"],
        "pc": quote["prev_close"],
    }


@pytest.fixture
def ingestor(store: SqlStore, tmp_path: Path) -> Ingestor:
    return Ingestor(store, [JsonlAlertLog(tmp_path / "alerts.jsonl")])


Make = Callable[..., ListingPoller]


@pytest.fixture
def make_poller(server: QuoteServer, ingestor: Ingestor, client: httpx.Client) -> Make:
    """A poller of ``listing`` over feed sources at ``paths`` (``/json`` paths speak http_json)."""

    def make(
        clock: FixedClock,
        wall: Wall | None = None,
        listing: Listing = LISTING,
        paths: tuple[str, ...] = ("/a",),
        **settings: float,
    ) -> ListingPoller:
        sources = []
        for path in paths:
            url = server.base + path
            provider = (
                HttpJsonProvider(url, FIELDS, timezone=listing.timezone, timeout=2)
                if path.startswith("/json")
                else FeedProvider(url, timezone=listing.timezone, timeout=2)
            )
            sources.append(PolledSource(provider, PollSettings(**settings)))
        return ListingPoller(listing, sources, ingestor, CALENDAR, clock, client, wall or Wall())

    return make


def logged(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def rule_alerts(tmp_path: Path) -> list[dict[str, Any]]:
    return [r for r in logged(tmp_path) if r["kind"] != "source"]


def notices(tmp_path: Path) -> list[dict[str, Any]]:
    return [r for r in logged(tmp_path) if r["kind"] == "source"]


# --- the open, late polls and inferred crossings ------------------------------------------------


def test_a_daemon_started_after_the_open_is_late_never_gap_and_not_blinded_by_the_low(
    make_poller: Make, server: QuoteServer, tmp_path: Path
) -> None:
    # the day traded from 09:20; the daemon's first poll is at 09:50: the day's high of 36.00
    # passed +80% (35.28) and its low of 19.00 fell below the offer, both before the trade
    clock = FixedClock("2026-01-02T09:50:00")
    server.route("/a", feed(20.50, "2026-01-02T09:49:58+08:00", 10**6, high=36.0, low=19.0))
    poller = make_poller(clock)
    assert poller.poll() == "tick"

    first = rule_alerts(tmp_path)
    assert [(r["rule"], r["price"], r["inferred"]) for r in first] == [
        ("gain_pct-up-80", 36.0, True),
        ("below-offer", 19.0, True),
    ]
    assert all(r["late"] and not r["gap"] for r in first)
    assert all("at the day's first trade" not in r["message"] for r in first)

    # the trade at 20.50 came after the low and re-armed the down rule: the next real
    # crossing is not missed, and it is neither late nor inferred
    clock.set("2026-01-02T09:50:05")
    server.route("/a", feed(19.40, "2026-01-02T09:50:04+08:00", 2 * 10**6, high=36.0, low=19.0))
    assert poller.poll() == "tick"
    later = rule_alerts(tmp_path)[2:]
    assert [(r["rule"], r["price"], r["inferred"], r["late"]) for r in later] == [
        ("below-offer", 19.40, False, False)
    ]


def test_the_opening_auction_print_fires_as_a_gap_not_late(
    make_poller: Make, server: QuoteServer, tmp_path: Path
) -> None:
    clock = FixedClock("2026-01-02T09:20:00")
    server.route("/a", feed(None, None, None))
    poller = make_poller(clock)
    assert poller.poll() == "no trade yet"
    clock.set("2026-01-02T09:20:05")
    server.route("/a", feed(35.70, "2026-01-02T09:20:00+08:00", 3_703_400, open=35.70))
    poller.poll()

    [alert] = rule_alerts(tmp_path)
    assert (alert["rule"], alert["gap"], alert["late"], alert["inferred"]) == (
        "gain_pct-up-80",
        True,
        False,
        False,
    )


@pytest.mark.parametrize(
    ("first_poll", "late"),
    [
        ("2026-01-05T09:25:00", False),  # before the opening window ends: on time
        ("2026-01-05T09:32:00", False),  # its last instant
        ("2026-01-05T10:00:00", True),
        ("2026-01-05T13:05:00", True),  # after lunch
    ],
)
def test_the_first_poll_of_a_day_after_its_opening_window_is_late(
    make_poller: Make, server: QuoteServer, tmp_path: Path, first_poll: str, late: bool
) -> None:
    clock = FixedClock("2026-01-02T15:00:00")  # the day before (a Friday): polled, on time
    server.route("/a", feed(30.00, "2026-01-02T14:59:58+08:00", 1000))
    make_poller(clock).poll()
    clock.set(first_poll)  # Monday: the daemon starts again
    trade = dt.datetime.fromisoformat(first_poll) - dt.timedelta(seconds=2)
    server.route("/a", feed(36.00, trade.isoformat() + "+08:00", 500))
    make_poller(clock).poll()

    [alert] = rule_alerts(tmp_path)
    assert alert["late"] is late
    assert alert["gap"] is (not late)  # the first trade by 09:32 is Monday's opening print


def test_a_late_polls_alerts_are_never_gap_even_when_its_trade_is_the_opening_print(
    make_poller: Make, server: QuoteServer, tmp_path: Path
) -> None:
    # started at 09:40 on a day whose only trade so far is the 09:20 auction print
    clock = FixedClock("2026-01-02T09:40:00")
    server.route("/a", feed(35.70, "2026-01-02T09:20:00+08:00", 3_703_400, open=35.70))
    make_poller(clock).poll()

    [alert] = rule_alerts(tmp_path)
    assert (alert["late"], alert["gap"]) == (True, False)
    assert "first trade" not in alert["message"]


def test_a_late_poll_that_fails_leaves_the_next_answer_late(
    make_poller: Make, server: QuoteServer, tmp_path: Path
) -> None:
    clock, wall = FixedClock("2026-01-02T10:00:00"), Wall()
    poller = make_poller(clock, wall)
    server.route("/a", b"", status=503)
    assert poller.poll() == "fault"
    clock.set("2026-01-02T10:00:05")
    wall.now += 120
    server.route("/a", feed(36.00, "2026-01-02T10:00:04+08:00", 1000))
    poller.poll()
    assert [r["late"] for r in rule_alerts(tmp_path)] == [True]


# --- the close -------------------------------------------------------------------------------


def test_a_closing_print_published_after_the_close_is_stored_and_evaluated(
    make_poller: Make, server: QuoteServer, store: SqlStore, tmp_path: Path
) -> None:
    listing = make_listing((CLOSE_RULE,))
    clock = FixedClock("2026-01-02T15:59:59")
    poller = make_poller(clock, listing=listing)
    server.route("/a", feed(34.30, "2026-01-02T15:59:58+08:00", 1000))
    poller.poll()
    clock.set("2026-01-02T16:10:00")  # the auction is over; the source has not published yet
    assert poller.poll() == "unchanged"
    clock.set("2026-01-02T16:10:02")
    server.route("/a", feed(34.46, "2026-01-02T16:09:00+08:00", 2000))
    assert poller.poll() == "tick"
    requests = server.requests
    clock.set("2026-01-02T16:10:07")
    assert poller.poll() == "idle"  # the closing print is in: the day is done
    assert server.requests == requests

    assert [(r["rule"], r["ts"]) for r in rule_alerts(tmp_path)] == [
        ("price-34.4", "2026-01-02T16:09:00+08:00")
    ]
    report = day_report(store, listing, dt.date(2026, 1, 2))
    assert report is not None
    assert report.closing_print
    assert [row.label for row in figure_rows(report)][-2:] == ["close", "VWAP"]


@pytest.mark.parametrize(
    ("day", "after_auction"),
    [("2026-01-02", "16:10"), ("2026-02-16", "12:10")],  # a normal day; a half day
)
def test_without_a_closing_print_polling_goes_on_for_the_close_grace(
    make_poller: Make, server: QuoteServer, store: SqlStore, day: str, after_auction: str
) -> None:
    listing = make_listing((CLOSE_RULE,))
    clock = FixedClock(f"{day}T11:00:00")
    poller = make_poller(clock, listing=listing, close_grace=60)
    server.route("/a", feed(34.30, f"{day}T10:59:58+08:00", 1000))
    poller.poll()
    end = dt.datetime.fromisoformat(f"{day}T{after_auction}:00")
    clock.set((end + dt.timedelta(seconds=59)).isoformat())
    assert poller.poll() == "unchanged"
    clock.set((end + dt.timedelta(seconds=60)).isoformat())
    assert poller.poll() == "idle"
    report = day_report(store, listing, dt.date.fromisoformat(day))
    assert report is not None
    assert not report.closing_print
    assert "last" in [row.label for row in figure_rows(report)]
    assert as_data(report)["closing_print"] is False


# --- stale quotes --------------------------------------------------------------------------------


def test_a_suspended_listings_old_trade_stores_nothing_fires_nothing_and_is_noticed_once(
    make_poller: Make, server: QuoteServer, store: SqlStore, tmp_path: Path
) -> None:
    # Wednesday; the quote still shows Monday's last trade (below the offer, through +80%...)
    clock = FixedClock("2026-01-07T09:25:00")
    poller = make_poller(clock)
    old = feed(19.00, "2026-01-05T16:09:00+08:00", 8_000_000, high=40.0, low=18.0)
    server.route("/a", old)
    assert poller.poll() == "stale"
    clock.set("2026-01-07T09:35:00")  # the opening auction is long done
    assert poller.poll() == "stale"
    clock.set("2026-01-07T09:40:00")
    assert poller.poll() == "stale"
    assert store.count("ticks") == 0
    assert rule_alerts(tmp_path) == []
    [stale] = notices(tmp_path)
    assert (stale["event"], stale["ts"]) == ("stale", "2026-01-07T09:35:00+08:00")
    assert "2026-01-05" in stale["reason"]

    # trading resumes: the day's volume starts from zero, not from Monday's 8,000,000
    clock.set("2026-01-07T10:00:00")
    server.route("/a", feed(30.00, "2026-01-07T09:59:58+08:00", 5000))
    assert poller.poll() == "tick"
    assert [(t.price, t.volume) for t in store.ticks("biren")] == [(30.00, 5000)]
    assert [n["event"] for n in notices(tmp_path)] == ["stale", "fresh"]


def test_cumulative_volume_starts_again_each_trading_day(
    make_poller: Make, server: QuoteServer, store: SqlStore
) -> None:
    clock = FixedClock("2026-01-02T15:00:00")
    poller = make_poller(clock)
    server.route("/a", feed(30.00, "2026-01-02T14:59:00+08:00", 3000))
    poller.poll()
    clock.set("2026-01-05T09:25:00")  # Monday, before the open: Friday's quote is stale
    server.route("/a", feed(30.00, "2026-01-02T16:09:00+08:00", 0))
    assert poller.poll() == "stale"
    clock.set("2026-01-05T09:31:00")
    server.route("/a", feed(31.00, "2026-01-05T09:30:30+08:00", 500))
    assert poller.poll() == "tick"
    assert [t.volume for t in store.ticks("biren")] == [3000, 500]


# --- several sources ---------------------------------------------------------------------------


def test_a_source_down_hands_over_to_the_next_and_the_first_is_tried_again_later(
    make_poller: Make, server: QuoteServer, store: SqlStore, tmp_path: Path
) -> None:
    clock, wall = FixedClock("2026-01-02T10:00:00"), Wall()
    poller = make_poller(clock, wall, paths=("/json", "/b"), down_after=60)
    quote = feed(36.00, "2026-01-02T09:59:58+08:00", 1000)
    server.route("/json", as_json(quote))
    server.route("/b", quote)
    assert poller.poll() == "tick"

    server.route("/json", b"", status=500)
    for second in range(5, 60, 5):  # failing, not yet down: only the first source is asked
        clock.set(f"2026-01-02T10:00:{second:02d}")
        wall.now += 120
        poller.poll()
    assert [path for path in server.paths if path.startswith("/b")] == []
    clock.set("2026-01-02T10:01:05")  # down for 60 s: the second source is asked in that poll
    wall.now += 120
    server.route("/b", feed(36.10, "2026-01-02T10:01:04+08:00", 1500))
    assert poller.poll() == "tick"
    [switched] = notices(tmp_path)
    assert (switched["event"], switched["provider"], switched["from"], switched["reason"]) == (
        "switched",
        "feed",
        "http_json",
        "HTTP 500",
    )
    assert poller.poller_state.source == 1
    assert store.load_poller("biren").source == 1

    # from now on the second source alone; a minute later the first is tried again, still
    # failing: the second answers in the same poll
    server.paths.clear()
    clock.set("2026-01-02T10:01:10")
    wall.now += 120
    poller.poll()
    assert server.paths == ["/b"]
    clock.set("2026-01-02T10:02:06")
    wall.now += 120
    poller.poll()
    assert server.paths == ["/b", "/json", "/b"]

    # the first answers again (the trade both sources saw is stored once): back to it
    clock.set("2026-01-02T10:03:10")
    wall.now += 120
    same = feed(36.20, "2026-01-02T10:03:09+08:00", 2000)
    server.route("/json", as_json(same))
    server.route("/b", same)
    poller.poll()
    assert [n["event"] for n in notices(tmp_path)] == ["switched", "switched"]
    assert notices(tmp_path)[1]["provider"] == "http_json"
    assert poller.poller_state.source == 0
    clock.set("2026-01-02T10:03:15")
    wall.now += 120
    assert poller.poll() == "unchanged"
    ticks = store.ticks("biren")
    assert [(t.price, t.volume) for t in ticks] == [(36.00, 1000), (36.10, 500), (36.20, 500)]


def test_a_source_down_and_backing_off_does_not_hold_up_the_next_one(
    make_poller: Make, server: QuoteServer, tmp_path: Path
) -> None:
    clock, wall = FixedClock("2026-01-02T10:00:00"), Wall()
    poller = make_poller(clock, wall, paths=("/json", "/b"), down_after=60)
    server.route("/json", b"", status=503)
    server.headers = {"Retry-After": "600"}  # ten minutes of wall time
    assert poller.poll() == "fault"
    clock.set("2026-01-02T10:00:30")
    wall.now += 5
    assert poller.poll() == "backoff"  # failing, not yet down: nothing to ask
    clock.set("2026-01-02T10:01:05")  # down for 65 s, still inside its backoff
    wall.now += 5
    server.route("/b", feed(36.00, "2026-01-02T10:01:04+08:00", 1000))
    assert poller.poll() == "tick"
    assert server.paths == ["/json", "/b"]
    assert [(n["event"], n["provider"]) for n in notices(tmp_path)] == [("switched", "feed")]


def test_stale_quotes_from_the_source_in_use_switch_to_one_with_todays_trades(
    make_poller: Make, server: QuoteServer, store: SqlStore, tmp_path: Path
) -> None:
    clock = FixedClock("2026-01-05T09:40:00")
    poller = make_poller(clock, paths=("/a", "/b"))
    server.route("/a", feed(30.00, "2026-01-02T16:09:00+08:00", 9000))  # Friday's
    server.route("/b", feed(31.00, "2026-01-05T09:39:58+08:00", 700))
    assert poller.poll() == "tick"

    assert server.paths == ["/a", "/b"]
    [switched] = notices(tmp_path)
    assert switched["event"] == "switched"
    assert "earlier trading day" in switched["reason"]
    assert [(t.price, t.volume) for t in store.ticks("biren")] == [(31.00, 700)]


def test_every_source_down_gives_one_down_notice_and_one_back(
    make_poller: Make, server: QuoteServer, tmp_path: Path
) -> None:
    clock, wall = FixedClock("2026-01-02T10:00:00"), Wall()
    poller = make_poller(clock, wall, paths=("/a", "/b"), down_after=60)
    server.route("/a", b"", status=500)
    server.route("/b", b"", status=502)
    for minute in range(0, 5):
        for second in (0, 30):
            clock.set(f"2026-01-02T10:0{minute}:{second:02d}")
            wall.now += 120
            poller.poll()
    server.route("/a", feed(36.00, "2026-01-02T10:05:00+08:00", 1000))
    clock.set("2026-01-02T10:05:00")
    wall.now += 120
    poller.poll()
    events = [(n["event"], n["provider"]) for n in notices(tmp_path)]
    assert events == [("down", "feed"), ("back", "feed")]


def test_a_quote_that_cannot_be_true_is_refused_and_the_next_source_takes_over(
    make_poller: Make, server: QuoteServer, store: SqlStore, tmp_path: Path, caplog: Any
) -> None:
    # eastmoney-style thousandths read without a price_scale: HK$37,860
    clock, wall = FixedClock("2026-01-02T10:15:00"), Wall()
    poller = make_poller(clock, wall, paths=("/json", "/b"), down_after=0)
    server.route("/json", as_json(feed(37860.0, "2026-01-02T10:14:59+08:00", 1000)))
    server.route("/b", feed(37.86, "2026-01-02T10:14:59+08:00", 1000))
    poller.poll()
    assert [t.price for t in store.ticks("biren")] == [37.86]
    assert any("more than 10x the offer price 19.6" in r.getMessage() for r in caplog.records)
    assert [n["event"] for n in notices(tmp_path)] == ["switched"]
    assert notices(tmp_path)[0]["reason"] == "bad quote"


def test_a_fallback_that_failed_once_is_asked_again_while_the_first_stays_down(
    make_poller: Make, server: QuoteServer, store: SqlStore, tmp_path: Path
) -> None:
    clock, wall = FixedClock("2026-01-02T10:00:00"), Wall()
    poller = make_poller(clock, wall, paths=("/a", "/b"), down_after=60)
    server.route("/a", b"", status=500)
    server.route("/b", b"", status=502)
    for second in range(0, 70, 5):  # the first down, the second failing when first asked
        clock.set(f"2026-01-02T10:0{second // 60}:{second % 60:02d}")
        wall.now += 120
        poller.poll()
    server.route("/b", feed(36.0, "2026-01-02T10:01:08+08:00", 1000))  # it works again
    clock.set("2026-01-02T10:01:10")
    wall.now += 120
    assert poller.poll() == "tick"
    assert poller.poller_state.source == 1
    assert [t.price for t in store.ticks("biren")] == [36.0]


@pytest.mark.parametrize(
    ("fallback", "status"),
    [(feed(None, None, None), 200), (b"", 500)],
    ids=["no-trade-yet", "failing"],
)
def test_stale_quotes_with_no_way_out_get_their_notice(
    make_poller: Make, server: QuoteServer, tmp_path: Path, fallback: Any, status: int
) -> None:
    clock, wall = FixedClock("2026-01-05T09:40:00"), Wall()
    poller = make_poller(clock, wall, paths=("/a", "/b"))
    server.route("/a", feed(30.00, "2026-01-02T16:09:00+08:00", 9000))  # Friday's
    server.route("/b", fallback, status=status)
    poller.poll()
    [stale] = notices(tmp_path)
    assert (stale["event"], stale["provider"]) == ("stale", "feed")
    assert "2026-01-02" in stale["reason"]
    assert poller.poller_state.source == 0


def test_a_poll_whose_commit_fails_leaves_its_volume_for_the_next(
    make_poller: Make, server: QuoteServer, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock("2026-01-02T10:00:00")
    poller = make_poller(clock)
    server.route("/a", feed(30.0, "2026-01-02T09:59:59+08:00", 1000))
    poller.poll()
    commit = store.commit

    def locked(*args: Any, **kwargs: Any) -> None:
        raise StorageError("database is locked")

    monkeypatch.setattr(store, "commit", locked)
    clock.set("2026-01-02T10:00:05")
    server.route("/a", feed(30.1, "2026-01-02T10:00:04+08:00", 1500))
    assert poller.poll() == "fault"
    monkeypatch.setattr(store, "commit", commit)
    clock.set("2026-01-02T10:00:10")
    server.route("/a", feed(30.2, "2026-01-02T10:00:09+08:00", 1800))
    assert poller.poll() == "tick"
    assert [t.volume for t in store.ticks("biren")] == [1000, 800]  # every share, once


# --- Tencent: real-time records, several listings in one request -------------------------------


def tencent_record(code: str, price: float, time: str, volume: float) -> str:
    fields = ["0"] * 78
    fields[1], fields[2] = "name", code.removeprefix("r_hk")
    fields[3], fields[4], fields[5] = f"{price:.3f}", "19.600", f"{price:.3f}"
    fields[6] = fields[29] = fields[36] = f"{volume:.1f}"
    fields[30] = time
    fields[33] = fields[34] = fields[35] = f"{price:.3f}"
    fields[37] = f"{price * volume:.3f}"
    return f'v_{code}="{"~".join(fields)}";'


def tencent_pollers(
    listings: list[Listing],
    server: QuoteServer,
    ingestor: Ingestor,
    clock: FixedClock,
    client: httpx.Client,
) -> list[ListingPoller]:
    """A poller a listing, each asking the loopback server in Tencent's shape."""
    return [
        ListingPoller(
            listing,
            [PolledSource(TencentProvider(listing.symbol, base=server.base), PollSettings())],
            ingestor,
            CALENDAR,
            clock,
            client,
        )
        for listing in listings
    ]


def test_listings_on_one_tencent_host_share_one_request_and_an_unknown_code_fails_alone(
    server: QuoteServer, ingestor: Ingestor, client: httpx.Client, store: SqlStore
) -> None:
    clock = FixedClock("2026-01-02T10:00:00")
    listings = [
        make_listing((UP_80,), id=f"hk{code}", symbol=f"{code}.HK") for code in (6082, 9997, 9999)
    ]
    pollers = tencent_pollers(listings, server, ingestor, clock, client)
    body = "\n".join(
        [
            tencent_record("r_hk09997", 8.80, "2026/01/02 09:59:58", 4000),
            tencent_record("r_hk06082", 36.00, "2026/01/02 09:59:59", 1000),
            'v_pv_none_match="1";',
        ]
    ).encode("gbk")
    server.route("/q=", body)

    [cycle] = poll_cycles(pollers, client, clock)
    cycle.run()

    assert server.paths == ["/q=r_hk06082,r_hk09997,r_hk09999"]
    assert cycle.id == f"poll:tencent@tencent {server.base}"
    assert [t.price for t in store.ticks("hk6082")] == [36.00]
    assert [t.price for t in store.ticks("hk9997")] == [8.80]
    assert [p.stats.errors for p in pollers] == [0, 0, 1]
    # the next run before the interval has passed asks nothing; after it, one request again
    clock.set("2026-01-02T10:00:02")
    cycle.run()
    assert len(server.paths) == 1
    clock.set("2026-01-02T10:00:05")
    cycle.run()
    assert len(server.paths) == 2


def test_a_poll_of_many_listings_logs_their_alerts_before_it_stores_the_quiet_ones(
    server: QuoteServer, ingestor: Ingestor, client: httpx.Client, store: SqlStore, tmp_path: Path
) -> None:
    clock = FixedClock("2026-01-02T10:00:00")
    codes = (6082, 9997, 9998, 9999)
    listings = [make_listing((UP_80,), id=f"hk{c}", symbol=f"{c}.HK") for c in codes]
    pollers = tencent_pollers(listings, server, ingestor, clock, client)
    [cycle] = poll_cycles(pollers, client, clock)

    def trade(at: str, prices: dict[int, float], volume: float) -> None:
        records = (tencent_record(f"r_hk{c:05d}", prices[c], at, volume) for c in codes)
        server.route("/q=", "\n".join(records).encode("gbk"))

    trade("2026/01/02 09:59:59", dict.fromkeys(codes, 30.0), 1000)
    cycle.run()  # the listings' first poll (each is recorded once, on its own)
    # then one listing crosses +80% (35.28) while the others trade quietly
    trade("2026/01/02 10:00:04", {6082: 30.1, 9997: 30.1, 9998: 36.0, 9999: 30.1}, 2000)
    clock.set("2026-01-02T10:00:05")
    tick_commits: list[tuple[int, int]] = []  # (tick rows, alert lines logged) a commit

    def committed(_connection: object) -> None:
        ticks = [sql for sql in traced[-1] if "INSERT INTO ticks" in sql]  # one a row
        if ticks:
            tick_commits.append((len(ticks), len(logged(tmp_path))))

    with transactions(store.engine) as traced:
        sa.event.listen(store.engine, "commit", committed)
        cycle.run()
        sa.event.remove(store.engine, "commit", committed)

    # the firing listing's tick first, its alert logged, then the other three's in one go
    assert tick_commits == [(1, 0), (3, 1)]
    assert [r["listing"] for r in rule_alerts(tmp_path)] == ["hk9998"]
    assert all(len(store.ticks(listing.id)) == 2 for listing in listings)
    assert all(store.load_poller(listing.id).last_poll_us is not None for listing in listings)


def test_a_tencent_request_asks_for_sixty_codes_at_most(
    server: QuoteServer, ingestor: Ingestor, client: httpx.Client, store: SqlStore
) -> None:
    clock = FixedClock("2026-01-02T10:00:00")
    codes = range(2000, 2061)  # 61 listings on one host
    listings = [make_listing((UP_80,), id=f"hk{c}", symbol=f"{c}.HK") for c in codes]
    pollers = tencent_pollers(listings, server, ingestor, clock, client)
    body = [tencent_record(f"r_hk{c:05d}", 30.0, "2026/01/02 09:59:59", 1000) for c in codes]
    server.route("/q=", "\n".join(body).encode("gbk"))

    [cycle] = poll_cycles(pollers, client, clock)
    cycle.run()

    asked = [path.removeprefix("/q=").split(",") for path in server.paths]
    assert [len(request) for request in asked] == [60, 1]
    assert asked[1] == ["r_hk02060"]
    assert all(len(store.ticks(listing.id)) == 1 for listing in listings)


def test_one_listings_failing_commit_does_not_hold_back_the_others(
    server: QuoteServer,
    ingestor: Ingestor,
    client: httpx.Client,
    store: SqlStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FixedClock("2026-01-02T10:00:00")
    codes = (6082, 9997)
    listings = [make_listing((UP_80,), id=f"hk{c}", symbol=f"{c}.HK") for c in codes]
    pollers = tencent_pollers(listings, server, ingestor, clock, client)
    [cycle] = poll_cycles(pollers, client, clock)
    body = [tencent_record(f"r_hk{c:05d}", 36.0, "2026/01/02 09:59:59", 1000) for c in codes]
    server.route("/q=", "\n".join(body).encode("gbk"))  # both cross +80% (35.28)
    commit = store.commit

    def broken_for_hk6082(polls: Any, sinks: Any) -> None:
        if any(poll.listing_id == "hk6082" for poll in polls):
            raise StorageError("constraint failed")
        commit(polls, sinks)

    monkeypatch.setattr(store, "commit", broken_for_hk6082)
    cycle.run()

    assert [r["listing"] for r in rule_alerts(tmp_path)] == ["hk9997"]
    assert [len(store.ticks(listing.id)) for listing in listings] == [0, 1]
    assert [p.stats.errors for p in pollers] == [1, 0]


# --- the source's own day figures --------------------------------------------------------------


def test_a_partial_days_report_takes_open_high_low_and_prev_close_from_the_source(
    make_poller: Make, server: QuoteServer, store: SqlStore
) -> None:
    clock = FixedClock("2026-01-05T10:00:00")  # a day after the debut, nothing stored before
    server.route(
        "/a",
        feed(
            36.00,
            "2026-01-05T09:59:58+08:00",
            1000,
            high=37.0,
            low=33.5,
            open=35.0,
            prev_close=34.46,
        ),
    )
    make_poller(clock).poll()

    report = day_report(store, LISTING, dt.date(2026, 1, 5))
    assert report is not None
    rows = {row.label: row for row in figure_rows(report)}
    assert [row.label for row in figure_rows(report)] == [
        "offer",
        "prev close",
        "open",
        "first stored",
        "high",
        "low",
        "last",
        "VWAP",
    ]
    for label, price in (
        ("prev close", "34.46"),
        ("open", "35.00"),
        ("high", "37.00"),
        ("low", "33.50"),
    ):
        assert (rows[label].price, rows[label].note) == (price, "from the source"), label
    data = as_data(report)
    assert data["open"]["price"] == 35.0
    assert data["open"]["from_source"] is True
    assert data["high"] == {**data["high"], "price": 37.0, "from_source": True}
    assert data["prev_close_from_source"] is True
    assert data["source"]["provider"] == "feed"


def test_a_debuts_source_prev_close_is_its_offer_price_and_not_shown(
    make_poller: Make, server: QuoteServer, store: SqlStore
) -> None:
    clock = FixedClock("2026-01-02T10:00:00")
    server.route("/a", feed(36.00, "2026-01-02T09:59:58+08:00", 1000, open=35.70, prev_close=19.60))
    make_poller(clock).poll()
    report = day_report(store, LISTING, dt.date(2026, 1, 2))
    assert report is not None
    assert report.prev_close is None


def test_a_rule_against_the_open_uses_the_sources_open_when_the_daemon_missed_it(
    make_poller: Make, server: QuoteServer, tmp_path: Path
) -> None:
    open_10 = Rule("open-up-10", make_rule().kind, 10, reference=Reference.OPEN)
    listing = make_listing((open_10,))
    clock = FixedClock("2026-01-05T10:00:00")
    server.route(
        "/a", feed(39.50, "2026-01-05T09:59:58+08:00", 1000, low=35.0, high=39.6, open=35.70)
    )
    make_poller(clock, listing=listing).poll()

    [alert] = rule_alerts(tmp_path)  # 35.70 x 1.1 = 39.27, which the trade at 39.50 reached
    assert (alert["reference_price"], alert["level"], alert["price"]) == (35.70, 39.27, 39.50)


# --- the garbage collector, held off while a poll cycle runs ------------------------------------


def test_the_collector_is_held_off_while_cycles_run_and_back_when_the_last_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wall = Wall()
    hold = live._CollectorHold(wall)
    collected: list[int] = []
    monkeypatch.setattr(live.gc, "collect", lambda *_: collected.append(1) or 0)
    assert gc.isenabled()
    with hold.held():
        assert not gc.isenabled()
        with hold.held():  # another cycle, overlapping
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first still runs
        assert collected == []
        with hold.held():
            wall.now += live.HOLD_AT_MOST  # overlapping cycles have held it this long
        assert collected == [1]  # the cycle that ended collected before it went
    assert gc.isenabled()

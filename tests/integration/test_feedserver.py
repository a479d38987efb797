"""The feed server on 127.0.0.1 playing a tape on a simulated clock moved by hand (no sleeps).

Expected figures are computed here from the tape's CSV rows, independently of the server.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import HKT, SAMPLE_TAPE, make_listing, ts_us

from tracker.config import SourceConfig
from tracker.core.model import Listing
from tracker.runtime.clock import SimulatedClock
from tracker.sources.feedserver import FeedServer
from tracker.sources.providers import make_provider
from tracker.sources.providers.base import Quote
from tracker.sources.tape import read_tape

START = dt.datetime(2026, 1, 2, 9, 0, tzinfo=HKT)
SPEED = 60.0


class Wall:
    """A wall clock the test sets by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class Player:
    """A running feed, its client, and a way to set its clock to an exchange time."""

    def __init__(self, feed: FeedServer, wall: Wall, client: httpx.Client) -> None:
        self.feed, self.wall, self.client = feed, wall, client

    def at(self, local: str) -> Player:
        """Set the feed's clock to an exchange-local time (``2026-01-02 10:15:00``)."""
        moment = dt.datetime.fromisoformat(local).replace(tzinfo=HKT)
        self.wall.seconds = (moment - START).total_seconds() / SPEED
        return self

    def get(self, path: str) -> httpx.Response:
        return self.client.get(self.feed.url + path)

    def json(self, path: str) -> Any:
        response = self.get(path)
        assert response.status_code == 200, response.text
        return response.json()


def play(tape: Path, listing: Listing) -> Iterator[Player]:
    wall = Wall()
    clock = SimulatedClock(START, SPEED, wall=wall)
    with (
        FeedServer(listing, read_tape(tape, listing.timezone), clock, port=0) as feed,
        httpx.Client() as client,
    ):
        yield Player(feed, wall, client)


@pytest.fixture(scope="module")
def biren() -> Iterator[Player]:
    yield from play(SAMPLE_TAPE, make_listing())


@pytest.fixture
def two_days(tmp_path: Path) -> Iterator[Player]:
    tape = tmp_path / "two-days.csv"
    tape.write_text(
        "ts,price,volume,turnover\n"
        "2026-01-02 09:30:00,35.70,1000,35700\n"
        "2026-01-02 15:59:00,34.46,2000,68920\n"
        "2026-01-05 09:30:00,33.00,500,16500\n"
        "2026-01-05 09:31:00,36.00,700,25200\n"
    )
    yield from play(tape, make_listing())


def sample_rows_until(local: str) -> list[dict[str, str]]:
    """The sample tape's rows at or before an exchange-local time, read as plain CSV."""
    with SAMPLE_TAPE.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["ts"] <= local]


def test_quotes_are_all_null_before_the_first_trade(biren: Player) -> None:
    payload = biren.at("2026-01-02 09:15:00").json("/quotes/biren")

    assert payload == {
        "symbol": "6082.HK",
        "ts": None,
        "price": None,
        "volume": None,
        "turnover": None,
        "high": None,
        "low": None,
        "open": None,
        "prev_close": None,
    }


@pytest.mark.parametrize(
    ("now", "last_trade", "price"),
    [
        ("2026-01-02 09:25:00", "2026-01-02 09:20:00", 35.70),  # the opening auction print
        ("2026-01-02 10:15:00", "2026-01-02 10:15:00", 37.86),  # HK$100.2bn
        ("2026-01-02 10:15:01", "2026-01-02 10:15:00", 37.86),  # between ticks: the latest one
        ("2026-01-02 12:30:00", "2026-01-02 11:59:53", 40.70),  # lunch: the morning's last tick
        ("2026-01-02 18:00:00", "2026-01-02 16:09:00", 34.46),  # the closing auction print
    ],
)
def test_quote_is_the_latest_tick_with_cumulative_volume_and_running_range(
    biren: Player, now: str, last_trade: str, price: float
) -> None:
    rows = sample_rows_until(now)
    assert rows[-1]["ts"] == last_trade  # the expectation's own premise

    payload = biren.at(now).json("/quotes/biren")

    prices = [float(row["price"]) for row in rows]
    assert payload["ts"] == dt.datetime.fromisoformat(last_trade).replace(tzinfo=HKT).isoformat()
    assert payload["price"] == price == prices[-1]
    assert payload["volume"] == sum(float(row["volume"]) for row in rows)
    assert payload["turnover"] == pytest.approx(sum(float(row["turnover"]) for row in rows))
    assert (payload["high"], payload["low"]) == (max(prices), min(prices))


def test_quote_at_the_close_has_the_days_published_volume_and_range(biren: Player) -> None:
    payload = biren.at("2026-01-02 16:30:00").json("/quotes/biren")

    assert payload["volume"] == 150_709_945
    assert (payload["high"], payload["low"], payload["price"]) == (42.88, 33.50, 34.46)


def test_day_figures_reset_on_the_next_exchange_date(two_days: Player) -> None:
    before_open = two_days.at("2026-01-05 09:00:00").json("/quotes/biren")
    first = two_days.at("2026-01-05 09:30:30").json("/quotes/biren")
    second = two_days.at("2026-01-05 09:31:00").json("/quotes/biren")

    assert (before_open["ts"], before_open["volume"]) == ("2026-01-02T15:59:00+08:00", 3000)
    assert (before_open["high"], before_open["low"]) == (35.70, 34.46)
    assert (first["price"], first["volume"], first["turnover"]) == (33.0, 500, 16500)
    assert (first["high"], first["low"]) == (33.0, 33.0)
    assert (second["volume"], second["turnover"], second["high"], second["low"]) == (
        1200,
        41700,
        36.0,
        33.0,
    )


def test_yahoo_bars_cover_only_the_current_day(two_days: Player) -> None:
    chart = two_days.at("2026-01-05 09:31:00").json("/v8/finance/chart/6082.HK")

    result = chart["chart"]["result"][0]
    assert result["timestamp"] == [ts_us("2026-01-05T09:30:00") // 1_000_000 + s for s in (0, 60)]
    assert result["indicators"]["quote"][0]["volume"] == [500, 700]


def test_yahoo_bars_are_one_minute_with_null_minutes_and_a_partial_last_bar(biren: Player) -> None:
    chart = biren.at("2026-01-02 09:30:05").json("/v8/finance/chart/6082.HK?interval=1m&range=1d")

    result = chart["chart"]["result"][0]
    bars = result["indicators"]["quote"][0]
    first_minute = ts_us("2026-01-02T09:20:00") // 1_000_000
    assert result["timestamp"] == [first_minute + 60 * m for m in range(11)]  # 09:20 … 09:30
    assert bars["close"][1:10] == [None] * 9  # no trade from 09:21 to 09:29
    assert (bars["open"][0], bars["volume"][0]) == (35.70, 3_703_400)
    assert bars["volume"][10] == 50_400 + 96_700  # 09:30 so far: the 09:30:00 and 09:30:03 ticks
    assert result["meta"]["exchangeTimezoneName"] == "Asia/Hong_Kong"
    assert result["meta"]["gmtoffset"] == 8 * 3600


def test_tencent_shape_is_gbk_text_with_the_figures_at_their_indices(biren: Player) -> None:
    response = biren.at("2026-01-02 10:15:00").get("/q=r_hk06082")

    assert response.status_code == 200
    text = response.content.decode("gbk")
    assert text.startswith('v_r_hk06082="')
    assert text.rstrip().endswith('";')
    fields = text.split('"')[1].split("~")
    assert fields[2] == "06082"
    assert float(fields[3]) == 37.86
    assert (float(fields[4]), float(fields[5])) == (19.60, 35.70)  # previous close, open
    assert float(fields[6]) == sum(
        float(row["volume"]) for row in sample_rows_until("2026-01-02 10:15:00")
    )
    assert fields[30] == "2026/01/02 10:15:00"
    assert (float(fields[33]), float(fields[34])) == (37.86, 35.52)


def test_tencent_plain_records_lag_the_real_time_ones_by_fifteen_minutes(biren: Player) -> None:
    text = biren.at("2026-01-02 10:15:00").get("/q=hk06082,r_hk06082").content.decode("gbk")

    records = dict(line.split("=", 1) for line in text.strip().splitlines())
    plain = records["v_hk06082"].split("~")
    real_time = records["v_r_hk06082"].split("~")
    assert real_time[30] == "2026/01/02 10:15:00"
    assert plain[30] == max(
        row["ts"].replace("-", "/") for row in sample_rows_until("2026-01-02 10:00:00")
    )


def test_tencent_batch_answers_known_codes_and_one_no_match_for_the_unknown(
    biren: Player,
) -> None:
    response = biren.at("2026-01-02 10:15:00").get("/q=r_hk06082,r_hk09999")

    assert response.status_code == 200
    lines = response.content.decode("gbk").strip().splitlines()
    assert [line.split("=")[0] for line in lines] == ["v_r_hk06082", "v_pv_none_match"]
    assert lines[1] == 'v_pv_none_match="1";'


@pytest.mark.parametrize(
    "path", ["/quotes/other", "/v8/finance/chart/0700.HK", "/quotes/", "/nothing/here"]
)
def test_unknown_listing_symbol_code_or_path_is_404_json(biren: Player, path: str) -> None:
    response = biren.get(path)

    assert response.status_code == 404
    assert response.json()


def test_clock_tells_the_simulated_now_in_exchange_time_and_the_speed(biren: Player) -> None:
    payload = biren.at("2026-01-02 10:15:00").json("/clock")
    biren.wall.seconds += 1.5  # one and a half wall seconds at 60x: 90 market seconds
    later = biren.json("/clock")

    assert payload == {"now": "2026-01-02T10:15:00+08:00", "speed": 60}
    assert later["now"] == "2026-01-02T10:16:30+08:00"


@pytest.mark.parametrize(
    "now",
    [
        "2026-01-02 09:10:00",
        "2026-01-02 09:20:00",
        "2026-01-02 10:15:00",
        "2026-01-02 10:14:23",
        "2026-01-02 14:00:00",
        "2026-01-02 17:00:00",
    ],
)
def test_feed_yahoo_and_tencent_shapes_parse_to_the_same_quote(biren: Player, now: str) -> None:
    listing = make_listing()
    sources = {
        "feed": SourceConfig(provider="feed", url=biren.feed.url + "/quotes/biren"),
        "yahoo": SourceConfig(provider="yahoo", url=biren.feed.url),
        "tencent": SourceConfig(provider="tencent", url=biren.feed.url),
    }
    biren.at(now)

    quotes = {
        kind: make_provider(listing, source).fetch(biren.client) for kind, source in sources.items()
    }

    feed = quotes["feed"]
    assert feed.traded == (now >= "2026-01-02 09:20:00")
    for quote in quotes.values():
        assert _figures(quote) == _figures(feed)
    assert (quotes["tencent"].turnover or 0) == (feed.turnover or 0)
    assert quotes["yahoo"].turnover is None  # Yahoo's chart has no turnover


def _figures(quote: Quote) -> tuple[Any, ...]:
    """What every shape carries: the trade, cumulative volume (0 = none) and the day's range."""
    return (quote.ts_us, quote.price, quote.volume or 0, quote.high, quote.low)

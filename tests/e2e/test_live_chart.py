"""The live page's chart (Lightweight Charts) and what surrounds it, in headless Chromium.

A stored day of a million trades is drawn from bars, answers the pointer with the values
under it, and takes a streamed tick without redrawing the day; the status names the
market's phase at the page's clock (Playwright's fixed clock); a listing or a date that is
not there says so; a phone gets the chart first. ``tracker serve`` runs as a real process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as csv
import pytest
from commands import Tracker, tracker_command, tracker_env
from factories import LISTINGS, ROOT, SAMPLE_TAPE
from test_live_page import assert_markers_drawn, records, serve

HKT = ZoneInfo("Asia/Hong_Kong")
DAY = dt.date(2026, 1, 2)
TRADES = 1_000_000
# the day's continuous sessions, milliseconds after midnight (exchange time)
SESSIONS_MS = ((9.5 * 3_600_000, 12 * 3_600_000), (13 * 3_600_000, 16 * 3_600_000))
LOW_CENTS, HIGH_CENTS = 3000, 4400  # the walk stays within 30.00 and 44.00
PRICE_RULE = """
[[listings.rules]]
id = "price-up-45"
kind = "price"
threshold = 45
"""
# after the last generated trade (16:00), in the closing auction, with a sub-second time
STREAMED = "2026-01-02 16:05:00.250,45.10,100\n"
PHASE_TEXT = {
    "pre_open": "pre-open auction",
    "continuous": "continuous trading",
    "lunch": "lunch break",
    "closing_auction": "closing auction",
    "closed": "closed",
    "stored": "stored day",
}


def make_busy_day(path: Path, trades: int, seed: int = 20260102) -> tuple[Any, Any]:
    """``ts,price,volume``: ``trades`` trades at uniform millisecond instants of the sessions.

    Prices walk on the 0.02 grid, folded back into [30.00, 44.00]; several trades share an
    instant now and then. Returns each trade's milliseconds after midnight and its cents.
    """
    rng = np.random.default_rng(seed)
    (a_start, a_end), (b_start, b_end) = SESSIONS_MS
    morning = a_end - a_start
    offsets = np.sort(rng.integers(0, morning + b_end - b_start, trades))
    offsets = np.where(offsets < morning, offsets + a_start, offsets - morning + b_start)
    offsets = offsets.astype(np.int64)
    walk = 3570 - LOW_CENTS + np.cumsum(rng.integers(-1, 2, trades) * 2)
    width = HIGH_CENTS - LOW_CENTS
    folded = np.mod(walk, 2 * width)
    cents = LOW_CENTS + width - np.abs(folded - width)
    midnight = np.datetime64(DAY.isoformat(), "ms")
    table = pa.table(
        {
            "ts": pa.array(np.datetime_as_string(midnight + offsets.astype("timedelta64[ms]"))),
            "price": pa.array(np.char.mod("%.2f", cents / 100)),
            "volume": pa.array(rng.integers(1, 50, trades) * 100),
        }
    )
    with path.open("wb") as out:
        out.write(b"ts,price,volume\n")
        csv.write_csv(table, out, csv.WriteOptions(include_header=False, quoting_style="none"))
    return offsets, cents


def ms_after_midnight(ts_us: int) -> int:
    """An instant's milliseconds after the exchange's midnight of DAY."""
    midnight = dt.datetime.combine(DAY, dt.time(), HKT)
    moment = dt.datetime.fromtimestamp(ts_us / 1e6, HKT)
    return round((moment - midnight).total_seconds() * 1000)


def close_of_second(offsets: Any, cents: Any, second_start_ms: int) -> float:
    """The price of the day's last trade before the end of a second (its 1 s bar's close)."""
    index = int(np.searchsorted(offsets, second_start_ms + 1000, side="left")) - 1
    assert index >= 0
    return float(cents[index]) / 100


def spy_on_price_series(page: Any) -> None:
    """Count the library's own setData and update calls on the price series from now on."""
    page.evaluate(
        """() => {
            const series = window.trackerChart.series.price;
            const spy = (window.chartSpy = { setData: 0, update: 0 });
            const setData = series.setData.bind(series);
            const update = series.update.bind(series);
            series.setData = (data) => { spy.setData += 1; return setData(data); };
            series.update = (bar, old) => { spy.update += 1; return update(bar, old); };
        }"""
    )


def hover(page: Any, ts_us: int, price: float) -> dict[str, str]:
    """Point at an instant and a price on the chart; the tooltip's data once it shows."""
    from playwright.sync_api import expect

    box = page.locator("#chart").bounding_box()
    point = page.evaluate(f"window.trackerChart.pointAt({ts_us}, {price})")
    assert point is not None, (ts_us, price)
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    tooltip = page.locator("#chart-tooltip")
    expect(tooltip).to_be_visible()
    data: dict[str, str] = tooltip.evaluate("node => ({ ...node.dataset })")
    return data


def test_a_stored_day_of_a_million_trades_is_drawn_pointed_at_and_streamed_to(
    tracker: Tracker, open_page: Any, workdir: Path
) -> None:
    from playwright.sync_api import expect

    config = workdir / "listings.toml"
    config.write_text(LISTINGS.read_text() + PRICE_RULE)
    tape = workdir / "million.csv"
    offsets, cents = make_busy_day(tape, TRADES)
    db = f"sqlite:///{workdir / 'million.db'}"
    base = ["replay", "--listing", "biren", "--config", str(config), "--db", db]
    replayed = tracker(*base, str(tape), "--alert-log", str(workdir / "million.jsonl"))
    assert replayed.returncode == 0, replayed.stderr
    logged = records(workdir / "million.jsonl")
    fired = Counter(record["rule"] for record in logged)
    server, url = serve(config, db, workdir)
    try:
        started = time.monotonic()
        page = open_page(url)
        chart = page.locator("#chart")
        expect(chart).to_have_attribute("data-state", "drawn", timeout=60_000)
        expect(chart).to_have_attribute("data-points", str(TRADES))
        first_chart_s = time.monotonic() - started
        print(f"a day of {TRADES:,} trades: first chart {first_chart_s:.2f} s after goto")
        assert first_chart_s < 30, first_chart_s
        # drawn from bars: a 1 s bar each second of the sessions (5.5 h), not 1M points
        expect(page.locator("#price-line")).to_have_attribute("data-bars", "19800")
        expect(page.locator("#chart-note")).to_contain_text("Exchange time (UTC+08:00)")
        # every alert a marker; the opening trade's +50% and +80% share one, listing both
        expect(page.locator("#chart .alert-marker")).to_have_count(len(logged))
        assert_markers_drawn(page, [record["alert_id"] for record in logged])
        markers = page.evaluate("window.trackerChart.markers()")
        assert "+50%, +80%" in [marker["text"] for marker in markers]
        # a rule that fired many times: one item with its count and its last fire
        rule, times = fired.most_common(1)[0]
        assert times > 1, fired
        item = page.locator(f'#alerts > li[data-rule="{rule}"]')
        expect(item).to_have_count(1)
        expect(item).to_have_attribute("data-count", str(times))
        expect(item.locator(".count")).to_have_text(f"\u00d7{times}")
        last_fire = [r for r in logged if r["rule"] == rule][-1]
        expect(item).to_have_attribute("data-alert-id", last_fire["alert_id"])
        row = page.locator(f'#rules tr[data-rule="{rule}"] td').nth(2)
        expect(row).to_contain_text(f"\u00d7{times}, last {last_fire['ts'][11:19]}")

        # the crosshair's tooltip: the values of the second under the pointer, the whole day
        # in view (a pixel spans many seconds: whichever it shows must be right)...
        pointed_ms = 10 * 3_600_000 + 1234  # 10:00:01.234
        shown = hover(page, ms_to_us(pointed_ms), close_of_second(offsets, cents, pointed_ms))
        second_ms = ms_after_midnight(int(shown["tsUs"]))
        assert float(shown["price"]) == close_of_second(offsets, cents, second_ms), shown
        # ... and zoomed in on two minutes, exactly the second pointed at
        target_ms = 10 * 3_600_000 + 30 * 60_000 + 15_000  # 10:30:15
        expected = close_of_second(offsets, cents, target_ms)
        start, end = ms_to_us(target_ms - 60_000), ms_to_us(target_ms + 60_000)
        page.evaluate(f"window.trackerChart.zoomTo({start}, {end})")
        page.wait_for_timeout(100)  # the library lays the new range out on its next frame
        shown = hover(page, ms_to_us(target_ms), expected)
        assert shown["time"] == "10:30:15", shown
        assert float(shown["price"]) == expected, shown
        expect(page.locator("#chart-tooltip .tt-price")).to_contain_text(f"HK${expected:.2f}")

        # a streamed tick (and the alert it fires) is appended: update, never setData
        page.locator("#alert-sound").check()
        spy_on_price_series(page)
        set_data_before = page.evaluate("window.trackerChart.calls.setData")
        late = workdir / "late.csv"
        late.write_text("ts,price,volume\n" + STREAMED)
        streamed = tracker(*base, str(late), "--alert-log", str(workdir / "late.jsonl"))
        assert streamed.returncode == 0, streamed.stderr
        late_alerts = records(workdir / "late.jsonl")  # price-up-45, and rules re-armed below
        assert "price-up-45" in [r["rule"] for r in late_alerts], late_alerts
        expect(chart).to_have_attribute("data-points", str(TRADES + 1))
        expect(page.locator("#chart .alert-marker")).to_have_count(len(logged) + len(late_alerts))
        assert_markers_drawn(page, [record["alert_id"] for record in logged + late_alerts])
        expect(page.locator('#chart .alert-marker[data-rule="price-up-45"]')).to_have_count(1)
        expect(page.locator('#alerts li[data-rule="price-up-45"]')).to_have_class("alert up fresh")
        # one sound a new alert (the page's own sound; no notification without permission)
        played = str(len(late_alerts))
        expect(page.locator("#alert-sound")).to_have_attribute("data-played", played)
        spied = page.evaluate("window.chartSpy")
        assert spied["setData"] == 0, spied
        assert spied["update"] >= 1, spied
        assert page.evaluate("window.trackerChart.calls.setData") == set_data_before
        expect(page.locator('[data-figure="last"] .label')).to_have_text("last 16:05:00")
        expect(page.locator('[data-figure="last"] .value')).to_have_text("HK$45.10")
        expect(page).to_have_title("HK$45.10 +130.10% \u00b7 Biren Technology")
        expect(page.locator("#chart-note")).to_contain_text("Exchange time (UTC+08:00);")
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0


def ms_to_us(ms: int) -> int:
    """Epoch microseconds of milliseconds after DAY's midnight, exchange time."""
    midnight = dt.datetime.combine(DAY, dt.time(), HKT)
    return round((midnight.timestamp() * 1000 + ms) * 1000)


@pytest.fixture(scope="module")
def sample_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``tracker serve`` of the sample day, replayed into a SQLite file: its URL."""
    folder = tmp_path_factory.mktemp("sample-day")
    db = f"sqlite:///{folder / 'day.db'}"
    replay = [*tracker_command(), "replay", str(SAMPLE_TAPE), "--listing", "biren"]
    subprocess.run(
        [*replay, "--config", str(LISTINGS), "--db", db, "--alert-log", str(folder / "a.jsonl")],
        check=True,
        capture_output=True,
        env=tracker_env(),
        cwd=folder,
    )
    server, url = serve(LISTINGS, db, folder)
    yield url
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=30)


@pytest.fixture(scope="module")
def daemon_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample day served from a database a daemon writes (its heartbeat row): its URL."""
    folder = tmp_path_factory.mktemp("daemon-day")
    db = folder / "day.db"
    replay = [*tracker_command(), "replay", str(SAMPLE_TAPE), "--listing", "biren"]
    subprocess.run(
        [*replay, "--config", str(LISTINGS), "--db", f"sqlite:///{db}"],
        check=True,
        capture_output=True,
        env=tracker_env(),
        cwd=folder,
    )
    # as a running daemon's beat, stamped an hour ahead so that it stays fresh for the module
    wall_us = int((time.time() + 3600) * 1e6)
    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT INTO heartbeats (name, wall_us, clock_us, pid, detail) VALUES (?, ?, ?, ?, ?)",
            ("daemon", wall_us, wall_us, 1, "1 listings"),
        )
    server, url = serve(LISTINGS, f"sqlite:///{db}", folder)
    yield url
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=30)


@contextmanager
def page_at(
    browser: Any,
    url: str,
    at: str | None = None,
    width: int = 1200,
    height: int = 900,
    bars_missing: bool = False,
) -> Iterator[Any]:
    """A page in a fresh context, its clock fixed at an instant; fails if its script threw.

    ``bars_missing``: the server answers /bars with 404, as one from before the bars API.
    """
    context = browser.new_context(viewport={"width": width, "height": height})
    if at is not None:
        context.clock.set_fixed_time(dt.datetime.fromisoformat(at))  # Date only: timers run
    if bars_missing:
        context.route(
            "**/api/listings/*/bars?*",
            lambda route: route.fulfill(
                status=404, content_type="application/json", body='{"error": "no such path"}'
            ),
        )
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors


@pytest.mark.parametrize(
    ("now", "query", "phase"),
    [
        ("2026-01-02T09:10:00+08:00", "", "pre_open"),
        ("2026-01-02T10:00:00+08:00", "", "continuous"),
        ("2026-01-02T12:30:00+08:00", "", "lunch"),
        ("2026-01-02T16:05:00+08:00", "", "closing_auction"),
        ("2026-01-02T17:00:00+08:00", "", "closed"),
        ("2026-01-03T10:00:00+08:00", "", "closed"),  # a Saturday
        ("2026-01-02T10:00:00+08:00", "?date=2026-01-02", "continuous"),  # today, pinned
        ("2026-01-05T10:00:00+08:00", "?date=2026-01-02", "stored"),
    ],
)
def test_the_status_names_the_markets_phase_at_the_pages_clock(
    browser: Any, daemon_day: str, now: str, query: str, phase: str
) -> None:
    from playwright.sync_api import expect

    with page_at(browser, daemon_day + query, at=now) as page:
        expect(page.locator("#chart")).to_have_attribute("data-points", "2874")
        status = page.locator("#status")
        expect(status).to_have_attribute("data-state", "live")  # events connected
        expect(status).to_have_attribute("data-phase", phase)
        expect(status).to_have_text(PHASE_TEXT[phase])


def test_a_database_no_daemon_writes_is_a_stored_day_whatever_the_time(
    browser: Any, sample_day: str
) -> None:
    from playwright.sync_api import expect

    with page_at(browser, sample_day, at="2026-01-02T10:00:00+08:00") as page:
        expect(page.locator("#chart")).to_have_attribute("data-points", "2874")
        expect(page.locator("#status")).to_have_attribute("data-phase", "stored")
        expect(page.locator("#status")).to_have_text(PHASE_TEXT["stored"])


def test_an_unknown_listing_or_a_bad_date_says_so_and_shows_no_other_listing(
    browser: Any, sample_day: str
) -> None:
    from playwright.sync_api import expect

    with page_at(browser, sample_day + "?listing=nosuch") as page:
        expect(page.locator("#problem")).to_be_visible()
        expect(page.locator("#problem")).to_contain_text("This server tracks no listing “nosuch”")
        expect(page.locator('#problem a[href="?listing=biren"]')).to_be_visible()
        expect(page.locator("#listing-name")).to_have_text("No listing “nosuch”")
        expect(page.locator("#day-view")).to_be_hidden()
        expect(page.locator("#summary .figure")).to_have_count(0)
        expect(page).to_have_title("No listing “nosuch”: listing tracker")
    for bad in ("2026-13-45", "2026-02-30", "02-01-2026", "yesterday"):
        with page_at(browser, sample_day + f"?date={bad}") as page:
            expect(page.locator("#problem")).to_contain_text(f"?date={bad} is not a date")
            expect(page.locator("#day-view")).to_be_hidden()
            expect(page.locator("#summary .figure")).to_have_count(0)
    # a date with nothing stored: that day, empty; not the last day stored
    with page_at(browser, sample_day + "?date=2026-01-05", at="2026-02-02T10:00:00+08:00") as page:
        expect(page.locator("#chart-empty")).to_have_text("no ticks stored on 2026-01-05")
        expect(page.locator("#chart")).to_have_attribute("data-points", "0")
        expect(page.locator("#day")).to_have_text("on 2026-01-05")
        expect(page.locator("#status")).to_have_attribute("data-phase", "stored")


def test_on_a_phone_the_chart_comes_before_the_figures(browser: Any, sample_day: str) -> None:
    from playwright.sync_api import expect

    for width, chart_first in ((390, True), (1200, False)):
        with page_at(browser, sample_day, width=width, height=844) as page:
            expect(page.locator("#chart")).to_have_attribute("data-state", "drawn")
            chart = page.locator("#chart-panel").bounding_box()
            figures = page.locator("#summary").bounding_box()
            assert (chart["y"] < figures["y"]) is chart_first, (width, chart, figures)
            assert chart["width"] <= width


def test_without_the_bars_api_the_page_draws_the_day_from_its_ticks(
    browser: Any, sample_day: str
) -> None:
    from playwright.sync_api import expect

    with page_at(browser, sample_day, bars_missing=True) as page:
        expect(page.locator("#chart")).to_have_attribute("data-points", "2874")
        expect(page.locator('[data-figure="last"] .value')).to_have_text("HK$34.46")
        expect(page.locator('[data-figure="high"] .value')).to_have_text("HK$42.88")
        expect(page.locator("#chart .alert-marker")).to_have_count(4)
        shown = page.locator("#alerts li").evaluate_all("ns => ns.map(n => n.dataset.alertId)")
        assert_markers_drawn(page, shown)  # the day's four rules, one fire each


@pytest.fixture(scope="module")
def mixed_turnover_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three trades in one second, the second with a volume and no turnover: served."""
    folder = tmp_path_factory.mktemp("mixed-turnover")
    tape = folder / "day.csv"
    tape.write_text(
        "ts,price,volume,turnover\n"
        "2026-01-02 09:30:00,35.00,100,3500\n"
        "2026-01-02 09:30:00,36.00,100,\n"
        "2026-01-02 09:30:00,36.00,100,3600\n"
    )
    db = f"sqlite:///{folder / 'day.db'}"
    replay = [*tracker_command(), "replay", str(tape), "--listing", "biren", "--db", db]
    subprocess.run(
        [*replay, "--config", str(LISTINGS)], check=True, capture_output=True, env=tracker_env()
    )
    server, url = serve(LISTINGS, db, folder)
    yield url
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=30)


@pytest.mark.parametrize("bars_missing", [False, True])
def test_the_vwap_counts_a_trade_without_turnover_at_its_price_as_the_report_does(
    browser: Any, mixed_turnover_day: str, bars_missing: bool
) -> None:
    from playwright.sync_api import expect

    # (3500 + 36.00 x 100 + 3600) / 300 = 35.67, the report's (estimated) VWAP
    with page_at(browser, mixed_turnover_day, bars_missing=bars_missing) as page:
        expect(page.locator("#chart")).to_have_attribute("data-points", "3")
        expect(page.locator('[data-figure="vwap"] .value')).to_have_text("HK$35.67")


def test_the_alert_sound_is_off_by_default_and_remembered(browser: Any, sample_day: str) -> None:
    from playwright.sync_api import expect

    with page_at(browser, sample_day) as page:
        toggle = page.locator("#alert-sound")
        expect(toggle).not_to_be_checked()
        toggle.check()
        page.reload()
        expect(page.locator("#alert-sound")).to_be_checked()
        assert page.evaluate("localStorage.getItem('tracker.alertSound')") == "on"
        # the day's alerts, loaded with the page, are not new: no sound for them
        expect(page.locator("#alerts li")).to_have_count(4)
        expect(page.locator("#alert-sound")).to_have_attribute("data-played", "0")


def test_the_page_loads_nothing_from_other_hosts(browser: Any, sample_day: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        page = context.new_page()
        page.goto(sample_day)
        expect(page.locator("#chart")).to_have_attribute("data-state", "drawn")
        # the library is served from the package
        library = page.evaluate("typeof (window.LightweightCharts || {}).createChart")
        assert library == "function"
    finally:
        context.close()
    assert f"{sample_day}static/vendor/lightweight-charts.standalone.production.js" in requested
    assert [url for url in requested if not url.startswith(sample_day)] == []


def test_the_shipped_chart_library_is_the_pinned_release() -> None:
    script_path = ROOT / "scripts" / "fetch_lightweight_charts.py"
    spec = importlib.util.spec_from_file_location("fetch_lightweight_charts", script_path)
    assert spec is not None
    assert spec.loader is not None
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    vendor = ROOT / "tracker/web/static/vendor"
    # offline: each shipped file is, byte for byte, the one the fetch script takes from the
    # pinned tarball (it refuses a release whose files have other digests)
    assert sorted(fetch.FILE_SHA256) == sorted(fetch.FILES.values())
    for name, digest in fetch.FILE_SHA256.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    script = (vendor / "lightweight-charts.standalone.production.js").read_text()
    assert f"TradingView Lightweight Charts\u2122 v{fetch.VERSION}" in script[:300]
    assert "Apache License" in (vendor / "LICENSE").read_text()
    # the page's footer names the same release, as its attribution notice
    page = (ROOT / "tracker/web/static/index.html").read_text()
    assert f"Lightweight Charts\u2122 v{fetch.VERSION}" in page

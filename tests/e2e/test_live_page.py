"""The live page in a real headless browser: Debian's Chromium, driven by Playwright.

``tracker feed`` plays the sample day on a fast simulated clock and ``tracker run --web``
polls it, as real processes; the page must draw the day as it comes and show each alert
within 2 seconds of the tick that fired it: of the wall instant the feed's clock reached
that trade, the first moment any poller could have seen it (the feed's ``/clock``, mapped
to wall time). Waits are the browser's own (Playwright's ``expect``) or for lines the
processes print, never fixed sleeps.

The chart is a canvas (Lightweight Charts); beside it the page keeps what it draws as
elements the tests read: ``#chart[data-points]`` (the ticks the line holds), ``#price-line``,
the offer and each level's price line (``#offer-line``, ``.level[data-rule]``, with where its
axis label sits), an ``.alert-marker`` per alert, and the lunch cut (``.cut``, drawn over the
canvas). ``window.trackerChart`` is the chart itself and how often it was set or updated; the
``.alert-marker`` items are the page's own list, so the markers the library was given
(``window.trackerChart.markers()``) are checked against them and the alert log too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from commands import Tracker, tracker_command, tracker_env
from factories import LISTINGS, SAMPLE_TAPE
from feeds import daemon_args, free_port

SPEED = 240  # clock seconds a wall second: 09:31 to 10:31 in 15 s
INTERVAL = 30  # clock seconds between polls: 125 ms of wall time
# the first poll fires +50% and +80% (the open is past); 11 s of wall time to open the pages
# before the first alert they must show, room enough on a slow, busy 2-core machine
START = "2026-01-02T09:31:00+08:00"
# the day's alerts after the opening, with the instant of the tick that fires them
LATER_ALERTS = {
    "mcap-100b": "2026-01-02T10:15:00+08:00",
    "gain_pct-up-100": "2026-01-02T10:30:38+08:00",
}
WITHIN_MS = 2000


class Output:
    """A process's output lines, read on a thread, each with the wall time it arrived."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self._lines.put((time.time(), line.rstrip("\n")))
        self._lines.put((time.time(), None))

    def wait_for(self, wanted: Callable[[str], bool], timeout: float = 60) -> tuple[float, str]:
        """The first line from now on that is wanted, and the wall time it arrived."""
        end = time.monotonic() + timeout
        while True:
            try:
                at, line = self._lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"not printed in {timeout:g}s; last lines: {self.seen[-20:]}"
                ) from None
            if line is None:
                raise AssertionError(f"the process ended; last lines: {self.seen[-20:]}")
            self.seen.append(line)
            if wanted(line):
                return at, line


def alert_line(rule: str) -> Callable[[str], bool]:
    """The stdout sink's line of an alert: ``ALERT <ts> <rule>: <message>``."""
    return lambda line: line.startswith("ALERT ") and line.split(" ")[2].rstrip(":") == rule


def wall_time_of(clock_url: str) -> Callable[[str], float]:
    """Maps an instant of a feed's simulated clock to the wall time (``time.time()``) it is reached.

    The feed's clock runs at a fixed speed from its start, so one reading fixes the map; the
    reading is taken as of the middle of its request (a loopback round trip: a millisecond).
    """
    before = time.time()
    reading = httpx.get(clock_url).json()
    at = (before + time.time()) / 2
    now, speed = dt.datetime.fromisoformat(reading["now"]), float(reading["speed"])
    return lambda instant: at + (dt.datetime.fromisoformat(instant) - now).total_seconds() / speed


def serve(
    config: Path, db: str, workdir: Path, port: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``tracker serve`` on a loopback port (a free one by default), once it says where: the
    process, its URL."""
    url = f"http://127.0.0.1:{port or free_port()}/"
    web = url.removeprefix("http://").rstrip("/")
    server = subprocess.Popen(
        [*tracker_command(), "serve", "--config", str(config), "--db", db, "--web", web],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=tracker_env(),
        cwd=workdir,
    )
    assert server.stdout is not None
    banner = server.stdout.readline()
    assert url in banner, server.stderr.read() if server.stderr else ""
    return server, url


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def marker_alert_ids(page: Any) -> list[str]:
    """The alerts of the markers the chart library was given (a marker's id lists its
    alerts'), sorted."""
    markers = page.evaluate("window.trackerChart.markers()")
    return sorted(alert_id for marker in markers for alert_id in marker["id"].split(","))


def assert_markers_drawn(page: Any, alert_ids: list[str]) -> None:
    """Each alert is on a marker given to the library, and in the page's list of them."""
    hooks = page.locator("#chart .alert-marker").evaluate_all(
        "items => items.map(item => item.dataset.alertId)"
    )
    assert marker_alert_ids(page) == sorted(alert_ids) == sorted(hooks), (alert_ids, hooks)


def test_the_live_page_draws_the_day_and_shows_each_alert_within_two_seconds(
    feed_factory: Any, open_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    feed, config = feed_factory(speed=SPEED, interval=INTERVAL, start=START)
    port = free_port()
    daemon = subprocess.Popen(
        daemon_args(config, tmp_path, feed, "--web", f"127.0.0.1:{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=tracker_env(PYTHONUNBUFFERED="1"),  # each alert line as soon as it is printed
    )
    assert daemon.stdout is not None
    assert daemon.stderr is not None
    out, err = Output(daemon.stdout), Output(daemon.stderr)
    try:
        _, banner = err.wait_for(lambda line: "live page at" in line)
        url = banner.split("live page at ")[1]
        assert url == f"http://127.0.0.1:{port}/"
        page = open_page(url)
        polled = open_page(url + "?transport=poll")  # the JSON polling fallback
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        expect(polled.locator("#status")).to_have_attribute("data-state", "polling")
        opened = httpx.get(feed.clock_url).json()["now"]
        live = [rule for rule, fired in LATER_ALERTS.items() if fired > opened]
        assert live, f"the page opened at {opened}, after the day's last alert: machine too slow"

        chart = page.locator("#chart")
        expect(chart).not_to_have_attribute("data-points", "0")
        expect(page.locator("#price-line")).to_be_attached()
        expect(page.locator("#offer-line")).to_have_attribute("data-level", "19.6")
        expect(page.locator('#chart .level[data-rule="mcap-100b"]')).to_be_attached()
        points_before = int(chart.get_attribute("data-points") or 0)
        expect(chart).to_have_attribute("data-state", "drawn")
        redrawn_before = page.evaluate("window.trackerChart.calls.setData")

        traded_at = wall_time_of(feed.clock_url)  # when the feed first serves a trade
        latencies = {}  # milliseconds from the tick to its alert in the page
        for rule in live:
            tick_ms = traded_at(LATER_ALERTS[rule]) * 1000
            for name, shown_on in (("events", page), ("polling", polled)):
                item = shown_on.locator(f'#alerts li[data-rule="{rule}"]')
                left = tick_ms + WITHIN_MS - time.time() * 1000
                expect(item).to_be_attached(timeout=max(left, 1))
                shown_at = int(item.get_attribute("data-shown-at") or 0)
                latencies[f"{rule} by {name}"] = shown_at - tick_ms
                if name == "events":  # the server stamps each event as it sends it
                    published_at = int(item.get_attribute("data-published-at") or 0)
                    latencies[f"{rule} from its event"] = shown_at - published_at
            marker = page.locator(f'#chart .alert-marker[data-rule="{rule}"]')
            expect(marker).to_be_attached()
            fired_id = page.locator(f'#alerts li[data-rule="{rule}"]').get_attribute(
                "data-alert-id"
            )
            assert fired_id in marker_alert_ids(page), rule  # given to the library too
            out.wait_for(alert_line(rule))  # the daemon printed it too
        assert all(ms <= WITHIN_MS for ms in latencies.values()), latencies
        # not shown before its trade could be served: the clock's map is sound
        assert all(ms > -50 for ms in latencies.values()), latencies
        assert int(chart.get_attribute("data-points") or 0) > points_before
        # the streamed ticks were appended (series.update), the day never redrawn whole
        assert page.evaluate("window.trackerChart.calls.update") > 0
        assert page.evaluate("window.trackerChart.calls.setData") == redrawn_before
        # the time axis is the whole session, the hours to come too, not up to the last tick
        shown, opens, close = page.evaluate(
            """() => {
                const at = (iso) => window.trackerChart.chartTime(Date.parse(iso) * 1000);
                const range = window.trackerChart.chart.timeScale().getVisibleRange();
                return [range, at('2026-01-02T09:00+08:00'), at('2026-01-02T16:09:59+08:00')];
            }"""
        )
        assert (shown["from"], shown["to"]) == (opens, close), (shown, opens, close)
        # ticks of 2 January stream in: the market's phase is that of their (simulated) time
        expect(page.locator("#status")).to_have_attribute("data-phase", "continuous")
        expect(page.locator("#status")).to_have_text("continuous trading")
        expect(page).to_have_title(re.compile(r"^HK\$\d+\.\d\d \+\d+\.\d\d% · Biren Technology$"))
        alerts = page.locator("#alerts li")
        expect(alerts).to_have_count(4)  # with the two of the first poll, fetched on load
        expect(polled.locator("#alerts li")).to_have_count(4)
        for shown_on in (page, polled):
            expect(shown_on.locator("#chart .alert-marker")).to_have_count(4)
            shown = shown_on.locator("#alerts li").evaluate_all(
                "items => items.map(item => item.dataset.alertId)"
            )
            assert_markers_drawn(shown_on, shown)
    finally:
        daemon.send_signal(signal.SIGTERM)  # with both pages still connected
        daemon.wait(timeout=30)
    assert daemon.returncode == 0, err.seen[-20:]
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)
    logged = records(tmp_path / "live.jsonl")
    assert [r["rule"] for r in logged] == ["gain_pct-up-50", "gain_pct-up-80", *LATER_ALERTS]


def test_serve_shows_a_replayed_day_with_every_alert(
    tracker: Tracker, open_page: Any, workdir: Path
) -> None:
    from playwright.sync_api import expect

    db = f"sqlite:///{workdir / 'day.db'}"
    replay = ["replay", str(SAMPLE_TAPE), "--listing", "biren", "--config", str(LISTINGS)]
    replayed = tracker(*replay, "--db", db, "--alert-log", str(workdir / "day.jsonl"))
    assert replayed.returncode == 0, replayed.stderr
    logged = records(workdir / "day.jsonl")
    server, url = serve(LISTINGS, db, workdir)
    try:
        page = open_page(url)
        expect(page.locator("#alerts li")).to_have_count(len(logged))
        expect(page.locator("#chart")).to_have_attribute("data-points", "2874")
        expect(page.locator("#chart .alert-marker")).to_have_count(len(logged))
        assert_markers_drawn(page, [r["alert_id"] for r in logged])
        expect(page.locator("#chart .cut")).to_have_count(1)  # the lunch break
        expect(page.locator("#chart .cut-label")).to_have_text("lunch 12:00\u201313:00")
        expect(page.locator("#chart .cut")).to_be_visible()
        # the cut's dashed line sits between 11:59:59 and 13:00:00 on the time axis
        between = page.evaluate(
            """() => {
                const { chart, chartTime } = window.trackerChart;
                const us = (iso) => Date.parse(iso) * 1000;
                const x0 = (iso) => chart.timeScale().timeToCoordinate(chartTime(us(iso)));
                const cut = document.querySelector('#chart .cut');
                const layer = cut.parentNode.getBoundingClientRect();
                const x = cut.getBoundingClientRect().left - layer.left;
                return [x0('2026-01-02T11:59:59+08:00'), x, x0('2026-01-02T13:00:00+08:00')];
            }"""
        )
        assert between[0] <= between[1] <= between[2], between
        # +50% and +80% fired at one instant: one marker that names both, a hook each
        at_open = page.locator('#chart .alert-marker[data-marker-time="09:20:00"]')
        expect(at_open).to_have_count(2)
        texts = [marker["text"] for marker in page.evaluate("window.trackerChart.markers()")]
        assert texts == ["+50%, +80%", "cap HK$100bn", "+100%"], texts
        expect(page).to_have_title("HK$34.46 +75.82% \u00b7 Biren Technology")
        shown = page.locator("#alerts li").evaluate_all(
            "items => items.map(item => item.dataset.alertId)"
        )
        assert sorted(shown) == sorted(r["alert_id"] for r in logged)
        for rule in ("gain_pct-up-50", "gain_pct-up-80", "mcap-100b", "gain_pct-up-100"):
            expect(page.locator(f'#chart .level[data-rule="{rule}"]')).to_be_attached()
        expect(page.locator('[data-figure="last"] .value')).to_have_text("HK$34.46")
        expect(page.locator('[data-figure="high"] .value')).to_have_text("HK$42.88")
        expect(page.locator("#day")).to_have_text("on 2026-01-02")
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0


DAILY_RULES = """
[[listings.rules]]
id = "open-up-5"
kind = "gain_pct"
threshold = 5
reference = "open"

[[listings.rules]]
id = "prev-down-5"
kind = "gain_pct"
threshold = -5
direction = "down"
reference = "prev_close"
"""
# Two days; the second pauses 40 minutes in the morning, trades through lunch's edges.
LATER_DAY = """ts,price,volume
2026-01-02 09:30:00,35.70,100
2026-01-02 16:08:00,34.46,100
2026-01-05 09:30:00,35.44,100
2026-01-05 10:00:00,35.80,100
2026-01-05 10:40:00,35.10,100
2026-01-05 11:59:00,34.00,100
2026-01-05 13:01:00,32.02,100
2026-01-05 16:08:00,33.20,100
"""


def test_serve_draws_a_later_day_with_the_calendars_lunch_cut_and_daily_levels(
    tracker: Tracker, open_page: Any, workdir: Path
) -> None:
    from playwright.sync_api import expect

    config = workdir / "listings.toml"
    config.write_text(LISTINGS.read_text() + DAILY_RULES)
    tape = workdir / "days.csv"
    tape.write_text(LATER_DAY)
    db = f"sqlite:///{workdir / 'days.db'}"
    replay = ["replay", str(tape), "--listing", "biren", "--config", str(config), "--db", db]
    replayed = tracker(*replay, "--alert-log", str(workdir / "days.jsonl"))
    assert replayed.returncode == 0, replayed.stderr
    server, url = serve(config, db, workdir)
    try:
        page = open_page(url)
        expect(page.locator("#chart")).to_have_attribute("data-points", "6")
        expect(page.locator("#day")).to_have_text("on 2026-01-05")
        # the calendar's lunch break is cut, the 40 quiet minutes of the morning are not
        expect(page.locator("#chart .cut")).to_have_count(1)
        expect(page.locator("#chart .cut")).to_have_attribute("data-phase", "lunch")
        expect(page.locator("#chart .cut-label")).to_have_text("lunch 12:00\u201313:00")
        expect(page.locator("#chart-note")).to_contain_text("lunch 12:00\u201313:00 cut out")
        # daily levels for this day: its open and the previous day's close
        opened = page.locator('#chart .level[data-rule="open-up-5"]')
        expect(opened).to_have_attribute("data-level", str(round(35.44 * 1.05, 6)))
        previous = page.locator('#chart .level[data-rule="prev-down-5"]')
        expect(previous).to_have_attribute("data-level", str(round(34.46 * 0.95, 6)))
        # the price axis fits the day (32.02 to 35.80), not stretched to the offer: the levels
        # in that range are labelled at their price, the others pinned to the axis's edge
        where = {
            "gain_pct-up-100": "above",
            "mcap-100b": "above",
            "open-up-5": "above",
            "gain_pct-up-80": "in",
            "prev-down-5": "in",
            "gain_pct-up-50": "below",
            "below-offer": "below",
        }
        for rule, side in where.items():
            level = page.locator(f'#chart .level[data-rule="{rule}"]')
            expect(level).to_have_attribute("data-axis", side)
            expect(page.locator(f'#chart .level-label[data-rule="{rule}"]')).to_be_attached()
        expect(page.locator("#offer-line")).to_have_attribute("data-axis", "below")
        height = page.evaluate("window.trackerChart.chart.paneSize(0).height")
        placed = page.locator("#chart .level, #offer-line").evaluate_all(
            "ns => ns.map(n => [n.dataset.axis, Number(n.dataset.level), Number(n.dataset.y)])"
        )
        for side, price, y in placed:  # every label on the axis, beside the chart
            assert 0 <= y <= height, (side, price, y, height)
            if side == "in":
                at = page.evaluate(f"window.trackerChart.series.price.priceToCoordinate({price})")
                assert abs(y - at) <= 1, (price, y, at)
        for edge in ("above", "below"):  # pinned labels stacked, none hiding another
            ys = sorted(y for side, _, y in placed if side == edge)
            assert all(b - a >= 18 for a, b in itertools.pairwise(ys)), (edge, ys)
        row = page.locator('#rules tr[data-rule="open-up-5"] td.num').first
        expect(row).to_have_text("HK$37.21")
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    assert server.returncode == 0


def test_a_bad_web_address_or_a_port_in_use_is_one_line_and_exit_2(
    tracker: Tracker, workdir: Path
) -> None:
    db = f"sqlite:///{workdir / 'x.db'}"
    assert tracker("db", "upgrade", "--db", db).returncode == 0
    for args in (
        ["serve", "--web", "nonsense"],
        ["serve", "--web", "127.0.0.1:99999"],
        ["run", "--web", "localhost"],
    ):
        result = tracker(*args, "--config", str(LISTINGS), "--db", db)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert args[2] in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = tracker("serve", "--config", str(LISTINGS), "--db", db, "--web", f"127.0.0.1:{port}")
    assert busy.returncode == 2
    assert busy.stderr.strip() == (
        f"--web 127.0.0.1:{port}: cannot listen on it: Address already in use"
    )


def test_run_refuses_a_bad_web_address_or_a_busy_port_before_writing_anything(
    tracker: Tracker, workdir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        for address in ("nonsense", "127.0.0.1:99999", busy):
            result = tracker(
                "run", "--web", address, "--config", str(LISTINGS),
                "--db", f"sqlite:///{workdir / 'never.db'}",
                "--alert-log", str(workdir / "never.jsonl"),
            )  # fmt: skip
            assert result.returncode == 2, result.stderr
            [line] = result.stderr.strip().splitlines()
            assert address in line
            assert list(workdir.iterdir()) == [], (address, list(workdir.iterdir()))
    assert "cannot listen on it: Address already in use" in line


def test_serving_beyond_loopback_warns_once(tracker: Tracker, workdir: Path) -> None:
    db = f"sqlite:///{workdir / 'x.db'}"
    assert tracker("db", "upgrade", "--db", db).returncode == 0
    server = subprocess.Popen(
        [*tracker_command(), "serve", "--config", str(LISTINGS), "--db", db, "--web", "0.0.0.0:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=tracker_env(),
    )
    assert server.stdout is not None
    banner = server.stdout.readline()
    server.send_signal(signal.SIGTERM)
    _, err = server.communicate(timeout=30)
    assert "live page at http://0.0.0.0:" in banner
    assert server.returncode == 0
    [warning] = err.strip().splitlines()
    assert "0.0.0.0:0" in warning
    assert "other machines" in warning

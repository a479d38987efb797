"""The live page follows the server while it stays open, in headless Chromium.

Ticks committed while the page was cut off from its event stream are drawn once it is
back, whatever the stream sends while the catch-up is under way; the volume cap also
cuts the bars drawn before it was worked out; the status follows a daemon that starts or
stops; a day the API refuses says so, once; a catch-up's batch of alerts is one sound and
one notification. ``tracker serve`` and ``tracker replay`` run as real processes; the
page's timers run on Playwright's clock where the test needs their time to pass.
"""

from __future__ import annotations

import datetime as dt
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from commands import Tracker
from factories import LISTINGS, SAMPLE_TAPE
from test_live_chart import PHASE_TEXT, sample_day  # noqa: F401 (a fixture)
from test_live_page import assert_markers_drawn, marker_alert_ids, records, serve

DAY_TICKS = 2874  # the sample day's
# rules above the sample day's high (HK$42.88): one tick at HK$46.10 fires them all at once
BURST_RULES = "".join(
    f'\n[[listings.rules]]\nid = "price-up-{level}"\nkind = "price"\nthreshold = {level}\n'
    for level in (43, 44, 45, 46)
)
# the page counts its tones and notifications (Notification allowed, as a reader would)
SPY_ON_ANNOUNCEMENTS = """
(() => {
    window.tones = 0;
    window.notified = [];
    const start = OscillatorNode.prototype.start;
    OscillatorNode.prototype.start = function (...args) {
        window.tones += 1;
        return start.apply(this, args);
    };
    window.Notification = class {
        static permission = "granted";
        static requestPermission() { return Promise.resolve("granted"); }
        constructor(title, options) { window.notified.push({ title, ...options }); }
    };
})();
"""


@contextmanager
def new_page(
    browser: Any, at: str | None = None, init_script: str | None = None
) -> Iterator[tuple[Any, Any]]:
    """A context and its page; with ``at``, the page's clock (timers too) is Playwright's,
    running from that instant. Fails if the page's script threw."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    if at is not None:
        context.clock.install(time=dt.datetime.fromisoformat(at))
    if init_script is not None:
        context.add_init_script(init_script)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield context, page
    finally:
        context.close()
    assert errors == [], errors


def wait_until(page: Any, done: Callable[[], object], timeout: float = 20) -> None:
    """Wait for a condition the test's own callbacks (Playwright's route handlers) make
    true: they run while the test is inside a Playwright call, so it waits in one."""
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, f"not done in {timeout:g}s"
        page.wait_for_timeout(50)


def tape(path: Path, rows: list[tuple[str, float]]) -> Path:
    """A tape of trades of 100 shares on the sample day: ``(hh:mm:ss, price)`` each."""
    path.write_text("ts,price,volume\n" + "".join(f"2026-01-02 {t},{p:.2f},100\n" for t, p in rows))
    return path


def replayer(tracker: Tracker, config: Path, db: str, workdir: Path) -> Callable[..., list[Any]]:
    """``tracker replay`` of a tape into the test's database: the alerts it fired."""

    def replay(tape_path: Path) -> list[Any]:
        log = workdir / f"{tape_path.stem}.jsonl"
        done = tracker(
            "replay", str(tape_path), "--listing", "biren", "--config", str(config),
            "--db", db, "--alert-log", str(log),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return records(log) if log.exists() else []

    return replay


def stop(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=30)
    assert server.returncode == 0


def chart_time(hhmmss: str) -> int:
    """The chart's time of a second of the sample day: its exchange time read as UTC."""
    moment = dt.datetime.fromisoformat(f"2026-01-02T{hhmmss}+00:00")
    return int(moment.timestamp())


def test_ticks_committed_while_the_page_was_cut_off_are_drawn_after_it_reconnects(
    browser: Any, tracker: Tracker, workdir: Path
) -> None:
    from playwright.sync_api import expect

    config = workdir / "listings.toml"
    config.write_text(LISTINGS.read_text() + BURST_RULES)
    db = f"sqlite:///{workdir / 'day.db'}"
    replay = replayer(tracker, config, db, workdir)
    day_alerts = replay(SAMPLE_TAPE)
    server, url = serve(config, db, workdir)
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    try:
        with new_page(browser, init_script=SPY_ON_ANNOUNCEMENTS) as (context, page):
            page.goto(url)
            chart = page.locator("#chart")
            expect(chart).to_have_attribute("data-points", str(DAY_TICKS))
            expect(page.locator("#status")).to_have_attribute("data-state", "live")
            expect(page.locator("#chart .alert-marker")).to_have_count(len(day_alerts))
            page.locator("#alert-sound").check()
            # from now on the stream's reconnect waits until the server is back, and the
            # catch-up it starts (the bars since the last one) until a tick has streamed
            reconnects: list[Any] = []
            catch_ups: list[Any] = []
            context.route("**/api/events*", lambda route: reconnects.append(route))
            context.route(
                "**/api/listings/biren/bars?*",
                lambda route: (
                    catch_ups.append(route) if "since=" in route.request.url else route.continue_()
                ),
            )
            stop(server)
            expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
            # committed while the page is cut off: three ticks, the second firing a burst
            away = [("16:09:30", 34.50), ("16:09:31", 46.10), ("16:09:40", 34.50)]
            burst = replay(tape(workdir / "away.csv", away))
            assert len(burst) >= 4, burst  # the four price rules, at one tick
            server, _ = serve(config, db, workdir, port=port)
            wait_until(page, lambda: reconnects)
            for route in reconnects:
                route.continue_()
            wait_until(page, lambda: catch_ups)
            # streamed while the catch-up is held (the new server streams what is committed
            # after its start)
            streamed = [("16:09:50", 34.52)]
            assert replay(tape(workdir / "streamed.csv", streamed)) == []
            wait_until(page, lambda: page.evaluate("window.trackerChart.calls.streamed") >= 1)
            for route in catch_ups:
                route.continue_()

            expect(chart).to_have_attribute("data-points", str(DAY_TICKS + 4))
            last_points = page.evaluate("window.trackerChart.series.price.data().slice(-4)")
            assert [(p["time"], p["value"]) for p in last_points] == [
                (chart_time(t), price) for t, price in away + streamed
            ], last_points
            expect(page.locator('[data-figure="last"] .label')).to_have_text("last 16:09:50")
            expect(page.locator('[data-figure="high"] .value')).to_have_text("HK$46.10")
            # every alert a marker given to the library, the burst's too ...
            everything = [r["alert_id"] for r in day_alerts + burst]
            expect(page.locator("#chart .alert-marker")).to_have_count(len(everything))
            assert_markers_drawn(page, everything)
            # ... and the burst, fetched by the catch-up in one batch, one sound
            expect(page.locator("#alert-sound")).to_have_attribute("data-played", "1")
            assert page.evaluate("window.tones") == 1
            assert [n["title"] for n in page.evaluate("window.notified")] == [
                f"Biren Technology: {len(burst)} alerts"
            ]
    finally:
        stop(server)


def test_the_volume_cap_also_cuts_the_bars_drawn_before_it(
    browser: Any, tracker: Tracker, workdir: Path
) -> None:
    from playwright.sync_api import expect

    header, auction, *day = SAMPLE_TAPE.read_text().splitlines(keepends=True)
    assert "opening auction" in auction  # 3.7 million shares; the day's median second: 32,400
    opening = workdir / "opening.csv"
    opening.write_text(header + auction)
    rest = workdir / "rest.csv"
    rest.write_text(header + "".join(day))
    db = f"sqlite:///{workdir / 'day.db'}"
    replay = replayer(tracker, LISTINGS, db, workdir)
    replay(opening)
    server, url = serve(LISTINGS, db, workdir)
    try:
        with new_page(browser) as (_, page):
            page.goto(url)  # opened at the open: the auction's bar alone, no cap yet
            chart = page.locator("#chart")
            expect(chart).to_have_attribute("data-points", "1")
            assert page.evaluate("window.trackerChart.volumeCap()") is None
            set_data = page.evaluate("window.trackerChart.calls.setData")
            replay(rest)  # the rest of the day streams in
            expect(chart).to_have_attribute("data-points", str(DAY_TICKS), timeout=30_000)
            cap = page.evaluate("window.trackerChart.volumeCap()")
            volumes = page.evaluate("window.trackerChart.series.volume.data()")
            assert cap is not None
            assert cap < 3_703_400 / 3, cap  # 3 times the 99th percentile of the seconds
            # the auction's bar, drawn before there was a cap, is cut to it like any other
            assert volumes[0]["value"] == cap, volumes[0]
            assert max(point["value"] for point in volumes) == cap
            # so the volume scale's top is the cap, not the auction's volume
            top = page.evaluate("window.trackerChart.volumeTop()")
            assert abs(top - cap) <= cap * 0.02, (top, cap)
            # only the volume series was redrawn: the day's price line never was
            assert page.evaluate("window.trackerChart.calls.setData") == set_data
            assert page.evaluate("window.trackerChart.calls.volumeSetData") >= 2
    finally:
        stop(server)


def test_the_status_follows_a_daemon_that_starts_or_stops_while_the_page_is_open(
    browser: Any, tracker: Tracker, workdir: Path
) -> None:
    from playwright.sync_api import expect

    db = workdir / "day.db"
    replayer(tracker, LISTINGS, f"sqlite:///{db}", workdir)(SAMPLE_TAPE)
    server, url = serve(LISTINGS, f"sqlite:///{db}", workdir)

    def beat(age_s: float, detail: str) -> None:
        """The daemon's heartbeat row, as ``tracker run`` writes it."""
        wall_us = int((time.time() - age_s) * 1e6)
        with sqlite3.connect(db) as connection:
            connection.execute("DELETE FROM heartbeats WHERE name = 'daemon'")
            connection.execute(
                "INSERT INTO heartbeats (name, wall_us, clock_us, pid, detail) "
                "VALUES ('daemon', ?, ?, 1, ?)",
                (wall_us, wall_us, detail),
            )

    try:
        with new_page(browser, at="2026-01-02T10:00:00+08:00") as (_, page):
            page.goto(url)
            status = page.locator("#status")
            expect(page.locator("#chart")).to_have_attribute("data-points", str(DAY_TICKS))
            expect(status).to_have_attribute("data-phase", "stored")  # no daemon yet
            for age_s, detail, phase in (
                (0, "1 listings", "continuous"),  # a daemon starts
                (0, "stopped", "stored"),  # it stops
                (0, "1 listings", "continuous"),  # again
                (120, "1 listings", "stored"),  # it is gone: no beat for two minutes
            ):
                beat(age_s, detail)
                page.clock.fast_forward(10_000)  # the page asks every 10 s
                expect(status).to_have_attribute("data-phase", phase)
                expect(status).to_have_text(PHASE_TEXT[phase])
    finally:
        stop(server)


def test_a_date_the_api_refuses_says_so_and_is_not_asked_for_again(
    browser: Any,
    sample_day: str,  # noqa: F811 (the fixture)
) -> None:
    from playwright.sync_api import expect

    answer = httpx.get(f"{sample_day}api/listings/biren/bars?date=1800-01-01&interval=1s")
    assert answer.status_code == 400
    reason = answer.json()["error"]
    assert "outside the years" in reason, reason
    for transport in ("", "&transport=poll"):
        with new_page(browser, at="2026-01-05T10:00:00+08:00") as (context, page):
            asked: list[str] = []  # the page's requests to the API for the refused day
            context.on(
                "request",
                lambda request, asked=asked: (
                    asked.append(request.url) if "/api/" in request.url else None
                ),
            )
            page.goto(f"{sample_day}?date=1800-01-01{transport}")
            problem = page.locator("#problem")
            expect(problem).to_be_visible()
            expect(problem).to_contain_text(f"The server refuses ?date=1800-01-01: {reason}")
            expect(problem.locator('a[href="?listing=biren"]')).to_be_visible()
            expect(page.locator("#listing-name")).to_have_text("No day “1800-01-01”")
            expect(page.locator("#day-view")).to_be_hidden()
            expect(page).to_have_title("No day “1800-01-01”: listing tracker")
            asked_before = len([url for url in asked if "1800-01-01" in url])
            # a minute of the page's time: it used to ask again every 2 s (polling: 1 s)
            page.clock.run_for(60_000)
            assert page.evaluate("fetch('/api/listings').then(answer => answer.status)") == 200
            assert len([url for url in asked if "1800-01-01" in url]) == asked_before, asked
            assert asked_before <= 2, asked  # the day's bars, its calendar: once each
            expect(problem).to_be_visible()
            expect(page.locator("#status")).to_have_text("nothing to show")


def test_a_catch_ups_batch_of_alerts_is_one_sound_and_one_notification(
    browser: Any, tracker: Tracker, workdir: Path
) -> None:
    from playwright.sync_api import expect

    config = workdir / "listings.toml"
    config.write_text(LISTINGS.read_text() + BURST_RULES)
    db = f"sqlite:///{workdir / 'day.db'}"
    replay = replayer(tracker, config, db, workdir)
    day_alerts = replay(SAMPLE_TAPE)
    server, url = serve(config, db, workdir)
    try:
        with new_page(browser, init_script=SPY_ON_ANNOUNCEMENTS) as (_, page):
            page.goto(url + "?transport=poll")  # each poll a catch-up
            expect(page.locator("#chart")).to_have_attribute("data-points", str(DAY_TICKS))
            expect(page.locator("#chart .alert-marker")).to_have_count(len(day_alerts))
            sound = page.locator("#alert-sound")
            sound.check()
            burst = replay(tape(workdir / "burst.csv", [("16:09:31", 46.10)]))
            assert len(burst) >= 4, burst  # committed with their tick: one poll has them all
            everything = [r["alert_id"] for r in day_alerts + burst]
            expect(page.locator("#chart .alert-marker")).to_have_count(len(everything))
            assert sorted(everything) == marker_alert_ids(page)
            expect(sound).to_have_attribute("data-played", "1")
            expect(sound).to_have_attribute("data-notified", "1")
            assert page.evaluate("window.tones") == 1
            [notification] = page.evaluate("window.notified")
            assert notification["title"] == f"Biren Technology: {len(burst)} alerts"
            assert notification["tag"] == burst[-1]["alert_id"]
            for record in burst:
                assert f"{record['ts'][11:19]} {record['rule']}" in notification["body"]
    finally:
        stop(server)

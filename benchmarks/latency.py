"""Daemon-path latency: from a quote's HTTP response to its alert line in the alert log.

Wires the live path as ``tracker run`` does (``bootstrap.build_app`` and ``build_daemon``:
a SQLite file and the JSONL alert log in a temporary folder, the daemon's background
dispatch, its dispatch, status, heartbeat and WAL-checkpoint jobs on the real scheduler),
serves a synthetic tape with the project's ``FeedServer`` on 127.0.0.1 (``feed`` provider
format, cumulative volume and turnover, keep-alive), and calls the poll job
``ListingPoller.poll`` directly, ``--polls`` times, on a clock stepped to each tick's trade
time inside the HKEX morning session: no sleeping. Prices
alternate 40.50 / 39.00 around two price rules at 40 (up and down, 1% re-arm band), so
every poll stores one tick and fires exactly one alert; the script checks that.

Per poll, with ``time.perf_counter``:

- request: the httpx ``request`` event hook on the daemon's client (about to send);
- t0, response: the httpx ``response`` event hook, after ``response.read()`` (body in);
- commit: ``SqlStore.commit`` returned (ticks, alert and state committed);
- t1, logged: the alert log sink's ``deliver`` returned, so its write, flush and fsync
  are done (the sink instance's ``deliver`` is wrapped; the file is not tailed).

The next poll starts once the dispatcher's pass has also recorded the delivery, as it
would between polls seconds apart. The first ``--warmup`` polls are not counted. The
script counts the alerts that another thread logged than the poll's own, which logs
right after its commit: only the 1 s ``dispatch`` job's pass does, when it happens to be
running at that moment (the poll's thread then finds the alert delivered already).

    python benchmarks/latency.py                 # 10,000 polls
    python benchmarks/latency.py --polls 2000 --dir /var/tmp
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from tracker.alerts.sinks import AlertSink, Delivery, JsonlAlertLog
from tracker.bootstrap import App, build_app, build_daemon, build_settings
from tracker.config import load_listings
from tracker.runtime.scheduling import recurring_scheduler
from tracker.sources.feedserver import FeedServer
from tracker.sources.tape import read_tape

START = dt.datetime.fromisoformat("2026-01-02T09:30:00+08:00")  # HKEX continuous session
SESSION_SECONDS = 9000  # 09:30 to 12:00
PRICES = (40.50, 39.00)  # above the level, below both re-arm bands: one alert a poll
LISTINGS = """[[listings]]
id = "bench"
symbol = "6082.HK"
offer_price = 19.60
shares_outstanding = 2_646_592_710

[listings.source]
provider = "feed"
url = "{url}"
interval = 5
""" + "".join(
    f'\n[[listings.rules]]\nid = "price-40-{d}"\nkind = "price"\nthreshold = 40\n'
    f'direction = "{d}"\nrearm_pct = 1.0\n'
    for d in ("up", "down")
)


class SteppedClock:
    """A clock that stays where it is set: the poller and the feed read the same instant."""

    speed = 1.0

    def __init__(self, instant: dt.datetime) -> None:
        self.instant = instant

    def now(self) -> dt.datetime:
        """The instant last set."""
        return self.instant


class Marks:
    """The instants of the current poll, set from hooks on the main and dispatcher threads."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.logged = threading.Event()  # the alert line is in the log, fsynced
        self.passed = threading.Event()  # the dispatcher's pass has recorded it too
        self.lines = 0
        self.elsewhere = 0  # alert lines written by a thread other than the poll's

    def mark(self, name: str) -> None:
        self.times[name] = time.perf_counter()


def make_tape(path: Path, ticks: int, step_us: int) -> list[dt.datetime]:
    """``ts,price,volume,turnover`` a step apart from the session start; the trade times."""
    times = [START + dt.timedelta(microseconds=step_us * (i + 1)) for i in range(ticks)]
    with path.open("w") as out:
        out.write("ts,price,volume,turnover\n")
        for i, ts in enumerate(times):
            price = PRICES[i % 2]
            out.write(f"{ts.isoformat()},{price:.2f},100,{100 * price:.2f}\n")
    return times


def instrument(app: App, client: httpx.Client, marks: Marks) -> None:
    """Hook the daemon's HTTP client, store commits and the alert log sink (instances only)."""

    def on_request(request: httpx.Request) -> None:
        marks.mark("request")

    def on_response(response: httpx.Response) -> None:
        response.read()
        marks.mark("response")

    client.event_hooks = {"request": [on_request], "response": [on_response]}
    store, outbox = app.store, app.ingestor.outbox
    log = next(sink for sink in outbox.sinks if isinstance(sink, JsonlAlertLog))
    commit, deliver, dispatch_sink = store.commit, log.deliver, outbox.dispatch_sink

    def timed_commit(*args: Any, **kwargs: Any) -> None:
        commit(*args, **kwargs)
        marks.mark("commit")

    polling = threading.get_ident()

    def timed_deliver(batch: Sequence[Delivery]) -> None:
        deliver(batch)
        marks.mark("logged")
        marks.lines += len(batch)
        if threading.get_ident() != polling:
            marks.elsewhere += len(batch)
        marks.logged.set()

    def timed_pass(sink: AlertSink, fresh: bool = False) -> int:
        delivered = int(dispatch_sink(sink, fresh))
        if sink is log:
            marks.passed.set()
        return delivered

    store.commit = timed_commit  # type: ignore[method-assign,assignment]
    log.deliver = timed_deliver  # type: ignore[method-assign]
    outbox.dispatch_sink = timed_pass  # type: ignore[method-assign]


def filesystem(folder: Path) -> str:
    """The type of the filesystem holding a folder (fsync costs depend on it)."""
    best, kind, where = "", "unknown", str(folder.resolve())
    mounts = Path("/proc/mounts")
    for line in mounts.read_text().splitlines() if mounts.exists() else []:
        point, fs = line.split()[1:3]
        if where.startswith(point) and len(point) > len(best):
            best, kind = point, fs
    return kind


def summary(label: str, seconds: list[float], full: bool = True) -> str:
    ms = [s * 1000 for s in seconds]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    parts = [f"p50 {cuts[49]:.2f}"] + ([f"p90 {cuts[89]:.2f}"] if full else [])
    parts += [f"p99 {cuts[98]:.2f}"] + ([f"max {max(ms):.2f}"] if full else [])
    return f"{label:<18}{'  '.join(parts)} ms"


def run(polls: int, warmup: int, folder: Path) -> dict[str, list[float]]:
    """Poll ``warmup + polls`` times; per counted poll, the spans between the marks."""
    total = warmup + polls
    step_us = min(1_000_000, SESSION_SECONDS * 1_000_000 // (total + 1))
    times = make_tape(folder / "tape.csv", total, step_us)
    config, settings_file = folder / "listings.toml", folder / "tracker.toml"
    settings_file.write_text("[sinks.stdout]\nenabled = false\n")
    os.environ["TRACKER_SETTINGS"] = str(settings_file)  # not the working folder's settings
    config.write_text(LISTINGS.format(url="http://127.0.0.1:9/quotes/bench"))
    clock = SteppedClock(START)
    listing = load_listings(config).by_id["bench"]
    feed = FeedServer(listing, read_tape(folder / "tape.csv", listing.timezone), clock, port=0)
    config.write_text(LISTINGS.format(url=f"{feed.url}/quotes/bench"))
    settings = build_settings(f"sqlite:///{folder / 'tracker.db'}", str(folder / "alerts.jsonl"))
    app = build_app(load_listings(config), settings)
    daemon = build_daemon(app, clock, None)
    (poller,) = daemon.pollers
    poll_job = f"poll:{poller.listing.id}"
    marks = Marks()
    instrument(app, poller.client, marks)
    spans: dict[str, list[float]] = {"response": [], "commit": [], "logged": [], "request": []}
    # the daemon's other jobs (dispatch, status, heartbeat, WAL checkpoints) run on the real
    # scheduler meanwhile, as in `tracker run`; only the poll job is called here instead
    background = recurring_scheduler([job for job in daemon.jobs() if job.id != poll_job])
    with feed, app.ingestor.background_dispatch():
        background.start()
        daemon.settle()  # as Daemon.run does before its first poll
        marks.passed.wait(10)  # the dispatcher's first pass, at its start
        for i, instant in enumerate(times):
            clock.instant = instant
            marks.times.clear()
            marks.logged.clear()
            marks.passed.clear()
            alerts = poller.stats.alerts
            outcome = poller.poll()
            if outcome != "tick" or poller.stats.alerts != alerts + 1:
                raise SystemExit(f"poll {i}: {outcome!r}, {poller.stats.alerts - alerts} alerts")
            if not (marks.logged.wait(10) and marks.passed.wait(10)):
                raise SystemExit(f"poll {i}: no alert in the log after 10 s")
            if i >= warmup:
                at = marks.times
                spans["response"].append(at["logged"] - at["response"])
                spans["commit"].append(at["commit"] - at["response"])
                spans["logged"].append(at["logged"] - at["commit"])
                spans["request"].append(at["logged"] - at["request"])
    background.shutdown(wait=True)
    poller.client.close()
    app.store.close()
    lines = len((folder / "alerts.jsonl").read_bytes().splitlines())
    if lines != total or marks.lines != total:
        raise SystemExit(f"{lines} lines in the alert log, {marks.lines} delivered, {total} polls")
    spans["elsewhere"] = [float(marks.elsewhere)]
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--polls", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary folder goes")
    args = parser.parse_args()
    if args.polls < 2:
        parser.error("--polls must be at least 2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        spans = run(args.polls, args.warmup, folder)
        fs = filesystem(folder)
    elapsed = time.perf_counter() - started
    p99 = statistics.quantiles(spans["response"], n=100, method="inclusive")[98] * 1000
    py = f"Python {platform.python_version()}"
    counted = f"{args.polls:,} polls, each fired 1 alert"
    print(f"polls             {counted} ({args.warmup} warm-up polls not counted)")
    load = f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    print(f"machine           {py}, SQLite {sqlite3.sqlite_version}, {platform.platform()}, {load}")
    print(f"storage           {folder.parent} ({fs}); SQLite WAL, synchronous=NORMAL")
    elsewhere = int(spans["elsewhere"][0])
    print(f"logged by         the poll's thread after its commit; {elsewhere} by the 1 s job")
    print(summary("response -> log", spans["response"]))
    print(summary("  -> commit", spans["commit"], full=False))
    print(summary("  commit -> log", spans["logged"], full=False))
    print(summary("request -> log", spans["request"], full=False))
    verdict = "met" if p99 < 5 else "MISSED"
    print(f"target            response -> log p99 < 5 ms: {verdict} ({p99:.2f} ms)")
    print(f"wall              {elapsed:.1f} s, {sys.getswitchinterval() * 1000:g} ms GIL switch")


if __name__ == "__main__":
    main()

"""Daemon capacity: one daemon polling many listings every second from a local feed.

Wires the live path as ``tracker run`` does (``bootstrap.build_app`` and ``build_daemon``: a
SQLite file and the JSONL alert log in a temporary folder, background dispatch, the
dispatch, status, heartbeat and WAL-checkpoint jobs on the real scheduler). A feed in a
child process (the project's ``FeedServer``, forked, so it does not share the daemon's
interpreter) plays a synthetic tape for each of ``--listings`` Hong Kong listings, and
the daemon reads them the way the config says: ``tencent`` (default) asks for up to 60 of
them in one ``q=r_hk...,r_hk...`` request; ``feed`` makes one request a listing.

Every listing trades every ``--trade-every`` seconds (1: every second, the worst case for
reading the answers; the listings staggered), at 39.00, and every ``--period`` seconds at
40.50, through its price rule at 40 (re-armed by the next 39.00): one alert a listing a
period, so that each second about ``listings / period`` of them fire. The
daemon's poll job (``PollCycle.run``) is called once a simulated second, on a clock
stepped to the next second (the feed's clock is stepped with it): no sleeping, so the
figures are the work of a cycle, not the idle time between cycles.

Per cycle, with ``time.perf_counter``:

- response: the httpx ``response`` event hook, after ``response.read()``, of the request
  that asked for the alert's listing (``tencent``: up to 60 listings a request);
- logged: the alert log's ``deliver`` returned (written, flushed, fsynced), for each alert;
- done: the cycle's job returned (every listing's tick stored).

Reported: response -> logged for every alert (the goal: p99 <= 5 ms), the cycle's work
from its request to done, and the daemon's CPU time a cycle (``RUSAGE_SELF``, which at
one cycle a second is also its share of a core).

    python benchmarks/capacity.py                     # 200 listings, 300 cycles, tencent
    python benchmarks/capacity.py --provider feed     # one request a listing, for comparison
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import os
import platform
import resource
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

from tracker.alerts.sinks import Delivery, JsonlAlertLog
from tracker.bootstrap import build_app, build_daemon, build_settings
from tracker.config import load_listings
from tracker.runtime.scheduling import recurring_scheduler
from tracker.sources.feedserver import FeedServer
from tracker.sources.tape import read_tape

START = dt.datetime.fromisoformat("2026-01-02T09:35:00+08:00")  # HKEX continuous session
FIRST_CODE = 2000  # the listings are 2000.HK, 2001.HK...
LISTING = """
[[listings]]
id = "l{code}"
symbol = "{code}.HK"
offer_price = 19.60
shares_outstanding = 2_646_592_710

[listings.source]
provider = "{provider}"
url = "{url}"
interval = 1

[[listings.rules]]
id = "price-40"
kind = "price"
threshold = 40
direction = "up"
"""


class SharedClock:
    """A clock both processes read: the instant (epoch seconds) lives in shared memory."""

    speed = 1.0

    def __init__(self, start: dt.datetime) -> None:
        self._seconds = multiprocessing.Value("d", start.timestamp(), lock=False)

    def set(self, instant: dt.datetime) -> None:
        """Step the clock to an instant."""
        self._seconds.value = instant.timestamp()

    def now(self) -> dt.datetime:
        """The instant last set."""
        return dt.datetime.fromtimestamp(self._seconds.value, dt.UTC)


def make_tapes(folder: Path, listings: int, cycles: int, period: int, every: int) -> list[Path]:
    """A tape a listing: a trade every ``every`` seconds from START, at 40.50 once a period."""
    paths = []
    for index in range(listings):
        path = folder / f"l{FIRST_CODE + index}.csv"
        with path.open("w") as out:
            out.write("ts,price,volume,turnover\n")
            for second in range(cycles + 1):
                if second and (second + index) % every:
                    continue
                ts = START + dt.timedelta(seconds=second)
                price = 40.50 if (second + index) % period == 0 else 39.00
                out.write(f"{ts.isoformat()},{price:.2f},100,{100 * price:.2f}\n")
        paths.append(path)
    return paths


def serve_feed(config: Path, tapes: Sequence[Path], clock: SharedClock, ready: Any) -> None:
    """The feed process: every listing's tape on one server, until the parent ends it."""
    listings = load_listings(config).by_id
    played = [
        (listings[tape.stem], read_tape(tape, listings[tape.stem].timezone)) for tape in tapes
    ]
    first, *more = played
    feed = FeedServer(first[0], first[1], clock, port=0, more=more)
    ready.send(feed.url)
    feed.serve_forever()


class Marks:
    """What the hooks saw in the current cycle."""

    def __init__(self) -> None:
        self.responses: dict[str, float] = {}  # when each listing's answer came in
        self.logged: list[tuple[str, float]] = []  # (listing id, when its alert was logged)
        self.lock = threading.Lock()

    def response_of(self, listing_id: str) -> float:
        """When the answer with the listing's quote came in."""
        return self.responses[listing_id]


def run(args: argparse.Namespace, folder: Path) -> dict[str, list[float]]:
    """Run ``warmup + cycles`` poll cycles; per counted cycle, its spans and CPU time."""
    total = args.warmup + args.cycles
    tapes = make_tapes(folder, args.listings, total, args.period, args.trade_every)
    config, settings_file = folder / "listings.toml", folder / "tracker.toml"
    settings_file.write_text("[sinks.stdout]\nenabled = false\n")
    os.environ["TRACKER_SETTINGS"] = str(settings_file)  # not the working folder's settings

    def write_config(url: str) -> None:
        codes = range(FIRST_CODE, FIRST_CODE + args.listings)
        path = "/quotes/l{code}" if args.provider == "feed" else ""
        config.write_text(
            "".join(
                LISTING.format(code=c, provider=args.provider, url=url + path.format(code=c))
                for c in codes
            )
        )

    write_config("http://127.0.0.1:9")
    clock = SharedClock(START)
    parent, child = multiprocessing.Pipe()
    feed = multiprocessing.get_context("fork").Process(
        target=serve_feed, args=(config, tapes, clock, child), daemon=True
    )
    feed.start()
    write_config(parent.recv())
    settings = build_settings(f"sqlite:///{folder / 'tracker.db'}", str(folder / "alerts.jsonl"))
    app = build_app(load_listings(config), settings)
    daemon = build_daemon(app, clock, None)  # type: ignore[arg-type]
    cycles = daemon.cycles
    marks = Marks()
    client = daemon.pollers[0].client

    def on_response(response: httpx.Response) -> None:
        response.read()
        at = time.perf_counter()
        path = response.request.url.path
        if path.startswith("/q="):  # up to 60 codes a request: r_hk02000 is listing l2000
            for code in path.removeprefix("/q=").split(","):
                marks.responses[f"l{int(code.removeprefix('r_hk'))}"] = at
        else:
            marks.responses[path.removeprefix("/quotes/")] = at

    client.event_hooks = {"response": [on_response]}
    log = next(sink for sink in app.ingestor.sinks if isinstance(sink, JsonlAlertLog))
    deliver = log.deliver

    def timed_deliver(batch: Sequence[Delivery]) -> None:
        deliver(batch)
        at = time.perf_counter()
        with marks.lock:
            marks.logged.extend((delivery.alert.listing_id, at) for delivery in batch)

    log.deliver = timed_deliver  # type: ignore[method-assign]
    poll_jobs = {cycle.id for cycle in cycles}
    background = recurring_scheduler([job for job in daemon.jobs() if job.id not in poll_jobs])
    spans: dict[str, list[float]] = {"alert": [], "cycle": [], "cpu": [], "alerts": []}
    alerts_before = 0
    try:
        with app.ingestor.background_dispatch():
            background.start()
            daemon.settle()
            for step in range(1, total + 1):
                clock.set(START + dt.timedelta(seconds=step))
                with marks.lock:
                    marks.logged.clear()
                marks.responses.clear()
                cpu = resource.getrusage(resource.RUSAGE_SELF)
                started = time.perf_counter()
                for cycle in cycles:
                    cycle.run()
                done = time.perf_counter()
                used = resource.getrusage(resource.RUSAGE_SELF)
                alerts = sum(p.stats.alerts for p in daemon.pollers)
                fired, alerts_before = alerts - alerts_before, alerts
                deadline = time.monotonic() + 10
                while True:  # the alerts of the cycle are in the log (they go right away)
                    with marks.lock:
                        logged = list(marks.logged)
                    if len(logged) >= fired or time.monotonic() > deadline:
                        break
                if len(logged) < fired:
                    raise SystemExit(f"cycle {step}: {len(logged)} of {fired} alerts logged")
                ticks = sum(p.stats.ticks for p in daemon.pollers)
                expected = sum(
                    1 + sum(1 for s in range(2, step + 1) if (s + i) % args.trade_every == 0)
                    for i in range(args.listings)
                )
                if ticks != expected:
                    raise SystemExit(f"cycle {step}: {ticks} ticks stored, not {expected}")
                if step > args.warmup:
                    spans["alert"].extend(at - marks.response_of(lid) for lid, at in logged)
                    spans["cycle"].append(done - started)
                    spans["cpu"].append(used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime)
                    spans["alerts"].append(float(fired))
    finally:
        background.shutdown(wait=True)
        client.close()
        app.store.close()
        feed.terminate()
        feed.join()
    return spans


def summary(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    figures = f"p50 {cuts[49]:.2f}  p90 {cuts[89]:.2f}  p99 {cuts[98]:.2f}  max {max(ms):.2f}"
    return f"{label:<22}{figures} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listings", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=300, help="counted cycles (seconds)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--period", type=int, default=20, help="seconds between a listing's alerts")
    parser.add_argument(
        "--trade-every", type=int, default=1, help="seconds between a listing's trades"
    )
    parser.add_argument("--provider", choices=("tencent", "feed"), default="tencent")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary folder goes")
    args = parser.parse_args()
    if args.listings < 1 or args.cycles < 2 or args.period < 2 or args.trade_every < 1:
        parser.error("--listings and --trade-every must be at least 1, the others at least 2")
    if args.period % args.trade_every:
        parser.error("--period must be a multiple of --trade-every (alerts fall on trades)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        spans = run(args, Path(tmp))
    elapsed = time.perf_counter() - started
    if len(spans["alert"]) < 2:
        sys.exit(
            f"{len(spans['alert'])} alerts in {args.cycles} cycles: too few for percentiles; "
            "give more --cycles or --listings, or a shorter --period"
        )
    p99 = statistics.quantiles(spans["alert"], n=100, method="inclusive")[98] * 1000
    requests = "60 codes a request" if args.provider == "tencent" else "a request a listing"
    polled = f"{args.listings} listings polled every second"
    print(f"daemon            {polled}, {args.provider}: {requests}")
    tapes = f"a trade a listing every {args.trade_every} s, an alert every {args.period} s"
    print(f"tapes             {tapes}")
    print(
        f"cycles            {args.cycles} counted ({args.warmup} warm-up), "
        f"{len(spans['alert']):,} alerts ({statistics.mean(spans['alerts']):.1f} a cycle)"
    )
    py = f"Python {platform.python_version()}"
    load = f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    print(f"machine           {py}, SQLite {sqlite3.sqlite_version}, {platform.platform()}, {load}")
    print(summary("response -> logged", spans["alert"]))
    print(summary("cycle (request..done)", spans["cycle"]))
    print(summary("CPU a cycle", spans["cpu"]))
    cpu_share = statistics.mean(spans["cpu"]) * 100
    print(f"CPU               {cpu_share:.1f}% of a core at one cycle a second (mean)")
    verdict = "met" if p99 <= 5 else "MISSED"
    print(f"target            response -> logged p99 <= 5 ms: {verdict} ({p99:.2f} ms)")
    print(f"wall              {elapsed:.1f} s, {sys.getswitchinterval() * 1000:g} ms GIL switch")


if __name__ == "__main__":
    main()

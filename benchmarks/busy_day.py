"""A busy debut day, end to end: ``tracker replay`` of it, ``tracker report`` of it, then
``tracker serve`` of it, its JSON API and its live page's first chart.

For each size of ``--trades`` (100k, 300k and 1M trades by default) it makes a seeded
tape of Biren's first day with that many trades, shaped like the bundled sample day:
its opening and closing auction prints, and between them trades at millisecond
instants of the continuous sessions, as many a minute as the sample traded volume
that minute, each at the sample's price of that instant (interpolated) plus a step
of up to two ticks (0.02) either way, with board-lot volumes and their turnovers.

Then, with the shipped ``config/listings.toml`` and a fresh SQLite file each run, it
measures a function per thing, each a column of a table (a row per day size, the
median of ``--runs``), in parts that ``--only`` or ``--skip`` pick:

- ``replay``: ``tracker replay`` of the tape, as a whole process: wall and CPU seconds,
  peak RSS. The replay runs whatever is picked (the other parts read its database);
- ``report``: ``tracker report biren --png --html`` of the day: the same, and its ratio
  to the replay (the goal: at most twice the replay's time, under 400 MB);
- ``api``: against ``tracker serve`` of the day on a free loopback port (its start-up
  to its banner, and its peak RSS once stopped with SIGTERM), with httpx: ``bars`` at
  ``interval=1s`` and ``1m``, and the day's ``ticks``, each plain and gzip (the seconds
  from the request to the answer's last byte, the bytes on the wire; nothing decoded in
  between), and the day's ticks paged through ``ticks?limit=100000`` (plain). A day the
  server gives in several answers is read through their ``next`` cursors: the seconds
  and bytes of all of them, and how many;
- ``page``: the live page in headless Debian Chromium (``/usr/bin/chromium``, driven
  by Playwright, in a fresh browser context each time): the seconds from ``page.goto``
  to ``#chart[data-state="drawn"]``, when the page has put the day's bars in the chart,
  for the server's first visitor (whose ``/api/listings`` has the server work out the
  day's calendar) and again for a second one; and the instants on the way, after the
  page's navigation start, as the page's own Performance API has them. Without
  Chromium or Playwright it says so and skips them.

Every command runs as an installed tracker does, from bytecode, filled by a warm-up
run first (``replay.tracker_env``), and reports its own peak RSS (VmHWM) at exit
(``replay.PEAK_RSS_WRAPPER``). Whatever the run starts (the tracker's commands,
Playwright's driver, Chromium and its profile) keeps its temporary files in the
benchmark's temporary folder, removed at the end::

    python benchmarks/busy_day.py                                # 100k, 300k and 1M trades
    python benchmarks/busy_day.py --trades 1000000 --runs 5
    python benchmarks/busy_day.py --only api,page                # the served day only
    python benchmarks/busy_day.py --skip page                    # no browser
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import importlib.util
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as csv
from replay import PEAK_RSS_WRAPPER, remove_database, tracker_env

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TAPE = ROOT / "tracker" / "data" / "biren-2026-01-02.csv"
LISTINGS = ROOT / "config" / "listings.toml"
LISTING, DATE = "biren", "2026-01-02"
SESSIONS = (("09:30", "12:00"), ("13:00", "16:00"))  # continuous trading, exchange time
GOAL_RATIO, GOAL_MB = 2.0, 400  # the report: at most twice the replay's time, under 400 MB
PAGE_SIZE = 100_000  # ticks a page of the API, the most it gives
TIMEOUT_S = 300.0  # for an answer, or the page's chart: a stuck server fails the run
CHROMIUM = Path("/usr/bin/chromium")
# as tests/e2e/conftest.py launches it: Debian's Chromium on a closed network, no sandbox
# (root in a container), no GPU, none of the background fetches that stall it offline
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def make_day(path: Path, trades: int, seed: int) -> None:
    """``ts,price,volume,turnover``: a debut day of ``trades`` trades shaped like the sample's.

    The sample's opening and closing auction prints first and last; between them,
    instants drawn minute by minute in proportion to the sample's volume that minute,
    then uniformly to the millisecond within it (a few share an instant); the sample's
    price at each, interpolated, plus a step of up to two ticks either way; volumes of
    1 to 49 board lots, turnovers price x volume.
    """
    options = csv.ConvertOptions(include_columns=["ts", "price", "volume"])
    sample = csv.read_csv(SAMPLE_TAPE, convert_options=options)
    sample_ms = sample.column("ts").cast(pa.timestamp("ms")).cast(pa.int64()).to_numpy()
    sample_price = sample.column("price").to_numpy()
    sample_volume = sample.column("volume").to_numpy().astype(np.float64)
    minutes = np.concatenate([_minutes(a, b) for a, b in SESSIONS])  # continuous trading's
    at = np.searchsorted(minutes, sample_ms, side="right") - 1
    inside = (at >= 0) & (sample_ms < minutes[at] + 60_000)  # not an auction print
    traded = np.bincount(at[inside], weights=sample_volume[inside], minlength=len(minutes))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(minutes), trades - 2, p=traded / traded.sum())
    ms = np.sort(minutes[chosen] + rng.integers(0, 60_000, trades - 2))
    shape = np.interp(ms, sample_ms, sample_price)
    cents = np.round(shape * 50).astype(np.int64) * 2 + rng.integers(-2, 3, trades - 2) * 2
    ms = np.concatenate([sample_ms[:1], ms, sample_ms[-1:]])
    cents = np.concatenate(
        [np.round(sample_price[:1] * 100), cents, np.round(sample_price[-1:] * 100)]
    ).astype(np.int64)
    lots = rng.integers(1, 50, trades - 2) * 100
    volume = np.concatenate([sample_volume[:1], lots, sample_volume[-1:]]).astype(np.int64)
    table = pa.table(
        {
            "ts": pa.array(np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")),
            "price": pa.array(np.char.mod("%.2f", cents / 100)),
            "volume": pa.array(volume),
            "turnover": pa.array(np.char.mod("%.2f", cents * volume / 100)),
        }
    )
    with path.open("wb") as out:
        out.write(b"ts,price,volume,turnover\n")
        csv.write_csv(table, out, csv.WriteOptions(include_header=False, quoting_style="none"))


def _minutes(start: str, end: str) -> np.ndarray:
    """The starts (epoch ms, exchange time as if UTC, as the tape writes it) of a span's minutes."""
    first, last = (np.datetime64(f"{DATE}T{hhmm}", "ms") for hhmm in (start, end))
    return np.arange(first, last, np.timedelta64(1, "m")).astype(np.int64)


@dataclass(frozen=True)
class Served:
    """A day that ``tracker serve`` serves: its page's URL, a client of its API, the browser
    that opens its page (None: the page is not measured)."""

    url: str
    client: httpx.Client
    browser: Any | None

    def api(self, query: str) -> str:
        """The URL of the listing's ``QUERY`` (``bars?interval=1s``, say)."""
        return f"{self.url}api/listings/{LISTING}/{query}"


@dataclass(frozen=True)
class Day:
    """A day to measure: its trades, its tape, its database, the environment commands run in,
    and while ``tracker serve`` serves it, the server."""

    trades: int
    tape: Path
    db: Path
    env: dict[str, str]
    served: Served | None = None

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db}"

    @property
    def server(self) -> Served:
        """The server of the day (a measure of the API or the page runs while it serves)."""
        if self.served is None:
            raise RuntimeError("the day is not served: measure it inside serving()")
        return self.served


@dataclass(frozen=True)
class Measured:
    """One measure of a thing: wall seconds, and where it has them, the CPU seconds (user and
    system), the peak RSS (KiB), a size in bytes (of an answer, say), a count of pages, and
    named instants on the way (seconds)."""

    seconds: float
    cpu: float | None = None
    peak_kb: int | None = None
    size: int | None = None
    pages: int | None = None
    marks: tuple[tuple[str, float], ...] = ()


def run_tracker(day: Day, *args: str) -> Measured:
    """A ``tracker ARGS`` process in the tape's folder: its wall and CPU seconds, peak RSS.

    The CPU seconds are all its threads' and children's: on a busy machine they vary
    less than the wall time does.
    """
    command = [sys.executable, "-c", PEAK_RSS_WRAPPER, *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # in the tape's folder, so no settings file of the working folder applies
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=day.tape.parent, env=day.env
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    name = next(arg for arg in args if not arg.startswith("-"))  # the command's
    if done.returncode:
        raise SystemExit(f"tracker {name} failed ({done.returncode}): {done.stderr}")
    peak = re.search(r"^peak-rss-kb (\d+)$", done.stderr, re.MULTILINE)
    if peak is None:
        raise SystemExit(f"tracker {name} said no peak RSS: {done.stderr}")
    return Measured(elapsed, cpu, int(peak.group(1)))


def replay_day(day: Day) -> Measured:
    """``tracker replay`` of the day's tape into its (fresh) database."""
    log = day.db.with_suffix(".jsonl")
    return run_tracker(
        day, "-q", "replay", str(day.tape), "--listing", LISTING, "--config", str(LISTINGS),
        "--db", day.db_url, "--alert-log", str(log),
    )  # fmt: skip


def report_day(day: Day) -> Measured:
    """``tracker report`` of the replayed day, with its chart and HTML page."""
    chart, page = (day.tape.with_name(f"{LISTING}-{DATE}.{suffix}") for suffix in ("png", "html"))
    return run_tracker(
        day, "report", LISTING, "--config", str(LISTINGS), "--db", day.db_url,
        "--png", str(chart), "--html", str(page),
    )  # fmt: skip


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(day: Day, browser: Any | None, found: list[Measured]) -> Iterator[Day]:
    """The day as ``tracker serve`` serves it on a free loopback port, stopped with SIGTERM.

    Its start-up (to its "live page at" banner) and its peak RSS, over everything it
    answered, go to ``found`` once it has stopped.
    """
    port = free_port()
    command = [
        sys.executable, "-c", PEAK_RSS_WRAPPER, "serve", "--config", str(LISTINGS),
        "--db", day.db_url, "--web", f"127.0.0.1:{port}",
    ]  # fmt: skip
    started = time.perf_counter()
    server = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=day.tape.parent,
        env=day.env,
    )
    assert server.stdout is not None
    banner = server.stdout.readline()
    start_up = time.perf_counter() - started
    if "live page at" not in banner:
        server.kill()
        said = "".join(server.communicate(timeout=60))
        raise SystemExit(f"tracker serve did not start ({server.returncode}): {banner}{said}")
    try:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            yield replace(day, served=Served(f"http://127.0.0.1:{port}/", client, browser))
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    if server.returncode:
        raise SystemExit(f"tracker serve failed ({server.returncode}): {out}{err}")
    peak = re.search(r"^peak-rss-kb (\d+)$", err, re.MULTILINE)
    if peak is None:
        raise SystemExit(f"tracker serve said no peak RSS: {err}")
    found.append(Measured(start_up, peak_kb=int(peak.group(1))))


def fetch(url: str, client: httpx.Client, gzipped: bool) -> tuple[float, int, bytes]:
    """``GET url``, plain or gzip: seconds to the answer's last byte, bytes on the wire, body.

    The seconds are the request's and the answer's, as they come: the body is decoded
    (and checked to be a 200 in the encoding asked for) only after.
    """
    headers = {"Accept-Encoding": "gzip" if gzipped else "identity"}
    started = time.perf_counter()
    with client.stream("GET", url, headers=headers) as response:
        raw = b"".join(response.iter_raw())
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status_code}: {raw[:300]!r}")
    encoding = response.headers.get("Content-Encoding")
    if encoding != ("gzip" if gzipped else None):
        raise SystemExit(f"GET {url} with {headers}: Content-Encoding {encoding}")
    return elapsed, len(raw), gzip.decompress(raw) if gzipped else raw


def bars(interval: str, gzipped: bool) -> Callable[[Day], Measured]:
    """A measure of the day's ``bars?interval=INTERVAL``: they must hold all its trades."""

    def measured(day: Day) -> Measured:
        served = day.server
        url = served.api(f"bars?interval={interval}")
        seconds, size, body = fetch(url, served.client, gzipped)
        trades = sum(bar["trades"] for bar in json.loads(body)["bars"])
        if trades != day.trades:
            raise SystemExit(f"GET {url}: bars of {trades:,} trades, not {day.trades:,}")
        return Measured(seconds, size=size)

    return measured


def ticks(query: str, gzipped: bool) -> Callable[[Day], Measured]:
    """A measure of the day's ticks as ``QUERY`` answers them, and the ``next`` pages after.

    However many answers the server gives the day in, all of them (each page's cursor
    read off the end of its answer, ``"next": "TS_US:SEQ"}``): their seconds (each from
    its request to its last byte), their bytes, how many; there must be a tick a trade.
    """

    def measured(day: Day) -> Measured:
        served = day.server
        seconds, size, pages, count = 0.0, 0, 0, 0
        cursor: str | None = None
        while pages == 0 or cursor is not None:
            after = f"{'&' if '?' in query else '?'}after={cursor}" if cursor else ""
            answered_in, answered, body = fetch(served.api(query + after), served.client, gzipped)
            seconds, size, pages = seconds + answered_in, size + answered, pages + 1
            count += body.count(b'"ts_us":')
            found = re.search(rb'"next": "(-?\d+:\d+)"\}\Z', body[-100:])
            cursor = found.group(1).decode() if found else None
        if count != day.trades:
            raise SystemExit(f"GET {served.api(query)}: {count:,} ticks, not {day.trades:,}")
        return Measured(seconds, size=size, pages=pages)

    return measured


# The instants the page's Performance API has, in seconds after its navigation start:
# the page's HTML in, its scripts run (DOMContentLoaded), the listings in, the day's bars
# asked for and in (their last byte), and the chart drawn (the page's own data-drawn-ms).
# Its argument: the bars' path.
PAGE_MARKS = """(barsPath) => {
    const entries = performance.getEntriesByType("resource");
    const first = (path) => entries.find((e) => new URL(e.name).pathname === path) || {};
    const navigation = performance.getEntriesByType("navigation")[0];
    const listings = first("/api/listings");
    const bars = first(barsPath);
    return [
        ["HTML in", navigation.responseEnd],
        ["scripts run", navigation.domContentLoadedEventEnd],
        ["listings in", listings.responseEnd],
        ["bars asked", bars.startTime],
        ["bars in", bars.responseEnd],
        ["drawn", Number(document.getElementById("chart").dataset.drawnMs)],
    ].map(([name, ms]) => [name, ms / 1000]);
}"""


def first_chart(day: Day) -> Measured:
    """The live page's first chart: seconds from ``page.goto`` to ``data-state="drawn"``.

    In a fresh browser context (nothing cached), the page as a 1200x900 window. The
    instant the chart is drawn is the page's own (``data-drawn-ms``, set with the state, on
    its wall clock): Playwright's polling notices the state up to tenths of a second later.
    The chart must show all the day's trades, and the page's script must not have thrown.
    """
    served = day.server
    if served.browser is None:
        raise RuntimeError("no browser to open the page in")
    context = served.browser.new_context(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        started = time.time()  # the wall clock, as the page's timeOrigin
        page.goto(served.url)
        page.wait_for_selector('#chart[data-state="drawn"]', timeout=TIMEOUT_S * 1000)
        drawn_ms = page.evaluate(
            "performance.timeOrigin + Number(document.getElementById('chart').dataset.drawnMs)"
        )
        path = f"/api/listings/{LISTING}/bars"
        marks = tuple((name, at) for name, at in page.evaluate(PAGE_MARKS, path))
        shown = f'#chart[data-points="{day.trades}"]'
        page.wait_for_selector(shown, state="attached", timeout=TIMEOUT_S * 1000)
    finally:
        context.close()
    if errors:
        raise SystemExit(f"the page at {served.url} threw: {errors}")
    return Measured(drawn_ms / 1000 - started, marks=marks)


@contextmanager
def chromium() -> Iterator[tuple[Any | None, str]]:
    """Headless Debian Chromium driven by Playwright (never a browser Playwright downloads),
    or None and why it cannot run.

    Playwright's driver and Chromium inherit this process's environment: their temporary
    files (the browser's profile among them) go to its ``TMPDIR``.
    """
    if not CHROMIUM.exists():
        yield None, f"no {CHROMIUM} (apt-get install chromium)"
        return
    if importlib.util.find_spec("playwright") is None:
        yield None, "Playwright is not installed (pip install -e '.[test]')"
        return
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            yield None, f"{CHROMIUM} did not start: {str(exc).splitlines()[0]}"
            return
        try:
            yield browser, ""
        finally:
            browser.close()


# What is measured of each day, in this order (a report needs its replay first; the API and
# the page are measured while `tracker serve` serves the replayed day): a column each.
MEASURES: dict[str, Callable[[Day], Measured]] = {
    "replay": replay_day,
    "report": report_day,
    "bars 1s": bars("1s", gzipped=False),
    "bars 1s gzip": bars("1s", gzipped=True),
    "bars 1m": bars("1m", gzipped=False),
    "bars 1m gzip": bars("1m", gzipped=True),
    "ticks": ticks("ticks", gzipped=False),
    "ticks gzip": ticks("ticks", gzipped=True),
    "ticks paged": ticks(f"ticks?limit={PAGE_SIZE}", gzipped=False),
    "first chart": first_chart,  # the first visitor: the server's first /api/listings
    "first chart again": first_chart,  # the next: the server has answered one page
}
# The parts that --only and --skip pick, and their measures.
PARTS: dict[str, tuple[str, ...]] = {
    "replay": ("replay",),
    "report": ("report",),
    "api": (
        "bars 1s",
        "bars 1s gzip",
        "bars 1m",
        "bars 1m gzip",
        "ticks",
        "ticks gzip",
        "ticks paged",
    ),
    "page": ("first chart", "first chart again"),
}
SERVED = {*PARTS["api"], *PARTS["page"]}  # measured while `tracker serve` serves the day
SERVER = "tracker serve"  # the server's own measure: its start-up, its peak RSS


def measure(
    day: Day, runs: int, names: list[str], browser: Any | None
) -> dict[str, list[Measured]]:
    """The measures ``names`` (and ``tracker serve``'s own, when one serves), ``runs`` times,
    each run on a fresh database that a replay fills first, measured or not."""
    served = [name for name in names if name in SERVED]
    found: dict[str, list[Measured]] = {name: [] for name in names if name not in SERVED}
    if served:
        found[SERVER] = []
        found.update({name: [] for name in served})
    for _ in range(runs):
        remove_database(day.db)
        os.sync()  # what the last measure left dirty is on disk before this one starts
        replayed = replay_day(day)
        if "replay" in found:
            found["replay"].append(replayed)
        for name in names:
            if name != "replay" and name not in SERVED:
                os.sync()
                found[name].append(MEASURES[name](day))
        if served:
            os.sync()
            with serving(day, browser, found[SERVER]) as on_server:
                for name in served:
                    found[name].append(MEASURES[name](on_server))
    remove_database(day.db)
    return found


def table(rows: dict[int, dict[str, list[Measured]]], names: list[str]) -> list[str]:
    """A Markdown table of the measures ``names`` there are: a row per day size, a column
    per measure (median seconds, with the answer's bytes or the pages where it has them),
    its CPU seconds and peak RSS (the most) where it has them, and the report's ratio."""
    first = next(iter(rows.values()))
    names = [name for name in names if name in first]
    if not names:
        return []
    header = ["trades"]
    for name in names:
        header.append(name)
        if first[name][0].cpu is not None:
            header.append(f"{name} CPU")
        if first[name][0].peak_kb is not None:
            header.append(f"{name} peak RSS")
    ratio = "replay" in names and "report" in names
    if ratio:
        header.append("report / replay")
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for trades, found in rows.items():
        cells = [f"{trades:,}"]
        for name in names:
            runs = found[name]
            cell = f"{statistics.median(r.seconds for r in runs):.2f} s"
            if runs[0].size is not None:
                cell += f", {_size(statistics.median(r.size or 0 for r in runs))}"
            if runs[0].pages is not None:
                pages = statistics.median(r.pages or 0 for r in runs)
                cell += f", {pages:.0f} page{'' if pages == 1 else 's'}"
            cells.append(cell)
            if runs[0].cpu is not None:
                cells.append(f"{statistics.median(r.cpu or 0 for r in runs):.2f} s")
            if runs[0].peak_kb is not None:
                cells.append(f"{max(r.peak_kb or 0 for r in runs) / 1024:,.0f} MB")
        if ratio:
            cells.append(f"{_ratio(found):.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _size(size: float) -> str:
    """Bytes as kB or MB (of 1000)."""
    return f"{size / 1e6:,.1f} MB" if size >= 1e6 else f"{size / 1e3:,.1f} kB"


def _ratio(found: dict[str, list[Measured]]) -> float:
    """The report's median seconds over the replay's."""
    replay, report = (statistics.median(r.seconds for r in found[n]) for n in ("replay", "report"))
    return report / replay


def timeline(rows: dict[int, dict[str, list[Measured]]]) -> list[str]:
    """The page's instants on the way to its first chart, a line per day size and visit
    (medians)."""
    lines = []
    for trades, found in rows.items():
        for name in PARTS["page"]:
            marks = [dict(r.marks) for r in found.get(name, [])]
            if marks:
                instants = ", ".join(
                    f"{mark} {statistics.median(m[mark] for m in marks):.2f}" for mark in marks[0]
                )
                lines.append(f"{trades:,} trades, {name}: {instants}")
    return lines


def _parts(text: str) -> list[str]:
    """``--only``'s or ``--skip``'s parts, comma-separated."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in parts if part not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"{text!r}: name parts of {', '.join(PARTS)}")
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--trades",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[100_000, 300_000, 1_000_000],
        help="day sizes, comma-separated [default: 100000,300000,1000000]",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    picked = parser.add_mutually_exclusive_group()
    picked.add_argument(
        "--only",
        type=_parts,
        metavar="PARTS",
        help=f"measure only these parts, comma-separated: {', '.join(PARTS)} [default: all]",
    )
    picked.add_argument(
        "--skip", type=_parts, default=[], metavar="PARTS", help="measure all parts but these"
    )
    args = parser.parse_args()
    parts = [part for part in PARTS if (part in args.only if args.only else part not in args.skip)]
    if not parts:
        parser.error("--skip: nothing left to measure")
    load_before, started = os.getloadavg()[0], dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # whatever the run starts (the tracker, Playwright's driver, Chromium) keeps its
        # temporary files here, removed at the end
        os.environ["TMPDIR"] = tmp
        browsing = chromium() if "page" in parts else nullcontext((None, ""))
        with browsing as (browser, unavailable):
            if unavailable:
                print(f"page: skipped, {unavailable}", flush=True)
                parts.remove("page")
                if not parts:
                    return
            names = [name for part in parts for name in PARTS[part]]
            env = tracker_env(folder)
            warm_up = Day(1_000, folder / "warm-up.csv", folder / "warm-up.db", env)
            make_day(warm_up.tape, warm_up.trades, args.seed)
            measure(warm_up, 1, names, browser)  # the bytecode cache filled, the browser up
            rows: dict[int, dict[str, list[Measured]]] = {}
            for trades in args.trades:
                day = Day(trades, folder / f"day-{trades}.csv", folder / f"day-{trades}.db", env)
                make_day(day.tape, trades, args.seed)
                rows[trades] = measure(day, args.runs, names, browser)
                day.tape.unlink()
    ended = dt.datetime.now(dt.UTC)
    print(
        f"busy debut days of {LISTING} on {DATE}, SQLite, median of {args.runs} runs; "
        f"{started:%Y-%m-%d %H:%M}-{ended:%H:%M} UTC, {os.cpu_count()} cores, load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    processes = table(rows, [*PARTS["replay"], *PARTS["report"]])
    for line in processes:
        print(line)
    if "replay" in parts and "report" in parts:
        largest = max(rows)
        found = rows[largest]
        peak_mb = max(r.peak_kb or 0 for r in found["report"]) / 1024
        met = _ratio(found) <= GOAL_RATIO and peak_mb < GOAL_MB
        print(
            f"goal: a report at most {GOAL_RATIO:g}x its replay's time, under {GOAL_MB} MB: "
            f"{'met' if met else 'NOT met'} at {largest:,} trades "
            f"({_ratio(found):.2f}x, {peak_mb:,.0f} MB)"
        )
    served = table(rows, [SERVER, *PARTS["api"], *PARTS["page"]])
    if served:
        if processes:
            print()
        for line in served:
            print(line)
    paths = timeline(rows)
    if paths:
        print("first chart, seconds after the page's navigation start (medians):")
        for line in paths:
            print(line)


if __name__ == "__main__":
    main()

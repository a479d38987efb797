"""The live path: ``tracker run``, ``tracker feed``, ``tracker status``, ``tracker export``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from tracker.cli.base import (
    check_speed,
    cli,
    closed_at_end,
    command_store,
    config_option,
    db_option,
    option_date,
    read_checked,
    report_undelivered,
)
from tracker.core.limits import duration_problem
from tracker.errors import ConfigError, InputError, TrackerError
from tracker.runtime.clock import human_span
from tracker.store import HEARTBEAT_MAX_AGE_S
from tracker.web import DEFAULT_ADDRESS

if TYPE_CHECKING:
    from tracker.runtime.clock import SimulatedClock


@cli.command()
@config_option
@db_option
@click.option("--alert-log", metavar="PATH", help="Alert log [default: alerts.jsonl].")
@click.option("--start", metavar="ISO", help="Run on a simulated clock from this instant.")
@click.option("--speed", type=float, metavar="N", help="Simulated clock speed [default: 1].")
@click.option("--clock", "clock_url", metavar="URL", help="Follow a feed's clock (its /clock URL).")
@click.option("--until", metavar="ISO", help="Stop when the clock reaches this instant.")
@click.option(
    "--web",
    metavar="HOST:PORT",
    is_flag=False,
    flag_value=DEFAULT_ADDRESS,
    help=f"Also serve the live page and its JSON API here [--web alone: {DEFAULT_ADDRESS}].",
)
def run(
    config: str | None,
    db: str | None,
    alert_log: str | None,
    start: str | None,
    speed: float | None,
    clock_url: str | None,
    until: str | None,
    web: str | None,
) -> None:
    """Poll every listing with a [listings.source] while its market trades (the daemon).

    With --web, also serves the live page, updated as ticks and alerts are stored.
    Stops cleanly on SIGINT or SIGTERM, or at --until.
    """
    import signal

    from tracker.bootstrap import (
        build_app,
        build_daemon,
        build_settings,
        build_web,
        parse_instant,
    )
    from tracker.config import listings_path, load_listings
    from tracker.runtime.clock import Clock, SimulatedClock, SystemClock

    if start and clock_url:
        raise ConfigError("--start and --clock exclude each other: pick one clock")
    if speed is not None and not start:
        raise ConfigError("--speed needs --start (a --clock brings its own speed)")
    if speed is not None:
        check_speed(speed)
    if web is not None:
        from tracker.web.server import check_address

        check_address(web)  # a bad address or a port in use: refused before anything is written
    settings = build_settings(db, alert_log)
    listings = load_listings(listings_path(config))
    polled = [lid for lid, c in listings.configs.items() if c.polled]
    zone = listings.by_id[polled[0]].timezone if polled else "UTC"
    end = parse_instant(until, zone, "--until") if until else None
    begin = parse_instant(start, zone, "--start") if start else None
    if not polled:
        raise ConfigError(f"{listings.path}: no listing has a [listings.source]: nothing to poll")
    clock: Clock
    if begin is not None:
        clock = SimulatedClock(begin, speed or 1.0)
    elif clock_url:
        clock = _wait_for_clock(clock_url)
    else:
        clock = SystemClock()
    if end is not None and end <= clock.now():
        now = clock.now().astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")
        raise ConfigError(f"--until {until}: already past (the clock is at {now})")
    hub = None
    if web is not None:
        from tracker.web.events import EventHub

        hub = EventHub()
    # after the stdout sink (build_app hands it each alert first): pages hear once it printed
    listeners = [hub.alert_committed] if hub else []
    tick_listeners = [hub.ticks_committed] if hub else []
    app = closed_at_end(
        build_app(listings, settings, listeners=listeners, tick_listeners=tick_listeners)
    )
    daemon = build_daemon(app, clock, end)
    server = build_web(listings, app.store, web, hub, clock) if web is not None and hub else None
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: daemon.stop())
    if server is None:
        daemon.run()
    else:
        server.start()
        click.echo(f"live page at {server.url}", err=True)
        try:
            daemon.run()
        finally:
            server.stop()
    report_undelivered(app)


@cli.command()
@click.argument("tape", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--listing", "listing_id", required=True, metavar="ID", help="Listing id in the config."
)
@click.option("--start", metavar="ISO", help="Clock start [default: the tape's first tick].")
@click.option(
    "--speed",
    type=float,
    default=1.0,
    show_default=True,
    metavar="N",
    help="Clock seconds per wall second.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on.",
)
@click.option("--skip-bad", is_flag=True, help="Serve the good rows of a tape with bad rows.")
@config_option
def feed(
    tape: Path,
    listing_id: str,
    start: str | None,
    speed: float,
    host: str,
    port: int,
    skip_bad: bool,
    config: str | None,
) -> None:
    """Serve a tape as live quotes on a simulated clock (GET /quotes/ID, GET /clock).

    Also answers in the Yahoo chart (/v8/finance/chart/SYMBOL) and Tencent (/q=CODE)
    shapes, so any provider can be pointed at it. Stops on SIGINT or SIGTERM.
    """
    import signal
    import threading

    from tracker.bootstrap import parse_instant
    from tracker.config import listings_path, load_listings
    from tracker.runtime.clock import SimulatedClock
    from tracker.sources.feedserver import FeedServer

    check_speed(speed)
    listing = load_listings(listings_path(config)).get(listing_id)
    recorded = read_checked(tape, listing, skip_bad)
    if not recorded.ticks:
        raise InputError(f"{tape}: no good rows to serve")
    begin = parse_instant(start, listing.timezone, "--start") if start else recorded.ticks[0].ts
    clock = SimulatedClock(begin, speed)
    try:
        server = FeedServer(listing, recorded, clock, host, port)
    except OSError as exc:
        raise TrackerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    local = clock.now().astimezone(ZoneInfo(listing.timezone))
    click.echo(
        f"feed for {listing.id} at {server.url}/quotes/{listing.id} "
        f"(clock {server.url}/clock: {local.isoformat()} at {speed:g}x)"
    )
    try:
        stop.wait()
    finally:
        server.stop()


@cli.command()
@config_option
@db_option
@click.option(
    "--max-age",
    type=float,
    default=HEARTBEAT_MAX_AGE_S,
    show_default=True,
    metavar="SECONDS",
    help="A heartbeat older than this (wall seconds) is stale.",
)
def status(config: str | None, db: str | None, max_age: float) -> None:
    """Show the daemon's heartbeat and each listing's last tick; exit 1 when stale."""
    import time

    from tracker.config import listings_path, load_listings
    from tracker.core.model import ts_to_datetime

    if (problem := duration_problem(max_age)) is not None:
        raise ConfigError(f"--max-age {max_age:g}: {problem}")
    listings = load_listings(listings_path(config))
    store = command_store(db)
    beats = {beat.name: beat for beat in store.heartbeats()}
    beat = beats.get("daemon")
    clock_now = None
    if beat is None:
        click.echo("daemon: no heartbeat (never ran against this database)")
    else:
        age = time.time() - beat.wall_us / 1e6
        clock_now = ts_to_datetime(beat.clock_us)
        state = "stopped" if beat.detail == "stopped" else f"pid {beat.pid}"
        first = next(iter(listings.by_id.values()), None)
        shown = clock_now.astimezone(ZoneInfo(first.timezone)) if first else clock_now
        click.echo(f"daemon: heartbeat {_ago(age)} ({state}), its clock {shown.isoformat()}")
    for listing in listings.by_id.values():
        sources = listings.configs[listing.id].polled
        used = ""
        if sources:
            index = min(store.load_poller(listing.id).source, len(sources) - 1)
            rank = f" ({_ordinal(index + 1)} of {len(sources)})" if len(sources) > 1 else ""
            used = f"; source {sources[index].provider}{rank}"
        last = store.last_tick(listing.id)
        if last is None:
            click.echo(f"{listing.id}: no tick stored{used}")
            continue
        local = last.ts.astimezone(ZoneInfo(listing.timezone)).isoformat()
        line = f"{listing.id}: last tick {local} at {last.price:g}"
        if clock_now is not None:
            behind = (clock_now - last.ts).total_seconds()
            side = "before" if behind >= 0 else "after"
            line += f", {human_span(abs(behind))} {side} the daemon's clock"
        click.echo(line + used)
    if beat is None:
        raise click.exceptions.Exit(1)
    if not beat.running(time.time(), max_age):
        click.echo(
            f"stale: the daemon is not running (heartbeat older than {max_age:g}s or stopped)"
        )
        raise click.exceptions.Exit(1)


def _ago(seconds: float) -> str:
    return "just now" if seconds < 1 else f"{human_span(seconds)} ago"


def _wait_for_clock(url: str) -> SimulatedClock:
    """A feed's clock, waited for until it answers; SIGINT or SIGTERM while waiting ends
    the command cleanly (exit 0): nothing has been opened or written yet."""
    import signal
    import threading

    from tracker.bootstrap import fetch_clock

    stop = threading.Event()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, lambda *_: stop.set())

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise click.exceptions.Exit(0)

    try:
        return fetch_clock(url, sleep=sleep)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _ordinal(n: int) -> str:
    return f"{n}{'st' if n == 1 else 'nd' if n == 2 else 'rd' if n == 3 else 'th'}"


@cli.command()
@click.argument("listing_id", metavar="ID")
@click.option("--date", "date_text", required=True, metavar="D", help="Exchange date, YYYY-MM-DD.")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Tape file [default: stdout]."
)
@config_option
@db_option
def export(
    listing_id: str, date_text: str, out: Path | None, config: str | None, db: str | None
) -> None:
    """Write a day's stored ticks as a tape (CSV), so a live day can be replayed."""
    from tracker.config import listings_path, load_listings
    from tracker.core.model import day_bounds
    from tracker.sources.tape import write_tape

    date = option_date(date_text)
    listing = load_listings(listings_path(config)).get(listing_id)
    store = command_store(db)
    ticks = store.ticks(listing.id, *day_bounds(listing, date))
    if not ticks:
        raise ConfigError(f"no ticks stored for {listing.id} on {date.isoformat()}")
    if out is None:
        write_tape(sys.stdout, ticks, listing.timezone)
    else:
        with out.open("w", encoding="utf-8", newline="") as handle:
            write_tape(handle, ticks, listing.timezone)
        click.echo(f"wrote {len(ticks):,} ticks of {listing.id} on {date} to {out}", err=True)

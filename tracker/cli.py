"""The ``tracker`` command: the only module that prints for users and exits."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import click

from tracker import __version__
from tracker.errors import ConfigError, InputError, TrackerError

if TYPE_CHECKING:
    from tracker.bootstrap import App
    from tracker.core.model import Listing
    from tracker.replay import ReplayReport
    from tracker.sources.tape import Tape
    from tracker.store.repository import StoredAlert

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
MAX_SHOWN = 20


def _set_verbosity(ctx: click.Context, _param: click.Parameter, value: int) -> int:
    if value:
        store = ctx.find_root().meta
        store["verbosity"] = store.get("verbosity", 0) + value
        _configure_logging(store["verbosity"])
    return value


def _configure_logging(verbosity: int) -> None:
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(verbosity, 2)), logging.DEBUG
    )
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", force=True, level=level)
    # APScheduler logs every job run at INFO, and a poll skipped because the last one is
    # still running at WARNING (coalescing, as designed); only -vv shows those.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbosity >= 2 else logging.ERROR)
    # httpx logs every request at INFO: a line per poll.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


def verbosity_options(func: F) -> F:
    """``-v``/``-q`` (log level) and ``--debug`` (tracebacks), accepted by every command."""
    func = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_set_verbosity,
        help="More log output (repeat for debug).",
    )(func)
    func = click.option(
        "-q",
        "--quiet",
        count=True,
        expose_value=False,
        callback=lambda c, p, v: _set_verbosity(c, p, -v),
        help="Only errors in the log.",
    )(func)
    func = click.option(
        "--debug", is_flag=True, expose_value=False, help="Show tracebacks of failures."
    )(func)
    return func


def config_option(func: F) -> F:
    """``--config PATH``: the listings file."""
    return click.option(
        "--config",
        "config",
        metavar="PATH",
        help="Listings file [default: $TRACKER_CONFIG or config/listings.toml].",
    )(verbosity_options(func))


def db_option(func: F) -> F:
    """``--db URL``: the database."""
    return click.option(
        "--db",
        "db",
        metavar="URL",
        help="SQLAlchemy database URL [default: $TRACKER_DB_URL or sqlite:///tracker.db].",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="tracker")
@verbosity_options
def cli() -> None:
    """Track a newly listed stock: replay or poll its ticks, store them, alert on thresholds."""


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = 0.0
    if not speed > 0 or speed == float("inf"):
        raise click.BadParameter(f"{value!r} is not 'max' or a positive number")
    return speed


@cli.command()
@click.argument("tape", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--listing", "listing_id", required=True, metavar="ID", help="Listing id in the config."
)
@config_option
@db_option
@click.option(
    "--alert-log", metavar="PATH", help="Alert log [default: $TRACKER_ALERT_LOG or alerts.jsonl]."
)
@click.option(
    "--speed",
    default="max",
    show_default=True,
    metavar="max|N",
    help="'max' as fast as possible, or N market seconds per wall second.",
)
@click.option("--skip-bad", is_flag=True, help="Replay the good rows of a tape with bad rows.")
@click.option("--dry-run", is_flag=True, help="Replay into an in-memory database; keep nothing.")
def replay(
    tape: Path,
    listing_id: str,
    config: str | None,
    db: str | None,
    alert_log: str | None,
    speed: str,
    skip_bad: bool,
    dry_run: bool,
) -> None:
    """Replay a recorded tape (CSV or Parquet) of a listing's ticks."""
    from tracker.bootstrap import build_app, build_settings
    from tracker.config import listings_path, load_listings

    pace = _speed(speed)
    settings = build_settings(db, alert_log)
    listings = load_listings(listings_path(config))
    listing = listings.get(listing_id)
    recorded = _read_checked(tape, listing, skip_bad)  # before anything is opened or written
    app = build_app(listings, settings, dry_run=dry_run, listeners=[_print_alert])
    report = _play(app, listing, recorded, pace)
    where = (
        "an in-memory database (dry run, nothing kept)" if dry_run else _safe_url(settings.db_url)
    )
    log = "" if dry_run else f", log {settings.alert_log}"
    click.echo(
        f"replayed {report.ticks:,} ticks of {listing.id} from {tape}: {report.stored:,} stored, "
        f"{report.already_stored:,} already stored, {len(report.bad_rows):,} bad rows skipped; "
        f"{len(report.alerts):,} alerts{log}; database {where}"
    )


def _read_checked(tape: Path, listing: Listing, skip_bad: bool) -> Tape:
    """Read a tape; bad rows refuse it, or with ``skip_bad`` are reported and left out."""
    from tracker.sources.tape import read_tape

    recorded = read_tape(tape, listing.timezone)
    if recorded.bad_rows:
        problems = [str(row) for row in recorded.bad_rows]
        count = len(problems)
        if not skip_bad:
            raise InputError(
                f"{tape}: {count:,} bad {_rows(count)} of {recorded.rows:,}; nothing was stored "
                "(--skip-bad replays the good rows)",
                _shown(problems),
            )
        for line in _shown(problems):
            click.echo(line, err=True)
        click.echo(f"{tape}: skipping {count:,} bad {_rows(count)} of {recorded.rows:,}", err=True)
    return recorded


def _play(app: App, listing: Listing, recorded: Tape, pace: float | None) -> ReplayReport:
    """Replay a read tape as fast as possible, or paced on the scheduler."""
    from tracker.replay import PacedReplay, replay_tape

    if pace is None or not recorded.ticks:
        return replay_tape(listing, recorded, app.ingestor, app.settings.replay.chunk_size)
    from tracker.calendar import open_intervals
    from tracker.scheduling import SteppedRun

    first, last = recorded.ticks[0].ts, recorded.ticks[-1].ts
    paced = PacedReplay(
        listing, recorded, app.ingestor, pace, open_intervals(listing.calendar, first, last)
    )
    SteppedRun(paced.step).run()
    return paced.report


def _rows(count: int) -> str:
    return "row" if count == 1 else "rows"


def _shown(problems: Sequence[str]) -> list[str]:
    if len(problems) <= MAX_SHOWN:
        return list(problems)
    return [*problems[:MAX_SHOWN], f"... and {len(problems) - MAX_SHOWN:,} more bad rows"]


def _print_alert(alert: StoredAlert) -> None:
    record = json.loads(alert.record)
    flag = " [gap]" if record["gap"] else ""
    click.echo(f"ALERT {record['ts']} {record['rule']}{flag}: {record['message']}")


def _safe_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


@cli.command()
@config_option
@db_option
@click.option(
    "--alert-log", metavar="PATH", help="Alert log [default: alerts.jsonl beside the database]."
)
def demo(config: str | None, db: str | None, alert_log: str | None) -> None:
    """Replay the bundled Biren first day into a fresh SQLite file; print alerts and summary."""
    from tracker.bootstrap import build_app, build_settings
    from tracker.config import load_listings
    from tracker.report import day_report, render
    from tracker.resources import SAMPLE_DATE, SAMPLE_LISTING, SAMPLE_TAPE, bundled

    folder = Path(tempfile.mkdtemp(prefix="tracker-demo-"))
    settings = build_settings(
        db or f"sqlite:///{folder / 'tracker.db'}", alert_log or str(folder / "alerts.jsonl")
    )
    listings = load_listings(Path(config) if config else bundled("config/listings.toml"))
    listing = listings.get(SAMPLE_LISTING)
    recorded = _read_checked(SAMPLE_TAPE, listing, skip_bad=False)
    app = build_app(listings, settings)
    report = _play(app, listing, recorded, None)
    click.echo(
        f"Replayed {report.ticks:,} ticks of {listing.name}'s first day ({SAMPLE_TAPE.name}; "
        "ticks between the published figures are synthetic).\n"
    )
    for alert in app.store.alerts(listing.id):
        _print_alert(alert)
    summary = day_report(app.store, listing, SAMPLE_DATE)
    if summary is not None:
        click.echo("\n" + render(summary))
    click.echo(f"\ndatabase  {_safe_url(settings.db_url)}\nalert log {settings.alert_log}")


@cli.command()
@click.option("--listing", "listing_id", metavar="ID", help="Only this listing's alerts.")
@click.option(
    "--since",
    metavar="WHEN",
    help="From this time on: ISO 8601 (exchange time without offset) or 30m, 2h, 7d ago.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the alert records as JSON Lines.")
@config_option
@db_option
def alerts(
    listing_id: str | None, since: str | None, as_json: bool, config: str | None, db: str | None
) -> None:
    """Show stored alerts, oldest first."""
    from tracker.bootstrap import build_settings, open_store
    from tracker.config import listings_path, load_listings

    listings = load_listings(listings_path(config))
    if listing_id is not None:
        listings.get(listing_id)
    store = open_store(build_settings(db), create=False)
    now = dt.datetime.now(dt.UTC)
    for alert in store.alerts(listing_id):
        if since is not None:
            listing = listings.by_id.get(alert.listing_id)
            zone = ZoneInfo(listing.timezone if listing else "UTC")
            if alert.ts_us < _since_us(since, zone, now):
                continue
        if as_json:
            click.echo(alert.record)
        else:
            record = json.loads(alert.record)
            click.echo(
                f"{record['ts']}  {record['listing']:<10} {record['rule']:<18} {record['message']}"
            )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _since_us(text: str, zone: ZoneInfo, now: dt.datetime) -> int:
    from tracker.core.model import datetime_to_ts

    match = _DURATION.fullmatch(text.strip())
    if match:
        moment = now - dt.timedelta(**{_UNITS[match[2]]: float(match[1])})
        return datetime_to_ts(moment)
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: not an ISO 8601 date or time, nor a duration like 2h"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return datetime_to_ts(parsed)


@cli.command()
@config_option
@db_option
@click.option("--alert-log", metavar="PATH", help="Alert log [default: alerts.jsonl].")
@click.option("--start", metavar="ISO", help="Run on a simulated clock from this instant.")
@click.option("--speed", type=float, metavar="N", help="Simulated clock speed [default: 1].")
@click.option("--clock", "clock_url", metavar="URL", help="Follow a feed's clock (its /clock URL).")
@click.option("--until", metavar="ISO", help="Stop when the clock reaches this instant.")
def run(
    config: str | None,
    db: str | None,
    alert_log: str | None,
    start: str | None,
    speed: float | None,
    clock_url: str | None,
    until: str | None,
) -> None:
    """Poll every listing with a [listings.source] while its market trades (the daemon).

    Stops cleanly on SIGINT or SIGTERM, or at --until.
    """
    import signal

    from tracker.bootstrap import (
        build_app,
        build_daemon,
        build_settings,
        fetch_clock,
        parse_instant,
    )
    from tracker.clock import Clock, SimulatedClock, SystemClock
    from tracker.config import listings_path, load_listings

    if start and clock_url:
        raise ConfigError("--start and --clock exclude each other: pick one clock")
    if speed is not None and not start:
        raise ConfigError("--speed needs --start (a --clock brings its own speed)")
    if speed is not None and not 0 < speed < float("inf"):
        raise ConfigError(f"--speed {speed:g}: must be a positive number")
    settings = build_settings(db, alert_log)
    listings = load_listings(listings_path(config))
    polled = [lid for lid, c in listings.configs.items() if c.source is not None]
    zone = listings.by_id[polled[0]].timezone if polled else "UTC"
    end = parse_instant(until, zone, "--until") if until else None
    clock: Clock
    if start:
        clock = SimulatedClock(parse_instant(start, zone, "--start"), speed or 1.0)
    elif clock_url:
        clock = fetch_clock(clock_url)
    else:
        clock = SystemClock()
    app = build_app(listings, settings, listeners=[_print_alert])
    daemon = build_daemon(app, clock, end)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: daemon.stop())
    daemon.run()


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
@click.option("--port", type=int, default=8765, show_default=True, help="Port to listen on.")
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
    from tracker.clock import SimulatedClock
    from tracker.config import listings_path, load_listings
    from tracker.sources.feedserver import FeedServer

    if not 0 < speed < float("inf"):
        raise ConfigError(f"--speed {speed:g}: must be a positive number")
    listing = load_listings(listings_path(config)).get(listing_id)
    recorded = _read_checked(tape, listing, skip_bad)
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
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="A heartbeat older than this (wall seconds) is stale.",
)
def status(config: str | None, db: str | None, max_age: float) -> None:
    """Show the daemon's heartbeat and each listing's last tick; exit 1 when stale."""
    import time

    from tracker.bootstrap import build_settings, open_store
    from tracker.config import listings_path, load_listings
    from tracker.core.model import ts_to_datetime

    listings = load_listings(listings_path(config))
    store = open_store(build_settings(db), create=False)
    beats = {beat.name: beat for beat in store.heartbeats()}
    beat = beats.get("daemon")
    if beat is None:
        click.echo("daemon: no heartbeat (never ran against this database)")
        raise click.exceptions.Exit(1)
    age = time.time() - beat.wall_us / 1e6
    clock_now = ts_to_datetime(beat.clock_us)
    state = "stopped" if beat.detail == "stopped" else f"pid {beat.pid}"
    click.echo(f"daemon: heartbeat {age:.0f}s ago ({state}), its clock {clock_now.isoformat()}")
    for listing in listings.by_id.values():
        last = store.last_tick(listing.id)
        if last is None:
            click.echo(f"{listing.id}: no tick stored")
            continue
        tick_age = (clock_now - last.ts).total_seconds()
        local = last.ts.astimezone(ZoneInfo(listing.timezone)).isoformat()
        click.echo(
            f"{listing.id}: last tick {local} at {last.price:g}, "
            f"{tick_age:.0f}s before the daemon's clock"
        )
    if beat.detail == "stopped" or age > max_age:
        click.echo(
            f"stale: the daemon is not running (heartbeat older than {max_age:g}s or stopped)"
        )
        raise click.exceptions.Exit(1)


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
    from tracker.bootstrap import build_settings, open_store
    from tracker.config import listings_path, load_listings
    from tracker.report import day_bounds
    from tracker.sources.tape import write_tape

    try:
        date = dt.date.fromisoformat(date_text)
    except ValueError:
        raise ConfigError(f"--date {date_text!r}: not a date (YYYY-MM-DD)") from None
    listing = load_listings(listings_path(config)).get(listing_id)
    store = open_store(build_settings(db), create=False)
    ticks = store.ticks(listing.id, *day_bounds(listing, date))
    if out is None:
        write_tape(sys.stdout, ticks, listing.timezone)
    else:
        with out.open("w", encoding="utf-8", newline="") as handle:
            write_tape(handle, ticks, listing.timezone)
        click.echo(f"wrote {len(ticks):,} ticks of {listing.id} on {date} to {out}", err=True)


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
def config_check(config: str | None, db: str | None, as_json: bool) -> None:
    """Load and validate the config; print the effective config, secrets masked."""
    from tracker.bootstrap import build_settings
    from tracker.config import listings_path, load_listings, settings_path
    from tracker.effective import effective_config, render_effective

    settings = build_settings(db)
    path = listings_path(config)
    listings = load_listings(path)
    effective = effective_config(settings, settings_path(), listings)
    click.echo(
        json.dumps(effective, indent=2, ensure_ascii=False)
        if as_json
        else render_effective(effective)
    )


@cli.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@config_option
@db_option
def db_upgrade(config: str | None, db: str | None) -> None:
    """Migrate the database to the newest schema."""
    from tracker.bootstrap import build_settings
    from tracker.store.engine import create_engine, current_revision, upgrade

    settings = build_settings(db)
    engine = create_engine(settings.db_url)
    before = current_revision(engine)
    after = upgrade(engine)
    state = "already at" if before == after else f"migrated from {before or 'empty'} to"
    click.echo(f"database {_safe_url(settings.db_url)}: {state} schema {after}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; map errors to messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _configure_logging(0)
    try:
        # Not standalone: a command's ``Exit(code)`` comes back as the return value.
        code = cli.main(args=args, prog_name="tracker", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("tracker: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        if debug:
            raise
        ctx: click.Context | None = getattr(exc, "ctx", None)
        path = ctx.command_path.split(" ", 1) if ctx is not None else []
        command = f" {path[1]}" if len(path) > 1 else ""
        click.echo(f"tracker{command}: {exc.format_message()} (see --help)", err=True)
        return exc.exit_code
    except TrackerError as exc:
        if debug:
            raise
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(exc.message, err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("tracker: interrupted", err=True)
        return 130
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"tracker: unexpected {type(exc).__name__}: {exc} (rerun with --debug)", err=True
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

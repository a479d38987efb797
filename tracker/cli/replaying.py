"""Replaying tapes: ``tracker replay`` and ``tracker demo``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from tracker.cli.base import (
    checked_reader,
    cli,
    closed_at_end,
    config_option,
    db_option,
    plural,
    progress_bar,
    read_checked,
    report_undelivered,
    safe_url,
)
from tracker.core.limits import speed_problem
from tracker.core.model import ts_to_datetime

if TYPE_CHECKING:
    from tracker.bootstrap import App
    from tracker.core.model import Listing
    from tracker.runtime.replay import ReplayReport
    from tracker.sources.tape import Tape, TapeReader


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = 0.0
    problem = speed_problem(speed)
    if problem is not None:
        problem = "is not 'max' or a positive number" if speed <= 0 else problem
        raise click.BadParameter(f"{value!r} {problem}")
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
    from tracker.sources.ahead import start_check

    pace = _speed(speed)
    # a big tape is checked in a child process while this one reads its config and imports
    ahead = start_check(tape) if pace is None else None
    if ahead is not None:
        closed_at_end(ahead)
    from tracker.config import listings_path, load_listings

    listings = load_listings(listings_path(config))
    listing = listings.get(listing_id)
    if ahead is not None:
        ahead.begin(listing.timezone)
    from tracker.bootstrap import build_app, build_settings

    settings = build_settings(db, alert_log)
    # the whole tape is read before anything is opened or written
    if pace is None:
        if ahead is not None and not dry_run:
            from tracker.store.engine import load_driver

            load_driver(settings.db_url)  # while the child checks
        reader = checked_reader(tape, listing, skip_bad, settings.replay.chunk_size, ahead)
        app = closed_at_end(build_app(listings, settings, dry_run=dry_run))
        report = _play_fast(app, listing, reader)
    else:
        recorded = read_checked(tape, listing, skip_bad)
        app = closed_at_end(build_app(listings, settings, dry_run=dry_run))
        report = _play_paced(app, listing, recorded, pace)
    where = (
        "an in-memory database (dry run, nothing kept)" if dry_run else safe_url(settings.db_url)
    )
    log = "" if dry_run else f", log {settings.alert_log}"
    bad = report.rows - report.ticks
    click.echo(
        f"replayed {plural(report.ticks, 'tick')} of {listing.id} from {tape}: "
        f"{report.stored:,} stored, {report.already_stored:,} already stored, "
        f"{plural(bad, 'bad row')} skipped; {plural(len(report.alerts), 'alert')}{log}; "
        f"database {where}"
    )
    if report.outside and report.first_outside_us is not None:
        first = ts_to_datetime(report.first_outside_us).astimezone(ZoneInfo(listing.timezone))
        click.echo(
            f"{tape}: {plural(report.outside, 'tick')} outside {listing.id}'s trading sessions "
            f"({listing.calendar}), the first at {first.isoformat()}; replayed all the same",
            err=True,
        )
    report_undelivered(app)


def _play_fast(app: App, listing: Listing, reader: TapeReader) -> ReplayReport:
    """Replay a checked tape as fast as possible, with a progress bar on a terminal."""
    from tracker.runtime.replay import replay_reader

    with progress_bar(reader.check().ticks) as progress:
        return replay_reader(listing, reader, app.ingestor, progress)


def _play_paced(app: App, listing: Listing, recorded: Tape, pace: float) -> ReplayReport:
    """Replay a read tape at ``pace`` market seconds per wall second, on the scheduler."""
    from tracker.markets.calendar import open_intervals
    from tracker.runtime.replay import PacedReplay, replay_tape
    from tracker.runtime.scheduling import SteppedRun

    if not recorded.ticks:
        return replay_tape(listing, recorded, app.ingestor, app.settings.replay.chunk_size)
    first, last = recorded.ticks[0].ts, recorded.ticks[-1].ts
    intervals = open_intervals(listing.calendar, first, last)
    with progress_bar(len(recorded.ticks)) as progress:
        paced = PacedReplay(listing, recorded, app.ingestor, pace, intervals, progress)
        SteppedRun(paced.step).run()
    return paced.report


@cli.command()
@config_option
@db_option
@click.option(
    "--alert-log", metavar="PATH", help="Alert log [default: alerts.jsonl beside the database]."
)
def demo(config: str | None, db: str | None, alert_log: str | None) -> None:
    """Replay the bundled Biren first day into a fresh SQLite file; print alerts and summary.

    The day's chart (PNG) and report page (HTML) are written beside the database.
    """
    from tracker.alerts.stdout import print_alert
    from tracker.bootstrap import build_app, build_settings
    from tracker.cli.outputs import day_outputs, write_outputs
    from tracker.config import load_listings
    from tracker.reporting.report import day_report, render
    from tracker.resources import SAMPLE_DATE, SAMPLE_LISTING, SAMPLE_TAPE, bundled

    folder = Path(tempfile.mkdtemp(prefix="tracker-demo-"))
    settings = build_settings(
        db or f"sqlite:///{folder / 'tracker.db'}", alert_log or str(folder / "alerts.jsonl")
    )
    listings = load_listings(Path(config) if config else bundled("config/listings.toml"))
    listing = listings.get(SAMPLE_LISTING)
    reader = checked_reader(SAMPLE_TAPE, listing, False, settings.replay.chunk_size)
    app = closed_at_end(build_app(listings, settings, show_alerts=False))  # listed below
    report = _play_fast(app, listing, reader)
    click.echo(
        f"Replayed {report.ticks:,} ticks of {listing.name}'s first day ({SAMPLE_TAPE.name}; "
        "ticks between the published figures are synthetic).\n"
    )
    for alert in app.store.alerts(listing.id):
        print_alert(alert)
    summary = day_report(app.store, listing, SAMPLE_DATE)
    outputs = []
    if summary is not None:
        click.echo("\n" + render(summary))
        stem = f"{listing.id}-{SAMPLE_DATE.isoformat()}"
        outputs = day_outputs(summary, png=folder / f"{stem}.png", html=folder / f"{stem}.html")
        write_outputs(outputs)
    click.echo(f"\ndatabase  {safe_url(settings.db_url)}\nalert log {settings.alert_log}")
    for output in outputs:
        click.echo(f"{output.what:10}{output.path}")
    report_undelivered(app)

"""Looking at what is configured and stored: ``config check``, ``db upgrade``, ``report``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tracker.cli.base import cli, command_store, config_option, db_option, option_date, safe_url
from tracker.errors import ConfigError


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
def config_check(config: str | None, db: str | None, as_json: bool) -> None:
    """Load and validate the config; print the effective config, secrets masked."""
    from tracker.bootstrap import build_settings, check_wiring
    from tracker.config import listings_path, load_listings, settings_path
    from tracker.effective import effective_config, render_effective

    settings = build_settings(db)
    path = listings_path(config)
    listings = load_listings(path)
    check_wiring(settings, listings)
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
    try:
        before = current_revision(engine)
        after = upgrade(engine)
    finally:
        engine.dispose()
    state = "already at" if before == after else f"migrated from {before or 'empty'} to"
    click.echo(f"database {safe_url(settings.db_url)}: {state} schema {after}")


@cli.command()
@click.argument("listing_id", metavar="ID")
@click.option(
    "--date", "date_text", metavar="D", help="Exchange date [default: the last day stored]."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--png", type=click.Path(path_type=Path, dir_okay=False), help="Also draw the day's chart."
)
@click.option(
    "--html",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the report, chart and alerts as one self-contained HTML page.",
)
@config_option
@db_option
def report(
    listing_id: str,
    date_text: str | None,
    as_json: bool,
    png: Path | None,
    html: Path | None,
    config: str | None,
    db: str | None,
) -> None:
    """A day's summary: auction, open, high, low, close, VWAP, volume, first fires."""
    from tracker.cli.outputs import check_outputs, day_outputs, write_outputs
    from tracker.config import listings_path, load_listings
    from tracker.core.model import local_date
    from tracker.reporting.report import as_data, day_report, render

    files = [(option, path) for option, path in (("--png", png), ("--html", html)) if path]
    check_outputs(files)  # before any work
    given = option_date(date_text) if date_text is not None else None
    listing = load_listings(listings_path(config)).get(listing_id)
    store = command_store(db)
    if given is None:
        last = store.last_tick(listing.id)
        if last is None:
            raise ConfigError(f"no ticks stored for {listing.id}: replay a tape or run the daemon")
        date = local_date(listing, last.ts_us)
    else:
        date = given
    summary = day_report(store, listing, date)
    if summary is None:
        raise ConfigError(f"no ticks stored for {listing.id} on {date.isoformat()}")
    outputs = day_outputs(summary, png=png, html=html)
    write_outputs(outputs)
    click.echo(json.dumps(as_data(summary), indent=2) if as_json else render(summary))
    for output in outputs:
        click.echo(f"{output.what}: {output.path}", err=True)

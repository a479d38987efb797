"""Looking at what is stored and configured: ``alerts``, ``config check``, ``db upgrade``."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import click

from tracker.cli.base import cli, config_option, db_option, safe_url
from tracker.errors import ConfigError


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
    click.echo(f"database {safe_url(settings.db_url)}: {state} schema {after}")

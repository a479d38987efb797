"""Looking at what is configured and migrating the store: ``config check``, ``db upgrade``."""

from __future__ import annotations

import json

import click

from tracker.cli.base import cli, config_option, db_option, safe_url


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

"""The composition root: wires settings, listings, the store, sinks and the ingest path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tracker.alerts.sinks import AlertSink, JsonlAlertLog
from tracker.config import Listings, Settings, load_settings
from tracker.errors import ConfigError
from tracker.ingest import AlertListener, Ingestor
from tracker.store.engine import MEMORY_URL, create_engine, ensure_schema, sqlite_file
from tracker.store.repository import SqlStore


@dataclass(frozen=True, slots=True)
class App:
    """Everything a command needs, built once."""

    settings: Settings
    listings: Listings
    store: SqlStore
    ingestor: Ingestor


def build_settings(db_url: str | None = None, alert_log: str | None = None) -> Settings:
    """Settings with the command line's flags on top."""
    return load_settings(db_url=db_url, alert_log=Path(alert_log) if alert_log else None)


def open_store(settings: Settings, *, dry_run: bool = False, create: bool = True) -> SqlStore:
    """The store at the settings' database (in memory for a dry run), migrated if fresh.

    With ``create=False`` a SQLite file that does not exist yet is an error, not a new file.
    """
    url = MEMORY_URL if dry_run else settings.db_url
    path = sqlite_file(url)
    if not create and path is not None and not path.exists():
        raise ConfigError(f"database {path} does not exist (replay a tape first, or pass --db)")
    engine = create_engine(url)
    ensure_schema(engine)
    return SqlStore(engine)


def build_app(
    listings: Listings,
    settings: Settings,
    *,
    dry_run: bool = False,
    listeners: Sequence[AlertListener] = (),
) -> App:
    """Wire a command's pieces; a dry run keeps nothing: in-memory store, no alert log."""
    folder = settings.alert_log.parent
    if not dry_run and not folder.is_dir():
        raise ConfigError(f"alert log {settings.alert_log}: folder {folder} does not exist")
    store = open_store(settings, dry_run=dry_run)
    sinks: list[AlertSink] = [] if dry_run else [JsonlAlertLog(settings.alert_log)]
    return App(settings, listings, store, Ingestor(store, sinks, settings.language, listeners))

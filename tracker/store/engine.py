"""Engines and schema migrations (Alembic, under ``db/``)."""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from tracker.errors import ConfigError, StorageError
from tracker.resources import bundled
from tracker.store.tables import SCHEMA_REVISION

logger = logging.getLogger(__name__)

MEMORY_URL = "sqlite://"


def create_engine(url: str, *, existing: bool = False) -> Engine:
    """An engine for a SQLAlchemy URL; SQLite files get WAL and ``synchronous=NORMAL``.

    ``existing``: a SQLite file is opened, never created: once deleted (under a running
    process), connecting fails instead of starting a new, empty database.
    """
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL {url!r} is not an SQLAlchemy URL") from None
    options: dict[str, Any] = {}
    sqlite = parsed.get_backend_name() == "sqlite"
    memory = sqlite and parsed.database in (None, "", ":memory:")
    if memory:
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    parsed = _with_driver(parsed)
    if sqlite and existing and not memory and parsed.database:
        absolute = Path(parsed.database).absolute()
        parsed = parsed.set(
            database="file:" + urllib.parse.quote(str(absolute)),
            query={**parsed.query, "mode": "rw", "uri": "true"},
        )
    try:
        engine = sa.create_engine(parsed, **options)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"database URL {url!r}: no driver for it ({exc})") from None
    if sqlite:
        if not memory and parsed.database and not existing:
            directory = Path(parsed.database).parent
            if not directory.is_dir():
                raise ConfigError(f"database {parsed.database}: folder {directory} does not exist")
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def load_driver(url: str) -> None:
    """Import a database URL's driver now, so that opening the store later does not wait for it.

    Opens and creates nothing; a URL without a driver is left for ``create_engine`` to refuse.
    """
    with contextlib.suppress(ArgumentError, NoSuchModuleError, ImportError):
        _with_driver(sa.make_url(url)).get_dialect().import_dbapi()


def _with_driver(parsed: sa.URL) -> sa.URL:
    """The URL with the driver the tracker uses for it (psycopg 3 for a bare ``postgresql``)."""
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def defer_checkpoints(engine: Engine) -> bool:
    """Have a SQLite file's commits leave WAL checkpoints to ``checkpoint`` (a background job).

    A commit that crosses SQLite's auto-checkpoint threshold copies the WAL into the
    database and fsyncs it before it returns: a few milliseconds, on the path from a
    quote to its alert. Returns whether the engine now defers them (SQLite files only).
    """
    if engine.dialect.name != "sqlite" or sqlite_file(str(engine.url)) is None:
        return False
    sa.event.listen(engine, "connect", _no_auto_checkpoint)
    engine.dispose()  # the pooled connections go; the ones made from now on defer
    return True


def checkpoint(engine: Engine) -> None:
    """Copy what the WAL holds into a SQLite file without waiting on readers or writers."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    except SQLAlchemyError as exc:
        raise storage_error(engine, exc) from exc


def _no_auto_checkpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(bundled("db")))
    config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database, None for a database without one."""
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        raise storage_error(engine, exc) from exc


def upgrade(engine: Engine) -> str:
    """Migrate the database to the newest schema; return the revision it is at."""
    from alembic import command

    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "head")
    except SQLAlchemyError as exc:
        raise storage_error(engine, exc) from exc
    return SCHEMA_REVISION


def ensure_schema(engine: Engine) -> None:
    """Migrate a fresh database (or any SQLite one) to the schema this code expects.

    Another database at an older revision is left alone: ``tracker db upgrade``
    migrates it when its operator decides.
    """
    revision = current_revision(engine)
    if revision == SCHEMA_REVISION:
        return
    tables: list[str] = []
    if revision is None:
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
        if tables and engine.dialect.name != "sqlite":
            raise StorageError(
                f"database {_safe_url(engine)} has tables but no tracker schema version; "
                "point --db at an empty database or one made by the tracker"
            )
    elif engine.dialect.name != "sqlite":
        raise ConfigError(
            f"database {_safe_url(engine)} is at schema {revision}, this tracker needs "
            f"{SCHEMA_REVISION}: run `tracker db upgrade`"
        )
    if revision is None and not tables:
        create_fresh(engine)
        return
    logger.info("migrating %s to schema %s", _safe_url(engine), SCHEMA_REVISION)
    upgrade(engine)


def create_fresh(engine: Engine) -> None:
    """Create the newest schema in an empty database at once, stamped with its revision.

    What running every migration gives (a test compares the two), without loading Alembic.
    """
    from tracker.store.tables import metadata

    logger.info("creating schema %s in %s", SCHEMA_REVISION, _safe_url(engine))
    version = sa.Table(
        "alembic_version",
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), primary_key=True),
    )
    try:
        with engine.begin() as connection:
            metadata.create_all(connection, checkfirst=False)  # the database is empty
            version.create(connection, checkfirst=False)
            connection.execute(version.insert().values(version_num=SCHEMA_REVISION))
    except SQLAlchemyError as exc:
        raise storage_error(engine, exc) from exc


def _safe_url(engine: Engine) -> str:
    url = engine.url
    if url.query.get("uri") == "true" and (url.database or "").startswith("file:"):
        return f"sqlite:///{urllib.parse.unquote(str(url.database)[5:])}"  # as it was given
    return url.render_as_string(hide_password=True)


def storage_error(engine: Engine, exc: SQLAlchemyError) -> StorageError:
    """A one-line StorageError for a driver error, naming the database."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = detail[0] if detail else type(exc).__name__
    return StorageError(f"database {_safe_url(engine)}: {reason}")


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reading; a driver error becomes a StorageError naming the database."""
    try:
        with engine.connect() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise storage_error(engine, exc) from exc

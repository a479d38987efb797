"""Real databases: a SQLite file, and a PostgreSQL database made for the test and dropped after.

PostgreSQL tests read ``TRACKER_TEST_PG_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/test``).
Without it they skip; with it an unreachable server fails the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from quote_server import QuoteServer

from tracker.store.engine import create_engine, ensure_schema
from tracker.store.repository import SqlStore


def _admin_url() -> sa.URL | None:
    raw = os.environ.get("TRACKER_TEST_PG_URL")
    if not raw:
        return None
    url = sa.make_url(raw)
    return url.set(drivername="postgresql+psycopg")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, dropped after the test."""
    admin = _admin_url()
    if admin is None:
        pytest.skip("TRACKER_TEST_PG_URL is not set")
    name = f"tracker_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'tracker.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each storage backend in turn: the same contract suite runs against both."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def open_store() -> Iterator[Callable[[str], SqlStore]]:
    """Opens stores on a URL, migrated, and closes them after the test."""
    opened: list[SqlStore] = []

    def open_(url: str) -> SqlStore:
        engine = create_engine(url)
        ensure_schema(engine)
        opened.append(SqlStore(engine))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


# --- the live poll tests' loopback quote server, SQLite file and HTTP client -------------------
# (a module that needs another ``server``, ``store`` or ``client`` defines its own)


@pytest.fixture
def server() -> Iterator[QuoteServer]:
    """A quote server on 127.0.0.1 whose answers the test sets."""
    with QuoteServer() as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    """A store on a fresh SQLite file."""
    engine = create_engine(f"sqlite:///{tmp_path / 'live.db'}")
    ensure_schema(engine)
    yield SqlStore(engine)
    engine.dispose()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """An HTTP client, closed after the test."""
    with httpx.Client() as running:
        yield running

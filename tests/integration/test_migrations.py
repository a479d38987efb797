"""Alembic migrations: the code expects the head, and an older database upgrades intact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from factories import ts_us
from sqlalchemy.engine import Engine

from tracker.core.model import ListingState, StoredAlert, Tick
from tracker.errors import ConfigError
from tracker.resources import bundled
from tracker.store.deliveries import SqlDeliveries
from tracker.store.engine import create_engine, current_revision, ensure_schema, upgrade
from tracker.store.repository import PollerState, SqlStore
from tracker.store.tables import SCHEMA_REVISION

FIRST_REVISION = "0001"
TICK_US = ts_us("2026-01-02T09:20:00")
ALERT_ID = "a" * 32


def pending(store: SqlStore, sink: str) -> list[StoredAlert]:
    """A sink's pending alerts, due now, in store order (through the outbox's queries)."""
    return [due.alert for due in SqlDeliveries(store.engine).due(sink, 2**62)]


def test_code_expects_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(bundled("db")))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_REVISION]


def migrate_to(engine: Engine, revision: str) -> None:
    """Run the bundled migrations up to ``revision`` only, as an older tracker would have."""
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(bundled("db")))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def write_first_schema_rows(engine: Engine) -> None:
    """A tick, the listing's state and a pending alert, written as a 0001 tracker wrote them."""
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO ticks (listing_id, ts_us, seq, price, volume, turnover) "
                "VALUES ('biren', :ts, 0, 35.7, 1000, 35700)"
            ),
            {"ts": TICK_US},
        )
        connection.execute(
            sa.text(
                "INSERT INTO listing_state (listing_id, last_ts_us, last_seq) "
                "VALUES ('biren', :ts, 0)"
            ),
            {"ts": TICK_US},
        )
        connection.execute(
            sa.text(
                "INSERT INTO alerts (alert_id, listing_id, rule_id, ts_us, seq, record) "
                "VALUES (:id, 'biren', 'gain_pct-up-50', :ts, 0, '{\"rule\": \"gain_pct-up-50\"}')"
            ),
            {"id": ALERT_ID, "ts": TICK_US},
        )
        connection.execute(
            sa.text(
                "INSERT INTO alert_deliveries (alert_id, sink, state, attempts) "
                "VALUES (:id, 'log', 'pending', 0)"
            ),
            {"id": ALERT_ID},
        )


@pytest.fixture
def first_schema_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on a database (the test's ``url`` fixture) at revision 0001 holding data."""
    url = request.getfixturevalue(request.param)
    engine = create_engine(url)
    migrate_to(engine, FIRST_REVISION)
    write_first_schema_rows(engine)
    yield engine
    engine.dispose()


def assert_first_schema_data_intact(engine: Engine) -> None:
    store = SqlStore(engine)
    assert store.ticks("biren") == [Tick(TICK_US, 0, 35.7, 1000.0, 35700.0)]
    assert store.load_state("biren") == ListingState(TICK_US, 0, {}, None)
    [alert] = store.alerts("biren")
    assert (alert.alert_id, alert.rule_id, alert.ts_us) == (ALERT_ID, "gain_pct-up-50", TICK_US)
    assert [a.alert_id for a in pending(store, "log")] == [ALERT_ID]
    with engine.connect() as connection:
        new_columns = connection.execute(
            sa.text("SELECT extremes_ts_us, day_high, day_low FROM listing_state")
        ).all()
    assert new_columns == [(None, None, None)]
    # the tables the upgrade added are there and usable
    assert store.load_poller("biren") == PollerState()
    assert store.heartbeats() == []


@pytest.mark.parametrize("first_schema_engine", ["sqlite_url"], indirect=True)
def test_sqlite_at_first_revision_is_migrated_on_open_with_its_data(
    first_schema_engine: Engine,
) -> None:
    assert current_revision(first_schema_engine) == FIRST_REVISION
    ensure_schema(first_schema_engine)
    assert current_revision(first_schema_engine) == SCHEMA_REVISION
    assert_first_schema_data_intact(first_schema_engine)


@pytest.mark.parametrize("first_schema_engine", ["pg_url"], indirect=True)
def test_postgresql_at_first_revision_is_refused_until_upgraded(
    first_schema_engine: Engine,
) -> None:
    with pytest.raises(ConfigError) as refused:
        ensure_schema(first_schema_engine)
    message = str(refused.value)
    assert f"is at schema {FIRST_REVISION}" in message
    assert f"needs {SCHEMA_REVISION}" in message
    assert "run `tracker db upgrade`" in message
    assert "\n" not in message
    assert current_revision(first_schema_engine) == FIRST_REVISION  # left alone


@pytest.mark.parametrize("first_schema_engine", ["pg_url"], indirect=True)
def test_postgresql_at_first_revision_upgrades_with_its_data(first_schema_engine: Engine) -> None:
    assert upgrade(first_schema_engine) == SCHEMA_REVISION
    assert current_revision(first_schema_engine) == SCHEMA_REVISION
    ensure_schema(first_schema_engine)  # now accepted
    assert_first_schema_data_intact(first_schema_engine)


def schema_of(engine: Engine) -> dict[str, dict[str, object]]:
    """Every table's columns, key, indexes and unique constraints, as the database reports them."""
    inspector = sa.inspect(engine)
    schema: dict[str, dict[str, object]] = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ],
            "key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
    if engine.dialect.name == "sqlite":  # what the inspector does not tell: WITHOUT ROWID
        with engine.connect() as connection:
            for name, ddl in connection.execute(
                sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            ):
                schema[name]["rowid"] = "WITHOUT ROWID" not in ddl.upper()
    return schema


def ticks_have_rowid(engine: Engine) -> bool:
    """Whether SQLite keeps the ticks in a rowid table (beside their key's index)."""
    return bool(schema_of(engine)["ticks"]["rowid"])


def test_a_fresh_database_gets_what_the_migrations_make(db_url: str) -> None:
    from tracker.store.engine import create_fresh
    from tracker.store.tables import metadata

    engine = create_engine(db_url)
    create_fresh(engine)
    created = schema_of(engine)
    assert current_revision(engine) == SCHEMA_REVISION
    with engine.begin() as connection:
        metadata.drop_all(connection)
        connection.execute(sa.text("DROP TABLE alembic_version"))
    upgrade(engine)
    assert schema_of(engine) == created
    engine.dispose()


@pytest.mark.parametrize("first_schema_engine", ["sqlite_url"], indirect=True)
def test_sqlite_ticks_are_clustered_by_their_key_from_0005_and_back_on_downgrade(
    first_schema_engine: Engine,
) -> None:
    assert ticks_have_rowid(first_schema_engine)
    upgrade(first_schema_engine)
    assert not ticks_have_rowid(first_schema_engine)
    assert_first_schema_data_intact(first_schema_engine)
    with first_schema_engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(bundled("db")))
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert ticks_have_rowid(first_schema_engine)
    assert SqlStore(first_schema_engine).ticks("biren") == [Tick(TICK_US, 0, 35.7, 1000.0, 35700.0)]


def test_a_wall_time_silence_of_0006_covers_the_same_instants_after_0007(
    sqlite_url: str,
) -> None:
    engine = create_engine(sqlite_url)
    migrate_to(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO silences (listing_id, rule_id, until_us, created_us, reason) "
                "VALUES ('biren', NULL, :until, :made, 'old')"
            ),
            {"until": TICK_US + 10, "made": TICK_US - 10},
        )

    upgrade(engine)

    [silence] = SqlStore(engine).silences()
    assert (silence.from_us, silence.until_us) == (TICK_US - 10, TICK_US + 10)
    assert silence.covers("gain_pct-up-50", TICK_US)
    assert not silence.covers("gain_pct-up-50", TICK_US - 11)
    engine.dispose()

"""Rows into the database through its driver: executemany, many-row INSERTs, binary COPY.

Everything runs on the caller's connection, so in its transaction: a batch's ticks commit
with its alerts and rule state or not at all. ``insert_ticks`` picks the way for each
listing's ticks by their number and the database; none makes a Python object per tick
beyond what the driver itself needs, and a driver's error is raised as SQLAlchemy raises
it, so the store turns it into a ``StorageError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.core.model import Tick
from tracker.store import tables as t

if TYPE_CHECKING:
    from tracker.core.batch import TickArrays

TICK_COLUMNS = "listing_id, ts_us, seq, price, volume, turnover"
# A listing's ticks from which a many-row INSERT (SQLite) or a COPY (PostgreSQL) stores
# them faster than an executemany (measured: at 8 rows in 60% and 50% of its time; a
# single tick as fast either way). Fewer, as a poll's, share one executemany.
BULK_ROWS = 8
ROWS_PER_INSERT = 250  # rows one SQLite INSERT writes: binding and stepping per row costs more

_INSERT_TICKS = t.ticks.insert()  # built once (a statement built anew costs its cache key)
_DRIVER_SQL: dict[tuple[Any, Any, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}


def insert_ticks(connection: Connection, batches: Iterable[tuple[str, TickArrays]]) -> None:
    """Insert listings' ticks, ``(listing id, ticks)``, the fastest way for their number."""
    bulk = _BULK.get(connection.dialect.name)
    rows: list[dict[str, Any]] = []
    for listing_id, ticks in batches:
        if bulk is not None and len(ticks) >= BULK_ROWS:
            bulk(connection, listing_id, ticks)
        else:
            rows += [tick_row(listing_id, tick) for tick in ticks.to_ticks()]
    if rows:
        execute_rows(connection, _INSERT_TICKS, rows)


def tick_row(listing_id: str, tick: Tick) -> dict[str, Any]:
    """A tick as a row of the ``ticks`` table."""
    return {
        "listing_id": listing_id,
        "ts_us": tick.ts_us,
        "seq": tick.seq,
        "price": tick.price,
        "volume": tick.volume,
        "turnover": tick.turnover,
    }


def execute_rows(connection: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Execute a statement for each row, in the connection's transaction.

    On SQLite and PostgreSQL through the driver's ``executemany`` of the statement compiled
    once: SQLAlchemy's own work for an execution (0.1-0.2 ms) is more than the statement
    takes for the few rows of a poll, which a daemon polling many listings pays for each
    of a commit's statements. Other databases get ``connection.execute``.
    """
    dialect = connection.dialect
    if dialect.name not in ("sqlite", "postgresql"):
        connection.execute(statement, rows)
        return
    key = (dialect, statement, tuple(rows[0]))  # the engine's dialect: its own settings
    known = _DRIVER_SQL.get(key)
    if known is None:
        compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
        known = (compiled.string, compiled.positiontup if compiled.positional else None)
        _DRIVER_SQL[key] = known
    sql, names = known
    params: list[Any] = rows if names is None else [tuple(row[n] for n in names) for row in rows]
    cursor = _cursor(connection)
    try:
        cursor.executemany(sql, params)
    except dialect.loaded_dbapi.Error as exc:
        raise _driver_error(connection, cursor, exc, sql, params) from exc
    finally:
        cursor.close()


def _cursor(connection: Connection) -> Any:
    """A cursor of the driver itself, on the connection (and in its transaction)."""
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _driver_error(
    connection: Connection, cursor: Any, exc: Any, sql: str, params: Any
) -> sa.exc.StatementError:
    """A driver's error (``exc``) as SQLAlchemy's own execution raises it: its error type,
    with the connection dropped when it is lost."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
    if lost:
        connection.invalidate(exc)
    error: sa.exc.StatementError = sa.exc.DBAPIError.instance(
        sql,
        params,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
        ismulti=True,
    )
    return error


def sqlite_insert(listing_id: str, volume: bool, turnover: bool, rows: int) -> str:
    """The INSERT of ``rows`` ticks that binds only what varies per tick.

    The listing id is written in as a literal and an absent column as NULL: binding
    a text per row costs SQLite's driver as much as the rest of the row.
    """
    key = "'" + listing_id.replace("'", "''") + "'"
    values = [key, "?", "?", "?", "?" if volume else "NULL", "?" if turnover else "NULL"]
    row = f"({', '.join(values)})"
    return f"INSERT INTO ticks ({TICK_COLUMNS}) VALUES {', '.join([row] * rows)}"


def _insert_sqlite(connection: Connection, listing_id: str, ticks: TickArrays) -> None:
    """Insert ``ROWS_PER_INSERT`` rows a statement through the driver (a NaN binds as NULL).

    A statement of many rows binds the same values as many statements of one, but
    SQLite steps once per statement: half the time of a row-a-statement executemany.
    """
    columns = [ticks.ts_us.tolist(), ticks.seq.tolist(), ticks.price.tolist()]
    columns += [] if ticks.volume is None else [ticks.volume.tolist()]
    columns += [] if ticks.turnover is None else [ticks.turnover.tolist()]
    width, n = len(columns), len(ticks)
    values: list[Any] = [None] * (width * n)  # row after row
    for i, column in enumerate(columns):
        values[i::width] = column
    driver: Any = connection.connection.driver_connection
    if isinstance(driver, sqlite3.Connection):
        limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # values a statement binds
    else:  # another SQLite driver: the least limit SQLite has had
        limit = 999
    per = max(1, min(ROWS_PER_INSERT, limit // width))
    whole = n - n % per
    has = (ticks.volume is not None, ticks.turnover is not None)
    statement = sqlite_insert(listing_id, *has, rows=per)
    cursor = _cursor(connection)
    try:
        if whole:
            # one iterator taken per * width at a time: whole statements, the rest left over
            groups = zip(*[iter(values)] * (per * width), strict=False)
            cursor.executemany(statement, groups)
        if n > whole:
            cursor.execute(sqlite_insert(listing_id, *has, rows=n - whole), values[whole * width :])
    except connection.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(connection, cursor, exc, statement, None) from exc
    finally:
        cursor.close()


def _copy_postgresql(connection: Connection, listing_id: str, ticks: TickArrays) -> None:
    """``COPY`` the ticks in PostgreSQL's binary format (``tracker.store.pgcopy``)."""
    # numpy: loaded by whoever made the columns; here so that importing the store does not
    from tracker.store.pgcopy import binary_copy

    statement = f"COPY ticks ({TICK_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    cursor = _cursor(connection)
    try:
        with cursor.copy(statement) as copy:
            copy.write(binary_copy(listing_id, ticks))
    except connection.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(connection, cursor, exc, statement, None) from exc
    finally:
        cursor.close()


_BULK: dict[str, Callable[[Connection, str, TickArrays], None]] = {
    "sqlite": _insert_sqlite,
    "postgresql": _copy_postgresql,
}

"""Bulk insertion of tick columns: the replay path's way into the ``ticks`` table.

SQLite gets the driver's ``executemany`` of many-row INSERTs and PostgreSQL a binary
``COPY``, both on the connection (and so in the transaction) of the caller, so a
chunk's ticks commit with its alerts and rule state or not at all. Neither makes a
Python object per tick beyond what the driver itself needs.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from tracker.core.batch import TickArrays

TICK_COLUMNS = "listing_id, ts_us, seq, price, volume, turnover"


def insert_ticks(connection: Connection, listing_id: str, ticks: TickArrays) -> None:
    """Insert a listing's ticks on ``connection`` the fastest way its database has."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        _insert_sqlite(connection, listing_id, ticks)
    elif dialect == "postgresql":
        _copy_postgresql(connection, listing_id, ticks)
    else:  # any other database SQLAlchemy speaks: its own executemany
        from tracker.store.repository import tick_row
        from tracker.store.tables import ticks as table

        rows = [tick_row(listing_id, tick) for tick in ticks.to_ticks()]
        connection.execute(table.insert(), rows)


ROWS_PER_INSERT = 250  # rows one SQLite INSERT writes: binding and stepping per row costs more


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
    cursor = driver.cursor()
    try:
        if whole:
            # one iterator taken per * width at a time: whole statements, the rest left over
            groups = zip(*[iter(values)] * (per * width), strict=False)
            cursor.executemany(sqlite_insert(listing_id, *has, rows=per), groups)
        if n > whole:
            cursor.execute(sqlite_insert(listing_id, *has, rows=n - whole), values[whole * width :])
    finally:
        cursor.close()


def _copy_postgresql(connection: Connection, listing_id: str, ticks: TickArrays) -> None:
    """``COPY`` the ticks in PostgreSQL's binary format, laid out by numpy (no per-row Python)."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY ticks ({TICK_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(binary_copy(listing_id, ticks))
    finally:
        cursor.close()


def binary_copy(listing_id: str, ticks: TickArrays) -> bytes:
    """The whole ``COPY ... (FORMAT BINARY)`` stream of a listing's ticks: header, tuples, trailer.

    Each tuple is 6 fields, each a big-endian length then the value; a NULL is length
    -1 with no value, so rows are laid out in groups by which of volume and turnover
    they have, and the groups keep the ticks' order only within themselves (the table
    is keyed, so the order of a COPY's rows does not matter).
    """
    key = listing_id.encode()
    n = len(ticks)
    volume = _present(ticks.volume, n)
    turnover = _present(ticks.turnover, n)
    parts = [b"PGCOPY\n\xff\r\n\x00", np.array([0, 0], ">i4").tobytes()]
    for has_volume in (True, False):
        for has_turnover in (True, False):
            rows = np.flatnonzero((volume == has_volume) & (turnover == has_turnover))
            if len(rows):
                parts.append(_binary_rows(ticks, rows, key, has_volume, has_turnover))
    parts.append(np.array([-1], ">i2").tobytes())
    return b"".join(parts)


def _present(values: NDArray[np.float64] | None, n: int) -> NDArray[np.bool_]:
    """Which rows have a value in an optional column (NaN or no column: none)."""
    return np.zeros(n, bool) if values is None else ~np.isnan(values)


def _binary_rows(
    ticks: TickArrays, rows: NDArray[np.intp], key: bytes, has_volume: bool, has_turnover: bool
) -> bytes:
    """Tuples of PostgreSQL's binary COPY format for the chosen rows, as one block of bytes."""
    fields: list[tuple[str, str]] = [
        ("count", ">i2"),
        ("key_length", ">i4"),
        ("key", f"S{len(key)}"),
        ("ts_length", ">i4"),
        ("ts", ">i8"),
        ("seq_length", ">i4"),
        ("seq", ">i4"),
        ("price_length", ">i4"),
        ("price", ">f8"),
        ("volume_length", ">i4"),
    ]
    fields += [("volume", ">f8")] if has_volume else []
    fields += [("turnover_length", ">i4")]
    fields += [("turnover", ">f8")] if has_turnover else []
    block: NDArray[Any] = np.empty(len(rows), dtype=np.dtype(fields))
    block["count"] = 6
    block["key_length"], block["key"] = len(key), key
    block["ts_length"], block["ts"] = 8, ticks.ts_us[rows]
    block["seq_length"], block["seq"] = 4, ticks.seq[rows]
    block["price_length"], block["price"] = 8, ticks.price[rows]
    block["volume_length"] = 8 if has_volume else -1
    block["turnover_length"] = 8 if has_turnover else -1
    if has_volume:
        assert ticks.volume is not None
        block["volume"] = ticks.volume[rows]
    if has_turnover:
        assert ticks.turnover is not None
        block["turnover"] = ticks.turnover[rows]
    return block.tobytes()

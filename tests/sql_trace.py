"""The statements a SQLite engine's driver runs, grouped by transaction (SQLite's own trace)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa


@contextmanager
def transactions(engine: sa.Engine) -> Iterator[list[list[str]]]:
    """While inside: every statement the driver runs, a list per transaction (commit-ended).

    Pooled connections are dropped first, so each new one is traced from its first
    statement; statements the driver runs on its own (``BEGIN``) are in the trace too.
    """
    traced: list[list[str]] = [[]]

    def statement(sql: str) -> None:
        if sql.strip().upper() == "COMMIT":
            traced.append([])
        else:
            traced[-1].append(sql)

    def connected(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(statement)

    engine.dispose()
    sa.event.listen(engine, "connect", connected)
    try:
        yield traced
    finally:
        sa.event.remove(engine, "connect", connected)
        engine.dispose()  # no traced connection goes back to the pool

"""Reading and writing ticks, alerts, deliveries and rule state in one database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tracker.core.model import Listing, ListingState, RuleState, Tick
from tracker.store import tables as t
from tracker.store.engine import storage_error

PENDING, DELIVERED = "pending", "delivered"
_ALERT_COLUMNS = (
    t.alerts.c.alert_id,
    t.alerts.c.listing_id,
    t.alerts.c.rule_id,
    t.alerts.c.ts_us,
    t.alerts.c.seq,
    t.alerts.c.record,
)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert record as stored: its id, listing and JSON text."""

    alert_id: str
    listing_id: str
    rule_id: str
    ts_us: int
    seq: int
    record: str


class SqlStore:
    """The tracker's database: one instance per engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise storage_error(self.engine, exc) from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise storage_error(self.engine, exc) from exc

    def save_listing(self, listing: Listing) -> None:
        """Record (or update) a listing's identity and figures."""
        values = {
            "id": listing.id,
            "symbol": listing.symbol,
            "name": listing.name,
            "calendar": listing.calendar,
            "currency": listing.currency,
            "offer_price": listing.offer_price,
            "shares_outstanding": listing.shares_outstanding,
        }
        with self._transaction() as connection:
            _upsert(connection, t.listings, [values], ["id"])

    def load_state(self, listing_id: str) -> ListingState:
        """The listing's high-water mark and rule states, fresh when nothing is stored."""
        with self._read() as connection:
            mark = connection.execute(
                sa.select(t.listing_state.c.last_ts_us, t.listing_state.c.last_seq).where(
                    t.listing_state.c.listing_id == listing_id
                )
            ).first()
            rows = connection.execute(
                sa.select(t.rule_state.c.rule_id, t.rule_state.c.level, t.rule_state.c.armed).where(
                    t.rule_state.c.listing_id == listing_id
                )
            ).all()
        rules = {(r.rule_id, r.level): RuleState(r.rule_id, r.level, bool(r.armed)) for r in rows}
        if mark is None:
            return ListingState(rules=rules)
        return ListingState(mark.last_ts_us, mark.last_seq, rules)

    def commit_batch(
        self,
        listing_id: str,
        ticks: Sequence[Tick],
        alerts: Sequence[StoredAlert],
        state: ListingState,
        sinks: Sequence[str],
    ) -> None:
        """Store ticks, their alerts (pending for every sink) and the new state atomically."""
        with self._transaction() as connection:
            if ticks:
                connection.execute(
                    t.ticks.insert(),
                    [
                        {
                            "listing_id": listing_id,
                            "ts_us": tick.ts_us,
                            "seq": tick.seq,
                            "price": tick.price,
                            "volume": tick.volume,
                            "turnover": tick.turnover,
                        }
                        for tick in ticks
                    ],
                )
            if alerts:
                connection.execute(
                    t.alerts.insert(),
                    [
                        {
                            "alert_id": alert.alert_id,
                            "listing_id": alert.listing_id,
                            "rule_id": alert.rule_id,
                            "ts_us": alert.ts_us,
                            "seq": alert.seq,
                            "record": alert.record,
                        }
                        for alert in alerts
                    ],
                )
                deliveries = [
                    {"alert_id": alert.alert_id, "sink": sink, "state": PENDING, "attempts": 0}
                    for alert in alerts
                    for sink in sinks
                ]
                if deliveries:
                    connection.execute(t.deliveries.insert(), deliveries)
            _upsert(
                connection,
                t.listing_state,
                [
                    {
                        "listing_id": listing_id,
                        "last_ts_us": state.last_ts_us,
                        "last_seq": state.last_seq,
                    }
                ],
                ["listing_id"],
            )
            if state.rules:
                _upsert(
                    connection,
                    t.rule_state,
                    [
                        {
                            "listing_id": listing_id,
                            "rule_id": r.rule_id,
                            "level": r.level,
                            "armed": r.armed,
                        }
                        for r in state.rules.values()
                    ],
                    ["listing_id", "rule_id", "level"],
                )

    def pending_alerts(self, sink: str) -> list[StoredAlert]:
        """Alerts not yet delivered to a sink, in the order they were stored."""
        query = (
            sa.select(*_ALERT_COLUMNS)
            .join(t.deliveries, t.deliveries.c.alert_id == t.alerts.c.alert_id)
            .where(t.deliveries.c.sink == sink, t.deliveries.c.state == PENDING)
            .order_by(t.alerts.c.id)
        )
        with self._read() as connection:
            return [StoredAlert(*row) for row in connection.execute(query)]

    def mark_delivered(self, sink: str, alert_ids: Sequence[str]) -> None:
        """Record that a sink has these alerts."""
        if not alert_ids:
            return
        with self._transaction() as connection:
            connection.execute(
                t.deliveries.update()
                .where(t.deliveries.c.sink == sink, t.deliveries.c.alert_id.in_(alert_ids))
                .values(state=DELIVERED, attempts=t.deliveries.c.attempts + 1)
            )

    def alerts(
        self, listing_id: str | None = None, since_us: int | None = None
    ) -> list[StoredAlert]:
        """Stored alerts in firing order, optionally of one listing and from an instant on."""
        query = sa.select(*_ALERT_COLUMNS).order_by(t.alerts.c.id)
        if listing_id is not None:
            query = query.where(t.alerts.c.listing_id == listing_id)
        if since_us is not None:
            query = query.where(t.alerts.c.ts_us >= since_us)
        with self._read() as connection:
            return [StoredAlert(*row) for row in connection.execute(query)]

    def ticks(
        self, listing_id: str, start_us: int | None = None, end_us: int | None = None
    ) -> list[Tick]:
        """A listing's stored ticks in (ts, seq) order, within [start, end) when given."""
        c = t.ticks.c
        query = (
            sa.select(c.ts_us, c.seq, c.price, c.volume, c.turnover)
            .where(c.listing_id == listing_id)
            .order_by(c.ts_us, c.seq)
        )
        if start_us is not None:
            query = query.where(c.ts_us >= start_us)
        if end_us is not None:
            query = query.where(c.ts_us < end_us)
        with self._read() as connection:
            return [Tick(*row) for row in connection.execute(query)]

    def count(self, table: str, listing_id: str | None = None) -> int:
        """How many rows a table holds, optionally for one listing."""
        source = t.metadata.tables[table]
        query = sa.select(sa.func.count()).select_from(source)
        if listing_id is not None:
            query = query.where(source.c.listing_id == listing_id)
        with self._read() as connection:
            return int(connection.execute(query).scalar_one())


def _upsert(
    connection: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Insert rows, updating the non-key columns of rows whose keys exist."""
    dialect = connection.dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite if dialect == "sqlite" else None
    if module is None:
        for row in rows:
            where = sa.and_(*(table.c[k] == row[k] for k in keys))
            updated = connection.execute(table.update().where(where).values(row)).rowcount
            if not updated:
                connection.execute(table.insert().values(row))
        return
    statement = module.insert(table)
    updates = {col: statement.excluded[col] for col in rows[0] if col not in keys}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), rows)

"""Reading and writing ticks, alerts, deliveries and rule state in one database."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tracker.core.model import Extremes, Listing, ListingState, RuleState, StoredAlert, Tick
from tracker.store import HEARTBEAT_MAX_AGE_S
from tracker.store import tables as t
from tracker.store.bulk import execute_rows, insert_ticks
from tracker.store.deliveries import LOG_SINK, PENDING
from tracker.store.engine import checkpoint, defer_checkpoints, read_connection, storage_error

if TYPE_CHECKING:
    from tracker.core.batch import TickArrays

# The states of an alert's delivery to a sink (the outbox: tracker/store/deliveries.py).
_ALERT_COLUMNS = (
    t.alerts.c.alert_id,
    t.alerts.c.listing_id,
    t.alerts.c.rule_id,
    t.alerts.c.ts_us,
    t.alerts.c.seq,
    t.alerts.c.record,
)


@dataclass(frozen=True, slots=True)
class PollerState:
    """What a listing's poller must remember across restarts.

    ``failing_since_us`` and ``down_notified`` are of the source in use, ``source`` (its
    position among the listing's sources); ``stale_notified``: a "stale" notice went out
    and no "fresh" one yet.
    """

    last_poll_us: int | None = None
    failing_since_us: int | None = None
    down_notified: bool = False
    source: int = 0
    stale_notified: bool = False


@dataclass(frozen=True, slots=True)
class SourceDay:
    """A provider's own figures of a listing's trading day, as of a trade (``ts_us``)."""

    listing_id: str
    day: dt.date
    provider: str
    ts_us: int
    open: float | None
    high: float | None
    low: float | None
    prev_close: float | None


@dataclass(frozen=True, slots=True)
class BatchRows:
    """What one listing's batch writes: new ticks, their alerts, the state after.

    Of the rule states only those that differ from ``previous`` (the state last
    committed) are written; ``poller`` (a live poll's own state) and ``source_day`` (its
    provider's day figures, when they changed) go with them.
    """

    listing_id: str
    ticks: TickArrays
    alerts: Sequence[StoredAlert]
    state: ListingState
    previous: ListingState | None = None
    poller: PollerState | None = None
    source_day: SourceDay | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A daemon's last sign of life: wall time and its clock's time (epoch microseconds)."""

    name: str
    wall_us: int
    clock_us: int
    pid: int
    detail: str | None

    def running(self, wall_s: float, max_age_s: float = HEARTBEAT_MAX_AGE_S) -> bool:
        """Whether the daemon still runs at wall time ``wall_s``: not stopped, beat lately."""
        return self.detail != "stopped" and wall_s - self.wall_us / 1e6 <= max_age_s


@dataclass(frozen=True, slots=True)
class Silence:
    """A listing, or one of its rules, silenced for the alerts of ticks in [from, until).

    ``from_us`` and ``until_us`` are event time, as cooldowns and expiry are: a replayed
    day is silenced as the live day was. ``created_us`` is the wall time it was made.
    """

    id: int
    listing_id: str
    rule_id: str | None
    until_us: int
    created_us: int
    reason: str | None
    from_us: int | None

    def covers(self, rule_id: str, ts_us: int) -> bool:
        """Whether this silence mutes an alert of ``rule_id`` at the instant ``ts_us``."""
        return (
            (self.rule_id is None or self.rule_id == rule_id)
            and (self.from_us is None or self.from_us <= ts_us)
            and ts_us < self.until_us
        )


class SqlStore:
    """The tracker's database: one instance per engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        """Close the store's connections."""
        self.engine.dispose()

    def defer_checkpoints(self) -> bool:
        """Leave a SQLite file's WAL checkpoints to ``checkpoint``; whether it does now."""
        return defer_checkpoints(self.engine)

    def checkpoint(self) -> None:
        """Copy the WAL into a SQLite file now (nothing to do for other databases)."""
        checkpoint(self.engine)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise storage_error(self.engine, exc) from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read_connection(self.engine) as connection:
            yield connection

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
                sa.select(t.listing_state).where(t.listing_state.c.listing_id == listing_id)
            ).first()
            rows = connection.execute(
                sa.select(t.rule_state).where(t.rule_state.c.listing_id == listing_id)
            ).all()
        rules = {
            (r.rule_id, r.level): RuleState(r.rule_id, r.level, bool(r.armed), r.last_fired_us)
            for r in rows
        }
        if mark is None:
            return ListingState(rules=rules)
        extremes = None
        if mark.extremes_ts_us is not None:
            extremes = Extremes(mark.extremes_ts_us, mark.day_high, mark.day_low)
        return ListingState(
            mark.last_ts_us,
            mark.last_seq,
            rules,
            extremes,
            mark.last_price,
            mark.day_open,
            mark.prev_close,
        )

    def commit(self, batches: Sequence[BatchRows], sinks: Sequence[str]) -> None:
        """Store listings' batches in one transaction: ticks, alerts pending for every sink, state.

        Ticks go the fastest way their number and the database have
        (``tracker.store.bulk.insert_ticks``), the rest a statement a table for all.
        """
        if not batches:
            return
        with self._transaction() as connection:
            insert_ticks(connection, [(batch.listing_id, batch.ticks) for batch in batches])
            alerts = [alert for batch in batches for alert in batch.alerts]
            if alerts:
                _insert_alerts(connection, alerts, sinks)
            _save_states(connection, [(batch.listing_id, batch.state) for batch in batches])
            _save_rule_states(connection, batches)
            pollers = [(batch.listing_id, batch.poller) for batch in batches if batch.poller]
            if pollers:
                _save_pollers(connection, pollers)
            days = [batch.source_day for batch in batches if batch.source_day is not None]
            if days:
                _save_source_days(connection, days)

    def add_alerts(self, alerts: Sequence[StoredAlert], sinks: Sequence[str]) -> None:
        """Store notices that come with no tick (a source down or back), pending for every sink."""
        with self._transaction() as connection:
            _insert_alerts(connection, alerts, sinks)

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
        self,
        listing_id: str,
        start_us: int | None = None,
        end_us: int | None = None,
        *,
        after: tuple[int, int] | None = None,
        limit: int | None = None,
    ) -> list[Tick]:
        """A listing's stored ticks in (ts, seq) order, within [start, end) when given.

        ``after`` a ``(ts_us, seq)`` key: only the ticks after it, and at most ``limit``:
        a page read by key, one index seek to the cursor (no OFFSET).
        """
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
        if after is not None:
            ts_us, seq = after
            # the first term gives every database a plain range on the key's leading column
            query = query.where(c.ts_us >= ts_us, sa.tuple_(c.ts_us, c.seq) > sa.tuple_(ts_us, seq))
        if limit is not None:
            query = query.limit(limit)
        with self._read() as connection:
            return [Tick(*row) for row in connection.execute(query)]

    def last_tick(self, listing_id: str, before_us: int | None = None) -> Tick | None:
        """A listing's latest stored tick (before an instant, when given)."""
        c = t.ticks.c
        query = self._one_tick(listing_id, c.ts_us.desc(), c.seq.desc())
        if before_us is not None:
            query = query.where(c.ts_us < before_us)
        with self._read() as connection:
            row = connection.execute(query).first()
        return Tick(*row) if row else None

    def first_tick(self, listing_id: str, start_us: int, end_us: int) -> Tick | None:
        """A listing's earliest stored tick in ``[start_us, end_us)``."""
        c = t.ticks.c
        query = self._one_tick(listing_id, c.ts_us, c.seq)
        query = query.where(c.ts_us >= start_us, c.ts_us < end_us)
        with self._read() as connection:
            row = connection.execute(query).first()
        return Tick(*row) if row else None

    @staticmethod
    def _one_tick(listing_id: str, *order: Any) -> sa.Select[Any]:
        c = t.ticks.c
        return (
            sa.select(c.ts_us, c.seq, c.price, c.volume, c.turnover)
            .where(c.listing_id == listing_id)
            .order_by(*order)
            .limit(1)
        )

    def totals(self, listing_id: str, start_us: int, end_us: int) -> tuple[float, float]:
        """Volume and turnover of a listing's stored ticks in [start, end)."""
        c = t.ticks.c
        query = sa.select(
            sa.func.coalesce(sa.func.sum(c.volume), 0), sa.func.coalesce(sa.func.sum(c.turnover), 0)
        ).where(c.listing_id == listing_id, c.ts_us >= start_us, c.ts_us < end_us)
        with self._read() as connection:
            volume, turnover = connection.execute(query).one()
        return float(volume), float(turnover)

    def load_poller(self, listing_id: str) -> PollerState:
        """A listing's poller state; fresh when it was never polled."""
        c = t.pollers.c
        query = sa.select(
            c.last_poll_us, c.failing_since_us, c.down_notified, c.source, c.stale_notified
        ).where(c.listing_id == listing_id)
        with self._read() as connection:
            row = connection.execute(query).first()
        if row is None:
            return PollerState()
        return PollerState(row[0], row[1], bool(row[2]), int(row[3]), bool(row[4]))

    def source_day(self, listing_id: str, day: dt.date) -> SourceDay | None:
        """A provider's figures of a listing's day, as of its last poll that day, if any."""
        c = t.source_days.c
        query = sa.select(c.provider, c.ts_us, c.open, c.high, c.low, c.prev_close).where(
            c.listing_id == listing_id, c.day == day.isoformat()
        )
        with self._read() as connection:
            row = connection.execute(query).first()
        return None if row is None else SourceDay(listing_id, day, *row)

    def save_poller(self, listing_id: str, state: PollerState) -> None:
        """Remember a listing's poller state."""
        self.save_pollers([(listing_id, state)])

    def save_pollers(self, states: Sequence[tuple[str, PollerState]]) -> None:
        """Remember several listings' poller states, in one transaction."""
        if states:
            with self._transaction() as connection:
                _save_pollers(connection, states)

    def beat(self, heartbeat: Heartbeat) -> None:
        """Record a daemon's heartbeat."""
        values = {
            "name": heartbeat.name,
            "wall_us": heartbeat.wall_us,
            "clock_us": heartbeat.clock_us,
            "pid": heartbeat.pid,
            "detail": heartbeat.detail,
        }
        with self._transaction() as connection:
            _upsert(connection, t.heartbeats, [values], ["name"])

    def heartbeats(self) -> list[Heartbeat]:
        """Every daemon's last heartbeat."""
        with self._read() as connection:
            rows = connection.execute(sa.select(t.heartbeats).order_by(t.heartbeats.c.name))
            return [Heartbeat(*row) for row in rows]

    def add_silence(
        self,
        listing_id: str,
        rule_id: str | None,
        until_us: int,
        created_us: int,
        reason: str | None,
        from_us: int | None = None,
    ) -> int:
        """Silence a listing (or one rule) for ticks from ``from_us`` (None: any time before)
        until ``until_us``, in event time; return the silence's id."""
        values = {
            "listing_id": listing_id,
            "rule_id": rule_id,
            "until_us": until_us,
            "created_us": created_us,
            "reason": reason,
            "from_us": from_us,
        }
        with self._transaction() as connection:
            inserted = connection.execute(
                t.silences.insert().values(values).returning(t.silences.c.id)
            )
            return int(inserted.scalar_one())

    def silences(self, listing_id: str | None = None, at_us: int | None = None) -> list[Silence]:
        """Silences, optionally of one listing, and covering an instant (event time)."""
        c = t.silences.c
        query = sa.select(
            c.id, c.listing_id, c.rule_id, c.until_us, c.created_us, c.reason, c.from_us
        ).order_by(c.id)
        if listing_id is not None:
            query = query.where(c.listing_id == listing_id)
        if at_us is not None:
            query = query.where(sa.or_(c.from_us.is_(None), c.from_us <= at_us), c.until_us > at_us)
        with self._read() as connection:
            return [Silence(*row) for row in connection.execute(query)]

    def remove_silence(self, silence_id: int) -> bool:
        """End a silence; False when there was none with that id."""
        with self._transaction() as connection:
            deleted = connection.execute(t.silences.delete().where(t.silences.c.id == silence_id))
            return bool(deleted.rowcount)

    def count(self, table: str, listing_id: str | None = None) -> int:
        """How many rows a table holds, optionally for one listing."""
        source = t.metadata.tables[table]
        query = sa.select(sa.func.count()).select_from(source)
        if listing_id is not None:
            query = query.where(source.c.listing_id == listing_id)
        with self._read() as connection:
            return int(connection.execute(query).scalar_one())


# Built once: the inserts of every poll's commit (a statement built anew costs its cache key).
_INSERT_ALERTS = t.alerts.insert().inline()  # no id fetched back (no RETURNING on PostgreSQL)
_INSERT_DELIVERIES = t.deliveries.insert()


def _insert_alerts(
    connection: Connection, alerts: Sequence[StoredAlert], sinks: Sequence[str]
) -> None:
    execute_rows(
        connection,
        _INSERT_ALERTS,
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
        if not alert.silenced or sink == LOG_SINK
    ]
    if deliveries:
        execute_rows(connection, _INSERT_DELIVERIES, deliveries)


def _upsert(
    connection: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Insert rows, updating the non-key columns of rows whose keys exist."""
    dialect = connection.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        for row in rows:
            where = sa.and_(*(table.c[k] == row[k] for k in keys))
            updated = connection.execute(table.update().where(where).values(row)).rowcount
            if not updated:
                connection.execute(table.insert().values(row))
        return
    execute_rows(connection, _upsert_statement(dialect, table, tuple(keys), tuple(rows[0])), rows)


@functools.cache
def _upsert_statement(
    dialect: str, table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` of the other columns, built once."""
    module: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module
    else:
        from sqlalchemy.dialects import sqlite as module
    statement = module.insert(table)
    updates = {col: statement.excluded[col] for col in columns if col not in keys}
    return statement.on_conflict_do_update(index_elements=list(keys), set_=updates)


def _save_pollers(connection: Connection, states: Sequence[tuple[str, PollerState]]) -> None:
    rows = [
        {
            "listing_id": listing_id,
            "last_poll_us": state.last_poll_us,
            "failing_since_us": state.failing_since_us,
            "down_notified": state.down_notified,
            "source": state.source,
            "stale_notified": state.stale_notified,
        }
        for listing_id, state in states
    ]
    _upsert(connection, t.pollers, rows, ["listing_id"])


def _save_source_days(connection: Connection, days: Sequence[SourceDay]) -> None:
    rows = [
        {
            "listing_id": day.listing_id,
            "day": day.day.isoformat(),
            "provider": day.provider,
            "ts_us": day.ts_us,
            "open": day.open,
            "high": day.high,
            "low": day.low,
            "prev_close": day.prev_close,
        }
        for day in days
    ]
    _upsert(connection, t.source_days, rows, ["listing_id", "day"])


def _save_states(connection: Connection, states: Sequence[tuple[str, ListingState]]) -> None:
    """Listings' high-water marks, day context and last seen day figures."""
    rows: list[dict[str, Any]] = []
    for listing_id, state in states:
        extremes = state.extremes
        rows.append(
            {
                "listing_id": listing_id,
                "last_ts_us": state.last_ts_us,
                "last_seq": state.last_seq,
                "extremes_ts_us": extremes.ts_us if extremes else None,
                "day_high": extremes.high if extremes else None,
                "day_low": extremes.low if extremes else None,
                "last_price": state.last_price,
                "day_open": state.day_open,
                "prev_close": state.prev_close,
            }
        )
    _upsert(connection, t.listing_state, rows, ["listing_id"])


def _save_rule_states(connection: Connection, batches: Sequence[BatchRows]) -> None:
    """The rule states of batches that differ from those stored before them."""
    rows: list[dict[str, Any]] = []
    for batch in batches:
        known = batch.previous.rules if batch.previous is not None else {}
        rows.extend(
            {
                "listing_id": batch.listing_id,
                "rule_id": rule.rule_id,
                "level": rule.level,
                "armed": rule.armed,
                "last_fired_us": rule.last_fired_us,
            }
            for key, rule in batch.state.rules.items()
            if known.get(key) != rule
        )
    if rows:
        _upsert(connection, t.rule_state, rows, ["listing_id", "rule_id", "level"])

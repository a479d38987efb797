"""The outbox's ledger: each alert's delivery to each sink (``alert_deliveries``).

A delivery is ``pending`` (with the wall time of its next attempt once one failed),
``delivered``, or ``dead`` (dead-lettered after the sink's last attempt).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tracker.core.model import StoredAlert
from tracker.store import tables as t
from tracker.store.engine import storage_error

__all__ = ["DEAD", "DELIVERED", "LOG_SINK", "PENDING", "SqlDeliveries"]
_CHUNK = 500  # ids per IN (...) list


PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"  # a delivery's states
LOG_SINK = "log"  # the one sink silenced alerts still go to


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A pending delivery whose time has come, with its alert."""

    alert: StoredAlert
    attempts: int
    redelivery: bool


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt: the reason, and the next attempt's wall time (None: dead-lettered)."""

    alert_id: str
    error: str
    next_attempt_us: int | None


class DeliveryState(NamedTuple):
    """Where one alert's delivery to one sink stands."""

    state: str
    attempts: int
    last_error: str | None
    next_attempt_us: int | None
    redelivery: bool


@dataclass(frozen=True, slots=True)
class Undelivered:
    """What a sink has not taken: pending deliveries (with the earliest wall time one
    waits for, None when none waits out a backoff, and an error) and dead letters."""

    pending: int
    dead: int
    next_attempt_us: int | None
    last_error: str | None


def _due_queries() -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The first waiting (not yet due) pending delivery of each listing, and the due ones."""
    d, a = t.deliveries.alias("d"), t.alerts.alias("a")
    pending = sa.and_(d.c.sink == sa.bindparam("sink"), d.c.state == PENDING)
    now_us = sa.bindparam("now_us", type_=sa.BigInteger())
    # the first waiting delivery of each listing: its later ones wait behind it
    waiting = (
        sa.select(a.c.listing_id, sa.func.min(a.c.id))
        .join(d, d.c.alert_id == a.c.alert_id)
        .where(pending, d.c.next_attempt_us > now_us)
        .group_by(a.c.listing_id)
    )
    due = (
        sa.select(
            a.c.alert_id,
            a.c.listing_id,
            a.c.rule_id,
            a.c.ts_us,
            a.c.seq,
            a.c.record,
            d.c.attempts,
            d.c.redelivery,
            a.c.id,
        )
        .join(d, d.c.alert_id == a.c.alert_id)
        .where(pending, sa.or_(d.c.next_attempt_us.is_(None), d.c.next_attempt_us <= now_us))
        .order_by(a.c.id)
    )
    return waiting, due


# Built once: the statements of the dispatcher's every pass.
_DUE_QUERIES = _due_queries()
_DELIVERED = (
    t.deliveries.update()
    .where(
        t.deliveries.c.sink == sa.bindparam("to_sink"),
        t.deliveries.c.alert_id.in_(sa.bindparam("ids", expanding=True)),
    )
    .values(
        state=DELIVERED,
        attempts=t.deliveries.c.attempts + 1,
        next_attempt_us=None,
        last_error=None,
    )
)


class SqlDeliveries:
    """Reads and records deliveries, in the same database as the alerts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _connect(self, write: bool = True) -> Iterator[Connection]:
        try:
            with self.engine.begin() if write else self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise storage_error(self.engine, exc) from exc

    def due(self, sink: str, now_us: int) -> list[DueDelivery]:
        """A sink's pending deliveries due by ``now_us``, in store order.

        A listing's pending delivery that is not due yet (it is waiting to be tried
        again) holds back the listing's later ones, so a sink gets each listing's
        alerts in order. Dead letters hold nothing back.
        """
        return self.pending(sink, now_us)[0]

    def pending(self, sink: str, now_us: int) -> tuple[list[DueDelivery], bool]:
        """``due``, and whether any of the sink's pending deliveries is left waiting."""
        waiting, query = _DUE_QUERIES
        values = {"sink": sink, "now_us": now_us}
        with self._connect(write=False) as connection:
            first_waiting = {row[0]: row[1] for row in connection.execute(waiting, values)}
            due = [
                DueDelivery(StoredAlert(*row[:6]), row.attempts, bool(row.redelivery))
                for row in connection.execute(query, values)
                if row.id < first_waiting.get(row.listing_id, row.id + 1)
            ]
        return due, bool(first_waiting)

    def delivered(self, sink: str, alert_ids: Sequence[str]) -> None:
        """Record that a sink has these alerts."""
        with self._connect() as connection:
            for start in range(0, len(alert_ids), _CHUNK):
                ids = list(alert_ids[start : start + _CHUNK])
                connection.execute(_DELIVERED, {"to_sink": sink, "ids": ids})

    def failed(self, sink: str, failures: Sequence[Failure]) -> None:
        """Record failed attempts: pending until their next attempt, or dead."""
        if not failures:
            return
        c = t.deliveries.c
        statement = (
            t.deliveries.update()
            .where(c.sink == sink, c.alert_id == sa.bindparam("failed_id"))
            .values(
                state=sa.bindparam("new_state"),
                attempts=c.attempts + 1,
                next_attempt_us=sa.bindparam("next_us"),
                last_error=sa.bindparam("error"),
            )
        )
        rows = [
            {
                "failed_id": f.alert_id,
                "new_state": PENDING if f.next_attempt_us is not None else DEAD,
                "next_us": f.next_attempt_us,
                "error": f.error[:2000],
            }
            for f in failures
        ]
        with self._connect() as connection:
            connection.execute(statement, rows)

    def redeliver(self, alert_id: str, sink: str | None = None) -> int:
        """Put an alert back to pending and due now, marked a redelivery; return how many sinks.

        Without ``sink`` dead letters and pending deliveries (waiting out a backoff) are
        sent again, as often as asked; a delivered alert is sent again only to the sink
        named (a chat or e-mail receiver cannot drop a repeat).
        """
        c = t.deliveries.c
        if sink is None:
            where = [c.alert_id == alert_id, c.state.in_([DEAD, PENDING])]
        else:
            where = [c.alert_id == alert_id, c.sink == sink]
        statement = (
            t.deliveries.update()
            .where(*where)
            .values(  # a pending delivery keeps its attempts (one may have got through)
                state=PENDING,
                attempts=sa.case((c.state == PENDING, c.attempts), else_=0),
                next_attempt_us=None,
                last_error=sa.case((c.state == PENDING, c.last_error), else_=None),
                redelivery=sa.case((c.state == PENDING, c.redelivery), else_=sa.true()),
            )
        )
        with self._connect() as connection:
            return int(connection.execute(statement).rowcount)

    def due_now(self, sink: str) -> None:
        """Make a sink's pending deliveries due now, their backoff cut short."""
        c = t.deliveries.c
        statement = (
            t.deliveries.update()
            .where(c.sink == sink, c.state == PENDING, c.next_attempt_us.is_not(None))
            .values(next_attempt_us=None)
        )
        with self._connect() as connection:
            connection.execute(statement)

    def states(self, alert_ids: Sequence[str] | None = None) -> dict[str, dict[str, DeliveryState]]:
        """Per alert id, per sink, where its delivery stands (every alert when ids is None)."""
        c = t.deliveries.c
        query = sa.select(
            c.alert_id, c.sink, c.state, c.attempts, c.last_error, c.next_attempt_us, c.redelivery
        ).order_by(c.alert_id, c.sink)
        chunks: list[Sequence[str] | None] = [None]
        if alert_ids is not None:
            chunks = [alert_ids[i : i + _CHUNK] for i in range(0, len(alert_ids), _CHUNK)]
        found: dict[str, dict[str, DeliveryState]] = {}
        with self._connect(write=False) as connection:
            for chunk in chunks:
                chosen = query if chunk is None else query.where(c.alert_id.in_(chunk))
                for row in connection.execute(chosen):
                    found.setdefault(row.alert_id, {})[row.sink] = DeliveryState(
                        row.state,
                        row.attempts,
                        row.last_error,
                        row.next_attempt_us,
                        bool(row.redelivery),
                    )
        return found

    def undelivered(self) -> dict[str, Undelivered]:
        """Per sink with anything pending or dead: how much, when next, and why."""
        c = t.deliveries.c
        query = (
            sa.select(
                c.sink,
                sa.func.sum(sa.case((c.state == PENDING, 1), else_=0)),
                sa.func.sum(sa.case((c.state == DEAD, 1), else_=0)),
                sa.func.min(sa.case((c.state == PENDING, c.next_attempt_us))),
                sa.func.max(sa.case((c.state == PENDING, c.last_error))),
            )
            .where(c.state.in_([PENDING, DEAD]))
            .group_by(c.sink)
            .order_by(c.sink)
        )
        with self._connect(write=False) as connection:
            return {
                sink: Undelivered(int(pending), int(dead), next_us, error)
                for sink, pending, dead, next_us, error in connection.execute(query)
            }

    def counts(self) -> dict[str, dict[str, int]]:
        """Per sink, how many deliveries are in each state."""
        c = t.deliveries.c
        query = sa.select(c.sink, c.state, sa.func.count()).group_by(c.sink, c.state)
        totals: dict[str, dict[str, int]] = {}
        with self._connect(write=False) as connection:
            for sink, state, count in connection.execute(query):
                totals.setdefault(sink, {})[state] = int(count)
        return totals

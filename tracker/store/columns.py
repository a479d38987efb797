"""A stored day in columns: each traded minute's prices, volume and turnover, worked out by SQL.

A report of a day of a million ticks needs none of them one by one. Its figures and
its chart come from each traded minute's tick count, first, lowest, highest and last
price (each with the instant it traded), volume and turnover: ``day_minutes`` has the
database work those out, one statement a traded minute along the ticks' key, so no
tick becomes a Python object. (A ``GROUP BY`` of a computed minute would have SQLite
sort every row first: half again the time.) ``DayMinutes.of_ticks`` works out the
same from tick columns already in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Engine

from tracker.core.metrics import DaySummary, PricePoint
from tracker.core.model import MICROS
from tracker.store import tables as t
from tracker.store.engine import read_connection

if TYPE_CHECKING:
    from tracker.core.batch import TickArrays

MINUTE_US = 60 * MICROS

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DayMinutes:
    """Each traded minute of a day, in time order: its ticks' count, prices, volume, turnover.

    ``start_us`` is the minute's start (epoch microseconds); ``low_us`` and ``high_us``
    the instants of its first tick at its low and at its high. ``volume`` and
    ``turnover`` are of the ticks with a volume (0 for none), the turnover price x
    volume for a tick without one; ``volumes`` and ``turnovers`` count the ticks that
    have each.
    """

    start_us: Ints
    ticks: Ints
    first_us: Ints
    first: Floats
    low_us: Ints
    low: Floats
    high_us: Ints
    high: Floats
    last_us: Ints
    last: Floats
    volume: Floats
    turnover: Floats
    volumes: Ints
    turnovers: Ints

    def __len__(self) -> int:
        return len(self.start_us)

    def path(self) -> tuple[Ints, Floats]:
        """The price line through each minute's first, low, high and last tick, in time order.

        It reaches every price the day's ticks reach, at the instants they reach them:
        drawn, the same envelope as a line through every tick. A point repeated (a
        minute's first tick at its low, say) is given once.
        """
        low_first = self.low_us <= self.high_us
        ts = np.column_stack(
            [
                self.first_us,
                np.where(low_first, self.low_us, self.high_us),
                np.where(low_first, self.high_us, self.low_us),
                self.last_us,
            ]
        ).ravel()
        prices = np.column_stack(
            [
                self.first,
                np.where(low_first, self.low, self.high),
                np.where(low_first, self.high, self.low),
                self.last,
            ]
        ).ravel()
        kept = np.ones(len(ts), dtype=bool)
        kept[1:] = (ts[1:] != ts[:-1]) | (prices[1:] != prices[:-1])
        return ts[kept], prices[kept]

    def summary(self) -> DaySummary:
        """The day's open, high, low, close, VWAP, volume and turnover (at least one minute).

        As ``tracker.core.metrics.summarize`` gives them from the ticks: the high and the
        low are the first ticks at the day's extremes; volume and turnover count only
        ticks with a volume, and are estimated when any tick lacks a turnover.
        """
        high, low = int(np.argmax(self.high)), int(np.argmin(self.low))
        ticks = int(self.ticks.sum())
        has_volume = bool(self.volumes.sum() > 0)
        volume = sum(self.volume.tolist(), 0.0)
        turnover = sum(self.turnover.tolist(), 0.0)
        return DaySummary(
            open=PricePoint(int(self.first_us[0]), float(self.first[0])),
            high=PricePoint(int(self.high_us[high]), float(self.high[high])),
            low=PricePoint(int(self.low_us[low]), float(self.low[low])),
            close=PricePoint(int(self.last_us[-1]), float(self.last[-1])),
            vwap=turnover / volume if has_volume and volume > 0 else None,
            volume=volume if has_volume else None,
            turnover=turnover if has_volume else None,
            ticks=ticks,
            turnover_estimated=has_volume and int(self.turnovers.sum()) < ticks,
        )

    @classmethod
    def of_ticks(cls, ticks: TickArrays) -> DayMinutes:
        """The minutes of tick columns (in (ts, seq) order, at least one tick)."""
        n = len(ticks)
        minute = ticks.ts_us // MINUTE_US
        starts = np.flatnonzero(np.concatenate([[True], minute[1:] != minute[:-1]]))
        counts = np.diff(np.append(starts, n))
        price = ticks.price
        low, high = np.minimum.reduceat(price, starts), np.maximum.reduceat(price, starts)
        index = np.arange(n)
        at_low = np.minimum.reduceat(np.where(price == np.repeat(low, counts), index, n), starts)
        at_high = np.minimum.reduceat(np.where(price == np.repeat(high, counts), index, n), starts)
        missing = np.full(n, np.nan)
        volume = missing if ticks.volume is None else ticks.volume
        turnover = missing if ticks.turnover is None else ticks.turnover
        has_volume, has_turnover = ~np.isnan(volume), ~np.isnan(turnover)
        traded = np.where(has_volume, volume, 0.0)
        paid = np.where(has_turnover, turnover, price * traded)
        lasts = starts + counts - 1
        return cls(
            start_us=minute[starts] * MINUTE_US,
            ticks=counts.astype(np.int64),
            first_us=ticks.ts_us[starts],
            first=price[starts],
            low_us=ticks.ts_us[at_low],
            low=low,
            high_us=ticks.ts_us[at_high],
            high=high,
            last_us=ticks.ts_us[lasts],
            last=price[lasts],
            volume=np.add.reduceat(traded, starts),
            turnover=np.add.reduceat(np.where(has_volume, paid, 0.0), starts),
            volumes=np.add.reduceat(has_volume.astype(np.int64), starts),
            turnovers=np.add.reduceat(has_turnover.astype(np.int64), starts),
        )


_FIELDS = tuple(field.name for field in fields(DayMinutes))
_INTS = ("start_us", "ticks", "first_us", "low_us", "high_us", "last_us", "volumes", "turnovers")


def day_minutes(engine: Engine, listing_id: str, start_us: int, end_us: int) -> DayMinutes | None:
    """The traded minutes of a listing's ticks in ``[start_us, end_us)``; None with no tick.

    One statement a traded minute: its aggregates over the key's range of the minute,
    and the instant of the next tick, where the next statement starts.
    """
    rows: list[Sequence[Any]] = []
    with read_connection(engine) as connection:
        at = connection.execute(
            _NEXT_TICK, {"listing": listing_id, "b": start_us, "end": end_us}
        ).scalar()
        while at is not None:
            minute = at - at % MINUTE_US
            bounds = {"listing": listing_id, "a": minute, "b": minute + MINUTE_US, "end": end_us}
            row = connection.execute(_MINUTE, bounds).one()
            rows.append((minute, *row[:-1]))
            at = row[-1]
    if not rows:
        return None
    columns = list(zip(*rows, strict=True))
    values: dict[str, Any] = {
        name: np.array(
            [0 if v is None else v for v in column],
            dtype=np.int64 if name in _INTS else np.float64,
        )
        for name, column in zip(_FIELDS, columns, strict=True)
    }
    return DayMinutes(**values)


def ticks_within(
    engine: Engine, listing_id: str, spans: Sequence[tuple[int, int]]
) -> tuple[int, int | None]:
    """How many of a listing's ticks fall in the half-open spans, and the first one's instant."""
    count, first = 0, None
    with read_connection(engine) as connection:
        for a, b in spans:
            found, earliest = connection.execute(
                _WITHIN, {"listing": listing_id, "a": a, "b": b}
            ).one()
            count += int(found)
            if earliest is not None and (first is None or earliest < first):
                first = int(earliest)
    return count, first


def _statements() -> tuple[Any, Any, Any]:
    """The statements, built once: a minute's figures, the next tick, the ticks in a span."""
    c, at = t.ticks.c, t.ticks.alias("at_tick").c
    listing = sa.bindparam("listing", type_=sa.String)
    a, b, end = (sa.bindparam(name, type_=sa.BigInteger) for name in ("a", "b", "end"))
    has_volume = c.volume.is_not(None)
    minute = (
        sa.select(
            sa.func.count().label("ticks"),
            sa.func.min(c.ts_us).label("first_us"),
            sa.func.min(c.price).label("low"),
            sa.func.max(c.price).label("high"),
            sa.func.max(c.ts_us).label("last_us"),
            sa.func.sum(c.volume).label("volume"),
            sa.func.sum(
                sa.case((has_volume, sa.func.coalesce(c.turnover, c.price * c.volume)))
            ).label("turnover"),
            sa.func.count(c.volume).label("volumes"),
            sa.func.count(c.turnover).label("turnovers"),
        )
        .where(c.listing_id == listing, c.ts_us >= a, c.ts_us < b)
        .subquery("minute")
    )
    m = minute.c

    def price_at(ts: Any, *order: Any) -> Any:
        query = sa.select(at.price).where(at.listing_id == listing, at.ts_us == ts)
        return query.order_by(*order).limit(1).scalar_subquery()

    def first_at(price: Any) -> Any:
        query = sa.select(at.ts_us).where(
            at.listing_id == listing,
            at.ts_us >= m.first_us,
            at.ts_us <= m.last_us,
            at.price == price,
        )
        return query.order_by(at.ts_us, at.seq).limit(1).scalar_subquery()

    next_tick = (
        sa.select(c.ts_us)
        .where(c.listing_id == listing, c.ts_us >= b, c.ts_us < end)
        .order_by(c.ts_us)
        .limit(1)
    )
    figures = sa.select(  # in the order of DayMinutes' fields, after start_us; the next tick
        m.ticks,
        m.first_us,
        price_at(m.first_us, at.seq),
        first_at(m.low),
        m.low,
        first_at(m.high),
        m.high,
        m.last_us,
        price_at(m.last_us, at.seq.desc()),
        m.volume,
        m.turnover,
        m.volumes,
        m.turnovers,
        next_tick.scalar_subquery(),
    ).select_from(minute)
    within = sa.select(sa.func.count(), sa.func.min(c.ts_us)).where(
        c.listing_id == listing, c.ts_us >= a, c.ts_us < b
    )
    return figures, next_tick, within


_MINUTE, _NEXT_TICK, _WITHIN = _statements()

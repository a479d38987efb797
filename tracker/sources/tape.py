"""Reading and validating recorded tapes (CSV or Parquet) per the tape contract.

A tape is refused whole (``InputError``) when it cannot be read, lacks a ``ts``
or ``price`` column or has no data rows. Otherwise every row is checked on its
own and a bad one becomes a ``BadRow`` naming ``FILE:LINE`` (CSV, the header
being line 1) or ``FILE:row N`` (Parquet, N counted from 1); the caller decides
whether bad rows refuse the tape or are skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from tracker.core.model import Tick, datetime_to_ts
from tracker.errors import InputError

PARQUET_SUFFIXES = {".parquet", ".pq"}
REQUIRED = ("ts", "price")

_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row the tape contract rejects, with where it is and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Tape:
    """The good ticks of a tape, in order with their ``seq``, and its bad rows."""

    path: Path
    ticks: list[Tick]
    bad_rows: list[BadRow]
    rows: int


class _RowError(Exception):
    """Why one row is bad."""


def read_tape(path: Path, timezone: str) -> Tape:
    """Read a tape; naive timestamps are wall time in ``timezone``."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows = _parquet_rows(path) if path.suffix.lower() in PARQUET_SUFFIXES else _csv_rows(path)
    return _validate(path, rows, ZoneInfo(timezone))


_Row = tuple[str, Any, Any, Any, Any]  # where, ts, price, volume, turnover


def _validate(path: Path, rows: Iterable[_Row], zone: ZoneInfo) -> Tape:
    ticks: list[Tick] = []
    bad: list[BadRow] = []
    last_ts: int | None = None
    last_text = ""
    seq = 0
    count = 0
    for where, ts_raw, price_raw, volume_raw, turnover_raw in rows:
        count += 1
        try:
            if isinstance(ts_raw, _RowError):
                raise ts_raw
            ts_us = _timestamp(ts_raw, zone)
            if last_ts is not None and ts_us < last_ts:
                raise _RowError(
                    f"ts {_show(ts_raw)} is earlier than the previous row's {last_text}"
                )
            price = _number("price", price_raw, required=True)
            assert price is not None
            if price <= 0:
                raise _RowError(f"price {_show(price_raw)} is not positive")
            volume = _number("volume", volume_raw, required=False)
            turnover = _number("turnover", turnover_raw, required=False)
        except _RowError as exc:
            bad.append(BadRow(where, str(exc)))
            continue
        seq = seq + 1 if ts_us == last_ts else 0
        last_ts, last_text = ts_us, _show(ts_raw)
        ticks.append(Tick(ts_us, seq, price, volume, turnover))
    if count == 0:
        raise InputError(f"{path}: no data rows")
    return Tape(path, ticks, bad, count)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _timestamp(value: Any, zone: ZoneInfo) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=zone)
        return datetime_to_ts(moment)
    if value is None or value == "":
        raise _RowError("ts is empty")
    match = _TS.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _RowError(f"ts {value!r} is not an ISO 8601 time (YYYY-MM-DD HH:MM[:SS[.ffffff]])")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tzinfo: dt.tzinfo = zone if offset is None else _offset(offset)
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=tzinfo,
        )
    except ValueError as exc:
        raise _RowError(f"ts {value!r} is not a valid time: {exc}") from None
    return datetime_to_ts(moment)


def _offset(text: str) -> dt.tzinfo:
    if text == "Z":
        return dt.UTC
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise _RowError(f"ts offset {text!r} is out of range")
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if text[0] == "-" else delta)


def _number(name: str, value: Any, *, required: bool) -> float | None:
    if value is None or value == "":
        if required:
            raise _RowError(f"{name} is empty")
        return None
    if isinstance(value, str):
        if not _NUMBER.fullmatch(value):
            raise _RowError(f"{name} {value!r} is not a number")
        number = float(value)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = float(value)
    else:
        raise _RowError(f"{name} {value!r} is not a number")
    if math.isnan(number):
        raise _RowError(f"{name} is NaN")
    if math.isinf(number):
        raise _RowError(f"{name} {_show(value)} is not finite")
    if not required and number < 0:
        raise _RowError(f"{name} {_show(value)} is negative")
    return number


def _csv_rows(path: Path) -> Iterator[_Row]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{path}:{line}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: empty file, no header") from None
    except csv.Error as exc:
        raise InputError(f"{path}:1: unreadable header: {exc}") from None
    columns = [name.strip() for name in header]
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise InputError(
            f"{path}:1: missing column {' and '.join(repr(m) for m in missing)} "
            f"(header: {','.join(columns)})"
        )
    ts_i, price_i = columns.index("ts"), columns.index("price")
    volume_i = columns.index("volume") if "volume" in columns else None
    turnover_i = columns.index("turnover") if "turnover" in columns else None
    width = len(columns)
    return _csv_records(path, reader, width, ts_i, price_i, volume_i, turnover_i)


def _csv_records(
    path: Path,
    reader: Any,
    width: int,
    ts_i: int,
    price_i: int,
    volume_i: int | None,
    turnover_i: int | None,
) -> Iterator[_Row]:
    end = reader.line_num
    while True:
        start = end + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield f"{path}:{start}", _RowError(f"unreadable row: {exc}"), None, None, None
            continue
        end = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank (or whitespace-only) line
        where = f"{path}:{start}"
        if len(fields) != width:
            error = _RowError(f"{len(fields)} fields where the header has {width}")
            yield where, error, None, None, None
            continue
        yield (
            where,
            fields[ts_i],
            fields[price_i],
            fields[volume_i] if volume_i is not None else None,
            fields[turnover_i] if turnover_i is not None else None,
        )


def _parquet_rows(path: Path) -> Iterator[_Row]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {exc}") from None
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        raise InputError(
            f"{path}: missing column {' and '.join(repr(m) for m in missing)} "
            f"(columns: {','.join(table.column_names)})"
        )
    ts = table.column("ts")
    if pa.types.is_timestamp(ts.type):
        # microseconds are the tracker's resolution: finer parts are truncated
        if ts.type.tz is None:  # naive: exchange time, localized per row
            ts_values: list[Any] = pc.cast(ts, pa.timestamp("us"), safe=False).to_pylist()
        else:
            utc = pc.cast(ts, pa.timestamp("us", "UTC"), safe=False)
            ts_values = pc.cast(utc, pa.int64()).to_pylist()
    else:
        ts_values = ts.to_pylist()

    def column(name: str) -> list[Any]:
        if name not in table.column_names:
            return [None] * table.num_rows
        return table.column(name).to_pylist()

    for n, row in enumerate(
        zip(ts_values, column("price"), column("volume"), column("turnover"), strict=True), 1
    ):
        yield (f"{path}:row {n}", *row)


def write_tape(out: TextIO, ticks: Iterable[Tick], timezone: str) -> int:
    """Write ticks as a CSV tape (times in the exchange zone with offset); return the count."""
    zone = ZoneInfo(timezone)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ts", "price", "volume", "turnover"])
    count = 0
    for tick in ticks:
        writer.writerow(
            [
                tick.ts.astimezone(zone).isoformat(),
                repr(tick.price),
                "" if tick.volume is None else _plain(tick.volume),
                "" if tick.turnover is None else _plain(tick.turnover),
            ]
        )
        count += 1
    return count


def _plain(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)

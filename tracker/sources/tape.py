"""Reading and validating recorded tapes (CSV or Parquet) per the tape contract.

A tape is refused whole (``InputError``) when it cannot be read, lacks a ``ts``
or ``price`` column or has no data rows. Otherwise every row is checked on its
own and a bad one becomes a ``BadRow`` naming ``FILE:LINE`` (CSV, the header
being line 1) or ``FILE:row N`` (Parquet, N counted from 1); the caller decides
whether bad rows refuse the tape or are skipped.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO
from zoneinfo import ZoneInfo

from tracker.core.batch import TickArrays
from tracker.core.limits import LINE_MAX, amount_problem, instant_problem, price_problem
from tracker.core.model import Tick, datetime_to_ts, ts_to_datetime
from tracker.errors import InputError
from tracker.sources import is_parquet
from tracker.sources.ahead import KEEP_ROWS
from tracker.sources.columns import arrow_chunks
from tracker.sources.isotimes import Unclean

if TYPE_CHECKING:
    from tracker.sources.ahead import CheckAhead, Verdict

logger = logging.getLogger(__name__)

REQUIRED = ("ts", "price")
PARQUET_BATCH = 65_536  # rows read at a time by the exact reader
BAD_ROWS_KEPT = 100  # the first bad rows kept to show; the rest are counted
_CHUNK = 1 << 20  # characters (or bytes) read at a time past an over-long line

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


@dataclass(frozen=True, slots=True)
class TapeCheck:
    """What reading a whole tape found: its data rows, good ticks and bad rows."""

    path: Path
    rows: int
    ticks: int
    bad_rows: list[BadRow]  # the first ``BAD_ROWS_KEPT``

    @property
    def bad(self) -> int:
        """How many rows are bad (each row is a tick or a bad row)."""
        return self.rows - self.ticks


class TapeReader:
    """A tape read in chunks of ``TickArrays``, with memory bounded by the chunk size.

    ``check`` reads the whole tape first (so a tape with bad rows can be refused
    before anything is written); ``chunks`` then gives its good ticks in order.
    A clean tape goes through Arrow a column at a time (``tracker.sources.columns``);
    one with anything wrong is read row by row, which names each bad row's line.
    Up to ``keep_rows`` ticks read by ``check`` are kept for ``chunks``; a longer
    tape is read again. With ``ahead`` (``tracker.sources.ahead.start_check``) a
    child process has been reading the tape the fast way, and ``check`` takes its
    verdict and its ticks instead.
    """

    def __init__(
        self,
        path: Path,
        timezone: str,
        chunk_rows: int = 100_000,
        keep_rows: int = KEEP_ROWS,
        *,
        arrow: bool = True,
        ahead: CheckAhead | None = None,
    ) -> None:
        self.path = path
        self.arrow = arrow
        self.timezone = timezone
        self.chunk_rows = chunk_rows
        self.keep_rows = keep_rows
        self._ahead = ahead
        self._fast = False
        self._kept: list[TickArrays] | None = None
        self._checked: TapeCheck | None = None

    @property
    def fast(self) -> bool:
        """Whether the checked tape is read through Arrow (it is clean)."""
        return self._fast

    @property
    def parquet(self) -> bool:
        """Whether the tape is Parquet (by its suffix), else CSV."""
        return is_parquet(self.path)

    def check(self) -> TapeCheck:
        """Read the whole tape (once); raises ``InputError`` when it is refused whole."""
        if self._checked is not None:
            return self._checked
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        ahead = self._ahead if self.arrow else None
        verdict = ahead.verdict(self.timezone) if ahead is not None else None
        if verdict is None:  # no child, or it died: check here
            checked = self._check_fast() if self.arrow else None
        elif verdict.clean:
            checked = self._taken(verdict)
        else:
            logger.debug("%s: read row by row (%s)", self.path, verdict.why)
            checked = None
        if checked is None:
            checked = self._check_exact()
        self._checked = checked
        return checked

    def chunks(self) -> Iterator[TickArrays]:
        """The good ticks in order, ``chunk_rows`` at a time (after ``check``)."""
        if self._checked is None:
            self.check()
        if not self._fast:
            yield from self._exact_arrays()  # already chunk_rows at a time
            return
        try:
            yield from _rechunk(self._kept or self._arrow(), self.chunk_rows)
        except Unclean:
            raise InputError(f"{self.path}: changed while it was being replayed") from None

    def _arrow(self) -> Iterator[TickArrays]:
        return arrow_chunks(self.path, self.timezone, self.parquet, self.chunk_rows)

    def _check_fast(self) -> TapeCheck | None:
        kept: list[TickArrays] | None = []
        rows = 0
        try:
            for arrays in self._arrow():
                rows += len(arrays)
                if kept is not None and rows <= self.keep_rows:
                    kept.append(arrays)
                else:
                    kept = None
        except Unclean as exc:
            logger.debug("%s: read row by row (%s)", self.path, exc)
            return None
        if rows == 0:
            return None  # the exact reader says why
        self._fast, self._kept = True, kept
        return TapeCheck(self.path, rows, rows, [])

    def _taken(self, verdict: Verdict) -> TapeCheck:
        """The check of a clean tape the child read, with its ticks if it kept them."""
        assert self._ahead is not None
        kept = verdict.kept and verdict.rows <= self.keep_rows
        self._fast = True
        self._kept = [self._ahead.arrays(verdict)] if kept else None
        return TapeCheck(self.path, verdict.rows, verdict.rows, [])

    def _check_exact(self) -> TapeCheck:
        rows = ticks = 0
        bad: list[BadRow] = []
        for item in self._exact():
            rows += 1
            if not isinstance(item, BadRow):
                ticks += 1
            elif len(bad) < BAD_ROWS_KEPT:
                bad.append(item)
        if rows == 0:
            raise InputError(f"{self.path}: no data rows")
        return TapeCheck(self.path, rows, ticks, bad)

    def _exact(self) -> Iterator[Tick | BadRow]:
        rows = _parquet_rows(self.path) if self.parquet else _csv_rows(self.path)
        return _validate(rows, ZoneInfo(self.timezone))

    def _exact_arrays(self) -> Iterator[TickArrays]:
        batch: list[Tick] = []
        for item in self._exact():
            if isinstance(item, Tick):
                batch.append(item)
                if len(batch) == self.chunk_rows:
                    yield TickArrays.from_ticks(batch)
                    batch = []
        if batch:
            yield TickArrays.from_ticks(batch)


def _rechunk(pieces: Iterable[TickArrays], size: int) -> Iterator[TickArrays]:
    """The same ticks in arrays of exactly ``size`` (the last one shorter)."""
    pending: list[TickArrays] = []
    held = 0
    for piece in pieces:
        while len(piece):
            take = min(size - held, len(piece))
            pending.append(piece.slice(0, take))
            held += take
            piece = piece.slice(take)
            if held == size:
                yield _concat(pending)
                pending, held = [], 0
    if pending:
        yield _concat(pending)


def _concat(pieces: list[TickArrays]) -> TickArrays:
    if len(pieces) == 1:
        return pieces[0]
    import numpy as np

    def join(name: str) -> Any:
        columns = [getattr(piece, name) for piece in pieces]
        if all(column is None for column in columns):
            return None
        missing = [np.full(len(piece), np.nan) for piece in pieces]
        return np.concatenate(
            [m if c is None else c for c, m in zip(columns, missing, strict=True)]
        )

    return TickArrays(*(join(name) for name in ("ts_us", "seq", "price", "volume", "turnover")))


def read_tape(path: Path, timezone: str, *, arrow: bool = True) -> Tape:
    """Read a whole tape into memory; naive timestamps are wall time in ``timezone``.

    ``arrow=False`` reads even a clean tape row by row (the reference the fast path is
    tested against).
    """
    reader = TapeReader(path, timezone, arrow=arrow)
    checked = reader.check()
    ticks = [tick for arrays in reader.chunks() for tick in arrays.to_ticks()]
    return Tape(path, ticks, checked.bad_rows, checked.rows)


_Row = tuple[str, Any, Any, Any, Any]  # where, ts, price, volume, turnover


def _validate(rows: Iterable[_Row], zone: ZoneInfo) -> Iterator[Tick | BadRow]:
    """Each row as a good tick or a bad row, in file order."""
    last_ts: int | None = None
    last_text = ""
    seq = 0
    for where, ts_raw, price_raw, volume_raw, turnover_raw in rows:
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
            if (problem := price_problem(price)) is not None:
                raise _RowError(f"price {_show(price_raw)} {problem}")
            volume = _number("volume", volume_raw, required=False)
            turnover = _number("turnover", turnover_raw, required=False)
        except _RowError as exc:
            yield BadRow(where, str(exc))
            continue
        seq = seq + 1 if ts_us == last_ts else 0
        last_ts, last_text = ts_us, _show(ts_raw)
        yield Tick(ts_us, seq, price, volume, turnover)


class _Utc(NamedTuple):
    """An instant a Parquet timestamp column with a zone gives, in epoch microseconds."""

    us: int

    def __str__(self) -> str:
        return ts_to_datetime(self.us).isoformat()


def _twice(names: Sequence[str]) -> str | None:
    """A column the tape reads that its header names more than once, if any."""
    for name in ("ts", "price", "volume", "turnover"):
        if list(names).count(name) > 1:
            return name
    return None


def _show(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _timestamp(value: Any, zone: ZoneInfo) -> int:
    ts_us = _instant(value, zone)
    if (problem := instant_problem(ts_us)) is not None:
        raise _RowError(f"ts {_show(value)} {problem}")
    return ts_us


def _instant(value: Any, zone: ZoneInfo) -> int:
    if isinstance(value, _Utc):
        return value.us
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
    if not required and (problem := amount_problem(number)) is not None:
        raise _RowError(f"{name} {_show(value)} {problem}")
    return number


def _csv_rows(path: Path) -> Iterator[_Row]:
    """The rows of a CSV tape, streamed; the header is checked before the first row."""
    # A value may be as long as a line (the csv module's own limit is 128 KiB, process-wide).
    csv.field_size_limit(max(csv.field_size_limit(), LINE_MAX))
    stream = io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig", newline="")
    too_long: set[int] = set()
    lines = _decoded(path, stream, too_long)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        stream.close()
        raise InputError(f"{path}: empty file, no header") from None
    except csv.Error as exc:
        stream.close()
        raise InputError(f"{path}:1: unreadable header: {exc}") from None
    if too_long:
        stream.close()
        raise InputError(f"{path}:1: the header is longer than {LINE_MAX:,} characters")
    columns = [name.strip() for name in header]
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        stream.close()
        raise InputError(
            f"{path}:1: missing column {' and '.join(repr(m) for m in missing)} "
            f"(header: {','.join(columns)})"
        )
    twice = _twice(columns)
    if twice:
        stream.close()
        raise InputError(f"{path}:1: column {twice!r} appears twice")
    ts_i, price_i = columns.index("ts"), columns.index("price")
    volume_i = columns.index("volume") if "volume" in columns else None
    turnover_i = columns.index("turnover") if "turnover" in columns else None
    width = len(columns)
    return _csv_records(path, reader, width, ts_i, price_i, volume_i, turnover_i, too_long)


def _decoded(path: Path, stream: io.TextIOWrapper, too_long: set[int]) -> Iterator[str]:
    """The lines of a text stream, each at most ``LINE_MAX`` characters long.

    A longer line is given as an empty one, its number added to ``too_long``, and the
    rest of it read past a chunk at a time. Bytes that are not UTF-8 refuse the tape,
    naming their line.
    """
    number = 0
    with stream:
        try:
            while line := stream.readline(LINE_MAX + 1):
                number += 1
                if len(line) <= LINE_MAX or line.endswith(("\n", "\r")):
                    yield line
                    continue
                too_long.add(number)
                yield "\n"
                while line and not line.endswith(("\n", "\r")):
                    line = stream.readline(_CHUNK)
        except UnicodeDecodeError:
            raise InputError(f"{path}:{_undecodable_line(path)}: not UTF-8 text") from None


def _undecodable_line(path: Path) -> int:
    """The line of the first bytes of a file that are not UTF-8, read a chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            pending = len(decoder.getstate()[0])  # bytes of a character the last chunk began
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk[: max(0, exc.start - pending)].count(b"\n")
            line += chunk.count(b"\n")
    return line


def _csv_records(
    path: Path,
    reader: Any,
    width: int,
    ts_i: int,
    price_i: int,
    volume_i: int | None,
    turnover_i: int | None,
    too_long: set[int],
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
            reason = str(exc)
            if "field larger than field limit" in reason:  # a quoted value over many lines
                reason = f"a value longer than {LINE_MAX:,} characters"
            yield f"{path}:{start}", _RowError(f"unreadable row: {reason}"), None, None, None
            continue
        end = reader.line_num
        if too_long and not too_long.isdisjoint(range(start, end + 1)):
            too_long.difference_update(range(start, end + 1))
            error = _RowError(f"line longer than {LINE_MAX:,} characters")
            yield f"{path}:{start}", error, None, None, None
            continue
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
        source = pq.ParquetFile(path)
        names = source.schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {exc}") from None
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise InputError(
            f"{path}: missing column {' and '.join(repr(m) for m in missing)} "
            f"(columns: {','.join(names)})"
        )
    twice = _twice(names)
    if twice:
        raise InputError(f"{path}: column {twice!r} appears twice")
    ts_type = source.schema_arrow.field("ts").type
    if not (
        pa.types.is_timestamp(ts_type)
        or pa.types.is_string(ts_type)
        or pa.types.is_large_string(ts_type)
    ):
        raise InputError(
            f"{path}: column 'ts' is of type {ts_type}: timestamps or ISO 8601 text, please"
        )
    wanted = [name for name in ("ts", "price", "volume", "turnover") if name in names]
    n = 0
    try:
        for batch in source.iter_batches(batch_size=PARQUET_BATCH, columns=wanted):
            ts = batch.column("ts")
            if pa.types.is_timestamp(ts.type):
                # microseconds are the tracker's resolution: finer parts are truncated
                if ts.type.tz is None:  # naive: exchange time, localized per row
                    ts_values: list[Any] = pc.cast(ts, pa.timestamp("us"), safe=False).to_pylist()
                else:
                    utc = pc.cast(ts, pa.timestamp("us", "UTC"), safe=False)
                    micros = pc.cast(utc, pa.int64()).to_pylist()
                    ts_values = [None if us is None else _Utc(us) for us in micros]
            else:
                ts_values = ts.to_pylist()

            def column(name: str, batch: Any = batch) -> list[Any]:
                if name not in wanted:
                    return [None] * batch.num_rows
                values: list[Any] = batch.column(name).to_pylist()
                return values

            rows = zip(
                ts_values, column("price"), column("volume"), column("turnover"), strict=True
            )
            for row in rows:
                n += 1
                yield (f"{path}:row {n}", *row)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {exc}") from None


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

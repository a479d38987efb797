"""The fast way through a clean tape: Arrow batches validated whole columns at a time.

``arrow_chunks`` reads a CSV or Parquet tape in batches and yields ``TickArrays``
without making a Python object per row. It handles the tapes that are clean;
the moment anything is off (a bad value, a row out of order, quotes, a type it
does not know) it raises ``Unclean``, and the caller reads the tape the exact,
row-by-row way (``tracker.sources.tape``), which names each bad row's line.
The two ways agree on every clean tape: a property test holds them to it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from tracker.core.batch import TickArrays
from tracker.core.model import MICROS, datetime_to_ts

SCAN_BLOCK = 1 << 24  # bytes read at a time when screening a CSV tape
CSV_BLOCK = 1 << 22  # bytes per Arrow CSV batch (about 100,000 ticks)
_DIGIT0, _COLON, _DASH, _DOT = ord("0"), ord(":"), ord("-"), ord(".")


class Unclean(Exception):
    """The tape needs the exact reader: a bad row, or a form the fast path does not take."""


def arrow_chunks(
    path: Path, timezone: str, columns: dict[str, int] | None, parquet: bool, rows: int
) -> Iterator[TickArrays]:
    """The tape's ticks in order, in arrays of up to about ``rows`` each; raises ``Unclean``.

    ``columns`` (CSV) maps each known column to its position in the header.
    """
    zone = ZoneInfo(timezone)
    batches = _parquet_batches(path, rows) if parquet else _csv_batches(path, columns or {})
    order = _Order()
    for batch in batches:
        yield order.next(_arrays(batch, zone))


def screen_csv(path: Path) -> dict[str, int] | None:
    """Where the known columns of a CSV tape are, or None when only the exact reader can tell.

    The fast path takes tapes of UTF-8 text whose first line names ``ts`` and ``price``
    on one line; anything else is the exact reader's to read and to refuse.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    header: bytes | None = None
    with path.open("rb") as stream:
        while block := stream.read(SCAN_BLOCK):
            if not block.isascii():
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    return None
            if header is None:
                header = block.split(b"\n", 1)[0]
    if header is None:
        return None
    try:
        fields = next(csv.reader([header.decode("utf-8-sig").rstrip("\r")], strict=True))
    except (csv.Error, StopIteration, UnicodeDecodeError):
        return None
    names = [name.strip() for name in fields]
    if "ts" not in names or "price" not in names:
        return None
    known = ("ts", "price", "volume", "turnover")
    positions = {name: names.index(name) for name in known if name in names}
    return {"_width": len(names), **positions}


def _csv_batches(path: Path, columns: dict[str, int]) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.csv as csv

    width = columns["_width"]
    names = [f"c{i}" for i in range(width)]
    wanted = {name: f"c{i}" for name, i in columns.items() if name != "_width"}

    def invalid(row: Any) -> Literal["skip", "error"]:
        if not (row.text or "").strip():
            return "skip"  # a whitespace-only line is blank
        return "error"

    try:
        reader = csv.open_csv(
            path,
            read_options=csv.ReadOptions(
                column_names=names, skip_rows=1, block_size=CSV_BLOCK, use_threads=False
            ),
            parse_options=csv.ParseOptions(
                ignore_empty_lines=True, newlines_in_values=False, invalid_row_handler=invalid
            ),
            convert_options=csv.ConvertOptions(
                include_columns=list(wanted.values()),
                column_types={column: pa.string() for column in wanted.values()},
                strings_can_be_null=False,
                check_utf8=False,
            ),
        )
        for batch in reader:
            yield {
                name: batch.column(batch.schema.get_field_index(c)) for name, c in wanted.items()
            }
    except (pa.ArrowException, OSError) as exc:
        raise Unclean(str(exc)) from None


def _parquet_batches(path: Path, rows: int) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
        names = source.schema_arrow.names
        if "ts" not in names or "price" not in names:
            raise Unclean("missing column")
        wanted = [name for name in ("ts", "price", "volume", "turnover") if name in names]
        for batch in source.iter_batches(batch_size=rows, columns=wanted):
            yield {name: batch.column(name) for name in wanted}
    except (pa.ArrowException, OSError) as exc:
        raise Unclean(str(exc)) from None


def _arrays(batch: dict[str, Any], zone: ZoneInfo) -> TickArrays:
    price = _numbers(batch["price"], required=True)
    if not (price > 0).all():
        raise Unclean("price not positive")
    volume = _numbers(batch["volume"]) if "volume" in batch else None
    turnover = _numbers(batch["turnover"]) if "turnover" in batch else None
    ts = _instants(batch["ts"], zone)
    return TickArrays(ts, np.zeros(len(ts), np.int64), price, volume, turnover)


class _Order:
    """Checks that instants never go back, across batches, and numbers equal instants (seq)."""

    def __init__(self) -> None:
        self.last_ts: int | None = None
        self.last_seq = -1

    def next(self, arrays: TickArrays) -> TickArrays:
        ts = arrays.ts_us
        if len(ts) == 0:
            return arrays
        if (np.diff(ts) < 0).any() or (self.last_ts is not None and ts[0] < self.last_ts):
            raise Unclean("ts goes back")
        index = np.arange(len(ts), dtype=np.int64)
        starts = np.empty(len(ts), dtype=bool)
        starts[0] = ts[0] != self.last_ts
        np.not_equal(ts[1:], ts[:-1], out=starts[1:])
        run_start = np.maximum.accumulate(np.where(starts, index, 0))
        seq = index - run_start
        if not starts[0]:  # the batch continues the previous batch's run of equal instants
            carried = run_start == 0
            seq[carried] += self.last_seq + 1
        self.last_ts, self.last_seq = int(ts[-1]), int(seq[-1])
        return TickArrays(ts, seq, arrays.price, arrays.volume, arrays.turnover)


def _numbers(column: Any, *, required: bool = False) -> NDArray[np.float64]:
    """A column of numbers as float64, NaN for an empty optional value; raises ``Unclean``.

    Only Arrow compute functions and numpy: making Arrow arrays or scalars from Python
    objects would import pandas (pyarrow looks for pandas objects), a second of start-up.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_decimal(kind):  # through text: Python's float(Decimal) rounds exactly
        column = pc.cast(column, pa.string())
        kind = column.type
    empty = None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        lengths = _to_numpy(pc.utf8_length(column), np.int32)
        if (lengths == 0).any():
            if required:
                raise Unclean("empty number")
            empty = lengths == 0
            column = pc.replace_substring_regex(column, pattern="^$", replacement="0")
    elif not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
        raise Unclean(f"numbers of type {kind}")
    elif required and column.null_count:
        raise Unclean("missing number")
    try:
        numbers = pc.cast(column, pa.float64())
    except pa.ArrowException:
        raise Unclean("not a number") from None
    values = _to_numpy(numbers, np.float64)
    if not np.isfinite(values).all() and (required or np.isinf(values).any() or _has_nan(numbers)):
        raise Unclean("not finite")
    if empty is not None:
        values[empty] = np.nan
    if not required and (values < 0).any():
        raise Unclean("negative")
    return values


def _to_numpy(column: Any, dtype: type[Any]) -> NDArray[Any]:
    """A numeric Arrow column as a numpy array of its values (NaN where one is missing).

    Read straight from the Arrow buffers: pyarrow's own ``to_numpy`` imports pandas.
    """
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(array)
    validity, data = array.buffers()[:2]
    size = np.dtype(dtype).itemsize
    if data is None:
        values = np.zeros(n, dtype)
    else:
        values = np.frombuffer(memoryview(data), dtype, count=n, offset=array.offset * size)
    if array.null_count:
        assert validity is not None
        bits = np.unpackbits(np.frombuffer(memoryview(validity), np.uint8), bitorder="little")
        missing = ~bits[array.offset : array.offset + n].astype(bool)
        values = values.astype(np.float64)
        values[missing] = np.nan
    return values.copy() if not values.flags.writeable else values


def _has_nan(numbers: Any) -> bool:
    """Whether a float column holds NaN as a value (not as a missing one)."""
    import pyarrow.compute as pc

    return bool(pc.any(pc.is_nan(numbers)).as_py())


def _instants(column: Any, zone: ZoneInfo) -> NDArray[np.int64]:
    """Epoch microseconds of a ts column; raises ``Unclean`` for anything not a valid time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if column.null_count:
        raise Unclean("missing ts")
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            utc = pc.cast(column, pa.timestamp("us", "UTC"), safe=False)
            return _to_numpy(pc.cast(utc, pa.int64()), np.int64)
        local = pc.cast(pc.cast(column, pa.timestamp("us"), safe=False), pa.int64())
        return _localize(_to_numpy(local, np.int64), zone)
    if pa.types.is_integer(kind):
        return _to_numpy(pc.cast(column, pa.int64()), np.int64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _iso_instants(column, zone)
    raise Unclean(f"ts of type {kind}")


def _iso_instants(column: Any, zone: ZoneInfo) -> NDArray[np.int64]:
    """Parse ``YYYY-MM-DD[T ]HH:MM[:SS[.f{1,6}]][Z|±HH[[:]MM]]`` texts, all at once."""
    text, lengths = _byte_matrix(column)
    n, width = text.shape
    if width < 16 or (lengths < 16).any():
        raise Unclean("ts too short")
    rows = np.arange(n)

    def digits(*positions: int) -> NDArray[np.int64]:
        value = np.zeros(n, dtype=np.int64)
        for position in positions:
            d = text[:, position].astype(np.int64) - _DIGIT0
            if ((d < 0) | (d > 9)).any():
                raise Unclean("not a digit")
            value = value * 10 + d
        return value

    def at(position: NDArray[np.int64]) -> NDArray[np.uint8]:
        found: NDArray[np.uint8] = text[rows, np.minimum(position, width - 1)] * (position < width)
        return found

    year, month, day = digits(0, 1, 2, 3), digits(5, 6), digits(8, 9)
    hour, minute = digits(11, 12), digits(14, 15)
    if not (
        (text[:, 4] == _DASH).all()
        and (text[:, 7] == _DASH).all()
        and np.isin(text[:, 10], (ord("T"), ord(" "))).all()
        and (text[:, 13] == _COLON).all()
    ):
        raise Unclean("ts separators")
    cursor = np.full(n, 16, dtype=np.int64)
    second = np.zeros(n, dtype=np.int64)
    has_second = at(cursor) == _COLON
    if has_second.any():
        sub = np.flatnonzero(has_second)
        second[sub] = _digits_at(text, sub, 17, 2)
        cursor[sub] += 3
    fraction = np.zeros(n, dtype=np.int64)
    has_fraction = has_second & (at(cursor) == _DOT)
    if has_fraction.any():
        cursor[has_fraction] += 1
        places = np.zeros(n, dtype=np.int64)
        for _ in range(6):
            d = at(cursor).astype(np.int64) - _DIGIT0
            more = has_fraction & (d >= 0) & (d <= 9)
            fraction = np.where(more, fraction * 10 + d, fraction)
            places += more
            cursor += more
        if (has_fraction & (places == 0)).any():
            raise Unclean("empty fraction")
        fraction = fraction * 10 ** (6 - places)
    offset = _offsets(text, cursor, lengths)
    valid = (
        (year >= 1)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= _days_in_month(year, month))
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
    )
    if not valid.all():
        raise Unclean("ts out of range")
    days = _days_from_civil(year, month, day)
    local = ((days * 86_400 + hour * 3_600 + minute * 60 + second) * MICROS) + fraction
    naive = offset == _NAIVE
    if naive.all():
        return _localize(local, zone)
    instants = local - offset * 60 * MICROS
    if naive.any():
        instants[naive] = _localize(local[naive], zone)
    return instants


_NAIVE = np.iinfo(np.int64).min  # the offset of a ts written without one


def _offsets(
    text: NDArray[np.uint8], cursor: NDArray[np.int64], lengths: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Each ts's UTC offset in minutes (``_NAIVE`` without one); the text must end after it.

    After the sign come ``HH``, ``HHMM`` or ``HH:MM``.
    """
    n, width = text.shape
    offset = np.full(n, _NAIVE, dtype=np.int64)
    rows = np.arange(n)
    mark = text[rows, np.minimum(cursor, width - 1)] * (cursor < width)
    zulu = mark == ord("Z")
    offset[zulu] = 0
    end = cursor + zulu
    signed = np.flatnonzero((mark == ord("+")) | (mark == _DASH))
    if len(signed):
        start = cursor[signed] + 1
        rest = lengths[signed] - start
        colon = rest == 5
        if not np.isin(rest, (2, 4, 5)).all():
            raise Unclean("bad offset")
        if colon.any() and (text[signed[colon], start[colon] + 2] != _COLON).any():
            raise Unclean("bad offset")
        hours = _digits_at(text, signed, start, 2)
        minutes = np.zeros(len(signed), dtype=np.int64)
        with_minutes = rest > 2
        if with_minutes.any():
            at = start[with_minutes] + 2 + colon[with_minutes]
            minutes[with_minutes] = _digits_at(text, signed[with_minutes], at, 2)
        if (hours > 23).any() or (minutes > 59).any():
            raise Unclean("bad offset")
        sign = np.where(mark[signed] == _DASH, -1, 1)
        offset[signed] = sign * (hours * 60 + minutes)
        end[signed] = lengths[signed]
    if (end != lengths).any():
        raise Unclean("trailing text in ts")
    return offset


def _digits_at(
    text: NDArray[np.uint8], rows: NDArray[Any], start: int | NDArray[np.int64], count: int
) -> NDArray[np.int64]:
    value = np.zeros(len(rows), dtype=np.int64)
    width = text.shape[1]
    for k in range(count):
        position = np.asarray(start + k)
        if (position >= width).any():
            raise Unclean("ts too short")
        d = text[rows, position].astype(np.int64) - _DIGIT0
        if ((d < 0) | (d > 9)).any():
            raise Unclean("not a digit")
        value = value * 10 + d
    return value


def _byte_matrix(column: Any) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """A string column as an (n, widest) matrix of bytes, zero-padded, and each one's length."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    _, offsets_buffer, data_buffer = array.buffers()
    assert offsets_buffer is not None
    n = len(array)
    offsets = np.frombuffer(
        memoryview(offsets_buffer), dtype=np.int32, count=n + 1, offset=array.offset * 4
    )
    data = (
        np.frombuffer(memoryview(data_buffer), np.uint8) if data_buffer else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets).astype(np.int64)
    if n == 0:
        return np.zeros((0, 0), np.uint8), lengths
    width = int(lengths.max())
    first = int(offsets[0])
    if (lengths == width).all():
        return data[first : first + n * width].reshape(n, width), lengths
    columns = np.arange(width)
    index = offsets[:-1, None].astype(np.int64) + columns[None, :]
    inside = columns[None, :] < lengths[:, None]
    matrix = np.where(inside, data[np.minimum(index, len(data) - 1)], 0).astype(np.uint8)
    return matrix, lengths


def _days_in_month(year: NDArray[np.int64], month: NDArray[np.int64]) -> NDArray[np.int64]:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    days = lengths[np.clip(month, 1, 12) - 1]
    result: NDArray[np.int64] = days + ((month == 2) & leap)
    return result


def _days_from_civil(
    year: NDArray[np.int64], month: NDArray[np.int64], day: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    year_of_era = y - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    result: NDArray[np.int64] = era * 146_097 + day_of_era - 719_468
    return result


def _localize(local_us: NDArray[np.int64], zone: ZoneInfo) -> NDArray[np.int64]:
    """UTC instants of exchange wall times, exactly as ``datetime(..., tzinfo=zone)`` reads them.

    A zone's offset changes on whole minutes: one zoneinfo lookup per distinct
    local hour gives the offset of every tick in an hour whose first and last
    minute agree, and one per distinct minute settles the hours of a change.
    """
    minutes = np.floor_divide(local_us, 60 * MICROS)
    hours, by_hour = np.unique(np.floor_divide(minutes, 60), return_inverse=True)
    first = _offsets_at(hours * 60, zone)
    last = _offsets_at(hours * 60 + 59, zone)
    offsets = first[by_hour.reshape(-1)]
    changing = (first != last)[by_hour.reshape(-1)]
    if changing.any():
        unique, by_minute = np.unique(minutes[changing], return_inverse=True)
        offsets[changing] = _offsets_at(unique, zone)[by_minute.reshape(-1)]
    return local_us + offsets


def _offsets_at(minutes: NDArray[np.int64], zone: ZoneInfo) -> NDArray[np.int64]:
    """UTC minus wall time, in microseconds, at each wall-clock minute (since 1970) in a zone."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=zone)  # + timedelta: wall-clock arithmetic
    offsets = np.empty(len(minutes), dtype=np.int64)
    for i, minute in enumerate(minutes.tolist()):
        try:
            wall = epoch + dt.timedelta(minutes=minute)
        except OverflowError:
            raise Unclean("ts out of range") from None
        offsets[i] = datetime_to_ts(wall) - minute * 60 * MICROS
    return offsets

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
from collections.abc import Iterator
from io import BufferedReader
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from tracker.core.batch import TickArrays
from tracker.core.limits import AMOUNT_MAX, END_US, FIRST_US, LINE_MAX, PRICE_MAX, PRICE_MIN
from tracker.sources.buffers import one_array, to_numpy
from tracker.sources.isotimes import Unclean, iso_instants, localize

HEADER_BYTES = LINE_MAX + 2  # the longest header line the fast path reads, with its end
CSV_BLOCK = 1 << 22  # bytes per Arrow CSV batch (about 100,000 ticks)


def arrow_chunks(path: Path, timezone: str, parquet: bool, rows: int) -> Iterator[TickArrays]:
    """The tape's ticks in order, in arrays of up to about ``rows`` each; raises ``Unclean``."""
    zone = ZoneInfo(timezone)
    batches = _parquet_batches(path, rows) if parquet else _csv_batches(path)
    order = _Order()
    for batch in batches:
        yield order.next(_arrays(batch, zone))


def load_csv_reading() -> None:
    """Import what reading a CSV tape takes, which the readers otherwise import when first used."""
    import pyarrow.compute
    import pyarrow.csv  # noqa: F401


def _csv_columns(path: Path) -> dict[str, int] | None:
    """Where the known columns of a CSV tape are, or None when only the exact reader can tell.

    The fast path takes tapes of UTF-8 text whose first line names ``ts`` and ``price``
    on one line; anything else is the exact reader's to read and to refuse. Only the
    first line is read here: the rest is found to be UTF-8 as it is read (``_line_blocks``).
    """
    with path.open("rb") as stream:
        line = stream.readline(HEADER_BYTES)
    if len(line) == HEADER_BYTES and not line.endswith(b"\n"):
        return None  # a header longer than a line may be
    header = line.rstrip(b"\n")
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


def _csv_batches(path: Path) -> Iterator[dict[str, Any]]:
    """The known columns of a CSV tape, as text, a block of whole lines at a time.

    Each block is parsed on its own (``read_csv`` of a buffer): Arrow's streaming
    reader, given the file, reads 32 blocks ahead on a thread of its own, holding
    about 130 MB that the replay has no use for.
    """
    import pyarrow as pa
    import pyarrow.csv as csv

    columns = _csv_columns(path)
    if columns is None:
        raise Unclean("not a plain CSV tape")
    width = columns["_width"]
    names = [f"c{i}" for i in range(width)]
    wanted = {name: f"c{i}" for name, i in columns.items() if name != "_width"}

    def invalid(row: Any) -> Literal["skip", "error"]:
        if not (row.text or "").strip():
            return "skip"  # a whitespace-only line is blank
        return "error"

    # No quoting: a quoted value (which may hold commas, line ends, a whole file) is the
    # exact reader's to read, within its limits; a tape the tracker writes quotes nothing.
    parse = csv.ParseOptions(
        quote_char=False,
        ignore_empty_lines=True,
        newlines_in_values=False,
        invalid_row_handler=invalid,
    )
    convert = csv.ConvertOptions(
        include_columns=list(wanted.values()),
        column_types={column: pa.string() for column in wanted.values()},
        strings_can_be_null=False,
        check_utf8=False,
    )
    try:
        with path.open("rb") as stream:
            for i, block in enumerate(_line_blocks(stream)):
                read = csv.ReadOptions(
                    column_names=names,
                    skip_rows=1 if i == 0 else 0,  # the header
                    block_size=len(block) + 1,  # one Arrow block: columns of one chunk
                    use_threads=False,
                )
                source: Any = pa.BufferReader(pa.py_buffer(block))  # the stubs want a file
                table = csv.read_csv(source, read, parse_options=parse, convert_options=convert)
                if table.num_rows:
                    yield {name: one_array(table.column(c)) for name, c in wanted.items()}
    except (pa.ArrowException, OSError) as exc:
        raise Unclean(str(exc)) from None


def _line_blocks(stream: BufferedReader) -> Iterator[memoryview]:
    """The stream in blocks of about ``CSV_BLOCK`` bytes, each ending where a line ends.

    No value of the fast path holds a line break (``newlines_in_values=False``), so
    a block of whole lines parses as those lines do in the whole file; the last
    block may lack its line end, as the file may. Each block is a buffer of its own,
    read into in place: what follows its last line end starts the next one. Raises
    ``Unclean`` at a block that is not UTF-8 (a line end never splits a character),
    and at a line longer than ``LINE_MAX``: a block never holds more than
    ``CSV_BLOCK + LINE_MAX`` bytes.
    """
    carry = memoryview(b"")
    while True:
        block = bytearray(len(carry) + CSV_BLOCK)
        block[: len(carry)] = carry
        read = stream.readinto(memoryview(block)[len(carry) :]) or 0
        size = len(carry) + read
        # at the end of the file, what is left is its last line
        end = max(block.rfind(b"\n", 0, size), block.rfind(b"\r", 0, size)) + 1 if read else size
        if end:
            # past end: zeros, or the start of the next block; ASCII there proves nothing wrong
            if not block.isascii():
                try:
                    codecs.utf_8_decode(memoryview(block)[:end], "strict", True)
                except UnicodeDecodeError:
                    raise Unclean("not UTF-8") from None
            yield memoryview(block)[:end]
        if not read:
            return
        carry = memoryview(block)[end:size]
        if len(carry) > LINE_MAX:
            raise Unclean("a line too long")  # the exact reader names it, in bounded memory


def _parquet_batches(path: Path, rows: int) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
        names = source.schema_arrow.names
        if "ts" not in names or "price" not in names:
            raise Unclean("missing column")
        if any(names.count(name) > 1 for name in ("ts", "price", "volume", "turnover")):
            raise Unclean("a column twice")
        wanted = [name for name in ("ts", "price", "volume", "turnover") if name in names]
        for batch in source.iter_batches(batch_size=rows, columns=wanted):
            yield {name: batch.column(name) for name in wanted}
    except (pa.ArrowException, OSError) as exc:
        raise Unclean(str(exc)) from None


def _arrays(batch: dict[str, Any], zone: ZoneInfo) -> TickArrays:
    price = _numbers(batch["price"], required=True)
    if not ((price >= PRICE_MIN) & (price <= PRICE_MAX)).all():
        raise Unclean("price out of range")  # not positive, or more than the tracker holds
    volume = _numbers(batch["volume"]) if "volume" in batch else None
    turnover = _numbers(batch["turnover"]) if "turnover" in batch else None
    ts = _instants(batch["ts"], zone)
    if len(ts) and not (ts.min() >= FIRST_US and ts.max() < END_US):
        raise Unclean("ts out of range")
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
    if pa.types.is_decimal(kind) or pa.types.is_large_string(kind):
        column = pc.cast(column, pa.string())  # a decimal through text: as float(Decimal) rounds
        kind = column.type
    empty = None
    text = pa.types.is_string(kind)
    if not (text or pa.types.is_floating(kind) or pa.types.is_integer(kind)):
        raise Unclean(f"numbers of type {kind}")
    if required and column.null_count:
        raise Unclean("missing number")
    try:
        numbers = pc.cast(column, pa.float64())
    except pa.ArrowException:
        if not text or required:
            raise Unclean("not a number") from None
        # empty texts (no volume, say) stand for NaN; anything else is not a number
        empty = to_numpy(pc.utf8_length(column), np.int32) == 0  # string: int32 lengths
        try:
            numbers = pc.cast(pc.replace_substring_regex(column, "^$", "0"), pa.float64())
        except pa.ArrowException:
            raise Unclean("not a number") from None
    values = to_numpy(numbers, np.float64)
    if not np.isfinite(values).all() and (required or np.isinf(values).any() or _has_nan(numbers)):
        raise Unclean("not finite")
    if empty is not None:
        values[empty] = np.nan
    if not required and ((values < 0).any() or (values > AMOUNT_MAX).any()):
        raise Unclean("negative, or more than the tracker holds")
    return values


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
            return to_numpy(pc.cast(utc, pa.int64()), np.int64)
        local = pc.cast(pc.cast(column, pa.timestamp("us"), safe=False), pa.int64())
        return localize(to_numpy(local, np.int64), zone)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return iso_instants(column, zone)
    raise Unclean(f"ts of type {kind}")

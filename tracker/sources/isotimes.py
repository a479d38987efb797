"""Vectorized reading of the tape contract's ISO 8601 times, a column at a time.

``YYYY-MM-DD[T ]HH:MM[:SS[.f{1,6}]][Z|±HH[[:]MM]]``: without an offset a time is
wall time in the listing's exchange zone, localized as ``datetime(..., tzinfo=zone)``
does it; with one it is that instant. Anything else raises ``Unclean`` and the
tape is left to the exact, row-by-row reader (``tracker.sources.tape``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from tracker.core.model import MICROS, datetime_to_ts
from tracker.sources.buffers import one_array, to_numpy

_DIGIT0, _COLON, _DASH, _DOT = ord("0"), ord(":"), ord("-"), ord(".")
_LAYOUT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)


class Unclean(Exception):
    """The tape needs the exact reader: a bad row, or a form the fast path does not take."""


def iso_instants(column: Any, zone: ZoneInfo) -> NDArray[np.int64]:
    """Epoch microseconds of a column of ISO texts; naive ones are wall time in ``zone``.

    Raises ``Unclean`` unless every text is a valid time of the tape contract.
    """
    text, lengths = _byte_matrix(column)
    if len(lengths) == 0:
        return np.zeros(0, np.int64)
    layout = _layout(text, lengths)
    if layout is not None and layout.start(8) < 0:  # the common tape: one layout, wall times
        wall = _wall_times(column)
        if wall is not None:
            return localize(wall, zone)
        layout = None  # some digit is not one, or a row is in another layout of that width
    fields = _uniform_fields(text, layout) if layout is not None else None
    if fields is None:
        fields = _varied_fields(text, lengths)
    return _instants_of(fields, zone)


Fields = tuple[NDArray[np.int64], ...]  # year, month, day, hour, minute, second, micros, offset


def _layout(text: NDArray[np.uint8], lengths: NDArray[np.int64]) -> re.Match[str] | None:
    """The first text's layout if every text shares it (``_LAYOUT``'s match), else None.

    The common tape writes every time alike (``2026-01-02 09:30:00.000``): one check of
    the whole matrix against the first row's separators stands for the parser's.
    """
    width = text.shape[1]
    if not (lengths == width).all():
        return None
    try:
        first = bytes(text[0]).decode("ascii")
    except UnicodeDecodeError:
        return None
    match = _LAYOUT.fullmatch(first)
    if match is None:
        return None
    row = text[0]
    digit = (row >= _DIGIT0) & (row <= _DIGIT0 + 9)
    either = np.zeros(width, bool)  # positions where two characters are allowed
    either[10] = True
    offset_at = match.start(8)
    signed = offset_at >= 0 and first[offset_at] in "+-"
    if signed:
        either[offset_at] = True
    fixed = ~digit & ~either
    if not (text[:, fixed] == row[fixed]).all():
        return None
    if not np.isin(text[:, 10], (ord("T"), ord(" "))).all():
        return None
    if signed and not np.isin(text[:, offset_at], (ord("+"), _DASH)).all():
        return None
    return match


def _wall_times(column: Any) -> NDArray[np.int64] | None:
    """Wall times (microseconds from 1970-01-01T00:00) of texts in one layout without an offset.

    Arrow's ISO 8601 parser reads them, checking every digit and every field's
    range; None when it refuses one (``_varied_fields`` then says why, or reads a
    row of another layout of the same width). Year 0, which it takes, is out of
    ``localize``'s range.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        times = pc.cast(column, pa.timestamp("us"))
    except pa.ArrowInvalid:
        return None
    return to_numpy(times, np.int64)  # a timestamp's buffer is its int64 microseconds


def _uniform_fields(text: NDArray[np.uint8], match: re.Match[str]) -> Fields | None:
    """The fields of texts in one layout with an offset (``_layout``); None if a digit is not."""
    n, width = text.shape
    first = match.string
    row = text[0]
    digit = (row >= _DIGIT0) & (row <= _DIGIT0 + 9)
    offset_at = match.start(8)
    signed = first[offset_at] in "+-"
    digits = text - np.uint8(_DIGIT0)  # a byte below '0' wraps above 9
    if (digits[:, digit] > 9).any():
        return None

    def number(start: int, end: int) -> NDArray[np.int64]:
        value = digits[:, start].astype(np.int64)
        for position in range(start + 1, end):
            value = value * 10 + digits[:, position]
        return value

    zero = np.zeros(n, np.int64)
    year, month, day, hour, minute = (number(*match.span(g)) for g in range(1, 6))
    second = number(*match.span(6)) if match.start(6) >= 0 else zero
    micros = zero
    if match.start(7) >= 0:
        start, end = match.span(7)
        micros = number(start, end) * 10 ** (6 - (end - start))
    if not signed:  # Z
        offset = zero
    else:
        hours = number(offset_at + 1, offset_at + 3)
        rest = first[offset_at + 3 :].lstrip(":")
        minutes = number(width - len(rest), width) if rest else zero
        if (hours > 23).any() or (minutes > 59).any():
            raise Unclean("bad offset")
        sign = np.where(text[:, offset_at] == _DASH, -1, 1)
        offset = sign * (hours * 60 + minutes)
    return year, month, day, hour, minute, second, micros, offset


def _varied_fields(text: NDArray[np.uint8], lengths: NDArray[np.int64]) -> Fields:
    """The fields of texts of any layouts the contract allows, each read on its own."""
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
    return year, month, day, hour, minute, second, fraction, _offsets(text, cursor, lengths)


def _instants_of(fields: Fields, zone: ZoneInfo) -> NDArray[np.int64]:
    """Epoch microseconds of checked fields; raises ``Unclean`` for an impossible date."""
    year, month, day, hour, minute, second, fraction, offset = fields
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
        return localize(local, zone)
    instants = local - offset * 60 * MICROS
    if naive.any():
        instants[naive] = localize(local[naive], zone)
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

    array = one_array(column)
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


_HOUR = 3_600 * MICROS


def localize(local_us: NDArray[np.int64], zone: ZoneInfo) -> NDArray[np.int64]:
    """UTC instants of exchange wall times, exactly as ``datetime(..., tzinfo=zone)`` reads them.

    A zone's offset changes on whole minutes: one zoneinfo lookup per local hour
    gives the offset of every tick in an hour whose first and last minute agree,
    and one per distinct minute settles the hours of a change. The ticks of a few
    days (the common batch) look up every hour between their first and last, and
    when the offset holds through all of them, add it to every tick at once.
    """
    if len(local_us) == 0:
        return local_us.copy()
    low, high = int(local_us.min()) // _HOUR, int(local_us.max()) // _HOUR
    every_hour = high - low < len(local_us) // 256 + 64  # fewer lookups than a sort costs
    if every_hour:
        hours = np.arange(low, high + 1, dtype=np.int64)
    else:
        hours, by_hour = np.unique(np.floor_divide(local_us, _HOUR), return_inverse=True)
    first = _offsets_at(hours * 60, zone)
    last = _offsets_at(hours * 60 + 59, zone)
    if every_hour:
        if (first == first[0]).all() and (last == first[0]).all():
            shifted: NDArray[np.int64] = local_us + first[0]
            return shifted
        by_hour = np.floor_divide(local_us, _HOUR) - low
    by_hour = by_hour.reshape(-1)
    offsets = first[by_hour]
    changing = (first != last)[by_hour]
    if changing.any():
        minutes = np.floor_divide(local_us[changing], 60 * MICROS)
        unique, by_minute = np.unique(minutes, return_inverse=True)
        offsets[changing] = _offsets_at(unique, zone)[by_minute.reshape(-1)]
    instants: NDArray[np.int64] = local_us + offsets
    return instants


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

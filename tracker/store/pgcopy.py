"""PostgreSQL's binary ``COPY`` format for tick columns, laid out by numpy (no per-row Python)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from tracker.core.batch import TickArrays


def binary_copy(listing_id: str, ticks: TickArrays) -> bytes:
    """The whole ``COPY ... (FORMAT BINARY)`` stream of a listing's ticks: header, tuples, trailer.

    Each tuple is 6 fields, each a big-endian length then the value; a NULL is length
    -1 with no value, so rows are laid out in groups by which of volume and turnover
    they have, and the groups keep the ticks' order only within themselves (the table
    is keyed, so the order of a COPY's rows does not matter).
    """
    key = listing_id.encode()
    n = len(ticks)
    volume = _present(ticks.volume, n)
    turnover = _present(ticks.turnover, n)
    parts = [b"PGCOPY\n\xff\r\n\x00", np.array([0, 0], ">i4").tobytes()]
    for has_volume in (True, False):
        for has_turnover in (True, False):
            rows = np.flatnonzero((volume == has_volume) & (turnover == has_turnover))
            if len(rows):
                parts.append(_binary_rows(ticks, rows, key, has_volume, has_turnover))
    parts.append(np.array([-1], ">i2").tobytes())
    return b"".join(parts)


def _present(values: NDArray[np.float64] | None, n: int) -> NDArray[np.bool_]:
    """Which rows have a value in an optional column (NaN or no column: none)."""
    return np.zeros(n, bool) if values is None else ~np.isnan(values)


def _binary_rows(
    ticks: TickArrays, rows: NDArray[np.intp], key: bytes, has_volume: bool, has_turnover: bool
) -> bytes:
    """Tuples of PostgreSQL's binary COPY format for the chosen rows, as one block of bytes."""
    fields: list[tuple[str, str]] = [
        ("count", ">i2"),
        ("key_length", ">i4"),
        ("key", f"S{len(key)}"),
        ("ts_length", ">i4"),
        ("ts", ">i8"),
        ("seq_length", ">i4"),
        ("seq", ">i4"),
        ("price_length", ">i4"),
        ("price", ">f8"),
        ("volume_length", ">i4"),
    ]
    fields += [("volume", ">f8")] if has_volume else []
    fields += [("turnover_length", ">i4")]
    fields += [("turnover", ">f8")] if has_turnover else []
    block: NDArray[Any] = np.empty(len(rows), dtype=np.dtype(fields))
    block["count"] = 6
    block["key_length"], block["key"] = len(key), key
    block["ts_length"], block["ts"] = 8, ticks.ts_us[rows]
    block["seq_length"], block["seq"] = 4, ticks.seq[rows]
    block["price_length"], block["price"] = 8, ticks.price[rows]
    block["volume_length"] = 8 if has_volume else -1
    block["turnover_length"] = 8 if has_turnover else -1
    if has_volume:
        assert ticks.volume is not None
        block["volume"] = ticks.volume[rows]
    if has_turnover:
        assert ticks.turnover is not None
        block["turnover"] = ticks.turnover[rows]
    return block.tobytes()

"""Arrow arrays as numpy arrays, read straight from their buffers.

pyarrow's own ``to_numpy`` imports pandas (a second of start-up), and
``combine_chunks`` copies even a column of one chunk; these do neither.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def one_array(column: Any) -> Any:
    """An Arrow array or chunked array as one array, without a copy when it is one already."""
    import pyarrow as pa

    if not isinstance(column, pa.ChunkedArray):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def to_numpy(column: Any, dtype: type[Any]) -> NDArray[Any]:
    """A numeric Arrow column as a numpy array of its values (NaN where one is missing)."""
    array = one_array(column)
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

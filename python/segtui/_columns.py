"""Moving columns between polars and the Rust core without per-row Python objects.

Into Rust: numeric columns go as contiguous numpy views (zero-copy for polars columns
without nulls); text columns go as the buffers of a pyarrow ``large_string`` array.
Out of Rust: ``segtui._core.Column`` objects expose Rust vectors through the buffer
protocol; :func:`to_series` wraps them as polars Series without copying.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

_NUMPY = {"int64": np.int64, "int32": np.int32, "uint32": np.uint32, "uint8": np.uint8, "float64": np.float64}
_ARROW = {"int64": pa.int64(), "int32": pa.int32(), "uint32": pa.uint32(), "uint8": pa.uint8(), "float64": pa.float64()}


TextSpec = tuple[Any, Any, Any, int, int]


def text_column(values: pl.Series | pa.Array | pa.ChunkedArray) -> TextSpec:
    """The ``(validity, offsets, data, offset, length)`` spec of a text column for ``_core``."""
    if isinstance(values, pl.Series):
        if values.dtype != pl.String:
            values = values.cast(pl.String)
        arr: Any = values.to_arrow()
    else:
        arr = values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    validity, offsets, data = arr.buffers()
    # pyarrow buffers export as signed bytes ("b"); the core wants typed views
    u8 = (lambda b: None if b is None else np.frombuffer(b, dtype=np.uint8))
    valid = None if arr.null_count == 0 else u8(validity)
    return (valid, np.frombuffer(offsets, dtype=np.int64), u8(data), arr.offset, len(arr))


def num_column(values: pl.Series | np.ndarray, dtype: Any = np.int64) -> np.ndarray:
    """A contiguous numpy array of ``dtype`` for ``_core`` (a view when no cast is needed)."""
    if isinstance(values, pl.Series):
        if values.null_count():
            raise ValueError(f"column {values.name!r} has nulls where the core needs numbers")
        arr = values.to_numpy()
    else:
        arr = values
    return np.ascontiguousarray(arr, dtype=dtype)


def to_series(name: str, col: Any) -> pl.Series:
    """Wrap a ``_core.Column`` as a polars Series (no copy)."""
    dtype = col.dtype
    buf = pa.py_buffer(col)
    arr = pa.Array.from_buffers(_ARROW[dtype], len(col), [None, buf])
    return pl.Series(name, arr)


def to_frame(cols: Mapping[str, Any]) -> pl.DataFrame:
    """A polars DataFrame from a mapping of names to ``_core.Column`` (or ready Series)."""
    return pl.DataFrame([c if isinstance(c, pl.Series) else to_series(n, c) for n, c in cols.items()])

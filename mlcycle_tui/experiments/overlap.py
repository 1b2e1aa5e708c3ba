"""Which rows a model trained on: row keys that survive a new dataset version.

Why this exists: a champion and a challenger may only be compared on rows that
neither of them trained on. A newer dataset version usually holds most of the
older one's rows, so the challenger's test split is full of rows the champion
fitted; scored there, an overfitting champion looks far better than it is.
Every training run stores the keys of its training rows (`train_rows.npz`);
the comparison keeps the test rows whose key is in neither model's set.

A key is a 64-bit hash of a row's values over a set of columns, made so that
the same row gives the same key in another dataset version: numbers are
compared as floats (1 == 1.0, -0.0 == 0.0), dates as instants, everything
else as text, missing as missing.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TRAIN_ROWS_ARTIFACT = "train_rows.npz"
_MISSING_TEXT = "\x00missing"


def _canonical(series: pd.Series) -> Any:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = pd.to_numeric(series, errors="coerce").astype(float).to_numpy() + 0.0  # -0.0 -> 0.0
        return np.where(np.isnan(values), np.nan, values)
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series
        if getattr(series.dt, "tz", None) is not None:
            stamps = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return stamps.to_numpy(dtype="datetime64[ns]").view("int64")  # NaT: the smallest int64
    text = series.astype("string")
    return text.astype(object).where(text.notna(), _MISSING_TEXT).to_numpy()


def row_keys(frame: pd.DataFrame, columns: Iterable[str]) -> np.ndarray:
    """One uint64 per row of `frame` over `columns` (order does not matter)."""
    import numpy as np
    import pandas as pd

    names = sorted(columns)
    if not names:
        return np.zeros(len(frame), dtype=np.uint64)
    parts = pd.DataFrame({name: _canonical(frame[name].reset_index(drop=True)) for name in names})
    return pd.util.hash_pandas_object(parts, index=False).to_numpy(dtype=np.uint64)


def pack(frame: pd.DataFrame) -> bytes:
    """The keys of a training frame over all its columns, as the bytes of `train_rows.npz`."""
    import numpy as np

    buffer = io.BytesIO()
    columns = [str(c) for c in frame.columns]
    np.savez(buffer, keys=row_keys(frame, columns), columns=np.array(sorted(columns), dtype=str))
    return buffer.getvalue()


def unpack(data: bytes) -> tuple[list[str], np.ndarray]:
    """(columns, keys) from the bytes `pack` wrote."""
    import numpy as np

    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        return [str(c) for c in stored["columns"]], stored["keys"]


def unseen(test: pd.DataFrame, seen: Iterable[tuple[list[str], np.ndarray]]) -> np.ndarray:
    """A mask over `test`: True where the row's key is in none of the `seen` key sets.

    Each key set comes with the columns it was made over; `test` must hold them all
    (the caller recomputes a set over fewer columns when it does not).
    """
    import numpy as np

    keep = np.ones(len(test), dtype=bool)
    for columns, keys in seen:
        keep &= ~np.isin(row_keys(test, columns), keys)
    return keep

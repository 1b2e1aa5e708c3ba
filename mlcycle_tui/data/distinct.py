"""Distinct counts of a column read block by block: exact up to a limit, then left to HyperLogLog.

Why this exists: a streamed ingest sees a column a block at a time, and the merge state of
`profiling` keeps exact value counts only up to STATE_CAP (1,000) distinct values, above
which its distinct count is a HyperLogLog estimate. The kind of a column (id, text or
categorical) is decided on its distinct count, so an estimate would let a streamed version
differ from the same file ingested in memory. Here the 64-bit hashes of each column's distinct
values are kept (8 bytes a value) until there are more than `limit` of them; past that the
count is the estimate (the profile then says `distinct_approximate`). A hash collision (about
n^2 / 2^65: one in 30 million for a million values) would make the count one too small.
"""

from __future__ import annotations

from typing import Any

DEFAULT_LIMIT = 1_000_000  # distinct values counted exactly per column: at most 8 MB of hashes each


class DistinctCounter:
    """The exact distinct count of the values added so far, or None once past `limit`."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        import numpy as np

        self.limit = limit
        self._hashes: Any = np.empty(0, dtype=np.uint64)  # sorted, distinct; None when given up

    @property
    def count(self) -> int | None:
        return None if self._hashes is None else int(self._hashes.size)

    def add(self, hashes: Any) -> None:
        """Add the hashes of a block's distinct values (as `value_hashes` gives them)."""
        import numpy as np

        if self._hashes is None or not len(hashes):
            return
        fresh = np.sort(np.asarray(hashes, dtype=np.uint64))
        # two sorted runs: the stable sort (timsort here) merges them in linear time
        both = np.sort(np.concatenate([self._hashes, fresh]), kind="stable")
        keep = np.empty(both.size, dtype=bool)
        keep[:1] = True
        np.not_equal(both[1:], both[:-1], out=keep[1:])
        merged = both[keep]
        self._hashes = merged if merged.size <= self.limit else None


def value_hashes(series: Any, family: str, factorized: tuple[Any, Any] | None = None) -> Any:
    """64-bit hashes of the distinct values a profile counts, by the column's state family:
    finite numbers (as float64; -0.0 hashes as 0.0), datetimes (their ticks), text (its distinct
    values, from `factorized` when given); booleans need none (an empty array). Unsorted: found
    with a hash table (pd.unique), not a sort."""
    import numpy as np
    import pandas as pd

    if family == "number":
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        return pd.util.hash_array(pd.unique(values[np.isfinite(values)]))  # (pd.unique: -0.0 is 0.0)
    if family == "datetime":
        present = series.dropna()
        return pd.util.hash_array(pd.unique(np.asarray(present.array.asi8, dtype=np.int64)))
    if family == "text":
        if factorized is None:
            from mlcycle_tui.data.profiling import factorize_text

            factorized = factorize_text(series)
        return pd.util.hash_array(np.asarray(factorized[1], dtype=object))
    return np.empty(0, dtype=np.uint64)

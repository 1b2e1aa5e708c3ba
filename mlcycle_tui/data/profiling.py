"""Schema inference and profiling of a data frame, computed once at ingest.

Why this exists: every later stage needs to know what each column is (its
kind decides preprocessing, validation and drift tests) and what it looked
like (the profile is what the Data screen shows and what validation compares
against). Computing it once and storing it keeps those stages cheap.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id")
TOP_VALUES = 10
HIST_BINS = 20
MAX_CATEGORIES = 1000
_ID_NAME_HINTS = ("id", "uuid", "key", "guid")


def row_hashes(frame: Any, factorized: dict[Any, Any] | None = None) -> Any:
    """One uint64 per row; equal rows give equal hashes: the values of pandas'
    `hash_pandas_object(frame, index=False)`, so content hashes stay comparable.

    pandas hashes each column into an array of its own and then folds the arrays together;
    here each block of rows goes through every column and is folded in while it is still in
    cache, so no column's hashes are ever held whole (about twice as fast on a million rows,
    and a column's worth less fresh memory per column). `factorized` (column -> its
    `factorize_text` result, or a Future of it) hashes text once per distinct value.
    """
    import numpy as np

    u64 = np.uint64
    rows, count = frame.shape
    given = factorized or {}
    sources = [_hash_source(frame.iloc[:, i], given.get(frame.columns[i])) for i in range(count)]
    multipliers, mult = [], u64(1000003)
    for i in range(count):  # CPython's tuple-hash constants, as pandas' combine_hash_arrays
        multipliers.append(mult)
        mult += u64(82520 + 2 * (count - i))
    out = np.full(rows, 0x345678, dtype=u64)
    scratch = _HashScratch(min(_HASH_BLOCK, rows))
    for start in range(0, rows, _HASH_BLOCK):
        block = out[start : start + _HASH_BLOCK]
        hashed = scratch.hashed[: block.size]
        for source, multiplier in zip(sources, multipliers, strict=True):
            source(start, hashed, scratch)
            block ^= hashed
            block *= multiplier
    out += u64(97531)
    return out


_HASH_BLOCK = 32_768  # rows per block: a block and its scratch stay in a core's L2 cache


class _HashScratch:
    """Block-sized working arrays, made once per hashing run."""

    def __init__(self, size: int) -> None:
        import numpy as np

        self.hashed = np.empty(size, dtype=np.uint64)
        self.shifted = np.empty(size, dtype=np.uint64)
        self.hit = np.empty(size, dtype=bool)


HashSource = Callable[[int, Any, _HashScratch], None]


def _hash_source(series: Any, factorized: Any = None) -> HashSource:
    """A function writing pandas' hashes of one column's block starting at a row into `out`.

    64-bit numbers, datetimes and booleans get pandas' arithmetic inline; text columns
    one hash per distinct value, picked by code; anything else is hashed by pandas whole."""
    import numpy as np
    import pandas as pd

    factorized = resolved(factorized)
    if factorized is None and not is_text(series):
        dtype = series.dtype
        if isinstance(dtype, np.dtype) and (dtype.kind == "b" or (dtype.kind in "fiumMm" and dtype.itemsize == 8)):
            return _numeric_source(series.to_numpy())
        whole = pd.util.hash_pandas_object(series, index=False).to_numpy()
        return lambda start, out, _scratch: np.copyto(out, whole[start : start + out.size])
    codes, uniques = factorized if factorized is not None else factorize_text(series)
    distinct = pd.util.hash_pandas_object(pd.Series(uniques, dtype=series.dtype), index=False).to_numpy()
    missing = pd.util.hash_pandas_object(pd.Series([None], dtype=series.dtype), index=False).to_numpy()
    table = np.concatenate([distinct, missing])
    # mode "wrap": code -1 (missing) picks the last entry, and no bounds-check copy is made
    return lambda start, out, _scratch: np.take(table, codes[start : start + out.size], out=out, mode="wrap")


def _numeric_source(values: Any) -> HashSource:
    """pandas' `hash_array` arithmetic for a 64-bit numeric, datetime or boolean array: floats
    canonicalised so that -0.0 and every NaN hash alike, then the splitmix64 finaliser."""
    import numpy as np

    u64 = np.uint64
    is_float = values.dtype.kind == "f"
    bits = values if values.dtype.kind == "b" else values.view(u64)
    nan_bits, minus_zero_bits = np.array(np.nan).view(u64), np.array(-0.0).view(u64)

    def hash_block(start: int, out: Any, scratch: _HashScratch) -> None:
        stop = start + out.size
        tmp, hit = scratch.shifted[: out.size], scratch.hit[: out.size]
        np.copyto(out, bits[start:stop], casting="unsafe")
        if is_float:
            np.isnan(values[start:stop], out=hit)
            np.copyto(out, nan_bits, where=hit)
            np.equal(out, minus_zero_bits, out=hit)
            np.copyto(out, u64(0), where=hit)
        np.right_shift(out, u64(30), out=tmp)
        out ^= tmp
        out *= u64(0xBF58476D1CE4E5B9)
        np.right_shift(out, u64(27), out=tmp)
        out ^= tmp
        out *= u64(0x94D049BB133111EB)
        np.right_shift(out, u64(31), out=tmp)
        out ^= tmp

    return hash_block


def is_text(series: Any) -> bool:
    import pandas as pd

    return series.dtype == object or (
        pd.api.types.is_string_dtype(series) and not isinstance(series.dtype, pd.CategoricalDtype)
    )


def resolved(value: Any) -> Any:
    """A factorisation handed over as a Future (still being made on another thread) or as is."""
    return value.result() if hasattr(value, "result") else value


def factorize_text(series: Any) -> tuple[Any, Any]:
    """(codes, distinct values) of a text column; missing values get code -1."""
    import pandas as pd

    try:
        return pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable objects (lists, dicts): compare them as text
        return pd.factorize(series.astype(str), use_na_sentinel=True)


def content_sha256(frame: Any, hashes: Any | None = None) -> str:
    """A hash of the data itself (names, dtypes, values), independent of the file."""
    h = hashlib.sha256()
    for name, dtype in zip(frame.columns, frame.dtypes, strict=True):
        h.update(f"{name}\x1f{dtype}\x1e".encode())
    if hashes is None:
        hashes = row_hashes(frame)
    h.update(memoryview(hashes))  # the array's own buffer: no copy
    return h.hexdigest()


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _looks_like_id(name: str) -> bool:
    low = name.lower()
    return low in _ID_NAME_HINTS or any(low.endswith(s) for s in ("_id", "id", "_uuid", "_key"))


def infer_kind(
    name: str, series: Any, nunique: int, non_null: int, distinct: Any | None = None
) -> str:
    """The column's kind; `distinct` (its distinct values, when known) saves a pass."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series):
        if (
            pd.api.types.is_integer_dtype(series)
            and non_null > 20
            and nunique == non_null
            and _looks_like_id(name)
        ):
            return "id"
        return "numeric"
    # strings and objects
    if non_null == 0:
        return "categorical"
    if nunique <= 2 and non_null > 0:
        values = distinct if distinct is not None else series.dropna().unique()
        lowered = {str(v).strip().lower() for v in list(values)[:3]}
        if lowered <= {"true", "false", "yes", "no", "y", "n", "t", "f"}:
            return "boolean"
    sample = series.dropna().head(1000).astype(str)
    mean_len = float(sample.str.len().mean()) if len(sample) else 0.0
    spaces = float(sample.str.contains(" ", regex=False).mean()) if len(sample) else 0.0
    ratio = nunique / non_null
    if non_null > 20 and ratio > 0.5 and (mean_len > 30 or spaces > 0.5):
        return "text"
    if non_null > 20 and (ratio > 0.95 or (_looks_like_id(name) and ratio > 0.5)):
        return "id"
    return "categorical"


_QUANTILES = (("p01", 0.01), ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95),
              ("p99", 0.99))


def _sorted_quantile(values: Any, q: float) -> float:
    """Linear-interpolation quantile of an already sorted array (numpy's default method)."""
    pos = q * (values.size - 1)
    lo = int(pos)
    hi = min(lo + 1, values.size - 1)
    return float(values[lo] + (values[hi] - values[lo]) * (pos - lo))


def _numeric_stats(series: Any) -> tuple[int, int, dict[str, Any]]:
    """(distinct count, missing count, statistics) from one sort: fast for millions of values."""
    import numpy as np

    raw = series.to_numpy()
    if raw.dtype == np.float64:
        values = np.sort(raw)  # the one copy
    else:
        values = series.to_numpy(dtype="float64", na_value=np.nan)  # a new array: sorted in place
        values.sort()
    # NaN (missing) sorts last and infinities to the ends: the finite values are one slice, no copy
    missing = values.size - int(np.searchsorted(values, np.nan, "left"))
    values = values[np.searchsorted(values, -np.inf, "right") : np.searchsorted(values, np.inf, "left")]
    if not values.size:
        return 0, missing, {"min": None, "max": None, "mean": None, "std": None, "quantiles": {}, "histogram": None}
    nunique = 1 + int(np.count_nonzero(values[1:] != values[:-1]))
    lo, hi, mean = float(values[0]), float(values[-1]), float(values.mean())
    bins = min(HIST_BINS, nunique)
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    idx = np.searchsorted(values, edges, side="left")
    idx[-1] = values.size
    stats = {
        "min": _finite(lo),
        "max": _finite(hi),
        "mean": _finite(mean),
        "std": _finite(_std(values, mean)) if values.size > 1 else 0.0,
        "quantiles": {k: _finite(_sorted_quantile(values, q)) for k, q in _QUANTILES},
        "histogram": {"edges": [_finite(e) for e in edges], "counts": [int(c) for c in np.diff(idx)]},
    }
    return nunique, missing, stats


def _std(values: Any, mean: float, block: int = 65_536) -> float:
    """Sample standard deviation, two-pass and exact like `np.std(ddof=1)`, summed block by block
    so that no temporary array as large as the column is made (and page-faulted in)."""
    import numpy as np

    total = 0.0
    buf = np.empty(min(block, values.size))
    for start in range(0, values.size, block):
        part = values[start : start + block]
        d = np.subtract(part, mean, out=buf[: part.size])
        total += float(np.multiply(d, d, out=d).sum())  # not np.dot: BLAS threads would spin beside us
    return math.sqrt(total / (values.size - 1))


def profile_column(name: str, series: Any, factorized: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Kind and statistics of one column; text columns use their (codes, distinct values)."""
    import numpy as np
    import pandas as pd

    rows = len(series)
    is_bool = pd.api.types.is_bool_dtype(series)
    is_time = pd.api.types.is_datetime64_any_dtype(series)
    is_number = pd.api.types.is_numeric_dtype(series) and not is_bool
    textual = not (is_bool or is_time or is_number) and is_text(series)
    top: list[tuple[Any, int]] = []
    distinct = None
    counts: Any = None
    stats: dict[str, Any] = {}
    if textual:
        codes, distinct = factorized if factorized is not None else factorize_text(series)
        counts = np.bincount(codes + 1, minlength=len(distinct) + 1)  # code -1 (missing) counts first
        missing, counts = int(counts[0]), counts[1:]
        nunique = len(distinct)
        order = np.argsort(-counts, kind="stable")[:TOP_VALUES]  # ties: first seen first
        top = [(distinct[i], int(counts[i])) for i in order]
    elif is_number:
        nunique, missing, stats = _numeric_stats(series)
    else:
        missing = int(series.isna().sum())
        if is_bool or is_time:
            nunique = int(series.nunique(dropna=True))
        else:
            value_counts = series.value_counts(dropna=True)
            nunique = len(value_counts)
            distinct = value_counts.index
            counts = value_counts.to_numpy()
            top = [(k, int(v)) for k, v in value_counts.head(TOP_VALUES).items()]
    non_null = rows - missing
    kind = infer_kind(name, series, nunique, non_null, distinct)
    col: dict[str, Any] = {
        "name": name,
        "dtype": str(series.dtype),
        "kind": kind,
        "missing": missing,
        "missing_share": (missing / rows) if rows else 0.0,
        "unique": nunique,
    }
    if is_bool:
        col["top"] = [{"value": bool(k), "count": int(v)} for k, v in series.value_counts(dropna=True).items()]
    elif is_time:
        values = series.dropna()
        col["min"] = values.min().isoformat() if non_null else None
        col["max"] = values.max().isoformat() if non_null else None
    elif is_number:
        col.update(stats)
        if kind == "numeric" and nunique <= TOP_VALUES:
            counted = series.value_counts(dropna=True)
            col["top"] = [{"value": _finite(k), "count": int(v)} for k, v in counted.items()]
    else:
        assert distinct is not None
        col["top"] = [{"value": str(k), "count": c} for k, c in top]
        if nunique <= MAX_CATEGORIES:  # mean length and numeric share exact: distinct values weighted
            col["categories"] = sorted(str(k) for k in distinct)
            col["mean_length"], col["numeric_share"] = _text_shape(distinct, counts)
        else:
            sample = _sample(series)
            col["mean_length"] = _finite(sample.astype(str).str.len().mean()) if len(sample) else None
            col["numeric_share"] = _numeric_share(sample)
    return col


def _text_shape(distinct: Any, counts: Any) -> tuple[float | None, float]:
    """(mean length, share that parses as a number) of text values given as distinct values
    and their counts: exact over the whole column, at the cost of the distinct values only."""
    import numpy as np
    import pandas as pd

    total = int(counts.sum())
    if not total:
        return None, 0.0
    texts = pd.Series(np.asarray(distinct, dtype=object)).astype(str)
    lengths = texts.str.len().to_numpy(dtype=float)
    numeric = pd.to_numeric(texts, errors="coerce").notna().to_numpy()
    return _finite(float((lengths * counts).sum()) / total), float(counts[numeric].sum()) / total


def analyse_column(name: str, series: Any, factorized: Any = None) -> dict[str, Any]:
    """The profile of one column, sharing the text columns' factorisation (`factorized`: the
    column's `factorize_text`, or a Future of it, when already under way)."""
    return profile_column(name, series, resolved(factorized))


def _sample(series: Any, size: int = 5000) -> Any:
    """An evenly spread sample of the non-missing values (deterministic): every k-th row, then
    the missing ones left out (cheaper than dropping them from the whole column first)."""
    step = max(1, len(series) // size)
    return series.iloc[::step].dropna()


def _numeric_share(sample: Any) -> float:
    """Share of (sampled, non-null) string values that parse as numbers (mixed-type check)."""
    import pandas as pd

    if sample.empty:
        return 0.0
    return float(pd.to_numeric(sample.astype(str), errors="coerce").notna().mean())


def worker_threads() -> int:
    """Threads for ingest's file writing and column profiling: the CPUs this process may use
    (at least 2, so that the file is written beside the profiling; at most 8)."""
    import os

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = os.cpu_count() or 1
    return max(2, min(usable, 8))


def analyse_frame(frame: Any, workers: int | None = None) -> tuple[dict[str, Any], Any]:
    """(profile, row hashes) of a frame; columns are profiled on `workers` threads (ingest
    uses `profile_and_digest`, which shares its pool with the file writer).

    NumPy sorts, pandas factorisation of Arrow strings and hashing release the GIL,
    so on a multi-core machine the columns really run side by side.
    """
    workers = worker_threads() if workers is None else workers
    if workers > 1 and frame.shape[1] > 1 and len(frame) >= 50_000:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlcycle-profile") as own:
            factorized = {
                name: own.submit(factorize_text, frame[name]) for name in frame.columns if is_text(frame[name])
            }
            profiles, hashes = _analyse_on(own, frame, factorized)
    else:
        factorized = {name: factorize_text(frame[name]) for name in frame.columns if is_text(frame[name])}
        profiles = [analyse_column(str(n), frame[n], factorized.get(n)) for n in frame.columns]
        hashes = row_hashes(frame, factorized)
    return _table_profile(profiles, _duplicate_count(hashes), len(frame)), hashes


def profile_and_digest(
    frame: Any, pool: Any, factorized: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    """(profile, `content_sha256`) of a frame: the columns are profiled as tasks of `pool` (text
    columns reuse `factorized`, name -> Future, when given) while the calling thread hashes
    the rows, digests them and counts duplicates."""
    profiles, hashes = _analyse_on(pool, frame, factorized)
    return _table_profile(profiles, _duplicate_count(hashes), len(frame)), content_sha256(frame, hashes)


def _analyse_on(pool: Any, frame: Any, factorized: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], Any]:
    """Column profiles, each a task of `pool`, and the row hashes, made meanwhile on this thread."""
    names = list(frame.columns)
    # text columns (the slowest) first, so that the last tasks are short ones
    order = sorted(range(len(names)), key=lambda i: not is_text(frame[names[i]]))
    given = factorized or {}
    futures = {
        i: pool.submit(analyse_column, str(names[i]), frame[names[i]], given.get(names[i])) for i in order
    }
    hashes = row_hashes(frame, given)
    return [futures[i].result() for i in range(len(names))], hashes


def _duplicate_count(hashes: Any) -> int:
    """Rows whose hash an earlier row already has (sort + compare: far faster than np.unique's
    hashing on millions of uint64)."""
    import numpy as np

    ordered = np.sort(hashes)
    return int(np.count_nonzero(ordered[1:] == ordered[:-1])) if ordered.size else 0


def _table_profile(columns: list[dict[str, Any]], duplicates: int, rows: int) -> dict[str, Any]:
    return {"rows": rows, "duplicate_rows": duplicates, "columns": columns}


def profile_frame(frame: Any) -> dict[str, Any]:
    """Schema and statistics of every column, plus whole-table facts."""
    return analyse_frame(frame)[0]


def schema_of(profile: dict[str, Any]) -> list[dict[str, str]]:
    """The schema part of a profile: name, dtype and kind per column."""
    return [{"name": c["name"], "dtype": c["dtype"], "kind": c["kind"]} for c in profile["columns"]]

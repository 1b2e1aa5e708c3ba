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


def looks_like_id(name: str) -> bool:
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
        return kind_from_facts(name, "number", pd.api.types.is_integer_dtype(series), nunique, non_null)
    if non_null == 0:
        return "categorical"
    if nunique <= 2 and non_null > 0:
        values = distinct if distinct is not None else series.dropna().unique()
        first = [str(v) for v in list(values)[:3]]
    else:
        first = []
    sample = series.dropna().head(1000).astype(str)
    head = (len(sample), int(sample.str.len().sum()), int(sample.str.contains(" ", regex=False).sum()))
    return kind_from_facts(name, "text", False, nunique, non_null, first, head)


def kind_from_facts(
    name: str, family: str, integer: bool, nunique: int, non_null: int,
    first: list[str] | None = None, head: tuple[int, int, int] = (0, 0, 0),
) -> str:
    """The kind rule of `infer_kind` on facts a merged profile keeps: `family` ("boolean",
    "datetime", "number" or "text"), the first distinct values (as text, when at most 2),
    and (count, total length, values with a space) of the first 1000 non-missing values."""
    if family in ("boolean", "datetime"):
        return family
    if family == "number":
        if integer and non_null > 20 and nunique == non_null and looks_like_id(name):
            return "id"
        return "numeric"
    # strings and objects
    if non_null == 0:
        return "categorical"
    if nunique <= 2 and non_null > 0:
        lowered = {v.strip().lower() for v in (first or [])[:3]}
        if lowered <= {"true", "false", "yes", "no", "y", "n", "t", "f"}:
            return "boolean"
    count, length, spaced = head
    mean_len = length / count if count else 0.0
    spaces = spaced / count if count else 0.0
    ratio = nunique / non_null
    if non_null > 20 and ratio > 0.5 and (mean_len > 30 or spaces > 0.5):
        return "text"
    if non_null > 20 and (ratio > 0.95 or (looks_like_id(name) and ratio > 0.5)):
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
    return math.sqrt(_squares(values, mean, block) / (values.size - 1))


def _squares(values: Any, mean: float, block: int = 65_536) -> float:
    """The sum of squared deviations from `mean` (see `_std`)."""
    import numpy as np

    total = 0.0
    buf = np.empty(min(block, values.size))
    for start in range(0, values.size, block):
        part = values[start : start + block]
        d = np.subtract(part, mean, out=buf[: part.size])
        total += float(np.multiply(d, d, out=d).sum())  # not np.dot: BLAS threads would spin beside us
    return total


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
            col["mean_length"], col["numeric_share"] = sample_shape(_sample(series))
    return col


def sample_shape(sample: Any) -> tuple[float | None, float]:
    """(mean length, share that parses as a number) of a sample of a text column's non-missing
    values (`text_sample` tells which rows): the profile of a column past MAX_CATEGORIES."""
    return (_finite(sample.astype(str).str.len().mean()) if len(sample) else None), _numeric_share(sample)


def text_sample_rows(rows: int, size: int = 5000) -> tuple[int, int]:
    """(step, count) of the rows `_sample` takes from a column of `rows` rows: every step-th."""
    step = max(1, rows // size)
    return step, -(-rows // step)


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
    step, _count = text_sample_rows(len(series), size)
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


# -- mergeable profiles: the profile of a version made of parts ---------------------------
# A version that a source builds from the previous version's parts plus one new part gets
# its profile by merging a summary of the previous version ("state") with one of the new
# rows, never by reading the old rows again. What is exact and what is estimated:
# - exact: rows, missing, min/max, mean/std (Chan's pairwise update: equal to recomputing up
#   to floating-point rounding), datetime min/max, and every statistic of a column with at
#   most STATE_CAP distinct values (its value counts are kept: distinct count, top values,
#   categories, mean length, numeric share, kind, quantiles and histogram all exact).
# - above STATE_CAP distinct values, the value counts give way to mergeable sketches, which
#   merge without loss (merging adds counts or takes maxima), so the error does not grow
#   with the number of parts: distinct count by HyperLogLog (4,096 registers: about 1.6%
#   standard error, never below STATE_CAP + 1 or above the non-missing count), quantiles and
#   histogram counts by a KLL sketch (quantiles are values of the data whose rank is off by
#   about 1% of the rows at most, with high probability; histogram edges stay exact and the
#   counts add up to the rows; the sketch's coin flips are seeded, so a version's profile is
#   reproducible), top text values by Misra-Gries (every value more frequent than 1/1001 of
#   the rows is listed; counts are lower bounds). Integer and datetime columns keep an exact
#   "all values distinct" flag (an id stays an id, increasing ids and arrival times keep an
#   exact distinct count; see `_still_distinct`); a text column's kind does not flip on an
#   estimate within 5% of a threshold. Text mean length and numeric share stay exact (a
#   one-file profile samples 5,000 rows above 1,000 distinct values).
# A profile made from a state says what it estimated: `distinct_approximate` (a HyperLogLog
# count; a streamed ingest keeps exact counts in `distinct` up to its limit), and, past
# STATE_CAP values, `quantiles_approximate` (KLL) and `top_approximate` (Misra-Gries).
STATE_CAP = MAX_CATEGORIES
STATE_FORMAT = 1
_HLL_BITS = 12
_KLL_K = 256  # capacity of the top compactor: about 1% rank error (99%), ~800 values kept
_KIND_MARGIN = 0.05  # an estimated distinct count must clear a kind threshold by this much
_HEAD_SAMPLE = 1000  # infer_kind looks at the first 1000 non-missing text values


def state_family(series: Any) -> str | None:
    """The family a column's merge state is kept for, or None (a dtype the merge does not
    handle, e.g. categoricals or nullable extension types: such data is stored whole)."""
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "b":
            return "boolean"
        if dtype.kind in "iuf":
            return "number"
        if dtype.kind == "M":
            return "datetime"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime"
    if is_text(series) and not isinstance(dtype, pd.CategoricalDtype):
        plain = isinstance(dtype, np.dtype) and dtype.kind == "O"
        if plain and pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
            return None
        return "text"
    return None


def frame_state(frame: Any, factorized: dict[Any, Any] | None = None) -> dict[str, Any] | None:
    """The merge state of a whole frame (None when a column's dtype has no state)."""
    given = factorized or {}
    return _table_state(frame, [column_state(str(n), frame[n], given.get(n)) for n in frame.columns])


def state_and_hashes(frame: Any, pool: Any, factorized: dict[Any, Any] | None = None) -> tuple[Any, Any]:
    """(`frame_state`, `row_hashes`) of a frame: the columns' states are tasks of `pool` while
    the calling thread hashes the rows (as `profile_and_digest`)."""
    given = factorized or {}
    futures = [pool.submit(column_state, str(n), frame[n], given.get(n)) for n in frame.columns]
    hashes = row_hashes(frame, given)
    return _table_state(frame, [f.result() for f in futures]), hashes


def _table_state(frame: Any, columns: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    if any(c is None for c in columns):
        return None
    return {"format": STATE_FORMAT, "rows": len(frame), "columns": columns}


def column_state(name: str, series: Any, factorized: Any = None) -> dict[str, Any] | None:
    """The merge state of one column (see the comment above STATE_CAP), or None."""
    import numpy as np
    import pandas as pd

    family = state_family(series)
    if family is None:
        return None
    rows = len(series)
    col: dict[str, Any] = {"name": name, "dtype": str(series.dtype), "family": family, "rows": rows}
    if family == "number":
        raw = series.to_numpy(dtype="float64", na_value=np.nan)
        ordered = np.sort(raw)  # one sort: NaN (missing) last, infinities at the ends
        present = ordered[: int(np.searchsorted(ordered, np.nan, "left"))]
        finite = present[np.searchsorted(present, -np.inf, "right") : np.searchsorted(present, np.inf, "left")]
        col["missing"] = rows - present.size
        col["integer"] = bool(series.dtype.kind in "iu")
        starts = np.flatnonzero(np.r_[True, present[1:] != present[:-1]]) if present.size else np.zeros(0, int)
        mean = float(finite.mean()) if finite.size else None  # summed sorted, as `_numeric_stats`
        col.update(n=int(finite.size), mean=mean,
                   m2=_squares(finite, mean) if finite.size > 1 else 0.0,
                   min=float(finite[0]) if finite.size else None,
                   max=float(finite[-1]) if finite.size else None,
                   all_distinct=(starts.size == present.size) if col["integer"] else None)
        if starts.size <= STATE_CAP:  # few: counted in first-seen order (the ties of `top`)
            kept = raw[~np.isnan(raw)]
            codes, keys = pd.factorize(kept)
            _set_values(col, np.asarray(keys, dtype=np.float64), np.bincount(codes, minlength=len(keys)))
        else:  # many: the sketches straight from the sorted values
            counts = np.diff(np.r_[starts, present.size])
            col["values"], col["sketch"] = None, _sketch("number", present[starts], counts)
    elif family == "boolean":
        values = series.to_numpy()
        col["missing"] = 0
        codes, keys = pd.factorize(values)
        _set_values(col, np.asarray(keys, dtype=bool), np.bincount(codes, minlength=len(keys)))
    elif family == "datetime":
        present = series.dropna()
        col["missing"] = rows - len(present)
        ticks = np.asarray(present.array.asi8, dtype=np.int64)  # in the dtype's unit: states of one dtype merge
        codes, keys = pd.factorize(ticks)
        if len(present):
            lo, hi = int(np.argmin(ticks)), int(np.argmax(ticks))
            col["min"] = [int(ticks[lo]), present.iloc[lo].isoformat()]
            col["max"] = [int(ticks[hi]), present.iloc[hi].isoformat()]
        else:
            col["min"] = col["max"] = None
        col["all_distinct"] = len(keys) == len(present)
        _set_values(col, np.asarray(keys, dtype=np.int64), np.bincount(codes, minlength=len(keys)))
    else:
        codes, distinct = resolved(factorized) if factorized is not None else factorize_text(series)
        counted = np.bincount(codes + 1, minlength=len(distinct) + 1)
        col["missing"], counts = int(counted[0]), counted[1:]
        keys = np.asarray(distinct, dtype=object)
        texts = pd.Series(keys, dtype=object)
        lengths = texts.str.len().to_numpy(dtype=np.int64) if keys.size else np.zeros(0, np.int64)
        numeric = pd.to_numeric(texts, errors="coerce").notna().to_numpy() if keys.size else np.zeros(0, bool)
        col["length"] = int((lengths * counts).sum())
        col["numeric"] = int(counts[numeric].sum())
        sample = series.dropna().head(_HEAD_SAMPLE).astype(str)
        lengths_head = sample.str.len().to_numpy(dtype=np.int64)
        spaced_head = sample.str.contains(" ", regex=False).to_numpy(dtype=bool)
        col["head"] = [len(sample), int(lengths_head.sum()), int(spaced_head.sum())]
        # a fresh state carries its first values one by one, for a merge after a base with fewer
        # than 1000 non-missing values; a merged state keeps the totals only
        col["head_values"] = [lengths_head.tolist(), spaced_head.astype(int).tolist()]
        col["inferred"] = pd.api.types.infer_dtype(series, skipna=True) if series.dtype == object else None
        _set_values(col, keys, counts)
    return col


def _set_values(col: dict[str, Any], keys: Any, counts: Any) -> None:
    """Exact value counts (first-seen order) while few, else the sketches made from them
    (`keys`: the distinct values as an array, `counts`: how often each occurs)."""
    if len(keys) <= STATE_CAP:
        col["values"] = [[k, int(c)] for k, c in zip(keys.tolist(), counts, strict=True)]
        col["sketch"] = None
    else:
        col["values"], col["sketch"] = None, _sketch(col["family"], keys, counts)


_KEY_TYPES = {"number": "float64", "datetime": "int64", "boolean": "bool", "text": "object"}


def _overflow(col: dict[str, Any]) -> None:
    """Replace exact value counts by the sketches (a column past STATE_CAP distinct values)."""
    import numpy as np

    pairs = col["values"]
    keys = np.array([k for k, _ in pairs], dtype=_KEY_TYPES[col["family"]])
    counts = np.array([c for _, c in pairs], dtype=np.int64)
    col["values"], col["sketch"] = None, _sketch(col["family"], keys, counts)


def _sketch(family: str, keys: Any, counts: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    counts = np.asarray(counts, dtype=np.int64)
    if family == "number":
        finite = np.isfinite(keys)  # distinct counts and quantiles are of finite values
        hashed = pd.util.hash_array(keys[finite])
    else:
        hashed = pd.util.hash_array(keys)
    sketch: dict[str, Any] = {"hll": _hll_pack(_hll_registers(hashed))}
    if family == "number":
        sketch["kll"] = _kll_from(keys[finite], counts[finite])
    if family == "text":
        sketch["mg"], sketch["mg_error"] = _mg_from(keys, counts)
    return sketch


def merge_states(base: dict[str, Any], part: dict[str, Any]) -> dict[str, Any] | None:
    """The state of `base`'s rows followed by `part`'s (None: the columns do not line up)."""
    if base.get("format") != STATE_FORMAT or part.get("format") != STATE_FORMAT:
        return None
    if [(c["name"], c["dtype"]) for c in base["columns"]] != [(c["name"], c["dtype"]) for c in part["columns"]]:
        return None
    return {"format": STATE_FORMAT, "rows": base["rows"] + part["rows"],
            "columns": [_merge_column(a, b) for a, b in zip(base["columns"], part["columns"], strict=True)]}


def _merge_column(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)  # every changed field below gets a new value: `a` itself is left as it was
    out["rows"] = a["rows"] + b["rows"]
    out["missing"] = a["missing"] + b["missing"]
    family = a["family"]
    if family == "number":
        na, nb = a["n"], b["n"]
        if nb and not na:
            out.update(n=nb, mean=b["mean"], m2=b["m2"], min=b["min"], max=b["max"])
        elif nb:
            n, delta = na + nb, b["mean"] - a["mean"]
            out.update(n=n, mean=a["mean"] + delta * nb / n, m2=a["m2"] + b["m2"] + delta * delta * na * nb / n,
                       min=min(a["min"], b["min"]), max=max(a["max"], b["max"]))
        if a["integer"]:
            out["all_distinct"] = _still_distinct(a, b, a["min"], a["max"], b["min"], b["max"])
    elif family == "datetime":
        for key, pick in (("min", min), ("max", max)):
            if a[key] is None or b[key] is None:
                out[key] = a[key] if b[key] is None else b[key]
            else:
                out[key] = pick(a[key], b[key], key=lambda v: v[0])
        if a["min"] is not None and b["min"] is not None:
            out["all_distinct"] = _still_distinct(a, b, a["min"][0], a["max"][0], b["min"][0], b["max"][0])
        else:
            out["all_distinct"] = b["all_distinct"] if a["min"] is None else a["all_distinct"]
    elif family == "text":
        out["length"] = a["length"] + b["length"]
        out["numeric"] = a["numeric"] + b["numeric"]
        out["head"] = _merge_head(a, b)
        if a["inferred"] != b["inferred"] and "empty" not in (a["inferred"], b["inferred"]):
            out["inferred"] = "mixed"
        elif a["inferred"] == "empty":
            out["inferred"] = b["inferred"]
    out.pop("head_values", None)
    if a["values"] is not None and b["values"] is not None:
        merged: dict[Any, int] = {k: c for k, c in a["values"]}
        for k, c in b["values"]:
            merged[k] = merged.get(k, 0) + c
        out["values"] = [[k, c] for k, c in merged.items()]
        out["sketch"] = None
        if (family == "number" and a["integer"]) or family == "datetime":
            out["all_distinct"] = len(merged) == out["rows"] - out["missing"]
        if len(merged) > STATE_CAP:
            _overflow(out)
        return out
    sa, sb = _sketched(a), _sketched(b)
    import numpy as np

    sketch: dict[str, Any] = {"hll": _hll_pack(np.maximum(_hll_unpack(sa["hll"]), _hll_unpack(sb["hll"])))}
    if "kll" in sa:
        sketch["kll"] = _kll_merge(sa["kll"], sb["kll"])
    if "mg" in sa:
        sketch["mg"], sketch["mg_error"] = _mg_reduce(sa["mg"] + sb["mg"], sa["mg_error"] + sb["mg_error"])
    out["values"], out["sketch"] = None, sketch
    return out


def _still_distinct(a: dict[str, Any], b: dict[str, Any], a_lo: Any, a_hi: Any, b_lo: Any, b_hi: Any
                    ) -> bool | None:
    """Whether all non-missing values of `a` then `b` differ, given that each side's do (or
    not): True when the ranges do not overlap, None (unknown here) when they do."""
    if a["all_distinct"] is False or b["all_distinct"] is False:
        return False
    apart = a_lo is None or b_lo is None or b_lo > a_hi or b_hi < a_lo
    return True if (a["all_distinct"] and b["all_distinct"] and apart) else None


def _sketched(col: dict[str, Any]) -> dict[str, Any]:
    if col["sketch"] is not None:
        return col["sketch"]
    probe = {"family": col["family"], "values": col["values"]}
    _overflow(probe)
    return probe["sketch"]


def _merge_head(a: dict[str, Any], b: dict[str, Any]) -> list[int]:
    """(count, total length, values with a space) of the first 1000 non-missing values of
    `a`'s rows followed by `b`'s."""
    have, length, spaced = a["head"]
    wanted = _HEAD_SAMPLE - have
    if wanted <= 0 or not b["head"][0]:
        return [have, length, spaced]
    if b["head"][0] <= wanted:  # all of b's first values fit
        return [have + b["head"][0], length + b["head"][1], spaced + b["head"][2]]
    if "head_values" in b:
        lengths, spaces = b["head_values"]
        return [_HEAD_SAMPLE, length + sum(lengths[:wanted]), spaced + sum(spaces[:wanted])]
    share = wanted / b["head"][0]  # a merged `b` (not how versions are made): in proportion
    return [_HEAD_SAMPLE, length + round(b["head"][1] * share), spaced + round(b["head"][2] * share)]


def profile_from_state(state: dict[str, Any], duplicates: int) -> dict[str, Any]:
    """The profile (as `profile_frame` makes it) that a merge state describes. Each column's
    kind is also noted in `state`: a later merge keeps it when an estimate is near a threshold."""
    columns = [_column_profile(c) for c in state["columns"]]
    for c, col in zip(state["columns"], columns, strict=True):
        c["kind"] = col["kind"]
    return _table_profile(columns, duplicates, state["rows"])


def _column_profile(c: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    rows, missing, family = c["rows"], c["missing"], c["family"]
    non_null = rows - missing
    pairs = c["values"]
    exact = pairs is not None
    counted = c.get("distinct")  # an exact distinct count kept beside the sketch (streamed ingest)
    if family == "number":
        finite_keys = [k for k, _ in pairs if math.isfinite(k)] if exact else []
        if exact:
            nunique = len(finite_keys)
        elif counted is not None:
            nunique = counted
        elif c["integer"] and c["all_distinct"]:
            nunique = c["n"]
        else:  # (a repeated integer is known: then fewer distinct values than values)
            repeats = c["integer"] and c["all_distinct"] is False
            nunique = _hll_estimate(_hll_unpack(c["sketch"]["hll"]), c["n"] - 1 if repeats else c["n"])
        kind = kind_from_facts(c["name"], "number", c["integer"], nunique, non_null)
    elif family == "text":
        if exact or counted is not None:
            nunique = len(pairs) if exact else counted
        else:
            nunique = _hll_estimate(_hll_unpack(c["sketch"]["hll"]), non_null)
        first = [str(k) for k, _ in pairs[:3]] if exact and nunique <= 2 else []
        kind = kind_from_facts(c["name"], "text", False, nunique, non_null, first, tuple(c["head"]))
        if not exact and counted is None:  # an estimate near a threshold keeps the kind the column had
            low, high = (kind_from_facts(c["name"], "text", False, round(nunique * f), non_null, [],
                                         tuple(c["head"])) for f in (1 - _KIND_MARGIN, 1 + _KIND_MARGIN))
            if low != high and c.get("kind") in (low, high):
                kind = c["kind"]
    elif family == "datetime" and not exact and c["all_distinct"]:
        nunique, kind = non_null, family
    elif not exact and counted is not None:
        nunique, kind = counted, family
    else:
        repeats = family == "datetime" and c["all_distinct"] is False
        nunique = len(pairs) if exact else _hll_estimate(_hll_unpack(c["sketch"]["hll"]), non_null - repeats)
        kind = family
    col: dict[str, Any] = {"name": c["name"], "dtype": c["dtype"], "kind": kind, "missing": missing,
                           "missing_share": (missing / rows) if rows else 0.0, "unique": nunique}
    if not exact and counted is None and not (family == "datetime" and c["all_distinct"]) \
            and not (family == "number" and c["integer"] and c["all_distinct"]):
        col["distinct_approximate"] = True  # a HyperLogLog estimate
    if family == "boolean":
        col["top"] = [{"value": bool(k), "count": int(v)} for k, v in _by_count(pairs)]
    elif family == "datetime":
        col["min"] = c["min"][1] if c["min"] else None
        col["max"] = c["max"][1] if c["max"] else None
    elif family == "number":
        col.update(_number_stats(c, nunique))
        if not exact and c["n"]:
            col["quantiles_approximate"] = True  # quantiles and histogram counts of a KLL sketch
        if kind == "numeric" and nunique <= TOP_VALUES and exact:
            col["top"] = [{"value": _finite(k), "count": int(v)} for k, v in _by_count(pairs)]
    else:
        if exact:
            counts = np.array([v for _, v in pairs], dtype=np.int64)
            order = np.argsort(-counts, kind="stable")[:TOP_VALUES]
            col["top"] = [{"value": str(pairs[i][0]), "count": int(counts[i])} for i in order]
        else:
            col["top"] = [{"value": str(k), "count": int(v)} for k, v in _by_count(c["sketch"]["mg"])[:TOP_VALUES]]
            col["top_approximate"] = True  # Misra-Gries: the counts are lower bounds
        if exact and nunique <= MAX_CATEGORIES:
            col["categories"] = sorted(str(k) for k, _ in pairs)
        col["mean_length"] = _finite(c["length"] / non_null) if non_null else None
        col["numeric_share"] = (c["numeric"] / non_null) if non_null else 0.0
    return col


def _by_count(pairs: list[list[Any]]) -> list[tuple[Any, int]]:
    """(value, count) by count, largest first, ties in first-seen order (as `value_counts`)."""
    order = sorted(range(len(pairs)), key=lambda i: -pairs[i][1])  # sorted() is stable
    return [(pairs[i][0], pairs[i][1]) for i in order]


def _number_stats(c: dict[str, Any], nunique: int) -> dict[str, Any]:
    """min, max, mean, std, quantiles and histogram, as `_numeric_stats` gives them."""
    import numpy as np

    n = c["n"]
    if not n:
        return {"min": None, "max": None, "mean": None, "std": None, "quantiles": {}, "histogram": None}
    lo, hi = c["min"], c["max"]
    if c["values"] is not None:
        pairs = sorted((k, v) for k, v in c["values"] if math.isfinite(k))
        points = np.array([k for k, _ in pairs], dtype=np.float64)
        weights = np.array([v for _, v in pairs], dtype=np.int64)
    else:
        points, weights = _kll_points(c["sketch"]["kll"])
    ends = np.cumsum(weights)  # rank r (0-based) is points[searchsorted(ends, r, "right")]

    def at(rank: int) -> Any:
        return points[min(int(np.searchsorted(ends, rank, "right")), points.size - 1)]

    def quantile(q: float) -> float:
        pos = q * (n - 1)
        below = int(pos)
        above = min(below + 1, n - 1)
        return float(at(below) + (at(above) - at(below)) * (pos - below))

    bins = min(HIST_BINS, nunique)
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    if c["values"] is not None:
        before = np.concatenate([[0], ends])[np.searchsorted(points, edges, side="left")]
        before[-1] = n
        counts = np.diff(before)
    else:  # estimated ranks of the edges: the weight of the kept values below each
        before = np.concatenate([[0], ends])[np.searchsorted(points, edges, side="left")]
        before[0], before[-1] = 0, n
        counts = np.diff(before)
    std = math.sqrt(c["m2"] / (n - 1)) if n > 1 else 0.0
    return {
        "min": _finite(lo),
        "max": _finite(hi),
        "mean": _finite(c["mean"]),
        "std": _finite(std) if n > 1 else 0.0,
        "quantiles": {k: _finite(quantile(q)) for k, q in _QUANTILES},
        "histogram": {"edges": [_finite(e) for e in edges], "counts": [int(v) for v in counts]},
    }


# -- the sketches ----------------------------------------------------------------------------
def _hll_registers(hashes: Any) -> Any:
    """HyperLogLog registers (2**_HLL_BITS of them) of 64-bit value hashes."""
    import numpy as np

    registers = np.zeros(1 << _HLL_BITS, dtype=np.uint8)
    if len(hashes):
        h = np.asarray(hashes, dtype=np.uint64)
        index = (h >> np.uint64(64 - _HLL_BITS)).astype(np.int64)
        rest = h & np.uint64((1 << (64 - _HLL_BITS)) - 1)
        width = np.zeros(h.size, dtype=np.int64)
        nonzero = rest > 0
        width[nonzero] = np.frexp(rest[nonzero].astype(np.float64))[1]  # bit length
        rank = (64 - _HLL_BITS) - width + 1
        np.maximum.at(registers, index, rank.astype(np.uint8))
    return registers


def _hll_pack(registers: Any) -> str:
    import base64
    import zlib

    return base64.b64encode(zlib.compress(registers.astype("uint8").tobytes(), 6)).decode("ascii")


def _hll_unpack(text: str) -> Any:
    import base64
    import zlib

    import numpy as np

    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8).copy()


def _hll_estimate(registers: Any, at_most: int) -> int:
    """The estimated distinct count: more than STATE_CAP (the exact counts overflowed) and at
    most `at_most` (the non-missing values)."""
    import numpy as np

    reg = np.asarray(registers, dtype=np.float64)
    m = reg.size
    raw = (0.7213 / (1 + 1.079 / m)) * m * m / float(np.sum(np.exp2(-reg)))
    zeros = int(np.count_nonzero(reg == 0))
    estimate = m * math.log(m / zeros) if raw <= 2.5 * m and zeros else raw
    return int(min(max(round(estimate), STATE_CAP + 1), at_most))


def _kll_from(values: Any, counts: Any) -> dict[str, Any]:
    """A KLL sketch of `values`, each `counts` times: a value of weight w goes to the levels of
    the bits of w (level h holds weight 2**h), so the weights are exact from the start."""
    import numpy as np

    counts = np.asarray(counts, dtype=np.int64)
    levels = []
    top = int(counts.max()).bit_length() if counts.size else 0
    for h in range(max(top, 1)):
        levels.append(values[(counts >> h) & 1 == 1])
    return _kll_pack(*_kll_compress(levels, 0x9E3779B97F4A7C15))


def _kll_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    la, lb = _kll_unpack(a), _kll_unpack(b)
    levels = [np.concatenate([la[h] if h < len(la) else np.empty(0), lb[h] if h < len(lb) else np.empty(0)])
              for h in range(max(len(la), len(lb)))]
    return _kll_pack(*_kll_compress(levels, _mix64(a["seed"] ^ _mix64(b["seed"]))))


def _kll_capacity(level: int, depth: int) -> int:
    return max(2, math.ceil(_KLL_K * (2 / 3) ** (depth - 1 - level)))


def _kll_compress(levels: list[Any], seed: int) -> tuple[list[Any], int]:
    """Compact the lowest over-full level until the sketch fits: its values sorted, every
    other one (from a coin-flipped start) goes up a level with twice the weight; an odd one
    out stays. The total weight is unchanged."""
    import numpy as np

    while True:
        depth = len(levels)
        if sum(v.size for v in levels) <= sum(_kll_capacity(h, depth) for h in range(depth)):
            return levels, seed
        h = next(h for h in range(depth) if levels[h].size >= _kll_capacity(h, depth))
        values = levels[h]
        if values.size > 1 and not bool((values[1:] >= values[:-1]).all()):  # often sorted already
            values = np.sort(values)
        odd = values.size % 2
        seed = _mix64(seed)
        if h + 1 == depth:
            levels.append(np.empty(0))
        levels[h + 1] = np.concatenate([levels[h + 1], values[odd:][seed & 1 :: 2]])
        levels[h] = values[:odd]


def _mix64(x: int) -> int:
    """splitmix64's finaliser: the sketch's reproducible coin."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _kll_pack(levels: list[Any], seed: int) -> dict[str, Any]:
    import base64

    import numpy as np

    return {"seed": seed, "levels": [base64.b64encode(np.sort(v).astype("<f8").tobytes()).decode("ascii")
                                     for v in levels]}


def _kll_unpack(sketch: dict[str, Any]) -> list[Any]:
    import base64

    import numpy as np

    return [np.frombuffer(base64.b64decode(t), dtype="<f8").astype(np.float64) for t in sketch["levels"]]


def _kll_points(sketch: dict[str, Any]) -> tuple[Any, Any]:
    """(kept values ascending, their weights)."""
    import numpy as np

    levels = _kll_unpack(sketch)
    values = np.concatenate(levels) if levels else np.empty(0)
    weights = np.concatenate([np.full(v.size, 1 << h, dtype=np.int64) for h, v in enumerate(levels)]) \
        if levels else np.empty(0, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    return values[order], weights[order]


def _mg_from(keys: Any, counts: Any) -> tuple[list[list[Any]], int]:
    """`_mg_reduce` of distinct values and their counts, without listing them all."""
    import numpy as np

    if keys.size <= STATE_CAP:
        return [[k, int(c)] for k, c in zip(keys.tolist(), counts, strict=True)], 0
    cut = int(np.partition(counts, keys.size - STATE_CAP - 1)[keys.size - STATE_CAP - 1])
    keep = counts > cut
    return [[k, int(c) - cut] for k, c in zip(keys[keep].tolist(), counts[keep], strict=True)], cut


def _mg_reduce(pairs: list[list[Any]], error: int) -> tuple[list[list[Any]], int]:
    """Misra-Gries: at most STATE_CAP counters; when more, every count is lowered by the
    (STATE_CAP + 1)-th largest and the ones left at zero dropped. `error` (the total lowered
    so far) bounds how far below its true count any listed count is."""
    merged: dict[Any, int] = {}
    for k, c in pairs:
        merged[k] = merged.get(k, 0) + c
    if len(merged) <= STATE_CAP:
        return [[k, c] for k, c in merged.items()], error
    cut = sorted(merged.values(), reverse=True)[STATE_CAP]
    return [[k, c - cut] for k, c in merged.items() if c > cut], error + cut

"""Schema inference and profiling of a data frame, computed once at ingest.

Why this exists: every later stage needs to know what each column is (its
kind decides preprocessing, validation and drift tests) and what it looked
like (the profile is what the Data screen shows and what validation compares
against). Computing it once and storing it keeps those stages cheap.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id")
TOP_VALUES = 10
HIST_BINS = 20
MAX_CATEGORIES = 1000
_ID_NAME_HINTS = ("id", "uuid", "key", "guid")


def row_hashes(frame: Any) -> Any:
    """One uint64 per row; equal rows give equal hashes."""
    import pandas as pd

    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def content_sha256(frame: Any, hashes: Any | None = None) -> str:
    """A hash of the data itself (names, dtypes, values), independent of the file."""
    h = hashlib.sha256()
    for name, dtype in zip(frame.columns, frame.dtypes, strict=True):
        h.update(f"{name}\x1f{dtype}\x1e".encode())
    if hashes is None:
        hashes = row_hashes(frame)
    h.update(hashes.tobytes())
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


def infer_kind(name: str, series: Any, nunique: int, non_null: int) -> str:
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
        lowered = {str(v).strip().lower() for v in series.dropna().unique()[:3]}
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


def profile_column(name: str, series: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    rows = len(series)
    missing = int(series.isna().sum())
    non_null = rows - missing
    nunique = int(series.nunique(dropna=True))
    kind = infer_kind(name, series, nunique, non_null)
    col: dict[str, Any] = {
        "name": name,
        "dtype": str(series.dtype),
        "kind": kind,
        "missing": missing,
        "missing_share": (missing / rows) if rows else 0.0,
        "unique": nunique,
    }
    if pd.api.types.is_bool_dtype(series):
        counts = series.value_counts(dropna=True)
        col["top"] = [{"value": bool(k), "count": int(v)} for k, v in counts.items()]
    elif kind == "datetime" or pd.api.types.is_datetime64_any_dtype(series):
        values = series.dropna()
        col["min"] = values.min().isoformat() if non_null else None
        col["max"] = values.max().isoformat() if non_null else None
    elif pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        values = values[np.isfinite(values)]
        if values.size:
            qs = np.quantile(values, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
            col.update(
                min=_finite(values.min()),
                max=_finite(values.max()),
                mean=_finite(values.mean()),
                std=_finite(values.std(ddof=1)) if values.size > 1 else 0.0,
                quantiles={
                    k: _finite(v)
                    for k, v in zip(("p01", "p05", "p25", "p50", "p75", "p95", "p99"), qs, strict=True)
                },
            )
            counts, edges = np.histogram(values, bins=min(HIST_BINS, max(1, nunique)))
            col["histogram"] = {
                "edges": [_finite(e) for e in edges],
                "counts": [int(c) for c in counts],
            }
        else:
            col.update(min=None, max=None, mean=None, std=None, quantiles={}, histogram=None)
        if kind == "numeric" and nunique <= TOP_VALUES:
            counts = series.value_counts(dropna=True)
            col["top"] = [{"value": _finite(k), "count": int(v)} for k, v in counts.items()]
    else:
        counts = series.value_counts(dropna=True)
        col["top"] = [{"value": str(k), "count": int(v)} for k, v in counts.head(TOP_VALUES).items()]
        if nunique <= MAX_CATEGORIES:
            col["categories"] = sorted(str(k) for k in counts.index)
        if len(series):
            lengths = series.dropna().astype(str).str.len()
            col["mean_length"] = _finite(lengths.mean()) if len(lengths) else None
        col["numeric_share"] = _numeric_share(series)
    return col


def _numeric_share(series: Any) -> float:
    """Share of non-null string values that parse as numbers (mixed-type check)."""
    import pandas as pd

    values = series.dropna()
    if values.empty:
        return 0.0
    sample = values.sample(n=min(len(values), 5000), random_state=0) if len(values) > 5000 else values
    parsed = pd.to_numeric(sample.astype(str), errors="coerce")
    return float(parsed.notna().mean())


def profile_frame(frame: Any, hashes: Any | None = None) -> dict[str, Any]:
    """Schema and statistics of every column, plus whole-table facts."""
    import numpy as np

    if hashes is None:
        hashes = row_hashes(frame)
    duplicates = int(len(hashes) - np.unique(hashes).size) if len(hashes) else 0
    return {
        "rows": len(frame),
        "duplicate_rows": duplicates,
        "columns": _profile_columns(frame),
    }


def _profile_columns(frame: Any) -> list[dict[str, Any]]:
    """Profile columns on a few threads (NumPy and Arrow release the GIL)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    names = [str(n) for n in frame.columns]
    if len(frame) < 50_000 or len(names) < 2:
        return [profile_column(n, frame[n]) for n in names]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda n: profile_column(n, frame[n]), names))


def schema_of(profile: dict[str, Any]) -> list[dict[str, str]]:
    """The schema part of a profile: name, dtype and kind per column."""
    return [{"name": c["name"], "dtype": c["dtype"], "kind": c["kind"]} for c in profile["columns"]]

"""The catalog's fitted preprocessing as plain data, applied with NumPy, to the bit.

Why this exists: on mixed data most of an online answer's time went to the
preprocessing (pandas and scikit-learn checks around a few additions): 7 ms of
15 for one row. The pipelines mlcycle builds (experiments/preprocess.py) have
three kinds of column group, each a short fixed recipe, so their fitted state
fits in a few arrays and lists:
- numeric: imputed by the median, a missing-value indicator per column that had
  gaps at fit time, scaled;
- categorical and boolean: each value's canonical text (experiments/category_text),
  the most frequent category for a missing one, then a one-hot position (read from
  the fitted OneHotEncoder itself for every category and for an unknown one, so
  infrequent buckets come out as scikit-learn makes them) or an ordinal code (-1
  when unknown);
- datetime: year, month, day, weekday and hour from the datetime64 values, imputed
  by the median, scaled.

`Preprocessing.features(columns)` builds the same float64 matrix as the
ColumnTransformer's `transform`; registry/compiled.py checks that on probe rows
before a compiled model is ever used. Columns arrive as the server's input
checks leave them (server/inputs.conform): floats, datetime64 values, raw
category values.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlcycle_tui.experiments.category_text import category_text
from mlcycle_tui.registry.compiled_estimators import Unsupported, need

_UNKNOWN = "\x00mlcycle: a category never seen\x00"
PARTS = ("year", "month", "day", "weekday", "hour")


class Preprocessing:
    """The compiled ColumnTransformer: groups in the order their features are stacked."""

    def __init__(self, groups: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> None:
        self.groups = groups
        self.arrays = arrays  # as saved: "g<i>.<name>"
        self.group_arrays = [{k[len(f"g{i}."):]: v for k, v in arrays.items() if k.startswith(f"g{i}.")}
                             for i in range(len(groups))]  # per group: its arrays by name
        self._tables = [[dict(zip(e["categories"], e["codes"], strict=True)) for e in g["encode"]]
                        if g["kind"] == "categorical" else None for g in groups]

    def kinds(self, n_inputs: int) -> list[str | None]:
        """Per input column: "numeric", "categorical" or "datetime" (None: not read)."""
        out: list[str | None] = [None] * n_inputs
        for g in self.groups:
            for j in g["columns"]:
                out[j] = g["kind"]
        return out

    def features(self, columns: list[np.ndarray]) -> np.ndarray:
        n = len(columns[0]) if columns else 0
        blocks = []
        for i, (g, a) in enumerate(zip(self.groups, self.group_arrays, strict=True)):
            values = [columns[j] for j in g["columns"]]
            if g["kind"] == "numeric":
                blocks.append(_numeric(values, a, g, n))
            elif g["kind"] == "datetime":
                blocks.append(_datetime(values, a, g, n))
            else:
                blocks.append(_categorical(values, g, self._tables[i], n))
        return np.hstack(blocks) if blocks else np.empty((n, 0))


def _scaled(X: np.ndarray, a: dict[str, np.ndarray], g: dict[str, Any]) -> np.ndarray:
    if g["with_mean"]:
        X -= a["mean"]
    if g["with_std"]:
        X /= a["scale"]
    return X


def _impute(X: np.ndarray, statistics: np.ndarray) -> np.ndarray:
    missing = np.isnan(X)
    if missing.any():
        X[missing] = np.take(statistics, np.nonzero(missing)[1])
    return X


def _numeric(values: list[np.ndarray], a: dict[str, np.ndarray], g: dict[str, Any], n: int) -> np.ndarray:
    X = np.column_stack(values).astype(np.float64, copy=True) if values else np.empty((n, 0))
    indicator = a["indicator"]
    flags = np.isnan(X[:, indicator]).astype(np.float64) if indicator.size else None
    X = _impute(X, a["statistics"])
    if flags is not None:
        X = np.hstack([X, flags])
    return _scaled(X, a, g)


def _datetime(values: list[np.ndarray], a: dict[str, np.ndarray], g: dict[str, Any], n: int) -> np.ndarray:
    blocks = []
    for stamps in values:
        parts = date_parts(stamps)
        blocks.extend(parts[p] for p in g["parts"])
    X = np.column_stack(blocks) if blocks else np.empty((n, 0))
    return _scaled(_impute(X, a["statistics"]), a, g)


def date_parts(stamps: np.ndarray) -> dict[str, np.ndarray]:
    """Year, month, day, weekday (Monday = 0) and hour of datetime64 values as floats, NaN for NaT
    (the numbers pandas' `.dt` accessors give; NumPy's unit casts round towards the past)."""
    nat = np.isnat(stamps)
    if nat.any():
        stamps = np.where(nat, np.zeros(1, dtype=stamps.dtype), stamps)  # computed as 1970, then NaN
    days = stamps.astype("datetime64[D]")
    months = stamps.astype("datetime64[M]")
    m = months.astype(np.int64)
    years = np.floor_divide(m, 12)
    out = {
        "year": years + 1970,
        "month": m - 12 * years + 1,
        "day": (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
        "weekday": np.mod(days.astype(np.int64) + 3, 7),  # 1970-01-01 was a Thursday
        "hour": np.floor_divide(stamps - days.astype(stamps.dtype), np.timedelta64(1, "h")).astype(np.int64),
    }
    floats = {}
    for name, v in out.items():
        f = v.astype(np.float64)
        f[nat] = np.nan
        floats[name] = f
    return floats


def _categorical(values: list[np.ndarray], g: dict[str, Any], tables: list[dict[str, int]], n: int) -> np.ndarray:
    out = np.zeros((n, g["width"]), dtype=np.float64)
    boolean, fill = g["boolean"], g["fill"]
    for j, (column, encode, table) in enumerate(zip(values, g["encode"], tables, strict=True)):
        texts = [category_text(v, boolean) for v in column]
        texts = [fill[j] if isinstance(t, float) else t for t in texts]  # missing (NaN): the most frequent
        offset, unknown = encode["offset"], encode["unknown"]
        codes = np.fromiter((table.get(t, unknown) for t in texts), dtype=np.int64, count=n)
        if encode["kind"] == "ordinal":
            out[:, offset] = codes
        else:
            hit = codes >= 0
            out[np.flatnonzero(hit), offset + codes[hit]] = 1.0
    return out


# --- compiling ------------------------------------------------------------------------------------

def compile_preprocessing(prep: Any, inputs: list[str]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """(groups, arrays) of a fitted ColumnTransformer built by experiments/preprocess; Unsupported
    for anything else (another transformer, other settings, statistics that are not plain values)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlcycle_tui.experiments.preprocess import (
        CategoricalEncoder,
        CategoryCoercer,
        DatetimeParts,
        NumericCoercer,
    )

    need(isinstance(prep, ColumnTransformer))
    position = {name: j for j, name in enumerate(inputs)}
    groups: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for name, steps, cols in prep.transformers_:
        if name == "remainder" and steps == "drop":
            continue
        need(isinstance(steps, Pipeline) and len(steps.steps) == 3 and all(c in position for c in cols))
        first, impute, last = (s for _, s in steps.steps)
        need(type(impute) is SimpleImputer and impute.missing_values is not None
             and isinstance(impute.missing_values, float) and np.isnan(impute.missing_values))
        columns = [position[c] for c in cols]
        key = f"g{len(groups)}."
        if type(first) is NumericCoercer and type(last) is StandardScaler:
            group, got = _numeric_group(impute, last, columns)
        elif type(first) is DatetimeParts and type(last) is StandardScaler:
            group, got = _datetime_group(first, impute, last, columns)
        elif type(first) is CategoryCoercer and type(last) is CategoricalEncoder:
            group, got = _categorical_group(first, impute, last, columns)
        else:
            raise Unsupported
        groups.append(group)
        arrays.update({key + k: v for k, v in got.items()})
    return groups, arrays


def _floats(values: Any, size: int) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    need(out.shape == (size,) and not np.isnan(out).any())
    return out


def _scaler(scale: Any, size: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    flags = {"with_mean": bool(scale.with_mean), "with_std": bool(scale.with_std)}
    arrays = {"mean": _floats(scale.mean_ if scale.with_mean else np.zeros(size), size),
              "scale": _floats(scale.scale_ if scale.with_std else np.ones(size), size)}
    return flags, arrays


def _numeric_group(impute: Any, scale: Any, columns: list[int]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    need(impute.strategy == "median")
    statistics = _floats(impute.statistics_, len(columns))
    indicator = np.asarray(impute.indicator_.features_ if impute.add_indicator else [], dtype=np.int64)
    if impute.add_indicator:
        need(getattr(impute.indicator_, "features", "missing-only") == "missing-only")
    width = len(columns) + len(indicator)
    flags, arrays = _scaler(scale, width)
    return ({"kind": "numeric", "columns": columns, "width": width, **flags},
            {"statistics": statistics, "indicator": indicator, **arrays})


def _datetime_group(parts: Any, impute: Any, scale: Any,
                    columns: list[int]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    need(impute.strategy == "median" and not impute.add_indicator and set(parts.parts) <= set(PARTS))
    width = len(columns) * len(parts.parts)
    flags, arrays = _scaler(scale, width)
    return ({"kind": "datetime", "columns": columns, "width": width, "parts": list(parts.parts), **flags},
            {"statistics": _floats(impute.statistics_, width), **arrays})


def _categorical_group(coerce: Any, impute: Any, encoder: Any,
                       columns: list[int]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    need(impute.strategy == "most_frequent" and not impute.add_indicator)
    fill = list(np.asarray(impute.statistics_, dtype=object))
    need(len(fill) == len(columns) and all(isinstance(v, str) for v in fill))
    encode: list[dict[str, Any] | None] = [None] * len(columns)
    offset = 0
    if encoder.onehot_ is not None:
        for j, entry in zip(encoder.onehot_columns_, _onehot_tables(encoder.onehot_), strict=True):
            encode[j] = entry  # the one-hot blocks come first, from offset 0
        offset = _onehot_width(encoder.onehot_)
    if encoder.ordinal_ is not None:
        for k, (j, categories) in enumerate(zip(encoder.ordinal_columns_, encoder.ordinal_.categories_, strict=True)):
            categories = list(np.asarray(categories, dtype=object))
            need(all(isinstance(c, str) for c in categories))
            encode[j] = {"kind": "ordinal", "categories": categories, "codes": list(range(len(categories))),
                         "unknown": -1, "offset": offset + k, "width": 1}
        offset += len(encoder.ordinal_columns_)
    need(all(e is not None for e in encode))
    return ({"kind": "categorical", "columns": columns, "width": offset, "boolean": bool(coerce.boolean),
             "fill": fill, "encode": encode}, {})


def _onehot_width(onehot: Any) -> int:
    return int(sum(onehot._n_features_outs))


def _onehot_tables(onehot: Any) -> list[dict[str, Any]]:
    """Per column of a fitted OneHotEncoder: each category's output position within its block (and an
    unknown value's, -1 for none), read from the encoder's own answers, so infrequent buckets and
    unknown values come out exactly as it makes them."""
    widths = getattr(onehot, "_n_features_outs", None)
    need(widths is not None and len(widths) == len(onehot.categories_) and onehot.drop is None)
    base = [np.asarray(c, dtype=object)[0] for c in onehot.categories_]
    tables, offset = [], 0
    for j, (categories, width) in enumerate(zip(onehot.categories_, widths, strict=True)):
        categories = list(np.asarray(categories, dtype=object))
        need(all(isinstance(c, str) for c in categories))
        rows = np.array([base] * (len(categories) + 1), dtype=object)
        rows[:, j] = [*categories, _UNKNOWN]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            block = np.asarray(onehot.transform(rows))[:, offset:offset + width]
        need(block.shape == (len(categories) + 1, width) and set(np.unique(block)) <= {0.0, 1.0}
             and (block.sum(axis=1) <= 1).all())
        positions = [int(np.argmax(r)) if r.any() else -1 for r in block]
        tables.append({"kind": "onehot", "categories": categories, "codes": positions[:-1],
                       "unknown": positions[-1], "offset": offset, "width": int(width)})
        offset += int(width)
    need(offset == _onehot_width(onehot))
    return tables

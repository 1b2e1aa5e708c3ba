"""Preprocessing: from a dataset's column descriptions to a scikit-learn Pipeline.

Training, evaluation and serving all use the one pipeline built here, so the
model artifact carries its own preprocessing: a server can pass it JSON rows
(numbers as strings, missing values, unseen categories) and get the same
answer as training would. Everything in the pipeline is a module-level class
following the scikit-learn estimator contract, so a fitted pipeline pickles
with joblib and reloads in another process.

Column kinds come from profiling ("numeric", "categorical", "boolean",
"datetime", "text", "id"):
- numeric: tolerant numeric conversion, median impute (+ missing indicator),
  standard scaling;
- categorical/boolean: values normalised to strings, most-frequent impute,
  one-hot encoding for up to `MAX_ONEHOT` distinct values (decided at fit
  time, per column), ordinal encoding above that;
- datetime: year, month, day, weekday and hour parts, imputed and scaled;
- text and id: dropped unless named in `include`. The target never is a feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments.category_text import category_text

MAX_ONEHOT = 30  # categorical columns with more distinct values get ordinal codes
MAX_CLASSES_FOR_INTEGER_TARGET = 20  # integer targets with at most this many values: classes
FEATURE_KINDS = ("numeric", "categorical", "boolean", "datetime")
DROPPED_KINDS = ("text", "id")
DATETIME_PARTS = ("year", "month", "day", "weekday", "hour")


# --- task inference --------------------------------------------------------------

def _numeric_values(y: pd.Series) -> pd.Series | None:
    """The target as floats if every present value is numeric, else None."""
    if pd.api.types.is_bool_dtype(y):
        return None
    if pd.api.types.is_numeric_dtype(y):
        return y.astype(float)
    converted = pd.to_numeric(y, errors="coerce")
    return converted.astype(float) if converted.notna().sum() == y.notna().sum() else None


def _is_integral(values: pd.Series) -> bool:
    return bool(np.all(np.mod(values.to_numpy(dtype=float), 1.0) == 0.0))


def infer_task(y: pd.Series, kind: str | None = None) -> str:
    """'classification' or 'regression' for a target column.

    `kind` may force the task ("classification"/"regression") or be the
    column's profiled kind ("numeric" lets the values decide; "categorical",
    "boolean", "text" and "id" mean classification). Without a forced task:
    non-numeric or boolean values, or few (<= 20) distinct integers, mean
    classification; other numbers mean regression. Raises UserError for an
    all-missing target, a single class, a non-numeric target forced to
    regression, or a continuous target forced to classification.
    """
    y = pd.Series(y)
    present = y.dropna()
    if present.empty:
        raise UserError(f"target {y.name!r} has no values (all missing)")
    nunique = present.nunique()
    if nunique < 2:
        raise UserError(
            f"target {y.name!r} has a single value ({present.iloc[0]!r}); "
            "a model needs at least two classes or distinct values"
        )
    numbers = _numeric_values(present)
    if kind == "regression":
        if numbers is None:
            raise UserError(
                f"target {y.name!r} is not numeric, so it cannot be a regression target"
            )
        return "regression"
    if kind == "classification":
        if numbers is not None and not _is_integral(numbers) and nunique > 50:
            raise UserError(
                f"target {y.name!r} has {nunique} distinct non-integer values: "
                "it looks continuous; use regression"
            )
        return "classification"
    if kind in ("categorical", "boolean", "text", "id") or numbers is None:
        return "classification"
    if _is_integral(numbers) and nunique <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return "classification"
    return "regression"


# --- transformers (picklable, estimator contract) -----------------------------------

def _as_frame(X: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    return pd.DataFrame(np.asarray(X, dtype=object), columns=names)


class _ColumnsBase(TransformerMixin, BaseEstimator):
    """Records the input column names at fit (`feature_names_in_`-like)."""

    def _remember(self, X: Any) -> pd.DataFrame:
        frame = _as_frame(X)
        self.columns_ = [str(c) for c in frame.columns]
        self.n_features_in_ = len(self.columns_)
        return frame

    def _input_names(self, input_features: Any) -> list[str]:
        return self.columns_ if input_features is None else [str(c) for c in input_features]


class NumericCoercer(_ColumnsBase):
    """Converts every column to float; values that are not numbers become NaN.

    Lets a server pass "3.5" (JSON strings) or "" and still get a number or a
    missing value for the imputer that follows.
    """

    def fit(self, X: Any, y: Any = None) -> NumericCoercer:
        self._remember(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X, self.columns_)
        if frame.shape[1] == 0:
            return np.empty((len(frame), 0))
        if all(isinstance(d, np.dtype) and d.kind in "fiu" for d in frame.dtypes):
            return frame.to_numpy(dtype=float)  # plain numbers: one conversion, no per-column work
        columns = [_to_float(frame.iloc[:, i]) for i in range(frame.shape[1])]
        return np.column_stack(columns)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self._input_names(input_features), dtype=object)


def _to_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan)
    values = series.astype(object)
    try:
        cleaned = values.str.strip().str.replace(",", "", regex=False)  # NaN where the value is not a string
    except AttributeError:  # no string at all in the column
        cleaned = None
    if cleaned is not None:
        values = cleaned.where(cleaned.notna(), values)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


_category_text = category_text  # (the name the tests and older code use)


# Types whose equal values always have the same category text, so a column can be
# converted one distinct value at a time (Decimal("1.0") == Decimal("1") is not one).
_HASHABLE_TYPES = (str, int, float, bool, type(None), np.str_, np.int64, np.int32, np.float64, np.float32,
                   np.bool_)
_type_of = np.frompyfunc(type, 1, 1)


def _category_texts(values: np.ndarray, boolean: bool) -> np.ndarray:
    """`_category_text` of every value of an object array, computed once per distinct value.

    Values are grouped by exact type first (1, 1.0 and True are equal to Python but
    are the categories "1", "1" and "true"), then factorized within the type.
    """
    out = np.empty(len(values), dtype=object)
    if len(values) == 0:
        return out
    type_codes, kinds = pd.factorize(_type_of(values))
    for j, kind in enumerate(kinds):
        mask = type_codes == j
        part = values if mask.all() else values[mask]
        if kind in _HASHABLE_TYPES:
            codes, uniques = pd.factorize(part)  # missing values (None, NaN) get code -1
            texts = np.empty(len(uniques) + 1, dtype=object)
            texts[:-1] = [_category_text(u, boolean) for u in uniques]
            texts[-1] = np.nan
            converted = texts[codes]
        else:
            converted = np.empty(len(part), dtype=object)
            converted[:] = [_category_text(v, boolean) for v in part]
        if part is values:
            return converted
        out[mask] = converted
    return out


class CategoryCoercer(_ColumnsBase):
    """Normalises categories to strings (1, 1.0 and "1" are one category).

    With `boolean=True`, true/yes/1 and false/no/0 (any case) map to "true"
    and "false". Missing values (None, NaN, "") become NaN for the imputer.
    """

    def __init__(self, boolean: bool = False) -> None:
        self.boolean = boolean

    def fit(self, X: Any, y: Any = None) -> CategoryCoercer:
        self._remember(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X, self.columns_)
        out = np.empty(frame.shape, dtype=object)
        for i in range(frame.shape[1]):
            out[:, i] = _category_texts(frame.iloc[:, i].astype(object).to_numpy(), self.boolean)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self._input_names(input_features), dtype=object)


class CategoricalEncoder(_ColumnsBase):
    """One-hot for low-cardinality columns, ordinal codes for the others.

    The choice is made per column at fit time from the number of distinct
    values (`max_onehot`). Unknown categories at transform time become
    all-zeros (one-hot, or the infrequent bucket when there is one) or -1
    (ordinal). Expects imputed string values.
    """

    def __init__(self, max_onehot: int = MAX_ONEHOT, min_frequency: float | int = 0.01) -> None:
        self.max_onehot = max_onehot
        self.min_frequency = min_frequency

    def fit(self, X: Any, y: Any = None) -> CategoricalEncoder:
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

        frame = self._remember(X).astype(object)
        counts = [frame.iloc[:, i].nunique(dropna=True) for i in range(frame.shape[1])]
        self.onehot_columns_ = [i for i, n in enumerate(counts) if n <= self.max_onehot]
        self.ordinal_columns_ = [i for i, n in enumerate(counts) if n > self.max_onehot]
        self.onehot_ = self.ordinal_ = None
        if self.onehot_columns_:
            self.onehot_ = OneHotEncoder(
                handle_unknown="infrequent_if_exist", min_frequency=self.min_frequency,
                sparse_output=False,
            ).fit(frame.iloc[:, self.onehot_columns_].to_numpy())
        if self.ordinal_columns_:
            self.ordinal_ = OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=-1,
                encoded_missing_value=-1,
            ).fit(frame.iloc[:, self.ordinal_columns_].to_numpy())
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X, self.columns_).astype(object)
        parts = []
        if self.onehot_ is not None:
            parts.append(self.onehot_.transform(frame.iloc[:, self.onehot_columns_].to_numpy()))
        if self.ordinal_ is not None:
            parts.append(self._ordinal_codes(frame.iloc[:, self.ordinal_columns_].to_numpy()))
        return np.hstack(parts) if parts else np.empty((len(frame), 0))

    def _ordinal_codes(self, values: np.ndarray) -> np.ndarray:
        """OrdinalEncoder.transform's codes (unknown and missing: -1), from a hash index of each
        column's categories built once: OrdinalEncoder rebuilds a set and a dict of all of a column's
        categories at every call (12 ms for one row of two 5,000-category columns; this: ~0.1 ms)."""
        import pandas as pd

        indexes = self.__dict__.get("_ordinal_indexes")
        if indexes is None:
            indexes = [pd.Index(np.asarray(c, dtype=object)) for c in self.ordinal_.categories_]
            self.__dict__["_ordinal_indexes"] = indexes
        out = np.empty(values.shape, dtype=np.float64)
        for j, index in enumerate(indexes):
            out[:, j] = index.get_indexer(values[:, j])  # -1 where not a category
        return out

    def __getstate__(self) -> dict[str, Any]:  # the lookup is rebuilt after loading, not saved
        state = super().__getstate__()
        state.pop("_ordinal_indexes", None)
        return state

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        columns = self._input_names(input_features)
        names: list[str] = []
        if self.onehot_ is not None:
            base = [columns[i] for i in self.onehot_columns_]
            names += list(self.onehot_.get_feature_names_out(base))
        names += [columns[i] for i in self.ordinal_columns_]
        return np.asarray(names, dtype=object)


def _parse_datetimes(series: pd.Series) -> pd.Series:
    """Tolerant datetime parsing; falls back to per-value formats if needed."""
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
    else:
        parsed = pd.to_datetime(series, errors="coerce", utc=True)
        if parsed.isna().sum() > series.isna().sum():
            parsed = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed


class DatetimeParts(_ColumnsBase):
    """Splits each datetime column into numeric parts (NaN where missing).

    Parts default to year, month, day, weekday (Monday=0) and hour. Strings
    are parsed tolerantly; time zones are converted to UTC.
    """

    def __init__(self, parts: tuple[str, ...] = DATETIME_PARTS) -> None:
        self.parts = parts

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        unknown = set(self.parts) - set(DATETIME_PARTS)
        if unknown:
            raise ValueError(f"unknown datetime parts: {sorted(unknown)}")
        self._remember(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = _as_frame(X, self.columns_)
        blocks = []
        for i in range(frame.shape[1]):
            stamps = _parse_datetimes(frame.iloc[:, i].reset_index(drop=True))
            for part in self.parts:
                values = stamps.dt.day_of_week if part == "weekday" else getattr(stamps.dt, part)
                blocks.append(values.to_numpy(dtype=float, na_value=np.nan))
        return np.column_stack(blocks) if blocks else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        columns = self._input_names(input_features)
        return np.asarray([f"{c}_{p}" for c in columns for p in self.parts], dtype=object)


# --- feature selection and the pipeline ---------------------------------------------

def _names(values: Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    return [values] if isinstance(values, str) else list(values)


def select_features(columns: Sequence[dict[str, Any]], target: str | None,
                    include: Iterable[str] | None = None,
                    drop: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The column descriptions the model uses, in dataset order.

    Text and id columns are left out unless named in `include`; names in
    `drop` and the target always are. Unknown names in include/drop raise
    UserError, as does a selection with no feature left.
    """
    known = [c["name"] for c in columns]
    include_set, drop_set = set(_names(include)), set(_names(drop))
    unknown = sorted((include_set | drop_set) - set(known))
    if unknown:
        raise UserError(
            f"unknown column(s) {', '.join(unknown)}; columns are: {', '.join(known)}"
        )
    chosen = []
    for col in columns:
        name, kind = col["name"], col.get("kind", "categorical")
        if name == target or name in drop_set:
            continue
        if kind in DROPPED_KINDS and name not in include_set:
            continue
        chosen.append({"name": name, "dtype": str(col.get("dtype", "object")), "kind": kind})
    if not chosen:
        raise UserError(
            "no feature columns left (text and id columns are dropped unless included, "
            f"target {target!r} is never a feature)"
        )
    return chosen


def signature(columns: Sequence[dict[str, Any]], target: str | None,
              include: Iterable[str] | None = None,
              drop: Iterable[str] | None = None) -> dict[str, list[dict[str, str]]]:
    """`{"inputs": [{"name", "dtype", "kind"}]}`: the columns a model reads."""
    return {"inputs": select_features(columns, target, include, drop)}


def _group(selected: list[dict[str, Any]], *kinds: str) -> list[str]:
    return [c["name"] for c in selected if c["kind"] in kinds]


def _numeric_steps() -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("coerce", NumericCoercer()),
        ("impute", SimpleImputer(strategy="median", add_indicator=True,
                                 keep_empty_features=True)),
        ("scale", StandardScaler()),
    ])


def _categorical_steps(boolean: bool) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    return Pipeline([
        ("coerce", CategoryCoercer(boolean=boolean)),
        ("impute", SimpleImputer(strategy="most_frequent", missing_values=np.nan,
                                 keep_empty_features=True)),
        ("encode", CategoricalEncoder()),
    ])


def _datetime_steps() -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("parts", DatetimeParts()),
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
    ])


def build_preprocessor(selected: list[dict[str, Any]]) -> Any:
    """The ColumnTransformer for already selected column descriptions."""
    from sklearn.compose import ColumnTransformer

    # Text/id columns the user included are treated as categories.
    groups = [
        ("numeric", _numeric_steps(), _group(selected, "numeric")),
        ("categorical", _categorical_steps(False),
         _group(selected, "categorical", "text", "id")),
        ("boolean", _categorical_steps(True), _group(selected, "boolean")),
        ("datetime", _datetime_steps(), _group(selected, "datetime")),
    ]
    unknown = sorted({c["kind"] for c in selected} - set(FEATURE_KINDS) - set(DROPPED_KINDS))
    if unknown:
        raise UserError(f"unknown column kind(s): {', '.join(unknown)}")
    return ColumnTransformer(
        [(name, steps, cols) for name, steps, cols in groups if cols],
        remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=True,
    )


def build_pipeline(columns: Sequence[dict[str, Any]], target: str | None, estimator: Any, *,
                   include: Iterable[str] | None = None,
                   drop: Iterable[str] | None = None) -> Any:
    """Pipeline([("prep", ColumnTransformer), ("model", estimator)]), unfitted."""
    from sklearn.pipeline import Pipeline

    selected = select_features(columns, target, include, drop)
    return Pipeline([("prep", build_preprocessor(selected)), ("model", estimator)])


def describe_columns(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Column descriptions from dtypes alone, for when no profile is at hand.

    Profiling (`core.profiling`) knows more (ids, text, datetimes in strings);
    prefer its schema when there is one.
    """
    out = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series):
            kind = "boolean"
        elif pd.api.types.is_numeric_dtype(series):
            kind = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(series):
            kind = "datetime"
        else:
            kind = "categorical"
        out.append({"name": str(name), "dtype": str(series.dtype), "kind": kind})
    return out

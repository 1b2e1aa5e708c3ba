"""Request bodies to model input frames: the accepted shapes and the schema check.

Why this exists: clients send rows in the shapes MLflow and TF Serving made
common (`instances`, `dataframe_records`, `dataframe_split`, `inputs`), with
JSON's loose types. Before a row reaches a pipeline it is checked against the
model's signature so that a client error is a clear 400/422 naming the
column, never a 500 from deep inside scikit-learn.

Shapes: `instances`/`dataframe_records`/`inputs` as a list of rows (objects, or lists in
the signature's column order), `dataframe_split`, `inputs`/`instances` as columns
(`{"col": [values]}`) or as one row (`{"col": value}`, as MLflow's scoring server reads it).

Rules (the contract of 422 answers; the README owner may copy them to the user guide):
- a column of the signature absent from every row -> 422 (missing columns);
  a key absent from some rows only is a missing value;
- numeric columns take numbers, numeric strings ("3.5", "1,200") and
  null/NaN/"" (the pipeline imputes them); infinity, booleans, other strings,
  lists and objects -> 422;
- categorical, boolean, text and id columns take any scalar (unknown
  categories are the pipeline's business); lists and objects -> 422;
- datetime columns take strings or numbers pandas can parse, or null;
  anything unparseable -> 422;
- columns not in the signature are ignored and named in `warnings`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlcycle_tui.server.errors import ApiError

BODY_KEYS = ("instances", "dataframe_records", "dataframe_split", "inputs")
_MAX_BAD_SHOWN = 3
# Checks run per type and per distinct value, not per value: `_type_of` maps an object
# array to the types of its values in C; values of these types that are equal convert
# the same way, so each distinct one is converted once.
_type_of = np.frompyfunc(type, 1, 1)
_HASHABLE = (str, type(None), np.str_)
_SMALL = 32  # up to this many rows a plain loop is quicker than the vectorized checks


def body_frame(body: Any, columns: Sequence[str], *, numeric: bool = False, bool_free: bool = False) -> pd.DataFrame:
    """The rows of a request body as a frame (raises ApiError 400 for a bad shape).

    `columns` (the signature's) name the values of list-of-lists rows. `numeric` says
    that the model reads numeric columns only, so a few rows of plain numbers may go
    straight into one float array; `bool_free` (the JSON text holds no `true`/`false`)
    lets many rows go the same way.
    """
    key, value = body_key(body)
    frame = value_frame(key, value, columns, numeric=numeric, bool_free=bool_free)
    if len(frame) == 0:
        raise ApiError(400, f'"{key}" holds no rows; send at least one')
    return frame


def body_key(body: Any) -> tuple[str, Any]:
    """The one key of `BODY_KEYS` that the body holds, and its value (ApiError 400 otherwise)."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object with one of: " + ", ".join(BODY_KEYS))
    keys = [k for k in BODY_KEYS if k in body]
    if len(keys) != 1:
        found = "none of them" if not keys else "several: " + ", ".join(keys)
        raise ApiError(400, f"the body needs exactly one of {', '.join(BODY_KEYS)} (found {found})")
    return keys[0], body[keys[0]]


def value_frame(key: str, value: Any, columns: Sequence[str], *, numeric: bool = False, bool_free: bool = False,
                first_row: int = 0) -> pd.DataFrame:
    """The frame of `body[key]`; `first_row` numbers the rows in messages (a body read in slices)."""
    if key == "dataframe_split":
        return _split_frame(value, numeric, bool_free, first_row)
    if isinstance(value, dict):  # columnar: {"col": [values]} (MLflow `inputs`/`instances`), or one row
        return _columnar_frame(value, key)
    if isinstance(value, list):
        return _rows_frame(value, key, columns, first_row)
    raise ApiError(400, f'"{key}" must be a list of rows')


def _split_frame(value: Any, numeric: bool, bool_free: bool = False, first_row: int = 0) -> pd.DataFrame:
    if not isinstance(value, dict) or not isinstance(value.get("columns"), list) \
            or not isinstance(value.get("data"), list):
        raise ApiError(400, '"dataframe_split" must be {"columns": [names], "data": [[values], ...]}')
    cols = value["columns"]
    if not all(isinstance(c, str) for c in cols):
        raise ApiError(400, '"dataframe_split.columns" must be a list of strings')
    if len(set(cols)) != len(cols):
        raise ApiError(400, '"dataframe_split.columns" names a column twice')
    data = value["data"]
    width = len(cols)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise ApiError(400, f'"dataframe_split.data" row {i + first_row} is not a list of {width} values '
                                "(one per column)")
    if numeric and 0 < len(data) <= _SMALL and all(type(v) is float or type(v) is int for row in data for v in row):
        try:  # a few rows of plain numbers (the usual online request): no type inference needed
            return pd.DataFrame(np.array(data, dtype=float), columns=pd.Index(cols, dtype=object))
        except OverflowError:  # an integer too large for a float: the checks name it
            pass
    if numeric and bool_free and len(data) > _SMALL:
        # many rows for a numbers-only model, and no JSON booleans anywhere: NumPy converts
        # numbers, numeric strings and null (NaN) at once; anything else (text, infinity, too
        # large) takes the general path, whose checks name the problem
        try:
            with np.errstate(all="ignore"):
                array = np.array(data, dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            array = None
        if array is not None and not np.isinf(array).any():
            return pd.DataFrame(array, columns=pd.Index(cols, dtype=object))
    return pd.DataFrame(data, columns=cols) if data else pd.DataFrame(columns=cols)


def _columnar_frame(value: dict[str, Any], key: str) -> pd.DataFrame:
    """`{"col": [values]}` (columns) or `{"col": value}` (one row, as MLflow's scoring server reads it)."""
    if value and not any(isinstance(col, list) for col in value.values()):
        return pd.DataFrame([value])  # a value that is an object is the schema check's to refuse (422)
    lengths = set()
    for name, col in value.items():
        if not isinstance(col, list):
            raise ApiError(400, f'"{key}" as an object maps every column to a list of values (columns) or every '
                                f"column to one value (one row), not a mix: {name!r} is not a list")
        lengths.add(len(col))
    if len(lengths) > 1:
        raise ApiError(400, f'the columns of "{key}" have different lengths')
    return pd.DataFrame(value)


def _rows_frame(rows: list[Any], key: str, columns: Sequence[str], first_row: int = 0) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame()
    if all(isinstance(r, dict) for r in rows):
        frame = pd.DataFrame.from_records(rows)
        # rows that are all `{}` make no rows there; they are rows (whose columns are all missing)
        return frame if len(frame) == len(rows) else pd.DataFrame(index=range(len(rows)))
    if all(isinstance(r, list) for r in rows):
        width = len(columns)
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ApiError(422, f'row {i + first_row} of "{key}" has {len(row)} values; the model reads '
                                    f"{width} columns in this order: {', '.join(columns)}")
        return pd.DataFrame(rows, columns=list(columns))
    raise ApiError(400, f'"{key}" must be a list of objects ({{column: value}}) or of lists, not a mix')


def conform(frame: pd.DataFrame, inputs: Sequence[dict[str, Any]]) -> tuple[pd.DataFrame, list[str]]:
    """The frame reduced to the signature's columns, values checked and typed; plus warnings."""
    names = [c["name"] for c in inputs]
    present = {str(c) for c in frame.columns}
    if len(present) != len(frame.columns):
        frame.columns = [str(c) for c in frame.columns]
    missing = [n for n in names if n not in present]
    if missing:
        raise ApiError(422, f"missing column(s): {', '.join(missing)}; the model reads: {', '.join(names)}",
                       columns=missing)
    warnings = []
    extra = sorted(present - set(names))
    if extra:
        shown = ", ".join(extra[:20]) + (" ..." if len(extra) > 20 else "")
        warnings.append(f"ignored {len(extra)} column(s) the model does not read: {shown}")
    out: dict[str, Any] = {}
    problems: list[str] = []
    bad_columns: list[str] = []
    dtypes = dict(zip(frame.columns, frame.dtypes, strict=True))
    plain = [c["name"] for c in inputs
             if c.get("kind", "categorical") == "numeric" and _plain_number(dtypes[c["name"]])]
    if plain:  # columns JSON already gave as numbers: one conversion and one infinity check for all
        block = (frame if list(frame.columns) == plain else frame[plain]).to_numpy(dtype=float)
        if not np.isinf(block).any():
            if len(plain) == len(names):
                return pd.DataFrame(block, columns=names, index=range(len(frame))), warnings
            out.update(zip(plain, block.T, strict=True))
    for col in inputs:
        name, kind = col["name"], col.get("kind", "categorical")
        if name in out:
            continue
        series = frame[name]
        if kind == "numeric":
            values, bad = _numeric(series)
        elif kind == "datetime":
            values, bad = _datetime(series)
        else:
            values, bad = _scalar(series)
        if bad:
            bad_columns.append(name)
            problems.append(f"{name} ({kind}): {', '.join(bad)}")
        out[name] = values
    if problems:
        raise ApiError(422, "values that do not fit the column type: " + "; ".join(problems), columns=bad_columns)
    return pd.DataFrame({name: out[name] for name in names}, index=range(len(frame))), warnings


def _plain_number(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "fiu"


# ISO 8601 as clients write it: a date, a time to the minute, second or microsecond, an offset or Z.
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?")
_DATETIME_UNIT: list[Any] = []  # the unit pandas parses such text to ("us" in pandas 3, "ns" before)


def iso_datetime(value: str) -> datetime | None:
    """ISO 8601 text (`_ISO`) as the naive UTC datetime pandas' tolerant parsing gives, or None for
    other text and for dates that text cannot hold or pandas' nanosecond range would not."""
    if not _ISO.fullmatch(value):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:  # a day or an hour out of range: the general path says so
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp if 1678 <= stamp.year <= 2261 else None


def datetime_unit() -> Any:
    """The datetime64 unit of parsed text: as experiments/preprocess._parse_datetimes parses, without
    importing scikit-learn."""
    if not _DATETIME_UNIT:
        parsed = pd.to_datetime(pd.Series(["2021-08-22 10:11:12.5"], dtype=object), utc=True)
        _DATETIME_UNIT.append(parsed.dt.tz_localize(None).dtype)
    return _DATETIME_UNIT[0]


def iso_datetime_values(values: Sequence[Any]) -> np.ndarray | None:
    """A few values of ISO 8601 text or gaps (None, NaN) as the datetime64 values pandas' tolerant
    parsing gives (naive, in UTC, in its unit), read with `datetime.fromisoformat` (~10 us a value
    against ~0.8 ms a column); None for anything else, which the general path parses or refuses."""
    out = []
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(np.datetime64("NaT", "us"))
            continue
        stamp = iso_datetime(value) if isinstance(value, str) else None
        if stamp is None:
            return None
        out.append(np.datetime64(stamp, "us"))
    return np.array(out, dtype="datetime64[us]").astype(datetime_unit())


def _iso_datetimes(series: pd.Series) -> pd.Series | None:
    """`iso_datetime_values` of a column, as a column."""
    values = iso_datetime_values(series.to_numpy(dtype=object))
    return None if values is None else pd.Series(values)


def _show(values: list[Any]) -> list[str]:
    shown = [repr(v) for v in values[:_MAX_BAD_SHOWN]]
    if len(values) > _MAX_BAD_SHOWN:
        shown.append(f"... {len(values) - _MAX_BAD_SHOWN} more")
    return shown


def _numeric(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    if pd.api.types.is_bool_dtype(series):
        return np.empty(0), ["booleans are not numbers"]
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        inf = np.isinf(values)
        if inf.any():
            return values, [*_show(values[inf].tolist()), "(infinity cannot be imputed)"]
        return values, []
    values = series.to_numpy(dtype=object)
    if len(values) <= _SMALL:
        converted = [_to_number(v) for v in values]
        return (np.array([math.nan if n is None else n for n in converted], dtype=float),
                _show([v for v, n in zip(values, converted, strict=True) if n is None]))
    out = np.full(len(values), math.nan)
    accepted = np.ones(len(values), dtype=bool)
    type_codes, kinds = pd.factorize(_type_of(values))
    for j, kind in enumerate(kinds):
        where = np.flatnonzero(type_codes == j)
        part = values[where]
        if kind is float or kind is int:
            try:
                numbers = part.astype(float)
            except OverflowError:  # an integer beyond float's range: not acceptable
                numbers = np.array([math.inf if (n := _to_number(v)) is None else n for v in part])
            ok = ~np.isinf(numbers)
            out[where[ok]] = numbers[ok]
            accepted[where[~ok]] = False
            continue
        # other types (strings above all): convert each distinct value once
        if kind in _HASHABLE:
            codes, uniques = pd.factorize(part)
            converted = [_to_number(u) for u in uniques] + [math.nan]  # code -1: None or NaN
            numbers = np.array([math.inf if v is None else v for v in converted])[codes]
        else:
            numbers = np.array([math.inf if (n := _to_number(v)) is None else n for v in part])
        ok = ~np.isinf(numbers)
        out[where[ok]] = numbers[ok]
        accepted[where[~ok]] = False
    return out, _show(values[~accepted].tolist())


def _to_number(v: Any) -> float | None:
    """A finite float or NaN for missing; None when the value is not acceptable."""
    if v is None or v is pd.NA:
        return math.nan
    if isinstance(v, bool | np.bool_):
        return None
    if isinstance(v, int | float | np.integer | np.floating):
        try:
            f = float(v)
        except OverflowError:  # an integer with hundreds of digits
            return None
        return None if math.isinf(f) else f
    if isinstance(v, str):
        text = v.strip().replace(",", "")
        if text == "" or text.lower() in ("nan", "null", "none"):
            return math.nan
        try:
            f = float(text)
        except ValueError:
            return None
        return None if math.isinf(f) else f
    return None


def _scalar(series: pd.Series) -> tuple[pd.Series, list[str]]:
    if series.dtype != object:
        return series, []
    values = series.to_numpy(dtype=object)
    if len(values) <= _SMALL:
        bad = [v for v in values if isinstance(v, list | dict)]
        return series, (_show(bad) if bad else [])
    type_codes, kinds = pd.factorize(_type_of(values))
    nested = [j for j, kind in enumerate(kinds) if issubclass(kind, list | dict)]
    if not nested:
        return series, []
    return series, _show(values[np.isin(type_codes, nested)].tolist())


def _datetime(series: pd.Series) -> tuple[pd.Series, list[str]]:
    quick = _iso_datetimes(series) if len(series) <= _SMALL else None
    if quick is not None:
        return quick, []
    from mlcycle_tui.experiments.preprocess import _parse_datetimes

    _, bad = _scalar(series)
    if bad:
        return series, bad
    if series.dtype == object:
        if any(issubclass(kind, bool) for kind in pd.unique(_type_of(series.to_numpy(dtype=object)))):
            return series, ["booleans are not dates"]
        # numbers and strings mixed confuse the parser: read numbers as text
        series = series.map(lambda v: str(v) if isinstance(v, int | float) and not pd.isna(v) else v)
    try:
        parsed = _parse_datetimes(series.reset_index(drop=True))
    except (ValueError, TypeError, OverflowError) as exc:
        return series, [f"not dates ({exc})"]
    unparsed = parsed.isna().to_numpy() & series.notna().to_numpy() & (series.astype(str).str.strip() != "").to_numpy()
    if unparsed.any():
        return series, _show(series[unparsed].tolist())
    return parsed, []

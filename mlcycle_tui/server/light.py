"""A few plain rows for a compiled model, checked and typed without pandas.

Why this exists: for one row, building pandas frames (the body's, then the checked
one) and reading them back cost about 1.5 ms, ten times the compiled model's own
arithmetic. When the model is served compiled and the body is a few rows (up to
`MAX_ROWS`) of plain JSON values, this reads them straight into the arrays the
compiled form takes. Anything else (more rows, other shapes, columns the model does
not read, numeric strings, values the checks refuse or would convert) returns None,
and the body takes the general path (server/inputs.conform), which answers it
exactly as before: this path only takes what that one would take unchanged, gives
the same arrays, and logs the same text (`records_json`, tested against it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from mlcycle_tui.server.inputs import BODY_KEYS, iso_datetime_values

MAX_ROWS = 32
_MAX_INT = 2**53  # larger integers in a category column: pandas may read their column as floats


class LightRows:
    """Checked rows as one array per input column, in the model's input order."""

    __slots__ = ("_frame", "arrays", "kinds", "names")

    def __init__(self, names: list[str], kinds: list[str], arrays: list[np.ndarray]) -> None:
        self.names, self.kinds, self.arrays = names, kinds, arrays
        self._frame: Any = None

    def __len__(self) -> int:
        return len(self.arrays[0]) if self.arrays else 0

    @classmethod
    def concat(cls, parts: list[LightRows]) -> LightRows:
        first = parts[0]
        return cls(first.names, first.kinds, [np.concatenate([p.arrays[j] for p in parts])
                                              for j in range(len(first.names))])

    def frame(self) -> Any:
        """The frame the general path's checks would have made of these rows (explanations, the pipeline)."""
        if self._frame is None:
            import pandas as pd

            data = {}
            for name, kind, values in zip(self.names, self.kinds, self.arrays, strict=True):
                data[name] = pd.Series(list(values)) if kind == "categorical" else values
            self._frame = pd.DataFrame(data, index=range(len(self)))
        return self._frame

    def records_json(self) -> list[str]:
        """One JSON object per row, the text the log writes for the checked frame of these rows."""
        columns: list[list[Any]] = []
        for kind, values in zip(self.kinds, self.arrays, strict=True):
            if kind == "numeric":
                columns.append([None if math.isnan(v) else v for v in values.tolist()])
            elif kind == "datetime":
                columns.append([None if np.isnat(v) else _iso(v) for v in values])
            else:
                columns.append([None if isinstance(v, float) and math.isnan(v) else v for v in values.tolist()])
        return [orjson.dumps(dict(zip(self.names, row, strict=True))).decode() for row in zip(*columns, strict=True)]


def _iso(value: np.datetime64) -> str:
    """pandas.Timestamp.isoformat of a microsecond datetime64 value (what the log writes for the frame)."""
    stamp = value.astype("datetime64[us]").item()
    assert isinstance(stamp, datetime)
    return stamp.isoformat()


def light_rows(body: Any, names: list[str], kinds: list[str | None]) -> LightRows | None:
    """The rows of `body` for a compiled model reading `names` (of `kinds`), or None (see the module doc)."""
    rows = _row_lists(body, names)
    if rows is None or not all(k in ("numeric", "datetime", "categorical") for k in kinds):
        return None
    arrays = []
    for j, kind in enumerate(kinds):
        column = [row[j] for row in rows]
        if kind == "numeric":
            array = _numbers(column)
        elif kind == "datetime":
            array = iso_datetime_values(column)
        else:
            array = _categories(column)
        if array is None:
            return None
        arrays.append(array)
    return LightRows(names, [str(k) for k in kinds], arrays)


def _row_lists(body: Any, names: Sequence[str]) -> list[list[Any]] | None:
    """The rows as lists of values in `names` order, when the body is a few plain rows naming exactly those."""
    if not isinstance(body, dict) or len(body) != 1:
        return None
    key, value = next(iter(body.items()))
    if key not in BODY_KEYS:
        return None
    width = len(names)
    if key == "dataframe_split":
        if not isinstance(value, dict) or set(value) != {"columns", "data"}:
            return None
        cols, data = value["columns"], value["data"]
        if not isinstance(cols, list) or not isinstance(data, list) or not 0 < len(data) <= MAX_ROWS \
                or len(cols) != width or set(cols) != set(names) or len(set(cols)) != width:
            return None
        if not all(isinstance(r, list) and len(r) == width for r in data):
            return None
        where = [cols.index(n) for n in names]
        return [[r[i] for i in where] for r in data]
    if not isinstance(value, list) or not 0 < len(value) <= MAX_ROWS:
        return None
    if all(isinstance(r, list) and len(r) == width for r in value):
        return value
    if all(isinstance(r, dict) for r in value):
        known = set(names)
        if any(not known.issuperset(r) for r in value):
            return None  # columns the model does not read: the general path warns about them
        if any(all(n not in r for r in value) for n in names):
            return None  # a column no row has: the general path refuses it
        return [[r.get(n) for n in names] for r in value]
    return None


def _numbers(column: list[Any]) -> np.ndarray | None:
    out = []
    for v in column:
        t = type(v)
        if v is None:
            out.append(math.nan)
        elif t is float:
            if math.isinf(v):
                return None
            out.append(v)
        elif t is int:
            if not -2**63 <= v < 2**63:
                return None
            out.append(float(v))
        else:
            return None  # text, booleans, lists: the general path converts or refuses them
    return np.array(out, dtype=np.float64)


def _categories(column: list[Any]) -> np.ndarray | None:
    """The raw values when the general path would keep them as they are: text (with gaps), or all
    booleans, or all integers, or floats (with gaps); mixes are read by pandas' type inference."""
    types = {type(v) for v in column}
    present = types - {type(None)}
    if len(present) > 1:
        return None
    kind = next(iter(present), str)
    if kind is int:
        if None in column or any(abs(v) > _MAX_INT for v in column):
            return None
    elif kind is bool:
        if None in column:
            return None
    elif kind is float:
        if any(v is not None and math.isinf(v) for v in column):
            return None
        column = [math.nan if v is None else v for v in column]
    elif kind is not str:
        return None
    out = np.empty(len(column), dtype=object)
    out[:] = [math.nan if v is None else v for v in column] if kind is str else column
    return out

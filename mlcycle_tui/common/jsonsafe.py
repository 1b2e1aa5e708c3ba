"""One way to turn results into plain JSON values.

Why this exists: metrics, reports, logged predictions, CLI output and HTTP
answers all carry numpy scalars and arrays, NaN and infinity, dates and
non-string keys. JSON has none of those; every writer uses this one function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def json_safe(value: Any) -> Any:
    """Plain Python values: arrays to lists, numpy scalars unwrapped, NaN and infinity to None,
    dates to ISO text, mapping keys to strings; anything else unknown to its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if getattr(value, "ndim", 0):  # numpy arrays (and array-likes) of any size
        return [json_safe(v) for v in value.tolist()]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value

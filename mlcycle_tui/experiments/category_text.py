"""The one canonical text of a category value, without scikit-learn or pandas.

Why this exists: the training pipeline (experiments/preprocess.CategoryCoercer)
and the compiled form that serves it without scikit-learn (registry/compiled_prep)
must turn a request's value into the very same category: 1, 1.0 and "1" are one
category, booleans are "true"/"false", and blanks are missing. Both call this.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})
MISSING_WORDS = frozenset({"nan", "none", "null", "<na>"})


def category_text(value: Any, boolean: bool) -> Any:
    """One canonical string per category value; missing (None, NaN, NA, blank) stays NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or type(value).__name__ == "NAType":
        return np.nan  # (NAType: pandas.NA, recognised without importing pandas)
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    if text == "" or text.lower() in MISSING_WORDS:
        return np.nan
    if boolean:
        low = text.lower()
        if low in TRUE_WORDS:
            return "true"
        if low in FALSE_WORDS:
            return "false"
    return text

"""The one JSON sanitiser used by metrics, reports, the prediction log, the CLI and the server."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pandas as pd

from mlcycle_tui.common.jsonsafe import json_safe


def test_numpy_nan_dates_and_keys_become_plain_json():
    value = {
        "nan": np.float64("nan"),
        "int": np.int64(3),
        "array": np.array([[1.5, np.inf]]),
        "stamp": pd.Timestamp("2020-01-01"),
        "day": np.datetime64("2020-01-02"),
        1: (np.bool_(True), None),
        "date": datetime.date(2020, 1, 3),
        "inf": float("-inf"),
    }
    out = json_safe(value)
    assert out == {
        "nan": None,
        "int": 3,
        "array": [[1.5, None]],
        "stamp": "2020-01-01T00:00:00",
        "day": "2020-01-02",
        "1": [True, None],
        "date": "2020-01-03",
        "inf": None,
    }
    json.dumps(out, allow_nan=False)

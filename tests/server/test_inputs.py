"""The request checks: large bodies (vectorized checks) answer exactly as small ones (a plain loop)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.server import inputs
from mlcycle_tui.server.errors import ApiError

VALUES = [1, 2.5, "3.5", " 1,200 ", "", "nan", "NULL", None, float("nan"), True, False, "abc", [1], {"a": 1},
          float("inf"), "-inf", "1e400", 10**400, -0.0, "7", np.int64(4), np.float64(4.5), "none", 0]
SIGNATURE = [{"name": "n", "kind": "numeric"}, {"name": "c", "kind": "categorical"},
             {"name": "d", "kind": "datetime"}]


def _one_by_one(values: list) -> tuple[list[float], list[str]]:
    """The answer for each value sent alone (the small-request path)."""
    out, bad = [], []
    for v in values:
        series = pd.Series([v], dtype=object)
        numbers, problems = inputs._numeric(series)
        out.append(numbers[0] if len(numbers) else math.nan)
        if problems:
            bad.append(repr(v))
    return out, bad


@pytest.mark.parametrize("seed", range(5))
def test_numeric_checks_agree_between_small_and_large_bodies(seed: int) -> None:
    rng = np.random.default_rng(seed)
    picked = [VALUES[i] for i in rng.integers(0, len(VALUES), 200)]
    numbers, problems = inputs._numeric(pd.Series(picked, dtype=object))
    expected, bad = _one_by_one(picked)
    assert np.array_equal(numbers, np.array(expected), equal_nan=True)
    shown = [p for p in problems if not p.startswith("...")]
    assert shown == bad[:len(shown)]
    assert bool(problems) == bool(bad)
    if len(bad) > 3:
        assert problems[-1] == f"... {len(bad) - 3} more"


def test_nested_values_are_refused_in_large_bodies() -> None:
    series = pd.Series(["a"] * 100 + [[1, 2], {"x": 1}, "b"], dtype=object)
    assert inputs._scalar(series)[1] == ["[1, 2]", "{'x': 1}"]
    assert inputs._scalar(pd.Series(["a"] * 100, dtype=object))[1] == []
    dates = pd.Series(["2024-01-01"] * 100 + [True], dtype=object)
    assert inputs._datetime(dates)[1] == ["booleans are not dates"]


def test_large_body_conforms_like_row_by_row() -> None:
    n = 300
    frame = pd.DataFrame({"n": ["1.5", None, 3, "x"] * (n // 4), "c": ["a", 1, None, 2.0] * (n // 4),
                          "d": ["2024-01-01", None, "2024-02-03 10:00", "2024-03-04"] * (n // 4)})
    with pytest.raises(ApiError) as err:
        inputs.conform(frame, SIGNATURE)
    assert err.value.status == 422 and "n (numeric): 'x', 'x', 'x', ... 72 more" in str(err.value.message)
    ok = frame.assign(n=frame["n"].replace("x", "4"))
    X, warnings = inputs.conform(ok, SIGNATURE)
    assert warnings == []
    assert X["n"].iloc[[0, 2, 3]].tolist() == [1.5, 3.0, 4.0] and np.isnan(X["n"].iloc[1])
    for i in range(4):
        alone, _ = inputs.conform(ok.iloc[[i]].reset_index(drop=True), SIGNATURE)
        assert alone["n"].iloc[0] == X["n"].iloc[i] or (np.isnan(alone["n"].iloc[0]) and np.isnan(X["n"].iloc[i]))
        assert alone["d"].iloc[0] == X["d"].iloc[i] or (pd.isna(alone["d"].iloc[0]) and pd.isna(X["d"].iloc[i]))


NUMERIC = [{"name": "a", "kind": "numeric"}, {"name": "b", "kind": "numeric"}]


@pytest.mark.parametrize("data", [
    [[1, 2.5]], [[1.0, -3]], [[0.5, float("nan")], [2, 3]], [[True, 1.0]], [["1.5", 2]], [[None, 2.0]],
    [[float("inf"), 1.0]], [[10**400, 1.0]], [["inf", 1.0]], [["1,200", 1.0]], [[" 7 ", ""]], [["abc", 1]],
    [["NaN", 1]], [[1e308, -1e308]],
])
@pytest.mark.parametrize("rows", [1, 40])  # 40 copies: past the small-body shortcut, into the large one
def test_numeric_shortcut_answers_as_the_general_path(data: list, rows: int) -> None:
    import json

    body = {"dataframe_split": {"columns": ["b", "a"], "data": [*data, [1.5, 2.5]] * rows}}
    raw = json.dumps(body).encode()
    bool_free = b"true" not in raw and b"false" not in raw  # as the server decides it

    def answer(numeric: bool) -> tuple:
        try:
            X, warnings = inputs.conform(
                inputs.body_frame(body, ["a", "b"], numeric=numeric, bool_free=bool_free and numeric), NUMERIC)
        except ApiError as exc:
            return exc.status, exc.message
        return X.columns.tolist(), X.to_numpy().tolist(), warnings

    fast, general = answer(True), answer(False)
    assert repr(fast) == repr(general)  # repr: NaN equals NaN

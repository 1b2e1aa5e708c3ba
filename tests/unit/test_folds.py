"""`--cv`: a fold count or a strategy (kfold, stratified, group:COL, time), parsed and turned into folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments import folds
from mlcycle_tui.experiments.folds import Folds


@pytest.mark.parametrize(("text", "expected"), [
    (5, Folds("auto", 5)),
    ("5", Folds("auto", 5)),
    ("kfold", Folds("kfold", 3)),
    ("Stratified:4", Folds("stratified", 4)),
    ("time:5", Folds("time", 5)),
    ("group:customer", Folds("group", 3, "customer")),
    ("group:customer:4", Folds("group", 4, "customer")),
    ("group:a:b", Folds("group", 3, "a:b")),  # a column name may hold a colon
])
def test_parse_and_spell_back(text, expected) -> None:  # type: ignore[no-untyped-def]
    got = folds.parse(text)
    assert got == expected
    assert folds.parse(got.spec()) == got  # what the recipe records parses back the same


@pytest.mark.parametrize(("text", "words"), [
    ("1", "at least 2"),
    ("group:", "group:COLUMN"),
    ("time:x", "not a whole number"),
    ("leave_one_out", "kfold, stratified, group:COLUMN or time"),
])
def test_bad_spellings_say_what_is_accepted(text: str, words: str) -> None:
    with pytest.raises(UserError, match=words):
        folds.parse(text)


def _frame(n: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"customer": rng.integers(0, 12, n), "when": pd.date_range("2024-01-01", periods=n)[::-1],
                      "x": rng.normal(size=n)})
    return X, pd.Series(np.where(rng.random(n) < 0.5, "yes", "no"))


def test_group_folds_keep_each_group_in_one_fold() -> None:
    X, y = _frame()
    cv, groups, X2, y2 = folds.splitter(folds.parse("group:customer"), "classification", X, y, seed=1)
    for train, test in cv.split(X2, y2, groups):
        assert not set(groups[train]) & set(groups[test])


def test_time_folds_train_on_the_past_only() -> None:
    X, y = _frame()
    cv, groups, X2, _ = folds.splitter(folds.parse("time:4"), "classification", X, y, seed=1, time_column="when")
    assert groups is None
    for train, test in cv.split(X2):
        assert X2["when"].iloc[train].max() < X2["when"].iloc[test].min()


def test_too_few_groups_or_classes_are_refused() -> None:
    X, y = _frame()
    with pytest.raises(UserError, match="only 12 distinct values"):
        folds.splitter(folds.parse("group:customer:20"), "classification", X, y, seed=1)
    with pytest.raises(UserError, match="no column 'shop'"):
        folds.splitter(folds.parse("group:shop"), "classification", X, y, seed=1)
    with pytest.raises(UserError, match="classification target"):
        folds.splitter(folds.parse("stratified"), "regression", X, X["x"], seed=1)
    y_rare = y.copy()
    y_rare.iloc[:] = "no"
    y_rare.iloc[0] = "yes"
    with pytest.raises(UserError, match="class 'yes' has only 1"):
        folds.splitter(folds.parse("3"), "classification", X, y_rare, seed=1)

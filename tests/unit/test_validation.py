"""Validation verdicts and reproducible splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    yield w
    w.close()


def codes(result, kind):
    return {(i["code"], i["column"]) for i in result[kind]}


def test_clean_sample_passes(ws):
    ws.data.ingest(SAMPLES / "penguins.csv", name="p", target="species")
    result = ws.data.validate("p")
    assert result["ok"] and result["errors"] == []


def test_quality_problems_are_named(ws):
    n = 100
    frame = pd.DataFrame(
        {
            "empty": [None] * n,
            "const": [1] * n,
            "cat": [f"c{i}" for i in range(n - 10)] + ["x"] * 10,
            "mixed": [str(i) for i in range(80)] + ["abc"] * 20,
            "y": [None] * 5 + [i % 2 for i in range(n - 5)],
        }
    )
    frame = pd.concat([frame, frame.head(3)], ignore_index=True)
    ws.data.ingest(frame, name="q", target="y")
    result = ws.data.validate("q")
    warn = codes(result, "warnings")
    assert ("all_null", "empty") in warn
    assert ("constant", "const") in warn
    assert ("mixed_types", "mixed") in warn
    assert ("target_nulls", "y") in warn
    assert ("duplicates", None) in warn
    assert result["ok"]


def test_errors_make_validation_fail(ws):
    ws.data.ingest(pd.DataFrame({"x": [1, 2, 3], "y": ["a", "a", "a"]}), name="one", target="y")
    result = ws.data.validate("one")
    assert not result["ok"]
    assert ("target_constant", "y") in codes(result, "errors")
    ws.data.ingest(pd.DataFrame({"x": [1, 2, 3], "y": [None, None, None]}), name="none", target="y")
    assert ("target_null", "y") in codes(ws.data.validate("none"), "errors")


def test_against_reference_schema_and_ranges(ws):
    ws.data.ingest(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"], "c": [1, 2, 3]}), name="r")
    ws.data.ingest(pd.DataFrame({"a": [0.0, 2.0, 9.0], "b": ["x", "z", "x"], "d": [1, 2, 3]}), name="r")
    result = ws.data.validate("r@2", reference="r@1")
    assert ("column_removed", "c") in codes(result, "errors")
    assert ("column_added", "d") in codes(result, "warnings")
    assert ("out_of_range", "a") in codes(result, "warnings")
    assert ("unseen_categories", "b") in codes(result, "warnings")
    ws.data.ingest(pd.DataFrame({"a": ["p", "q", "r"], "b": ["x", "y", "x"], "c": [1, 2, 3]}), name="r")
    assert ("column_retyped", "a") in codes(ws.data.validate("r@3", reference="r@1"), "errors")


def test_random_split_is_reproducible_and_stored(ws):
    ws.data.ingest(SAMPLES / "penguins.csv", name="p", target="species")
    s1 = ws.splits.create("p", test_size=0.25, seed=7)
    s2 = ws.splits.create("p", test_size=0.25, seed=7)
    assert s2.split_id == s1.split_id and s2.existing
    train, test = ws.splits.indices(s1.split_id)
    assert len(test) == 86 and len(train) == 258
    assert set(train).isdisjoint(test)
    s3 = ws.splits.create("p", test_size=0.25, seed=8)
    assert s3.split_id != s1.split_id
    assert not np.array_equal(ws.splits.indices(s3.split_id)[1], test)
    tr, te = ws.splits.frames(s1.split_id)
    assert len(tr) == 258 and len(te) == 86


def test_stratified_split_keeps_class_shares(ws):
    ws.data.ingest(SAMPLES / "penguins.csv", name="p", target="species")
    sp = ws.splits.create("p", stratify=True, test_size=0.2)
    assert sp.method == "stratified"
    train, test = ws.splits.frames(sp.split_id)
    shares_train = train["species"].value_counts(normalize=True)
    shares_test = test["species"].value_counts(normalize=True)
    assert (shares_train - shares_test).abs().max() < 0.02


def test_time_split_puts_later_rows_in_test(ws):
    ws.data.ingest(SAMPLES / "seattle_weather.csv", name="w", target="weather", time_column="date")
    sp = ws.splits.create("w", time_column="date", test_size=0.25)
    train, test = ws.splits.frames(sp.split_id)
    assert train["date"].max() < test["date"].min()


def test_split_bad_input(ws):
    ws.data.ingest(pd.DataFrame({"x": range(10), "y": [0] * 9 + [1]}), name="d", target="y")
    with pytest.raises(UserError, match="single row"):
        ws.splits.create("d", stratify=True)
    with pytest.raises(UserError, match="between 0 and 1"):
        ws.splits.create("d", test_size=1.5)
    with pytest.raises(UserError, match="not a column"):
        ws.splits.create("d", time_column="zzz")
    with pytest.raises(NotFoundError):
        ws.splits.get("nope")

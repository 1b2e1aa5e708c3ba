"""The light path reads a few rows exactly as the general path would: the same arrays, the same logged text."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.registry.compiled import CompiledModel
from mlcycle_tui.server.inputs import body_frame, conform
from mlcycle_tui.server.light import light_rows
from mlcycle_tui.server.logwriter import _encode_records

NAMES = ["temp", "count", "when", "month", "flag", "code"]
KINDS = ["numeric", "numeric", "datetime", "categorical", "categorical", "categorical"]
INPUTS = [{"name": n, "kind": "boolean" if n == "flag" else k} for n, k in zip(NAMES, KINDS, strict=True)]


def _value(rng: random.Random, name: str) -> object:
    pick = rng.random()
    if pick < 0.1:
        return None
    if name in ("temp", "count"):
        return rng.choice([rng.uniform(-5, 5), rng.randint(-3, 3000), 0.0, -0.0, 1e300, 2**60])
    if name == "when":
        return rng.choice(["2012-06-30", "2012-06-30 23:45:00", "2012-06-30T23:45:00-07:00",
                           "2012-01-01T00:00:00.25Z", "1999-12-31 12:00"])
    if name == "month":
        return rng.choice(["Jan", "Feb", " Mar ", "", "nan", "Smarch"])
    if name == "flag":
        return rng.choice([True, False])
    return rng.choice([1, 2, 30, -4])  # integer codes


def _columns_of(frame: pd.DataFrame) -> list[np.ndarray] | None:
    """What the compiled form reads from the general path's checked frame (CompiledModel.columns_of)."""
    model = CompiledModel.__new__(CompiledModel)
    model.inputs, model.kinds = NAMES, KINDS
    return model.columns_of(frame)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays; in a category column None and NaN are both a gap (category_text reads both as one)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fM":
        return bool(np.array_equal(a, b, equal_nan=True))
    return all((x == y and type(x) is type(y)) or (_missing(x) and _missing(y)) for x, y in zip(a, b, strict=True))


def _body(rng: random.Random, rows: list[dict], shape: str) -> dict:
    if shape == "records":
        return {"dataframe_records": rows}
    if shape == "lists":
        return {"instances": [[r.get(n) for n in NAMES] for r in rows]}
    cols = NAMES[::-1]
    return {"dataframe_split": {"columns": cols, "data": [[r.get(n) for n in cols] for r in rows]}}


def test_the_light_path_gives_the_arrays_and_log_text_of_the_general_path() -> None:
    rng = random.Random(0)
    taken = 0
    for i in range(400):
        rows = [{n: _value(rng, n) for n in NAMES} for _ in range(rng.choice([1, 1, 2, 5]))]
        body = _body(rng, rows, ("records", "lists", "split")[i % 3])
        light = light_rows(body, NAMES, KINDS)
        if light is None:
            continue
        taken += 1
        frame, _ = conform(body_frame(body, NAMES), INPUTS)
        general = _columns_of(frame)
        assert general is not None
        for j, name in enumerate(NAMES):
            assert _same(light.arrays[j], general[j]), (name, body)
        assert light.records_json() == _encode_records(frame), body
    assert taken > 150  # most bodies of plain values take the light path


@pytest.mark.parametrize("body", [
    {"instances": [{"temp": "3.5", "count": 1, "when": None, "month": "Jan", "flag": True, "code": 1}]},  # text
    {"instances": [{"temp": True, "count": 1, "when": None, "month": "Jan", "flag": True, "code": 1}]},  # a bool
    {"instances": [{"temp": float("inf"), "count": 1, "when": None, "month": "Jan", "flag": True, "code": 1}]},
    {"instances": [{"temp": 1, "count": 1, "when": "yesterday", "month": "Jan", "flag": True, "code": 1}]},
    {"instances": [{"temp": 1, "count": 1, "when": None, "month": "Jan", "flag": True, "code": 1, "extra": 2}]},
    {"instances": [{"temp": 1, "count": 1, "when": None, "month": "Jan", "flag": True}]},  # no row has "code"
    {"instances": [{"temp": 1, "count": 1, "when": None, "month": "Jan", "flag": True, "code": 1},
                   {"temp": 1, "count": 1, "when": None, "month": "Jan", "flag": True, "code": 2.5}]},  # int + float
    {"instances": [{"temp": 1, "count": 1, "when": None, "month": ["Jan"], "flag": True, "code": 1}]},  # a list
    {"instances": [[1, 2, None]]},  # too few values
    {"instances": [{"temp": 1}] * 40},  # many rows
    {"inputs": {"temp": [1], "count": [1]}},  # columns
])
def test_other_bodies_take_the_general_path(body: dict) -> None:
    assert light_rows(body, NAMES, KINDS) is None

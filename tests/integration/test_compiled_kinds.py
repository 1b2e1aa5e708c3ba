"""Every compiled catalog kind answers as its scikit-learn pipeline does, to the bit, on real mixed data.

Real sample data (penguins: numbers and categories with gaps; bikeshare: a timestamp, text months and
weather), real training through the workspace, the server's own input checks (`conform`), then the
compiled form against the fitted pipeline's public predict/predict_proba: rows of the data set, rows
with unknown categories, gaps and dates written with offsets, one row at a time and in batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.registry import compiled
from mlcycle_tui.server.inputs import conform
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
SMALL = {"rf": ["n_estimators=8"], "extra_trees": ["n_estimators=8"], "hgb": ["max_iter=15"]}
CASES = [  # (name, data set, kind, task)
    *[(f"species-{k}", "penguins", k, "classification") for k in ("rf", "extra_trees", "hgb", "logistic", "dummy")],
    *[(f"workday-{k}", "workday", k, "classification") for k in ("rf", "hgb", "logistic")],
    *[(f"bikers-{k}", "bikers", k, "regression") for k in ("rf", "extra_trees", "hgb", "ridge", "dummy")],
    ("orders-hgb", "orders", "hgb", "regression"),
]


def _orders(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Dates without a time, numbers with gaps, yes/no flags, text, and a category of letters and
    digits (scored below with digits only: Arrow reads it as integers with nulls)."""
    rng = np.random.default_rng(seed)
    day = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    code = rng.integers(1, 6, n).astype(float)
    code[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame({
        "day": day.strftime("%Y-%m-%d"), "store_id": pd.array(code, dtype="Int64"),
        "promo": rng.random(n) < 0.3, "region": rng.choice(["north", "south", "east"], n),
        "grade": rng.choice(["a", "b", "7", "8"], n),
        "price": rng.normal(10, 2, n).round(2),
    })
    frame.loc[rng.random(n) < 0.05, "day"] = None
    frame["sales"] = frame["price"] * 3 + frame["promo"] * 5 + day.month.to_numpy() + rng.normal(0, 1, n)
    return frame


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("kinds") / "ws"
    ws = Workspace.open(home)
    bike = pd.read_csv(SAMPLES / "bikeshare.csv").iloc[::8]  # every 8th hour: quicker, all seasons kept
    bike.to_csv(home / "bike.csv", index=False)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    ws.data.ingest(home / "bike.csv", name="workday", target="workingday")
    ws.data.ingest(home / "bike.csv", name="bikers", target="bikers")
    _orders().to_csv(home / "orders.csv", index=False)
    ws.data.ingest(home / "orders.csv", name="orders", target="sales")
    drop = {"penguins": None, "workday": ["weekday", "holiday"], "bikers": ["casual", "registered"], "orders": None}
    for name, data, kind, task in CASES:
        run = ws.training.train(data, kind, params=SMALL.get(kind), task=task, drop=drop[data])
        ws.registry.register(run["run_id"], name)
    yield ws
    ws.close()


def _requests(data: str) -> pd.DataFrame:
    """The data set as a client sends it (dates as text), plus rows no training row looked like."""
    if data == "orders":
        frame = _orders(200, seed=1).drop(columns=["sales"])
        frame["store_id"] = frame["store_id"].astype(object).where(frame["store_id"].notna(), None)
        grade = np.resize(np.array([7, 8, None, 7, 9], dtype=object), len(frame))  # only numbers, with gaps:
        frame["grade"] = grade  # a file of them is read as integers, a category column all the same
        return frame
    if data == "penguins":
        frame = pd.read_csv(SAMPLES / "penguins.csv").drop(columns=["species"])
        odd = frame.head(4).copy()
        odd.loc[odd.index[0], "island"] = "Atlantis"  # unknown category
        odd.loc[odd.index[1], ["sex", "bill_length_mm"]] = [None, None]  # gaps
        odd.loc[odd.index[2], "sex"] = " MALE "  # another spelling: its own category (unknown)
        return pd.concat([frame, odd], ignore_index=True)
    frame = pd.read_csv(SAMPLES / "bikeshare.csv").iloc[1::7].drop(columns=["workingday" if data == "workday"
                                                                          else "bikers"])
    odd = frame.head(4).copy()
    odd.loc[odd.index[0], "timestamp"] = "2013-02-03T23:30:00+05:30"  # an offset: converted to UTC
    odd.loc[odd.index[1], "timestamp"] = None
    odd.loc[odd.index[2], "mnth"] = "Smarch"
    odd.loc[odd.index[3], ["temp", "weathersit"]] = [None, None]
    return pd.concat([frame, odd], ignore_index=True)


@pytest.mark.parametrize(("name", "data", "kind", "task"), CASES, ids=[c[0] for c in CASES])
def test_the_compiled_form_answers_as_the_pipeline_does(ws, name, data, kind, task):
    mv, pipeline = ws.registry.load_model(name)
    model = ws.registry.compiled_model(mv)
    assert isinstance(model, compiled.CompiledModel), f"{name} should be compiled"
    assert model.family == {"rf": "forest", "extra_trees": "forest", "hgb": "hgb", "logistic": "linear",
                            "ridge": "linear", "dummy": "constant"}[kind]
    rows = _requests(data)
    for size in (1, 7, 32, len(rows)):  # one row (datetimes read quickly), small batches, everything
        for start in range(0, len(rows), max(size, len(rows) // 6)):
            X, _ = conform(rows.iloc[start:start + size].reset_index(drop=True), mv.signature["inputs"])
            columns = model.columns_of(X)
            assert columns is not None
            pred, proba = model.predict(columns)
            assert np.array_equal(pred, pipeline.predict(X)), (name, size, start)
            if task == "classification":
                assert np.array_equal(proba, pipeline.predict_proba(X)), (name, size, start)
            else:
                assert proba is None


def test_k_nearest_neighbours_are_not_compiled_and_say_so(ws):
    run = ws.training.train("penguins", "knn")
    mv = ws.registry.register(run["run_id"], "species-knn")
    assert ws.registry.compiled_model(mv) is None
    assert ws.registry.compiled_versions("species-knn") == {1: False}


def test_a_compiled_form_that_disagrees_is_refused(ws):
    mv, pipeline = ws.registry.load_model("species-logistic")
    inputs = [c["name"] for c in mv.signature["inputs"]]
    good = compiled.load(compiled.compile_pipeline(pipeline, mv.task, inputs))
    assert compiled._agrees(pipeline, good, inputs)
    [group] = [g for g in good.prep.groups if g["kind"] == "categorical"]
    table = good.prep._tables[good.prep.groups.index(group)][0]
    first = next(iter(table))
    table[first] = (table[first] + 1) % group["encode"][0]["width"]  # one category in the wrong column
    assert not compiled._agrees(pipeline, good, inputs)
    good = compiled.load(compiled.compile_pipeline(pipeline, mv.task, inputs))
    good.estimator.intercept = good.estimator.intercept + 1e-12  # the last bits of one number
    assert not compiled._agrees(pipeline, good, inputs)


def test_columns_of_another_type_go_to_the_pipeline(ws):
    mv = ws.registry.model_version("bikers-ridge")
    model = ws.registry.compiled_model(mv)
    rows = _requests("bikers").head(3)
    X, _ = conform(rows, mv.signature["inputs"])
    assert model.columns_of(X) is not None
    X["timestamp"] = X["timestamp"].dt.tz_localize("UTC")  # not what the checks leave: not guessed at
    assert model.columns_of(X) is None


@pytest.mark.parametrize("name", ["species-hgb", "bikers-rf", "workday-logistic", "orders-hgb"])
@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_files_of_mixed_columns_are_scored_compiled_into_the_same_file(ws, tmp_path, name, ext):
    import pyarrow.parquet as pq

    data = {"species": "penguins", "bikers": "bikers", "workday": "workday", "orders": "orders"}[name.split("-")[0]]
    frame = _requests(data)
    if data in ("bikers", "workday"):  # a file holds plain timestamps (offsets are read as text: pandas' path)
        frame = frame[~frame["timestamp"].astype(str).str.contains("[+Z]", regex=True)]
    src = tmp_path / f"in{ext}"
    if ext == ".csv":
        frame.to_csv(src, index=False)
    else:
        stamps = {"bikers": "timestamp", "workday": "timestamp", "orders": "day"}.get(data)
        if stamps:
            frame = frame.assign(**{stamps: pd.to_datetime(frame[stamps])})
        frame.to_parquet(src, index=False)
    before = ws.predictions.count(name)
    fast = ws.batch.predict_file(name, src, tmp_path / f"fast{ext}", chunk_rows=64)
    slow = ws.batch.predict_file(name, src, tmp_path / f"slow{ext}", chunk_rows=64, compiled=False)
    assert (fast["engine"], slow["engine"]) == ("compiled", "scikit-learn")
    if ext == ".csv":
        assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()
    else:
        a, b = pq.read_table(tmp_path / "fast.parquet"), pq.read_table(tmp_path / "slow.parquet")
        for col in a.column_names:
            assert a.column(col).to_pylist() == b.column(col).to_pylist(), col
    k = fast["logged_rows"]
    assert ws.predictions.count(name) - before == 2 * k > 0
    logged = ws.predictions.frame(name, last=2 * k).drop(columns=["_id", "_time"])
    pd.testing.assert_frame_equal(logged.iloc[:k].reset_index(drop=True), logged.iloc[k:].reset_index(drop=True),
                                  check_dtype=False)  # the same sample, inputs and predictions

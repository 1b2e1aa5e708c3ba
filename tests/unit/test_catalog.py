"""The model catalog: every kind trains on real data; bad input says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments import catalog
from mlcycle_tui.experiments.preprocess import build_pipeline, describe_columns

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
SMALL = {"n_estimators": 20, "max_iter": 30}  # kept fast; filtered per kind below


def _small_params(kind: str, task: str) -> dict[str, object]:
    entry = next(e for e in catalog.catalog(task) if e["kind"] == kind)
    names = set(entry["params"])
    return {k: v for k, v in SMALL.items() if k in names and kind != "logistic"}


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "penguins.csv")


@pytest.fixture(scope="module")
def bikes() -> pd.DataFrame:
    frame = pd.read_csv(SAMPLES / "bikeshare.csv")
    return frame.sample(1500, random_state=0).reset_index(drop=True)


def test_catalog_lists_every_kind_per_task_as_json() -> None:
    entries = catalog.catalog()
    json.dumps(entries, allow_nan=False)
    by_task = {t: {e["kind"] for e in entries if e["task"] == t} for t in catalog.TASKS}
    assert by_task["classification"] == {"dummy", "logistic", "rf", "extra_trees", "hgb", "knn"}
    assert by_task["regression"] == {"dummy", "ridge", "rf", "extra_trees", "hgb", "knn"}
    rf = next(e for e in entries if e["kind"] == "rf" and e["task"] == "classification")
    assert rf["estimator"] == "sklearn.ensemble.RandomForestClassifier"
    assert rf["params"]["n_estimators"]["type"] == "int"
    assert rf["params"]["max_depth"]["nullable"] is True
    assert rf["search_space"]["grid"]["n_estimators"]
    assert rf["search_space"]["random"]["n_estimators"].startswith("randint(")
    assert {e["task"] for e in catalog.catalog("regression")} == {"regression"}


@pytest.mark.parametrize("kind", catalog.kinds("classification"))
def test_every_classifier_fits_and_predicts_penguins(kind: str, penguins: pd.DataFrame) -> None:
    est = catalog.make_estimator(kind, "classification", _small_params(kind, "classification"), 7)
    pipe = build_pipeline(describe_columns(penguins), "species", est)
    pipe.fit(penguins, penguins["species"])
    accuracy = float(np.mean(pipe.predict(penguins) == penguins["species"]))
    assert accuracy > (0.4 if kind == "dummy" else 0.9)
    assert pipe.predict_proba(penguins.head(3)).shape == (3, 3)


@pytest.mark.parametrize("kind", catalog.kinds("regression"))
def test_every_regressor_fits_and_predicts_bikeshare(kind: str, bikes: pd.DataFrame) -> None:
    est = catalog.make_estimator(kind, "regression", _small_params(kind, "regression"), 7)
    pipe = build_pipeline(describe_columns(bikes), "bikers", est,
                          drop=["casual", "registered", "timestamp"])
    pipe.fit(bikes, bikes["bikers"])
    pred = pipe.predict(bikes)
    assert pred.shape == (len(bikes),)
    assert np.isfinite(pred).all()
    if kind != "dummy":
        assert np.corrcoef(pred, bikes["bikers"])[0, 1] > 0.5


def test_linear_alias_maps_by_task_and_seed_reaches_random_state() -> None:
    assert type(catalog.make_estimator("linear", "classification")).__name__ == (
        "LogisticRegression")
    ridge = catalog.make_estimator("linear", "regression", {"alpha": "2.5"}, seed=11)
    assert type(ridge).__name__ == "Ridge"
    assert ridge.alpha == 2.5
    rf = catalog.make_estimator("rf", "regression", ["n_estimators=10"], seed=3)
    assert rf.random_state == 3 and rf.n_estimators == 10 and rf.n_jobs == -1
    assert type(catalog.make_estimator("dummy", "classification")).__name__ == "DummyClassifier"
    assert catalog.make_estimator("dummy", "classification").strategy == "prior"


def test_parse_params_converts_declared_types() -> None:
    got = catalog.parse_params("rf", "classification", [
        "n_estimators=50", "max_depth=none", "max_features=sqrt", "bootstrap=false",
        "min_samples_leaf=3.0", "class_weight=balanced",
    ])
    assert got == {"n_estimators": 50, "max_depth": None, "max_features": "sqrt",
                   "bootstrap": False, "min_samples_leaf": 3, "class_weight": "balanced"}
    assert catalog.parse_params("rf", "classification", ["max_features=0.5"]) == {
        "max_features": 0.5}
    assert catalog.parse_params("logistic", "classification", {"C": 0.1}) == {"C": 0.1}
    assert catalog.parse_params("hgb", "regression", {"early_stopping": "auto"}) == {
        "early_stopping": "auto"}


@pytest.mark.parametrize(("kind", "pairs", "message"), [
    ("rf", ["n_estimators=abc"], "n_estimators must be an integer, got 'abc'"),
    ("rf", ["n_estimators=2.5"], "n_estimators must be an integer, got '2.5'"),
    ("rf", ["bootstrap=maybe"], "bootstrap must be true/false, got 'maybe'"),
    ("rf", ["criterion=best"], "criterion must be one of 'gini'"),
    ("rf", ["max_depth=deep"], "max_depth must be an integer or none, got 'deep'"),
    ("logistic", ["C=-1"], "C must be > 0, got '-1'"),
    ("logistic", ["C=nan"], "C must be a number"),
    ("knn", ["n_neighbors=0"], "n_neighbors must be >= 1"),
    ("rf", ["n_estimators"], "must look like name=value"),
])
def test_bad_values_name_the_expected_type(kind: str, pairs: list[str], message: str) -> None:
    with pytest.raises(UserError) as info:
        catalog.parse_params(kind, "classification", pairs)
    assert message in info.value.message


def test_unknown_parameter_lists_valid_ones() -> None:
    with pytest.raises(UserError) as info:
        catalog.parse_params("rf", "classification", ["n_trees=5"])
    text = info.value.message
    assert "unknown parameter 'n_trees'" in text
    assert "n_estimators" in text and "max_depth" in text
    with pytest.raises(UserError, match="--seed"):
        catalog.parse_params("rf", "classification", {"random_state": 1})


def test_unknown_kind_lists_valid_kinds_for_the_task() -> None:
    with pytest.raises(UserError) as info:
        catalog.make_estimator("xgboost", "regression")
    assert "dummy, ridge, rf, extra_trees, hgb, knn" in info.value.message
    with pytest.raises(UserError, match="logistic"):
        catalog.parse_params("ridge", "classification", [])
    with pytest.raises(UserError, match="unknown task"):
        catalog.catalog("clustering")


def test_search_space_is_prefixed_for_the_pipeline() -> None:
    grid = catalog.search_space("rf", "classification", "grid")
    assert grid["model__n_estimators"] == [100, 300]
    assert all(key.startswith("model__") for key in grid)
    rand = catalog.search_space("logistic", "classification", "random")
    sample = rand["model__C"].rvs(random_state=0)
    assert 1e-3 <= sample <= 1e2
    assert catalog.search_space("dummy", "regression", "grid") == {}
    with pytest.raises(UserError, match="grid or random"):
        catalog.search_space("rf", "regression", "bayes")


def test_random_search_runs_with_catalog_space(penguins: pd.DataFrame) -> None:
    from sklearn.model_selection import RandomizedSearchCV

    est = catalog.make_estimator("knn", "classification", {}, seed=0)
    pipe = build_pipeline(describe_columns(penguins), "species", est)
    search = RandomizedSearchCV(pipe, catalog.search_space("knn", "classification", "random"),
                                n_iter=3, cv=3, random_state=0)
    search.fit(penguins, penguins["species"])
    assert search.best_score_ > 0.9
    assert set(search.best_params_) <= {"model__n_neighbors", "model__weights", "model__p"}


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = ("import sys, mlcycle_tui.experiments.catalog as c; c.catalog(); "
            "print('sklearn' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("task", catalog.TASKS)
def test_every_search_space_names_real_estimator_params(task: str) -> None:
    for kind in catalog.kinds(task):
        est = catalog.make_estimator(kind, task, {}, seed=0)
        for mode in ("grid", "random"):
            for key, values in catalog.search_space(kind, task, mode).items():
                value = values[0] if isinstance(values, list) else values.rvs(random_state=0)
                est.set_params(**{key.removeprefix("model__"): value})
        for name, param in catalog.spec(kind, task).to_json()["params"].items():
            est.set_params(**{name: param["default"]})

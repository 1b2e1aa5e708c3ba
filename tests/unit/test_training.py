"""Training, reproduction, evaluation and the registry on the real sample data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.common.errors import NotFoundError, OperationError, UserError
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    w.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    yield w
    w.close()


def test_train_tracks_everything(ws):
    result = ws.training.train("penguins", "rf", params=["n_estimators=20"], seed=3)
    assert result["task"] == "classification"
    assert result["metrics"]["accuracy"] > 0.9
    assert result["baseline"]["accuracy"] < 0.6
    run = ws.runs.get(result["run_id"])
    assert run["status"] == "finished"
    assert run["params"]["n_estimators"] == "20"
    assert run["params"]["model"] == "rf"
    assert run["seed"] == 3
    assert run["dataset"] == "penguins@1"
    assert run["split_id"] == result["split_id"]
    assert {"model", "recipe.json", "evaluation.json", "signature.json"} <= {a["name"] for a in run["artifacts"]}
    assert run["versions"]["sklearn"]
    # the pipeline travels with the model: raw rows in, predictions out
    model = ws.runs.load_model(result["run_id"])
    rows = pd.DataFrame([{"island": "Dream", "bill_length_mm": "45.1", "bill_depth_mm": 17.0,
                          "flipper_length_mm": 190, "body_mass_g": 3800, "sex": None, "year": 2008}])
    assert model.predict(rows)[0] in {"Adelie", "Chinstrap", "Gentoo"}


def test_random_search_logs_trials(ws):
    result = ws.training.train("penguins", "logistic", search="random", trials=3, cv=3)
    history = ws.runs.metric_history(result["run_id"], "cv_score")
    assert [h["step"] for h in history] == [0, 1, 2]
    assert "C" in result["params"]


def test_regression_on_bikeshare(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    ws.data.ingest(SAMPLES / "bikeshare.csv", name="bike", target="bikers", time_column="timestamp")
    result = ws.training.train("bike", "ridge", drop=["casual", "registered"])
    assert result["task"] == "regression"
    assert result["metrics"]["rmse"] < result["baseline"]["rmse"]
    sp = ws.splits.get(result["split_id"])
    assert sp.method == "time"


def test_reproduce_gives_same_metrics_and_predictions(ws):
    result = ws.training.train("penguins", "extra_trees", params={"n_estimators": 15})
    again = ws.training.reproduce(result["run_id"][:8])
    assert again["same_metrics"] and again["same_predictions"]
    assert again["run_id"] != result["run_id"]


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"model": "nope"}, "valid kinds"),
        ({"model": "rf", "params": ["bogus=1"]}, "valid parameters"),
        ({"model": "rf", "params": ["n_estimators=abc"]}, "must be an integer"),
        ({"model": "rf", "task": "regression"}, "regression"),
        ({"model": "rf", "search": "grid", "cv": 500}, "too few"),
    ],
)
def test_bad_training_input_leaves_no_running_run(ws, kwargs, needle):
    with pytest.raises(UserError, match=needle):
        ws.training.train("penguins", **kwargs)
    assert ws.runs.count(filter='status = "running"') == 0


def test_one_class_and_missing_target(ws):
    ws.data.ingest(pd.DataFrame({"x": range(20), "y": ["a"] * 20}), name="one", target="y")
    with pytest.raises(UserError, match="single"):
        ws.training.train("one", "rf")
    ws.data.ingest(pd.DataFrame({"x": range(20), "y": range(20)}), name="notarget")
    with pytest.raises(UserError, match="no target"):
        ws.training.train("notarget", "rf")
    assert ws.runs.count(filter='status = "running"') == 0


def test_evaluate_slices_and_fairness(ws):
    result = ws.training.train("penguins", "rf", params=["n_estimators=10"])
    ev = ws.evaluation.evaluate(result["run_id"], slice_column="island", sensitive="sex", positive_label="Adelie")
    assert set(ev["slices"]) == {"Biscoe", "Dream", "Torgersen"}
    assert ev["metrics"]["confusion_matrix"]["labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert sum(sum(r) for r in ev["metrics"]["confusion_matrix"]["matrix"]) == ev["metrics"]["rows"]
    assert set(ev["fairness"]["groups"]) == {"female", "male"}
    with pytest.raises(UserError, match="no column"):
        ws.evaluation.evaluate(result["run_id"], slice_column="nope")


def test_registry_aliases_history_and_rollback(ws):
    a = ws.training.train("penguins", "rf", params=["n_estimators=10"])
    b = ws.training.train("penguins", "knn")
    v1 = ws.registry.register(a["run_id"], "peng")
    v2 = ws.registry.register(b["run_id"], "peng")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.signature["inputs"][0]["name"] == "island"
    assert "species" not in [i["name"] for i in v1.signature["inputs"]]
    assert ws.registry.model_version("peng").version == 2  # latest while nothing is in production
    first = ws.registry.promote("peng", 1)
    assert first["previous"] is None
    assert ws.registry.model_version("peng").version == 1  # production wins
    ws.registry.promote("peng", 2, force=True)  # knn may trail rf by more than the gate allows
    assert ws.registry.model_version("peng@production").version == 2
    assert ws.registry.model_version("peng@production").aliases == ["production"]
    back = ws.registry.rollback("peng")
    assert (back["version"], back["previous"]) == (1, 2)
    history = ws.registry.alias_history("peng", "production")
    assert [h["version"] for h in history] == [1, 2, 1]
    ws.registry.promote("peng", 2, alias="staging")
    assert ws.registry.model_version("peng@staging").version == 2
    with pytest.raises(NotFoundError):
        ws.registry.model_version("peng@nope")
    with pytest.raises(NotFoundError):
        ws.registry.model_version("ghost")


def test_gates_refuse_and_force_is_recorded(ws, tmp_path):
    a = ws.training.train("penguins", "rf", params=["n_estimators=10"])
    dummy = ws.training.train("penguins", "dummy")
    ws.registry.register(a["run_id"], "peng")
    ws.registry.register(dummy["run_id"], "peng")
    ws.registry.promote("peng", 1)
    verdict = ws.registry.gate_check("peng@2")
    assert not verdict["passed"]
    with pytest.raises(OperationError, match="refused by the gates"):
        ws.registry.promote("peng", 2)
    assert ws.registry.model_version("peng").version == 1
    forced = ws.registry.promote("peng", 2, force=True)
    assert forced["forced"]
    assert ws.registry.alias_history("peng")[0]["forced"] == 1
    # a minimum-metric rule from the settings
    ws.settings["gates"] = {"min": {"accuracy": 1.01}}
    assert not ws.registry.gate_check("peng@1")["passed"]


def test_predictions_are_deterministic_for_same_seed(ws):
    r1 = ws.training.train("penguins", "rf", params=["n_estimators=10"], seed=5)
    r2 = ws.training.train("penguins", "rf", params=["n_estimators=10"], seed=5)
    _, test = ws.splits.frames(r1["split_id"])
    X = test.drop(columns=["species"])
    np.testing.assert_array_equal(
        ws.runs.load_model(r1["run_id"]).predict_proba(X), ws.runs.load_model(r2["run_id"]).predict_proba(X)
    )

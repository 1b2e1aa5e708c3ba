"""The training choices people expect (issue 18, item 1): metric, positive class, folds, target, any estimator.

Through the real `mlcycle` entry point where a user would type it, and the
Python API where the check needs the objects. The data is a user-like CSV:
an id, a customer column with several rows per customer, a date, a plan
category, numbers with gaps, a yes/no target and a numeric column that can be
a target too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.workspace import Workspace


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=180)


def users(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": range(n),
        "customer": rng.integers(0, 30, n),
        "signup date": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "plan": rng.choice(["free", "pro", "team"], n),
        "x": rng.normal(size=n),
        "Größe cm": rng.normal(170, 10, n).round(1),
    })
    df.loc[rng.random(n) < 0.1, "x"] = np.nan
    logit = np.nan_to_num(df["x"].to_numpy()) * 2 + (df["plan"] == "pro") - 0.8
    df["churn"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    df["spend"] = (np.nan_to_num(df["x"].to_numpy()) * 10 + rng.normal(size=n)).round(2)
    return df


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "users.csv"
    users().to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_search_ranked_by_roc_auc_with_grouped_folds_from_the_cli(tmp_path: Path, csv: Path) -> None:
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold, cross_val_score

    home = tmp_path / "ws"
    assert mlcycle(home, "data", "ingest", str(csv), "--name", "users", "--target", "churn").returncode == 0
    done = mlcycle(home, "--json", "train", "users", "--model", "logistic", "--search", "grid",
                   "--metric", "roc_auc", "--cv", "group:customer", "--n-jobs", "1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["primary_metric"], result["positive_class"], result["cv"]) == ("roc_auc", "yes",
                                                                                  "group:customer:3")
    human = mlcycle(home, "train", "users", "--model", "dummy", "--metric", "roc_auc")
    assert "ranked by roc_auc, positive class 'yes'" in human.stdout
    with Workspace.open(home) as ws:
        run = ws.runs.get(result["run_id"])
        assert run["tags"]["primary_metric"] == "roc_auc"
        assert run["tags"]["positive_class"] == "yes"
        recipe = ws.runs.recipe(run["run_id"])
        assert (recipe["metric"], recipe["cv"]) == ("roc_auc", "group:customer:3")
        # the search's best score is the mean roc_auc over folds that keep each customer together,
        # as scikit-learn computes it by itself (its roc_auc takes the second class, "yes", as positive)
        train_df, _ = ws.splits.frames(run["split_id"])
        X, y = train_df.drop(columns=["churn"]), train_df["churn"]
        expected = cross_val_score(clone(ws.runs.load_model(run["run_id"])), X, y, groups=X["customer"],
                                   cv=GroupKFold(3), scoring="roc_auc").mean()
        assert run["metrics"]["cv_best_score"] == pytest.approx(expected)
        # ranking and gates read the run's metric: the dummy (roc_auc 0.5) does not win, and the
        # gate compares roc_auc
        assert ws.runs.best_recent()["run_id"] == result["run_id"]
        mv = ws.registry.register(result["run_id"], "churn")
        verdict = ws.registry.gate_check(mv)
        assert {c["metric"] for c in verdict["checks"]} == {"roc_auc"}
    gates = mlcycle(home, "--json", "models", "gates", "churn@1")
    assert {c["metric"] for c in json.loads(gates.stdout)["checks"]} == {"roc_auc"}
    listing = mlcycle(home, "models", "list")
    assert "roc_auc" in listing.stdout
    bad = mlcycle(home, "train", "users", "--metric", "auc")
    assert bad.returncode != 0 and "choose one of: f1, accuracy" in bad.stderr


def test_positive_class_default_choice_and_refusals(tmp_path: Path) -> None:
    from sklearn.metrics import f1_score

    df = users(200)
    df["label"] = np.where(df["churn"] == "yes", "leaver", "stayer")  # neither reads as positive
    with Workspace.open(tmp_path / "ws") as ws:
        ws.data.ingest(df.drop(columns=["churn"]), name="u", target="label")
        minority = df["label"].value_counts().idxmin()
        default = ws.training.train("u", "logistic")
        assert default["positive_class"] == minority
        chosen = ws.training.train("u", "logistic", positive_class="stayer")
        assert chosen["positive_class"] == "stayer"
        assert ws.runs.get(chosen["run_id"])["tags"]["positive_class"] == "stayer"
        _, test_df = ws.splits.frames(chosen["split_id"])
        pred = ws.runs.load_model(chosen["run_id"]).predict(test_df.drop(columns=["label"]))
        assert chosen["metrics"]["f1"] == pytest.approx(f1_score(test_df["label"], pred, pos_label="stayer"))
        assert default["metrics"]["f1"] != pytest.approx(chosen["metrics"]["f1"])
        # `mlcycle evaluate` reads the run's positive class
        again = ws.evaluation.evaluate(chosen["run_id"])
        assert (again["positive_class"], again["metrics"]["f1"]) == ("stayer", pytest.approx(chosen["metrics"]["f1"]))
        with pytest.raises(UserError, match="not a class of the target; the classes are: leaver, stayer"):
            ws.training.train("u", "logistic", positive_class="maybe")
        with pytest.raises(UserError, match="classification targets only"):
            ws.training.train("u", "ridge", target="spend", positive_class="yes")
        ws.data.ingest(df.assign(plan_target=df["plan"]), name="p", target="plan_target")
        with pytest.raises(UserError, match="needs a binary target; this one has 3 classes"):
            ws.training.train("p", "logistic", positive_class="pro", drop=["plan"])


def test_target_at_train_time_overrides_the_datasets(tmp_path: Path, csv: Path) -> None:
    home = tmp_path / "ws"
    with Workspace.open(home) as ws:
        ws.data.ingest(csv, name="users", target="churn")
    done = mlcycle(home, "--json", "train", "users", "--target", "spend", "--model", "ridge", "--metric", "mae",
                   "--drop", "churn")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["task"], result["target"], result["primary_metric"]) == ("regression", "spend", "mae")
    with Workspace.open(home) as ws:
        mv = ws.registry.register(result["run_id"], "spend")
        names = {c["name"] for c in mv.signature["inputs"]}
        assert "spend" not in names and "churn" not in names and "x" in names
        assert ws.monitoring.target_of(mv) == "spend"
        again = ws.training.reproduce(result["run_id"])
        assert again["same_predictions"] and again["primary_metric"] == "mae"
        assert ws.runs.recipe(again["run_id"])["target"] == "spend"
    bad = mlcycle(home, "train", "users", "--target", "Spend")
    assert bad.returncode != 0
    assert "--target 'Spend' is not a column of users@1; columns are: id, customer" in bad.stderr


def test_an_unknown_or_unsuitable_import_path_says_what_to_do(tmp_path: Path, csv: Path) -> None:
    with Workspace.open(tmp_path / "ws") as ws:
        ws.data.ingest(csv, name="users", target="churn")
        cases = {
            "nosuchpackage:Model": "pip install nosuchpackage",
            "sklearn.svm:SVX": "has no class 'SVX'",
            "sklearn.svm:SVR": "is a regressor, but the target is a classification target",
            "sklearn.preprocessing:StandardScaler": "not a scikit-learn-compatible estimator: it has no predict",
            "sklearn.svm": "unknown model kind",
        }
        for kind, words in cases.items():
            with pytest.raises(UserError, match=words):
                ws.training.train("users", kind)
        with pytest.raises(UserError, match=r"unknown parameter 'gama' for sklearn\.svm:SVC; valid parameters: C"):
            ws.training.train("users", "sklearn.svm:SVC", params=["gama=0.1"])
        with pytest.raises(UserError, match="not in the catalog; train it without --search"):
            ws.training.train("users", "sklearn.svm:SVC", search="grid")
        assert ws.runs.count() == 0  # every refusal came before a run was opened


@pytest.mark.slow
def test_a_lightgbm_model_goes_through_register_serve_drift_and_retrain(tmp_path: Path) -> None:
    """Any scikit-learn-compatible estimator by import path is a first-class model (LightGBM here: a third-party
    class whose constructor takes **kwargs, so `verbose=-1` is accepted though `get_params` does not list it)."""
    import urllib.request

    from mlcycle_tui.server.runner import ServerRunner

    kind = "lightgbm:LGBMClassifier"
    data = users(400)
    with Workspace.open(tmp_path / "ws") as ws:
        ws.data.ingest(data.iloc[:300], name="users", target="churn")
        run = ws.training.train("users", kind, params=["n_estimators=30", "verbose=-1"], metric="roc_auc")
        assert run["model"] == kind and run["params"]["random_state"] == 42 and run["params"]["verbose"] == -1
        mv = ws.registry.register(run["run_id"], "churn")
        ws.registry.promote("churn", mv.version)
        server = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0.2}).start()
        try:
            rows = data.iloc[300:].drop(columns=["churn"]).replace({np.nan: None}).to_dict("records")
            request = urllib.request.Request(f"http://127.0.0.1:{server.port}/v1/models/churn/predict",
                                             data=json.dumps({"instances": rows}).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, body = answer.status, json.loads(answer.read())
        finally:
            server.stop()
        assert status == 200, body
        assert body["classes"] == ["no", "yes"] and len(body["predictions"]) == 100
        expected = ws.runs.load_model(run["run_id"]).predict_proba(data.iloc[300:].drop(columns=["churn"]))
        np.testing.assert_allclose(np.asarray(body["probabilities"]), expected, rtol=1e-9)
        # drift: the served traffic, shifted inputs
        shifted = data.iloc[300:].drop(columns=["churn"]).assign(x=lambda f: f["x"] + 3,
                                                                 spend=lambda f: f["spend"] + 30)
        report = ws.monitoring.check_drift("churn", shifted, action="alert")
        assert report["drift"] and "x" in {c["column"] for c in report["columns"] if c["drifted"]}
        # retrain on newer data: the same import path, parameters, metric and positive class
        ws.data.ingest(data, name="users", target="churn")
        ws.jobs.enqueue_retrain("churn", "test: newer data")
        job = ws.jobs.run_next()
        assert job is not None and job["status"] in ("done", "awaiting_approval"), job
        challenger = ws.registry.model_version("churn@2")
        assert challenger.kind == kind and challenger.recipe["metric"] == "roc_auc"
        assert challenger.recipe["params"] == {"n_estimators": 30, "verbose": -1}
        assert {c["metric"] for c in job["result"]["gates"]["checks"]} == {"roc_auc"}


def test_an_estimator_that_refuses_its_parameters_is_a_user_error_and_a_failed_run(tmp_path: Path) -> None:
    df = users(120).assign(plan_target=lambda f: f["plan"])
    with Workspace.open(tmp_path / "ws") as ws:
        ws.data.ingest(df.drop(columns=["plan"]), name="p", target="plan_target")
        with pytest.raises(UserError, match="logistic could not be fitted: The 'liblinear' solver does not support "
                                            "multiclass"):
            ws.training.train("p", "logistic", params=["solver=liblinear"])
        (run,) = ws.runs.search()
        assert run["status"] == "failed"

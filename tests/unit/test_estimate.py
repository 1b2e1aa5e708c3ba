"""Estimated performance without labels (CBPE, DLE) on generated data where the truth is known.

The ground truth is a logistic model (classification) and a linear one with
noise that grows with a feature (regression). Current data moves the feature
distribution inside the reference's range (covariate shift, P(y|x) unchanged):
the estimate must follow the realized metric while "the reference still holds"
misses it. Under concept shift (the relation flipped) it is allowed to miss,
and says what it assumes. Real workspaces, models trained by mlcycle.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from mlcycle_tui.monitoring.estimate import CBPE, chunk_bounds, class_index, classification_metrics, expected_auc
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.workspace import Workspace

CHUNK_KEYS = {"start", "end", "rows", "estimated", "lower", "upper", "realized", "alert", "metrics", "labelled"}


def classes_frame(n: int, seed: int, shift: float = 0.0, flip: bool = False) -> pd.DataFrame:
    """y ~ Bernoulli(logistic(1.5 x1 - x2 + 0.7 [cat = a])); `shift` moves x1, `flip` reverses x1's effect."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(shift, 1.0, n), rng.normal(0.0, 1.0, n)
    cat = rng.choice(["a", "b", "c"], n)
    logit = (-1.5 if flip else 1.5) * x1 - x2 + np.where(cat == "a", 0.7, 0.0)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame({"x1": x1, "x2": x2, "cat": cat, "y": np.where(y, "yes", "no")})


def regression_frame(n: int, seed: int, a: float = 1.0, b: float = 1.0) -> pd.DataFrame:
    """y = 3 x1 + x2 + [cat = a] + noise whose spread grows with x1 (for cat b); x1 = 2 Beta(a, b) in [0, 2]."""
    rng = np.random.default_rng(seed)
    x1, x2 = 2.0 * rng.beta(a, b, n), rng.normal(0.0, 1.0, n)
    cat = rng.choice(["a", "b"], n)
    noise = rng.normal(0.0, 0.2 + x1 * (cat == "b") + 0.3 * np.abs(x2), n)
    return pd.DataFrame({"x1": x1, "x2": x2, "cat": cat, "y": 3 * x1 + x2 + (cat == "a") + noise})


def deploy(ws: Workspace, frame: pd.DataFrame, name: str, model: str, target: str = "y", **params) -> str:
    ds = ws.data.ingest(frame, name=name, target=target)
    split = ws.splits.create(ds, test_size=0.5, seed=1)
    run = ws.training.train(ds.ref, model, params=params or None, split=split.split_id, seed=1)
    mv = ws.registry.register(run["run_id"], name)
    ws.registry.promote(name, mv.version, force=True)
    return mv.ref


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    """A logistic classifier and a ridge regressor, each with a 2,000-row reference holdout."""
    w = Workspace.open(tmp_path_factory.mktemp("estimate") / "ws")
    deploy(w, classes_frame(4000, seed=1), "clf", "logistic")
    deploy(w, regression_frame(4000, seed=2), "reg", "ridge")
    yield w
    w.close()


# -- the arithmetic, against scikit-learn ----------------------------------------------------

def test_realized_metrics_match_scikit_learn_and_expected_auc_is_the_roc_auc_of_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.random(500) * 0.6 + 0.4 * y, 2)  # rounded: ties must count one half
    assert expected_auc(score, y) == pytest.approx(roc_auc_score(y, score))
    proba = np.column_stack([1 - score, score])
    pred = (score > 0.5).astype(int)
    got = CBPE.realized(proba, pred, y)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["f1"] == pytest.approx(f1_score(y, pred))
    assert got["precision"] == pytest.approx(precision_score(y, pred))
    assert got["recall"] == pytest.approx(recall_score(y, pred))

    y3 = rng.integers(0, 3, 600)
    p3 = rng.dirichlet([1, 1, 1], 600) * 0.5 + np.eye(3)[y3] * 0.5
    pred3 = p3.argmax(axis=1)
    got = classification_metrics(p3, np.eye(3)[y3], pred3)
    assert got["accuracy"] == pytest.approx(accuracy_score(y3, pred3))
    assert got["f1"] == pytest.approx(f1_score(y3, pred3, average="macro"))
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y3, p3, multi_class="ovr", average="macro"))

    assert chunk_bounds(2400, 1000) == [(0, 1000), (1000, 2400)]  # a remainder under half a chunk joins
    assert chunk_bounds(2500, 1000) == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert chunk_bounds(300, 1000) == [(0, 300)]
    assert class_index([1, 1.0, "1", "0", None, 7], [0, 1]).tolist() == [1, 1, 1, 0, -1, -1]


# -- covariate shift: the estimate follows; concept shift: it says what it assumes ---------------

def test_classification_estimate_follows_covariate_shift_and_admits_concept_shift(ws):
    current = pd.concat([classes_frame(2000, seed=11, shift=-1.0), classes_frame(2000, seed=12, shift=1.0)],
                        ignore_index=True)
    doc = ws.estimates.estimate("clf", current, chunk=2000, metric="accuracy")
    assert doc["judged"] and doc["method"] == "CBPE" and doc["metric"] == "accuracy"
    assert doc["model"] == "clf" and doc["version"] == 1 and "P(y|x)" in doc["caveat"]
    assert [(c["start"], c["end"], c["rows"]) for c in doc["chunks"]] == [(0, 2000, 2000), (2000, 4000, 2000)]
    reference = doc["reference"]["metrics"]
    for chunk in doc["chunks"]:
        assert chunk.keys() >= CHUNK_KEYS and chunk["labelled"] == 2000
        for metric in ("accuracy", "roc_auc"):
            m = chunk["metrics"][metric]
            assert abs(m["estimated"] - m["realized"]) <= 0.03, (metric, m)
            assert m["lower"] <= m["realized"] <= m["upper"], (metric, m)
    # the shift really moved accuracy: assuming the reference still holds would miss by more than 0.03
    assert max(abs(c["realized"] - reference["accuracy"]) for c in doc["chunks"]) > 0.03
    assert not doc["alert"] and doc["job_id"] is None

    flipped = ws.estimates.estimate("clf", classes_frame(2000, seed=13, flip=True), chunk=2000, metric="accuracy")
    chunk = flipped["chunks"][0]
    assert chunk["realized"] < chunk["estimated"] - 0.2  # blind to concept shift, as it says
    assert "concept shift" in flipped["caveat"] and flipped["assumption"] == "P(y|x) holds"


def test_regression_estimate_follows_covariate_shift(ws):
    current = pd.concat([regression_frame(2000, seed=21, a=3.0, b=1.0),
                         regression_frame(2000, seed=22, a=1.0, b=3.0)], ignore_index=True)
    doc = ws.estimates.estimate("reg", current, chunk=2000)
    assert doc["judged"] and doc["method"] == "DLE" and doc["metric"] == "rmse"
    reference = doc["reference"]["metrics"]["mae"]
    maes = [c["metrics"]["mae"] for c in doc["chunks"]]
    for m in maes:
        assert abs(m["estimated"] - m["realized"]) <= 0.10 * m["realized"], m
    assert maes[0]["realized"] > 1.1 * reference > 1.1 * maes[1]["realized"]  # errors moved with x1, both ways
    assert doc["thresholds"]["rmse"]["source"] == "policy.decay_margin"
    assert doc["chunks"][0]["alert"] and not doc["chunks"][1]["alert"]  # larger errors at high x1 cross it


# -- cannot judge ---------------------------------------------------------------------------------

def test_cannot_estimate_says_why_and_never_reports_fine(ws):
    few = ws.estimates.estimate("clf", classes_frame(60, seed=31))
    assert not few["judged"] and few["verdict"] == "cannot estimate" and few["chunks"] == []
    assert few["reason"].startswith("60 current rows; needs 100: give a longer --window") and not few["alert"]

    # a classifier without predict_proba, logged by hand through the Python API with the recipe of a trained run
    clf = ws.registry.model_version("clf")
    _, pipeline = ws.registry.load_model(clf)
    train, _ = ws.splits.frames(clf.split_id)
    no_proba = clone(pipeline).set_params(model=RidgeClassifier()).fit(train.drop(columns=["y"]), train["y"])
    with ws.runs.start("noproba", split=clf.split_id) as run:
        run.log_model(no_proba)
        run.log_artifact(json.dumps(ws.runs.recipe(clf.run_id)).encode(), "recipe.json")
    mv = ws.registry.register(run.id, "noproba")
    doc = ws.estimates.estimate(mv.ref, classes_frame(500, seed=33))
    assert not doc["judged"] and "predict_proba" in doc["reason"] and doc["verdict_text"].startswith("cannot")
    assert doc["chunks"] == [] and not doc["alert"]


# -- realized beside the estimate from real feedback; the retraining trigger -------------------------

def test_feedback_labels_show_realized_values_and_an_alert_queues_retraining(ws):
    current = classes_frame(1200, seed=41, shift=0.5)
    mv, pipeline = ws.registry.load_model("clf")
    inputs = current.drop(columns=["y"])
    predictions = pipeline.predict(inputs)
    ids = [new_prediction_id() for _ in range(len(inputs))]
    start = time.time() - len(inputs)
    ws.predictions.log(prediction_row(ids[i], mv.name, mv.version, inputs.iloc[i].to_dict(), predictions[i],
                                      at=start + i) for i in range(len(inputs)))
    labelled = list(range(0, 1200, 2))  # every other row gets its true label back
    ws.predictions.add_feedback("clf", [{"prediction_id": ids[i], "label": current.y[i]} for i in labelled])

    doc = ws.estimates.estimate("clf", window="1h", chunk=600, metric="accuracy")
    assert doc["judged"] and doc["source"] == "logged predictions, last 1h"
    assert [c["labelled"] for c in doc["chunks"]] == [300, 300]
    for k, chunk in enumerate(doc["chunks"]):
        rows = [i for i in labelled if 600 * k <= i < 600 * (k + 1)]
        truth = accuracy_score(current.y[rows], predictions[rows])
        assert chunk["realized"] == pytest.approx(truth)
        assert chunk["first"] is not None and chunk["first"] <= chunk["last"]
        assert chunk["realized_alert"] is False and chunk["alert"] is False

    ws.settings["gates"] = {**ws.settings["gates"], "min": {"accuracy": 0.99}}
    try:
        alerted = ws.estimates.estimate("clf", window="1h", chunk=600, metric="accuracy")
        assert alerted["alert"] and alerted["thresholds"]["accuracy"]["source"] == "gates.min.accuracy"
        assert all(c["alert"] and c["realized_alert"] for c in alerted["chunks"])  # the labels agree
        assert alerted["job_id"] is None  # action "alert" (the default) only reports
        queued = ws.estimates.estimate("clf", window="1h", chunk=600, metric="accuracy", action="retrain")
        job = ws.jobs.get(queued["job_id"])
        assert queued["job_queued"] and job["status"] == "queued" and job["trigger"] == "estimated_performance"
        assert job["reason"].startswith("estimated_performance: CBPE estimate of clf@1: accuracy ")
        again = ws.estimates.estimate("clf", window="1h", chunk=600, metric="accuracy", action="retrain")
        assert again["job_id"] == job["id"] and not again["job_queued"]
        assert any(e["kind"] == "alert" and "estimated_performance" in e["message"] for e in ws.events.recent(10))
    finally:
        ws.settings["gates"] = {**ws.settings["gates"], "min": {}}
        ws.jobs.cancel(job["id"])


def test_a_scheduled_drift_check_also_estimates_and_its_alert_queues_retraining(ws):
    """`[policy] estimate_on_check` (on by default): each tick of a drift schedule estimates too."""
    current = classes_frame(400, seed=43, shift=0.3)
    mv, pipeline = ws.registry.load_model("clf")
    inputs = current.drop(columns=["y"])
    predictions = pipeline.predict(inputs)
    start = time.time() - len(inputs)
    ws.predictions.log(prediction_row(new_prediction_id(), mv.name, mv.version, inputs.iloc[i].to_dict(),
                                      predictions[i], at=start + i) for i in range(len(inputs)))
    sched = ws.drift_schedules.add("clf", every="1h", action="retrain")
    ws.settings["gates"] = {**ws.settings["gates"], "min": {"f1": 0.99}}
    try:
        tick = ws.drift_schedules.run(sched["schedule_id"], "test", force=True)
        estimate = tick["estimate"]
        assert estimate["judged"] and estimate["metric"] == "f1" and estimate["alert"]
        job = ws.jobs.get(estimate["job_id"])  # queued by the estimate, or the drift check's job it joined
        assert job["status"] == "queued"
        ws.settings["policy"] = {**ws.settings.get("policy", {}), "estimate_on_check": False}
        assert ws.drift_schedules.run(sched["schedule_id"], "test", force=True)["estimate"] is None
    finally:
        ws.settings["gates"] = {**ws.settings["gates"], "min": {}}
        ws.settings["policy"] = {k: v for k, v in ws.settings.get("policy", {}).items() if k != "estimate_on_check"}
        ws.drift_schedules.remove(sched["schedule_id"])
        for j in ws.jobs.list(status="queued"):
            ws.jobs.cancel(j["id"])


def test_the_default_chunk_gives_less_traffic_about_five_chunks() -> None:
    from mlcycle_tui.monitoring.estimate import chunk_bounds, default_chunk

    assert default_chunk(50_000) == 1000 and default_chunk(5_000) == 1000
    assert default_chunk(2_000) == 400 and default_chunk(365) == 100 and default_chunk(120) == 100
    assert [e - s for s, e in chunk_bounds(365, default_chunk(365))] == [100, 100, 100, 65]

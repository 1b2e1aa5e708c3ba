"""Metrics agree with scikit-learn; slices and fairness give known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments import evaluation as ev
from mlcycle_tui.experiments.catalog import make_estimator
from mlcycle_tui.experiments.preprocess import build_pipeline, describe_columns

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def _strict_json(value: object) -> None:
    json.dumps(value, allow_nan=False)


@pytest.fixture(scope="module")
def penguin_split():
    frame = pd.read_csv(SAMPLES / "penguins.csv")
    train, test = train_test_split(frame, test_size=0.3, random_state=1,
                                   stratify=frame["species"])
    return frame, train, test


@pytest.fixture(scope="module")
def multiclass(penguin_split):
    frame, train, test = penguin_split
    est = make_estimator("logistic", "classification", {"C": 0.05}, seed=0)
    pipe = build_pipeline(describe_columns(frame), "species", est).fit(train, train["species"])
    return pipe, train, test


def test_multiclass_metrics_equal_sklearn(multiclass) -> None:
    pipe, _, test = multiclass
    y = test["species"].to_numpy()
    pred, proba, classes = ev.predictions("classification", pipe, test)
    got = ev.evaluate("classification", y, pred, proba, classes)
    _strict_json(got)
    assert got["rows"] == len(y)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert got["recall_macro"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert got["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=classes))
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, proba, labels=classes))
    assert got["confusion_matrix"]["labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert got["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, pred).tolist()
    gentoo = got["per_class"]["Gentoo"]
    assert gentoo["support"] == int((y == "Gentoo").sum())
    assert gentoo["f1"] == pytest.approx(
        skm.f1_score(y, pred, labels=["Gentoo"], average="macro"))
    curve = got["roc_curve"]["per_class"]["Chinstrap"]
    assert len(curve["fpr"]) == len(curve["tpr"]) == len(curve["thresholds"]) <= 101
    assert "average_precision" in got["pr_curve"]["per_class"]["Adelie"]


def test_binary_metrics_use_second_sorted_class_as_positive() -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = rng.choice(["no", "yes"], n, p=[0.7, 0.3])
    score = np.clip(np.where(y == "yes", 0.65, 0.35) + rng.normal(0, 0.25, n), 0.001, 0.999)
    pred = np.where(score > 0.5, "yes", "no")
    proba = np.column_stack([1 - score, score])
    got = ev.evaluate("classification", y, pred, proba, ["no", "yes"])
    _strict_json(got)
    assert got["positive_class"] == "yes"
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, pos_label="yes"))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, pos_label="yes"))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="yes"))
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", score))
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y == "yes", score))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    roc = got["roc_curve"]
    assert roc["positive_class"] == "yes"
    assert len(roc["fpr"]) <= 101 and roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    assert roc["thresholds"][0] is None  # sklearn's +inf, made JSON-safe
    pr = got["pr_curve"]
    assert len(pr["precision"]) == len(pr["recall"]) == len(pr["thresholds"]) <= 101
    assert pr["average_precision"] == pytest.approx(
        skm.average_precision_score(y == "yes", score))
    # a 1-D probability of the positive class is accepted too
    assert ev.evaluate("classification", y, pred, score, ["no", "yes"])["roc_auc"] == (
        got["roc_auc"])


def test_undefined_metrics_are_none_not_nan() -> None:
    got = ev.evaluate("classification", ["a", "a"], ["a", "b"], [[0.6, 0.4], [0.3, 0.7]],
                      ["a", "b"])
    _strict_json(got)
    assert got["roc_auc"] is None and got["roc_curve"] is None
    assert got["accuracy"] == 0.5
    no_proba = ev.evaluate("classification", [0, 1, None], [0, 0, 1])
    assert no_proba["rows"] == 2 and no_proba["log_loss"] is None
    with pytest.raises(UserError, match="one column per class"):
        ev.evaluate("classification", ["a", "b"], ["a", "b"], [[1.0], [0.0]], ["a", "b"])
    with pytest.raises(UserError, match="predictions"):
        ev.evaluate("regression", [1, 2], [1])


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.uniform(1, 100, 300)
    pred = y + rng.normal(0, 5, 300)
    got = ev.evaluate("regression", y, pred)
    _strict_json(got)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    residual = y - pred
    assert got["residuals"]["mean"] == pytest.approx(residual.mean())
    assert got["residuals"]["p95"] == pytest.approx(np.percentile(residual, 95))
    with_zero = ev.evaluate("regression", [0.0, 2.0, "3.5"], [0.5, 2.0, 3.0])
    assert with_zero["mape"] is None and with_zero["rows"] == 3
    assert with_zero["mae"] == pytest.approx((0.5 + 0 + 0.5) / 3)


def test_evaluate_with_baseline_on_bikeshare() -> None:
    frame = pd.read_csv(SAMPLES / "bikeshare.csv").sample(2000, random_state=0)
    train, test = train_test_split(frame, test_size=0.3, random_state=0)
    est = make_estimator("hgb", "regression", {"max_iter": 50}, seed=0)
    pipe = build_pipeline(describe_columns(frame), "bikers", est,
                          drop=["casual", "registered", "timestamp"])
    pipe.fit(train, train["bikers"])
    got = ev.evaluate_with_baseline("regression", train, train["bikers"], test, test["bikers"],
                                    pipe)
    _strict_json(got)
    assert got["model"]["rmse"] < got["baseline"]["rmse"]
    mean = train["bikers"].mean()
    assert got["baseline"]["mae"] == pytest.approx(
        skm.mean_absolute_error(test["bikers"], np.full(len(test), mean)))


def test_evaluate_with_baseline_classification(multiclass) -> None:
    pipe, train, test = multiclass
    got = ev.evaluate_with_baseline("classification", train, train["species"], test,
                                    test["species"], pipe)
    _strict_json(got)
    assert got["model"]["f1"] > got["baseline"]["f1"]
    prior = train["species"].value_counts(normalize=True).sort_index().to_numpy()
    assert got["baseline"]["log_loss"] == pytest.approx(
        skm.log_loss(test["species"], np.tile(prior, (len(test), 1))))
    assert got["baseline"]["accuracy"] == pytest.approx(
        (test["species"] == "Adelie").mean())


def test_flat_metrics_and_directions() -> None:
    got = ev.flat_metrics({"f1": 0.5, "rows": 3, "roc_auc": None, "per_class": {}, "ok": True})
    assert got == {"f1": 0.5, "rows": 3.0}
    assert ev.primary_metric("classification") == "f1"
    assert ev.primary_metric("regression") == "rmse"
    assert ev.higher_is_better("f1") and ev.higher_is_better("metrics.accuracy")
    assert not ev.higher_is_better("rmse") and not ev.higher_is_better("log_loss")


# --- slices -----------------------------------------------------------------------------

def test_slices_on_handmade_example() -> None:
    frame = pd.DataFrame({"city": ["a", "a", "a", "b", "b", None],
                          "size": [1, 2, 3, 4, 5, 6]})
    y = [1, 0, 1, 1, 0, 1]
    pred = [1, 0, 0, 1, 1, 1]
    got = ev.evaluate_slices("classification", frame, y, pred, None, [0, 1], "city")
    _strict_json(got)
    assert list(got) == ["a", "b", "(missing)"]
    assert got["a"]["rows"] == 3 and got["a"]["accuracy"] == pytest.approx(2 / 3)
    assert got["b"]["rows"] == 2 and got["b"]["accuracy"] == 0.5
    assert got["(missing)"]["accuracy"] == 1.0
    assert "roc_curve" not in got["a"]


def test_numeric_slices_are_quantile_bins() -> None:
    values = np.arange(100, dtype=float)
    frame = pd.DataFrame({"x": values})
    y = values * 2
    pred = y + (values >= 50)  # error only in the upper half
    got = ev.evaluate_slices("regression", frame, y, pred, None, None, "x", max_slices=20,
                             bins=2)
    assert list(got) == ["[0.0, 49.5)", "[49.5, 99.0]"]
    assert got["[0.0, 49.5)"]["rows"] == 50 and got["[0.0, 49.5)"]["mae"] == 0.0
    assert got["[49.5, 99.0]"]["mae"] == 1.0
    assert sum(s["rows"] for s in ev.evaluate_slices(
        "regression", frame, y, pred, None, None, "x").values()) == 100


def test_many_categories_keep_the_largest_and_group_the_rest() -> None:
    frame = pd.DataFrame({"c": ["big"] * 10 + ["mid"] * 5 + [f"u{i}" for i in range(5)]})
    y = pred = ["x"] * 10 + ["y"] * 10
    got = ev.evaluate_slices("classification", frame, y, pred, None, None, "c", max_slices=3)
    assert list(got) == ["big", "mid", "(other)"]
    assert got["(other)"]["rows"] == 5
    with pytest.raises(UserError, match="unknown slice column"):
        ev.evaluate_slices("classification", frame, y, pred, None, None, "nope")


# --- fairness -----------------------------------------------------------------------------

def test_fairness_known_answer() -> None:
    #        group a: 4 rows             group b: 4 rows
    y =     [1, 1, 0, 0,                 1, 1, 0, 0]
    pred =  [1, 1, 1, 0,                 1, 0, 0, 0]
    groups = ["a"] * 4 + ["b"] * 4
    got = ev.fairness(y, pred, groups)
    _strict_json(got)
    assert got["positive_label"] == 1
    a, b = got["groups"]["a"], got["groups"]["b"]
    assert a == {"rows": 4, "selection_rate": 0.75, "tpr": 1.0, "fpr": 0.5, "base_rate": 0.5}
    assert b == {"rows": 4, "selection_rate": 0.25, "tpr": 0.5, "fpr": 0.0, "base_rate": 0.5}
    assert got["gaps"] == {"selection_rate": 0.5, "tpr": 0.5, "fpr": 0.5}
    assert got["ratios"]["selection_rate"] == pytest.approx(1 / 3)
    assert got["ratios"]["tpr"] == 0.5
    assert got["ratios"]["fpr"] == 0.0


def test_fairness_multiclass_needs_a_positive_label() -> None:
    y = ["cat", "dog", "eel", "dog"]
    pred = ["cat", "dog", "dog", "eel"]
    groups = ["x", "x", "y", "y"]
    with pytest.raises(UserError, match="choose the positive label"):
        ev.fairness(y, pred, groups)
    got = ev.fairness(y, pred, groups, positive_label="dog")
    assert got["groups"]["x"]["tpr"] == 1.0
    assert got["groups"]["y"]["tpr"] == 0.0 and got["groups"]["y"]["fpr"] == 1.0
    with pytest.raises(UserError, match="not one of"):
        ev.fairness(y, pred, groups, positive_label="fox")
    assert ev.fairness([0, 1], [0, 1], ["g", "g"], positive_label="1")["positive_label"] == 1
    single = ev.fairness([0, 1], [1, 1], ["g", "g"])
    assert single["gaps"]["tpr"] is None and not math.isnan(single["groups"]["g"]["fpr"])


def test_slice_without_some_class_is_not_marked_down():
    from mlcycle_tui.experiments.evaluation import evaluate as _evaluate

    metrics = _evaluate("classification", np.array(["a", "a", "b"]), np.array(["a", "a", "b"]), None,
                        ["a", "b", "c"])
    assert metrics["f1"] == 1.0
    assert metrics["per_class"]["c"]["support"] == 0


# --- the primary metric of a run and the best run (the rules the TUI asks for) ---------------

def _run(task: str | None, status: str = "finished", **metrics: float) -> dict:
    return {"run_id": f"{task}-{status}-{sorted(metrics.items())}", "task": task, "status": status,
            "metrics": metrics}


def test_primary_metric_of_a_run_a_version_and_a_metrics_dict() -> None:
    from types import SimpleNamespace

    assert ev.primary_metric_of({"task": "regression", "metrics": {"f1": 0.5}}) == "rmse"  # the task decides
    assert ev.primary_metric_of({"task": "classification", "metrics": {"rmse": 2.0}}) == "f1"
    assert ev.primary_metric_of(SimpleNamespace(task="regression", metrics={})) == "rmse"  # a ModelVersion
    # without a (known) task the metrics tell: a run logged by hand, a bare metrics dict
    assert ev.primary_metric_of({"task": None, "metrics": {"rmse": 2.0, "r2": 0.1}}) == "rmse"
    assert ev.primary_metric_of({"task": "clustering", "metrics": {"rmse": 2.0}}) == "rmse"
    assert ev.primary_metric_of({"rmse": 2.0, "mae": 1.0}) == "rmse"
    assert ev.primary_metric_of({"f1": 0.5, "rmse": 2.0}) == "f1"
    assert ev.primary_metric_of({}) == "f1" and ev.primary_metric_of({"task": None}) == "f1"
    assert ev.task_of({"accuracy": 0.9}) is None
    assert ev.task_of({"task": "regression"}) == "regression"


def test_best_run_regression_is_the_lowest_rmse() -> None:
    runs = [_run("regression", rmse=3.0), _run("regression", rmse=1.5), _run("regression", rmse=2.0)]
    assert ev.best_run(runs)["metrics"]["rmse"] == 1.5


def test_best_run_classification_is_the_highest_f1() -> None:
    runs = [_run("classification", f1=0.7), _run("classification", f1=0.9), _run("classification", f1=0.8)]
    assert ev.best_run(runs)["metrics"]["f1"] == 0.9


def test_best_run_tie_goes_to_the_newest() -> None:
    newest, older = _run("regression", rmse=1.0, mae=5.0), _run("regression", rmse=1.0, mae=1.0)
    assert ev.best_run([newest, older, _run("regression", rmse=4.0)])["run_id"] == newest["run_id"]
    newest, older = _run("classification", f1=0.8, accuracy=0.1), _run("classification", f1=0.8, accuracy=0.2)
    assert ev.best_run([newest, older])["run_id"] == newest["run_id"]


def test_best_run_leaves_out_runs_that_cannot_compete() -> None:
    runs = [
        _run("regression", status="running", rmse=0.1),  # not finished
        _run("regression", status="failed", rmse=0.2),
        _run("regression", mae=0.3),  # finished, but without its primary metric
        _run("regression", rmse=math.nan),  # not a number to rank by
        _run(None, rmse=0.4),  # no task
        _run("regression", rmse=2.0),
        _run("classification", f1=0.99),  # another task than the newest scored run's
        _run("regression", rmse=3.0),
    ]
    best = ev.best_run(runs)
    assert best is not None and best["metrics"]["rmse"] == 2.0
    # the newest scored run's task decides which runs compete
    assert ev.best_run([_run("classification", f1=0.5), *runs[5:]])["metrics"]["f1"] == 0.99
    assert ev.best_run(runs[:5]) is None
    assert ev.best_run([]) is None


def test_tracking_best_recent_ranks_the_newest_runs(workspace) -> None:  # type: ignore[no-untyped-def]
    def log(rmse: float) -> str:
        with workspace.runs.start("exp", model="ridge", task="regression") as run:
            run.log_metric("rmse", rmse)
        return run.id

    best_of_all = log(0.5)  # the oldest: outside the window of 3 below
    log(3.0)
    best_recent = log(1.0)
    log(2.0)
    with workspace.runs.start("exp", model="ridge", task="regression") as run:  # still running
        run.log_metric("rmse", 0.1)
        assert workspace.runs.best_recent(limit=3)["run_id"] == best_recent
        assert workspace.runs.best_recent(limit=10)["run_id"] == best_of_all

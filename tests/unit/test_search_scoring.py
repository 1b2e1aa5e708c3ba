"""The search's CV scorer scores the run's primary metric the way evaluation reports it.

Issue 17, item 1: a search on a binary target with labels other than 0/1 (yes/no)
failed with "pos_label=1 is not a valid label", and on labels 1/2 it silently
ranked candidates by the f1 of class 1 while the run reported the f1 of class 2.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import check_scoring

from mlcycle_tui.experiments import evaluation
from mlcycle_tui.experiments.training import scoring_for
from mlcycle_tui.workspace import Workspace


def _data(labels: list, n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    # a noisy rule and unequal classes, so that the f1 of each class differs
    score = X["a"] + 0.3 * X["b"] + rng.normal(scale=0.8, size=n)
    cuts = np.quantile(score, [0.3] if len(labels) == 2 else [0.25, 0.6])
    index = np.digitize(score, cuts)
    return X, pd.Series([labels[i] for i in index], name="y")


@pytest.mark.parametrize("labels", [
    ["no", "yes"],
    ["yes", "no"],  # the positive class is the sorted second one, not the order seen
    [1, 2],  # sklearn's default pos_label=1 would score the wrong class here
    [0, 1],
    [False, True],
    ["a", "b", "c"],
])
def test_cv_score_is_the_reported_f1(labels: list) -> None:
    X, y = _data(labels)
    model = LogisticRegression(C=0.05).fit(X, y)
    scorer = check_scoring(model, scoring=scoring_for("classification", y))  # as the search resolves it
    pred, proba, classes = evaluation.predictions("classification", model, X)
    reported = evaluation.evaluate("classification", y, pred, proba, classes)["f1"]
    assert scorer(model, X, y) == pytest.approx(reported)
    # it travels to process workers
    assert pickle.loads(pickle.dumps(scorer))(model, X, y) == pytest.approx(reported)


def test_regression_scores_minus_the_reported_rmse() -> None:
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=50)})
    y = pd.Series(2 * X["a"] + rng.normal(size=50))
    from sklearn.linear_model import Ridge

    model = Ridge().fit(X, y)
    reported = evaluation.evaluate("regression", y, model.predict(X))
    assert scoring_for("regression", y)(model, X, y) == pytest.approx(-reported["rmse"])  # scikit-learn maximises
    assert scoring_for("regression", y, "r2")(model, X, y) == pytest.approx(reported["r2"])


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "log_loss", "recall"])
def test_any_chosen_metric_is_scored_as_reported(metric: str) -> None:
    X, y = _data(["churned", "stayed"])
    model = LogisticRegression(C=0.05).fit(X, y)
    pred, proba, classes = evaluation.predictions("classification", model, X)
    positive = evaluation.default_positive(y)
    assert positive == "churned"  # neither label reads as "yes": the minority class (30% of the rows)
    reported = evaluation.evaluate("classification", y, pred, proba, classes, positive=positive)[metric]
    sign = 1 if evaluation.higher_is_better(metric) else -1
    assert scoring_for("classification", y, metric)(model, X, y) == pytest.approx(sign * reported)


def _yes_no_workspace(tmp_path) -> Workspace:  # type: ignore[no-untyped-def]
    X, y = _data(["no", "yes"], n=90)
    ws = Workspace.open(tmp_path / "ws")
    ws.data.ingest(X.assign(colour=np.where(X["b"] > 0, "red", "blue"), churn=y), "churn", target="churn")
    return ws


@pytest.mark.parametrize("search", ["random", "grid"])
def test_search_on_yes_no_target_finishes(tmp_path, search: str) -> None:  # type: ignore[no-untyped-def]
    ws = _yes_no_workspace(tmp_path)
    try:
        result = ws.training.train("churn", "logistic", search=search, trials=3, cv=2, n_jobs=1)
        run = ws.runs.get(result["run_id"])
        assert run["status"] == "finished"
        assert 0.0 <= run["metrics"]["cv_best_score"] <= 1.0
        assert "f1" in result["metrics"]
        assert ws.runs.count(filter='status = "failed"') == 0
    finally:
        ws.close()


@pytest.mark.parametrize("labels", [["no", "yes"], [1, 2], [False, True], ["a", "b", "c"], ["A", "B"]])
def test_quick_metric_is_evaluates_number(labels: list) -> None:
    """The scorer's one-metric path gives exactly what `evaluate` reports, missing labels and all."""
    rng = np.random.default_rng(len(labels))
    for trial in range(15):
        n = int(rng.integers(3, 60))
        y, pred = list(rng.choice(labels, n)), list(rng.choice(labels, n))
        if trial % 4 == 0:
            y[0] = None
        for positive in (None, labels[0]):
            full = evaluation.evaluate("classification", y, pred, positive=positive)
            for metric in ("accuracy", "balanced_accuracy", "f1", "precision", "recall", "f1_macro", "f1_weighted"):
                assert evaluation.quick_metric("classification", metric, y, pred, positive) == pytest.approx(
                    full[metric], abs=1e-12), (metric, y, pred, positive)
    assert evaluation.quick_metric("classification", "roc_auc", ["a"], ["a"]) is None  # needs probabilities

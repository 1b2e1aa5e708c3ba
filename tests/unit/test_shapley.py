"""Exact per-row contributions (experiments/shapley.py): TreeSHAP against Shapley values computed by
brute force from their definition, additivity for every supported kind on real pipelines, the
linear case against occlusion on the decision value, and the fall-back for the rest."""

from __future__ import annotations

from itertools import combinations
from math import factorial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import ensemble, linear_model

from mlcycle_tui.experiments import explain, shapley
from mlcycle_tui.experiments.preprocess import build_pipeline, describe_columns

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def _expected(tree: shapley._Tree, x: np.ndarray, groups: np.ndarray, known: set[int], node: int = 0) -> np.ndarray:
    """E[f(x) | x_S] by the tree's covers (TreeSHAP paper, algorithm 1), walked recursively."""
    if tree.left[node] < 0:
        return tree.value[node]
    if int(groups[tree.feature[node]]) in known:
        child = tree.left[node] if x[tree.feature[node]] <= tree.threshold[node] else tree.right[node]
        return _expected(tree, x, groups, known, int(child))
    left, right = int(tree.left[node]), int(tree.right[node])
    return (tree.cover[left] * _expected(tree, x, groups, known, left)
            + tree.cover[right] * _expected(tree, x, groups, known, right)) / tree.cover[node]


def _brute_force(tree: shapley._Tree, x: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    phi = np.zeros((n_groups, tree.value.shape[1]))
    players = list(range(n_groups))
    for i in players:
        others = [p for p in players if p != i]
        for size in range(len(others) + 1):
            weight = factorial(size) * factorial(n_groups - size - 1) / factorial(n_groups)
            for S in combinations(others, size):
                with_i = _expected(tree, x, groups, {*S, i})
                without = _expected(tree, x, groups, set(S))
                phi[i] += weight * (with_i - without)
    return phi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tree_shap_equals_the_shapley_values_of_the_definition(seed: int) -> None:
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 6))
    y = X[:, 0] * X[:, 1] + np.sin(3 * X[:, 2]) + (X[:, 3] > 0) * X[:, 4] + rng.normal(0, 0.1, 400)
    model = DecisionTreeRegressor(max_depth=7, random_state=seed).fit(X, y)
    groups = np.array([0, 1, 2, 1, 3, 4])  # features 1 and 3 are one column (as one-hot parts are)
    tree = shapley._sklearn_tree(model, classifier=False)
    rows = X[:5]
    fast = shapley.tree_shap(tree, rows, groups, 5)
    for r in range(len(rows)):
        np.testing.assert_allclose(fast[r], _brute_force(tree, rows[r], groups, 5), atol=1e-9)
        assert fast[r].sum() + tree.expected()[0] == pytest.approx(model.predict(rows[r:r + 1])[0], abs=1e-9)


def _penguins() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(SAMPLES / "penguins.csv")
    frame = frame.dropna(subset=["species"])
    return frame.drop(columns=["species"]), frame["species"]


def _fit(estimator, X: pd.DataFrame, y: pd.Series):
    columns = describe_columns(pd.concat([X, y], axis=1))
    return build_pipeline(columns, str(y.name), estimator).fit(X, y)


CLASSIFIERS = {
    "rf": lambda: ensemble.RandomForestClassifier(n_estimators=30, random_state=0),
    "extra_trees": lambda: ensemble.ExtraTreesClassifier(n_estimators=20, random_state=0),
    "gb": lambda: ensemble.GradientBoostingClassifier(n_estimators=30, random_state=0),
    "hgb": lambda: ensemble.HistGradientBoostingClassifier(max_iter=30, random_state=0),
    "logistic": lambda: linear_model.LogisticRegression(max_iter=2000),
}


@pytest.mark.parametrize("kind", sorted(CLASSIFIERS))
@pytest.mark.parametrize("binary", [True, False])
def test_contributions_add_up_to_the_models_own_output(kind: str, binary: bool) -> None:
    X, y = _penguins()
    if binary:
        y = (y == "Gentoo").map({True: "yes", False: "no"}).rename("species")
    pipe = _fit(CLASSIFIERS[kind](), X, y)
    rows = X.iloc[[0, 50, 120, 200, 300]]
    reference = {"bill_length_mm": 44.0, "bill_depth_mm": 17.0, "flipper_length_mm": 197.0,
                 "body_mass_g": 4050.0, "island": "Biscoe", "sex": "male"}
    out = shapley.exact_contributions("classification", pipe, rows, reference, positive="yes")
    assert out is not None
    assert out["method"] == ("linear" if kind == "logistic" else "tree_shap")
    model, Z = pipe[-1], pipe[0].transform(rows)
    if out["of"].startswith("P("):
        proba = pipe.predict_proba(rows)
        if binary:
            assert out["of"] == "P(yes)"
            wanted = proba[:, list(pipe.classes_).index("yes")]
        else:
            wanted = proba.max(axis=1)
    else:
        raw = np.asarray(model.decision_function(Z))
        if binary:
            assert out["of"] == "log-odds of yes"
            wanted = raw if pipe.classes_[1] == "yes" else -raw
        else:
            assert out["of"] == "score of the predicted class"
            wanted = raw.max(axis=1)
    got = np.array([sum(row.values()) + base for row, base in zip(out["rows"], out["base"], strict=True)])
    np.testing.assert_allclose(got, wanted, atol=1e-6)
    assert set(out["rows"][0]) == set(X.columns)  # per column the user gave, not per one-hot feature
    assert any(abs(v) > 1e-3 for row in out["rows"] for v in row.values())


@pytest.mark.parametrize("kind", ["rf", "gb", "hgb", "ridge"])
def test_regressors_add_up_to_the_prediction(kind: str) -> None:
    frame = pd.read_csv(SAMPLES / "bikeshare.csv").head(1500)
    y = frame["bikers"]
    X = frame.drop(columns=["bikers", "casual", "registered"])
    estimator = {"rf": ensemble.RandomForestRegressor(n_estimators=15, max_depth=12, random_state=0),
                 "gb": ensemble.GradientBoostingRegressor(n_estimators=40, random_state=0),
                 "hgb": ensemble.HistGradientBoostingRegressor(max_iter=40, random_state=0),
                 "ridge": linear_model.Ridge()}[kind]
    pipe = _fit(estimator, X, y)
    rows = X.iloc[[3, 400, 1200]]
    reference = {c: X[c].median() for c in X.columns if pd.api.types.is_numeric_dtype(X[c])}
    out = shapley.exact_contributions("regression", pipe, rows, reference)
    assert out is not None and out["of"] == "prediction"
    got = [sum(row.values()) + base for row, base in zip(out["rows"], out["base"], strict=True)]
    np.testing.assert_allclose(got, pipe.predict(rows), rtol=1e-9, atol=1e-6)
    if kind != "ridge":  # trees attribute the date column too (its parts are features)
        assert "timestamp" in out["rows"][0] or not any("timestamp" in c for c in X.columns)


def test_linear_contributions_are_occlusion_on_the_decision_value() -> None:
    """A logistic regression is additive over columns in log-odds: occluding one column at a time is
    then exact, so the two must agree."""
    X, y = _penguins()
    y = (y == "Adelie").map({True: "yes", False: "no"}).rename("species")
    pipe = _fit(CLASSIFIERS["logistic"](), X, y)
    rows = X.iloc[[5, 77, 250]]
    reference = {"bill_length_mm": 44.0, "flipper_length_mm": 197.0, "island": "Dream"}
    out = shapley.exact_contributions("classification", pipe, rows, reference, positive="yes")
    assert out is not None and out["method"] == "linear" and out["of"] == "log-odds of yes"
    sign = 1.0 if pipe.classes_[1] == "yes" else -1.0
    full = sign * pipe.decision_function(rows)
    for col in reference:
        probe = rows.copy()
        probe[col] = reference[col]
        delta = full - sign * pipe.decision_function(probe)
        np.testing.assert_allclose([r[col] for r in out["rows"]], delta, atol=1e-9)
    assert all(r["body_mass_g"] == 0.0 for r in out["rows"])  # no reference value: not moved, not attributed


def test_other_models_fall_back_to_occlusion() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _penguins()
    pipe = _fit(KNeighborsClassifier(), X, y)
    rows = X.iloc[:3]
    assert shapley.exact_contributions("classification", pipe, rows, {"bill_length_mm": 44.0}) is None
    out = explain.contributions("classification", pipe, rows, {"bill_length_mm": 44.0})
    assert out["method"] == "occlusion" and "base" not in out


def test_a_forest_too_large_for_the_budget_gets_estimates_and_says_how_many_rows_fit(monkeypatch) -> None:
    X, y = _penguins()
    pipe = _fit(CLASSIFIERS["rf"](), X, y)
    rows = X.iloc[:20]
    one_row = 20 * sum(shapley._cost(t, len(X.columns)) for t, _, _ in shapley._tree_model(pipe[-1])[0])
    monkeypatch.setattr(shapley, "UNITS_PER_SECOND", one_row / 20 / shapley.BUDGET_S * 4)  # 4 rows fit
    out = explain.contributions("classification", pipe, rows, {"bill_length_mm": 44.0})
    assert out["method"] == "occlusion"
    assert "would take about 25 s" in out["note"] and "send at most 4 rows at a time" in out["note"]
    exact = explain.contributions("classification", pipe, rows.iloc[:4], {"bill_length_mm": 44.0})
    assert exact["method"] == "tree_shap" and "note" not in exact

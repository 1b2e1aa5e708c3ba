"""One pass over a model gives scikit-learn's own predictions and probabilities, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from mlcycle_tui.predictions.predicting import forest_proba as _forest_proba
from mlcycle_tui.predictions.predicting import predict_with_proba


@pytest.mark.parametrize("make", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("load", [load_breast_cancer, load_iris])
def test_forest_proba_equals_predict_proba(make, load) -> None:
    X, y = load(return_X_y=True)
    model = make(n_estimators=25, random_state=0, n_jobs=1).fit(X, y)
    for rows in (X[:1], X[:7], X, np.tile(X, (10, 1))):  # the last on two threads
        assert np.array_equal(_forest_proba(model, rows), model.predict_proba(rows))


def test_other_models_and_settings_use_predict_proba() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    logistic = LogisticRegression(max_iter=500).fit(X, y)
    assert np.array_equal(_forest_proba(logistic, X), logistic.predict_proba(X))
    parallel = RandomForestClassifier(n_estimators=10, n_jobs=2, random_state=0).fit(X, y)
    assert np.allclose(_forest_proba(parallel, X), parallel.predict_proba(X))
    assert np.array_equal(_forest_proba(parallel, X, same_thread=True), parallel.predict_proba(X))


@pytest.mark.parametrize("kind", ["rf", "extra_trees", "hgb", "logistic", "dummy", "tree"])
def test_predict_with_proba_equals_predict_and_predict_proba_of_the_pipeline(kind) -> None:
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

    from mlcycle_tui.experiments.catalog import make_estimator
    from mlcycle_tui.experiments.preprocess import build_pipeline, describe_columns

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.assign(group=np.where(np.arange(len(X)) % 3 == 0, "a", "b"))
    columns = describe_columns(X)
    model = DecisionTreeClassifier(random_state=0) if kind == "tree" else make_estimator(kind, "classification")
    pipe = build_pipeline(columns, None, model).fit(X, y)
    for rows in (X.iloc[:1], X.iloc[:50], pd.concat([X] * 40, ignore_index=True)):  # small and large inputs
        pred, proba = predict_with_proba("classification", pipe, rows)
        assert np.array_equal(pred, pipe.predict(rows))
        assert np.allclose(proba, pipe.predict_proba(rows), rtol=0, atol=1e-12)
    reg = build_pipeline(columns, None, make_estimator("rf", "regression")).fit(X, y.astype(float))
    pred, proba = predict_with_proba("regression", reg, X.iloc[:30])
    assert proba is None and np.allclose(pred, reg.predict(X.iloc[:30]))


def test_forest_mean_equals_single_threaded_predict() -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    from sklearn.linear_model import Ridge

    from mlcycle_tui.predictions.predicting import forest_mean

    X, y = load_diabetes(return_X_y=True)
    for make in (RandomForestRegressor, ExtraTreesRegressor):
        model = make(n_estimators=20, random_state=0, n_jobs=1).fit(X, y)
        assert np.array_equal(forest_mean(model, X), model.predict(X))
    assert forest_mean(Ridge().fit(X, y), X) is None


@pytest.mark.parametrize("make", ["RandomForestClassifier", "ExtraTreesClassifier", "RandomForestRegressor",
                                  "ExtraTreesRegressor"])
def test_few_rows_walk_every_tree_at_once_to_the_same_bits(make, monkeypatch) -> None:
    """Up to ALL_TREES_ROWS rows, the forest is walked as arrays (built once, kept per model): the same
    bits as scikit-learn's own n_jobs=1 predict; too large a forest takes the per-tree walk."""
    from sklearn import ensemble

    from mlcycle_tui.predictions import predicting

    X, y = load_breast_cancer(return_X_y=True)
    classifier = make.endswith("Classifier")
    target = y if classifier else y + X[:, 0]
    model = getattr(ensemble, make)(n_estimators=30, random_state=0, n_jobs=1).fit(X, target)
    stumps = getattr(ensemble, make)(n_estimators=3, max_depth=1, random_state=0, n_jobs=1).fit(X, target)
    run = predicting.forest_proba if classifier else predicting.forest_mean

    def own(m, rows):  # type: ignore[no-untyped-def]
        return m.predict_proba(rows) if classifier else m.predict(rows)

    for rows in (X[:1], X[:5], X[:predicting.ALL_TREES_ROWS]):
        assert np.array_equal(run(model, rows), own(model, rows))
        assert np.array_equal(run(stumps, rows), own(stumps, rows))
    assert predicting.forest_arrays(model) is not None
    assert predicting.forest_arrays(model) is predicting.forest_arrays(model)  # built once
    monkeypatch.setattr(predicting, "MAX_ARRAY_NODES", 1)
    big = getattr(ensemble, make)(n_estimators=5, random_state=1, n_jobs=1).fit(X, target)
    assert predicting.forest_arrays(big) is None
    assert np.array_equal(run(big, X[:4]), own(big, X[:4]))

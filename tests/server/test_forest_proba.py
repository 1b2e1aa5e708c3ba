"""The served forests' probabilities are bit-for-bit scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from mlcycle_tui.server.models import _forest_proba


@pytest.mark.parametrize("make", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("load", [load_breast_cancer, load_iris])
def test_forest_proba_equals_predict_proba(make, load) -> None:
    X, y = load(return_X_y=True)
    model = make(n_estimators=25, random_state=0, n_jobs=1).fit(X, y)
    for rows in (X[:1], X[:7], X):
        assert np.array_equal(_forest_proba(model, rows), model.predict_proba(rows))


def test_other_models_and_settings_use_predict_proba() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    logistic = LogisticRegression(max_iter=500).fit(X, y)
    assert np.array_equal(_forest_proba(logistic, X), logistic.predict_proba(X))
    parallel = RandomForestClassifier(n_estimators=10, n_jobs=2, random_state=0).fit(X, y)
    assert np.allclose(_forest_proba(parallel, X), parallel.predict_proba(X))

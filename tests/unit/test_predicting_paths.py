"""Both paths of fast forest scoring give scikit-learn's own answers.

The tree-by-tree walk relies on one private scikit-learn method (`_validate_X_predict`). These
tests run the walk and, as a future scikit-learn without that method (or with another
signature) would, the public fallback; both must equal `predict` / `predict_proba` exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor

from mlcycle_tui.predictions import predicting


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    return X, (X[:, 0] + rng.normal(scale=0.5, size=300) > 0).astype(int), X[:, 1] * 3 + X[:, 2]


def test_the_private_walk_is_taken_and_matches_scikit_learn(data):
    X, y, target = data
    clf = RandomForestClassifier(n_estimators=25, random_state=0, n_jobs=1).fit(X, y)
    reg = ExtraTreesRegressor(n_estimators=25, random_state=0).fit(X, target)
    assert isinstance(predicting._checked_rows(clf, X[:7]), np.ndarray)  # the fast path really runs
    pred, proba = predicting.predict_with_proba("classification", clf, X[:7])
    assert np.array_equal(proba, clf.predict_proba(X[:7])) and np.array_equal(pred, clf.predict(X[:7]))
    assert np.array_equal(predicting.forest_mean(reg, X[:7]), reg.predict(X[:7]))


@pytest.mark.parametrize("breakage", ["missing", "signature", "returns a list"])
def test_without_the_private_method_scoring_falls_back_to_the_public_path(data, breakage, monkeypatch):
    """As a scikit-learn release that renamed, re-signed or changed the private check would."""
    X, y, target = data
    clf = RandomForestClassifier(n_estimators=25, random_state=0, n_jobs=1).fit(X, y)
    reg = RandomForestRegressor(n_estimators=25, random_state=0).fit(X, target)
    monkeypatch.setattr(predicting, "PRIVATE_CHECK", "_check_of_a_future_release")
    for model in (clf, reg):
        if breakage == "signature":
            model._check_of_a_future_release = lambda X, reset: X
        elif breakage == "returns a list":
            model._check_of_a_future_release = lambda X: X.tolist()
    assert predicting._checked_rows(clf, X[:5]) is None
    assert predicting.forest_mean(reg, X[:5]) is None  # the caller then uses reg.predict
    pred, proba = predicting.predict_with_proba("classification", clf, X[:5])
    assert np.array_equal(proba, clf.predict_proba(X[:5])) and np.array_equal(pred, clf.predict(X[:5]))
    values, _ = predicting.predict_with_proba("regression", reg, X[:5])
    assert np.array_equal(values, reg.predict(X[:5]))

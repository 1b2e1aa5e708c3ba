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


def test_leaf_shares_that_do_not_sum_to_one_exactly_are_kept_as_scikit_learn_keeps_them():
    """scikit-learn stores a classifier leaf's class shares and returns them as they are; dividing them
    again by their sum (1 +- an ulp for shares such as 5/23) changed the last bit of some probabilities."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    from mlcycle_tui.registry.compiled_estimators import ForestArrays

    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 4)).astype(np.float32)
    y = rng.integers(0, 5, 1500)
    forest = RandomForestClassifier(n_estimators=30, min_samples_leaf=8, random_state=0, n_jobs=1).fit(X, y)
    shares = np.concatenate([t.tree_.value[:, 0, :] for t in forest.estimators_])
    assert (shares.sum(axis=1) != 1.0).any()  # the case this is about is there
    arrays = ForestArrays.from_forest(forest)
    for rows in (X[:7], X):  # all trees at once, and tree by tree
        assert np.array_equal(arrays.mean(rows), forest.predict_proba(rows))

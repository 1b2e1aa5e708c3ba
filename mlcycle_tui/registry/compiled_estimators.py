"""The catalog's fitted estimators as plain NumPy arrays, answering as scikit-learn does, to the bit.

Why this exists: a served model should not wait for scikit-learn's input checks and
thread pools to answer one row, and a server should start without importing
scikit-learn at all. Each class here holds what one estimator family needs to
predict (tree nodes, coefficients, a constant) and repeats scikit-learn's own
arithmetic in the same order: forests sum their trees' class shares from zeros in
tree order, then divide; histogram gradient boosting adds its trees to the
baseline iteration by iteration; linear models use the same matrix product.
registry/compiled.py checks every compiled model against scikit-learn before it
is used, so a family whose arithmetic changes in a new scikit-learn release is
simply not compiled.

Families: random forests and extra trees, histogram gradient boosting (numeric
splits), logistic and ridge regression, and the dummy baselines. k-NN is not
compiled (its answer is a neighbour search, not worth repeating here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ALL_TREES_ROWS = 1024  # up to this many rows, all trees are walked at once (faster for few rows)


class Unsupported(Exception):
    """This fitted object is not one this module can repeat exactly."""


def need(condition: bool) -> None:
    if not condition:
        raise Unsupported


def _descend(X: np.ndarray, roots: np.ndarray, left: np.ndarray, right: np.ndarray, feature: np.ndarray,
             threshold: np.ndarray, missing_left: np.ndarray | None) -> np.ndarray:
    """The leaf of every (tree, row), all trees descending together (trees x rows).
    A leaf has left = -1; with `missing_left`, a NaN feature goes where the node says."""
    node = np.repeat(roots[:, np.newaxis], X.shape[0], axis=1)
    rows = np.broadcast_to(np.arange(X.shape[0]), node.shape)
    while True:
        below = left[node]
        inner = below >= 0
        if not inner.any():
            return node
        value = X[rows, feature[node]]
        go_left = value <= threshold[node]
        if missing_left is not None:
            go_left = np.where(np.isnan(value), missing_left[node], go_left)
        node = np.where(inner, np.where(go_left, below, right[node]), node)


def _descend_one(X: np.ndarray, root: int, left: np.ndarray, right: np.ndarray, feature: np.ndarray,
                 threshold: np.ndarray, missing_left: np.ndarray | None) -> np.ndarray:
    """The leaf of every row in one tree (for many rows)."""
    node = np.full(X.shape[0], root, dtype=np.int64)
    active = np.arange(X.shape[0]) if left[root] >= 0 else np.arange(0)  # a one-node tree: the root is the leaf
    while active.size:
        at = node[active]
        value = X[active, feature[at]]
        go_left = value <= threshold[at]
        if missing_left is not None:
            go_left = np.where(np.isnan(value), missing_left[at], go_left)
        nxt = np.where(go_left, left[at], right[at])
        node[active] = nxt
        active = active[left[nxt] >= 0]
    return node


class ForestArrays:
    """A random forest's or extra trees' trees as flat arrays, walked with NumPy: every (tree, row)
    descends at once for a few rows, tree by tree for many. `mean(X)` is the forest's
    predict_proba (classifier) or predict (regressor, one column) with n_jobs=1, to the bit:
    the trees' values summed in tree order from zeros, then divided by their number."""

    def __init__(self, offsets: np.ndarray, left: np.ndarray, right: np.ndarray, feature: np.ndarray,
                 threshold: np.ndarray, values: np.ndarray) -> None:
        self.offsets = offsets  # where each tree's nodes start
        self.left, self.right, self.feature, self.threshold = left, right, feature, threshold
        self.leaf_values = values  # per node: class shares (classifier) or the value (regressor)

    @classmethod
    def from_forest(cls, model: Any) -> ForestArrays:
        classifier = hasattr(model, "n_classes_")
        offsets, left, right, feature, threshold, values = [0], [], [], [], [], []
        for tree in model.estimators_:
            t = tree.tree_
            start = offsets[-1]
            is_leaf = t.children_left < 0
            left.append(np.where(is_leaf, -1, t.children_left + start))
            right.append(np.where(is_leaf, -1, t.children_right + start))
            feature.append(np.where(is_leaf, 0, t.feature))
            threshold.append(t.threshold.astype(np.float64))
            value = t.value[:, 0, :]
            if classifier:  # DecisionTreeClassifier.predict_proba: the leaf's stored class shares, as they
                value = value[:, : int(model.n_classes_)]  # are (not divided again by their sum, ~1 +- 1 ulp)
            values.append(value.astype(np.float64))
            offsets.append(start + t.node_count)
        return cls(np.asarray(offsets, dtype=np.int64), np.concatenate(left).astype(np.int64),
                   np.concatenate(right).astype(np.int64), np.concatenate(feature).astype(np.int64),
                   np.concatenate(threshold), np.concatenate(values))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"offsets": self.offsets, "left": self.left, "right": self.right, "feature": self.feature,
                "threshold": self.threshold, "values": self.leaf_values}

    def mean(self, X: np.ndarray) -> np.ndarray:
        """rows x outputs: the mean over the trees of each row's leaf value (X: float32, as the trees read it)."""
        n_trees = len(self.offsets) - 1
        out = np.zeros((X.shape[0], self.leaf_values.shape[1]), dtype=np.float64)
        tree = (self.left, self.right, self.feature, self.threshold, None)
        if X.shape[0] <= ALL_TREES_ROWS:  # few rows (an online request): walk every tree at once
            leaves = _descend(X, self.offsets[:-1], *tree)
            # trees in order: the same sums, in the same order, as scikit-learn (accumulate adds one
            # tree after the other, from the first tree's values, which is 0 + those values)
            out += np.add.accumulate(self.leaf_values[leaves], axis=0)[-1]
        else:
            for t in range(n_trees):
                out += self.leaf_values[_descend_one(X, int(self.offsets[t]), *tree)]
        out /= n_trees
        return out


class Forest:
    """A compiled RandomForest / ExtraTrees classifier or regressor (one output)."""

    family = "forest"

    def __init__(self, arrays: dict[str, np.ndarray], classes: np.ndarray | None) -> None:
        self.trees = ForestArrays(arrays["offsets"], arrays["left"], arrays["right"], arrays["feature"],
                                  arrays["threshold"], arrays["values"])
        self.classes = classes

    @staticmethod
    def compile(model: Any) -> dict[str, np.ndarray]:
        return ForestArrays.from_forest(model).arrays()

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        out = self.trees.mean(X.astype(np.float32))  # trees compare float32 features, as scikit-learn does
        if self.classes is None:
            return out[:, 0], None
        return self.classes.take(np.argmax(out, axis=1), axis=0), out


class Boosting:
    """A compiled HistGradientBoosting classifier or regressor (squared error; numeric splits only)."""

    family = "hgb"

    def __init__(self, arrays: dict[str, np.ndarray], classes: np.ndarray | None) -> None:
        self.offsets = arrays["offsets"]  # where each tree's nodes start: iteration by iteration, one per output
        self.left, self.right, self.feature = arrays["left"], arrays["right"], arrays["feature"]
        self.threshold, self.missing_left, self.values = arrays["threshold"], arrays["missing_left"], arrays["values"]
        self.baseline = arrays["baseline"]  # 1 x outputs
        self.classes = classes

    @staticmethod
    def compile(model: Any, task: str) -> dict[str, np.ndarray]:
        predictors = getattr(model, "_predictors", None)
        baseline = getattr(model, "_baseline_prediction", None)
        need(isinstance(predictors, list) and isinstance(baseline, np.ndarray) and baseline.ndim == 2)
        loss = type(getattr(model, "_loss", None)).__name__
        if task == "regression":
            need(loss == "HalfSquaredError")
        else:
            need(loss in ("HalfBinomialLoss", "HalfMultinomialLoss"))
        offsets, parts = [0], []
        for iteration in predictors:
            need(len(iteration) == baseline.shape[1])  # one tree per output, in output order
            for predictor in iteration:
                nodes = predictor.nodes
                need(not nodes["is_categorical"].any())
                parts.append(nodes)
                offsets.append(offsets[-1] + len(nodes))
        need(len(parts) > 0)
        starts = np.repeat(np.asarray(offsets[:-1], dtype=np.int64), [len(p) for p in parts])
        nodes = np.concatenate(parts)
        leaf = nodes["is_leaf"].astype(bool)
        return {
            "offsets": np.asarray(offsets, dtype=np.int64),
            "left": np.where(leaf, -1, nodes["left"].astype(np.int64) + starts),
            "right": np.where(leaf, -1, nodes["right"].astype(np.int64) + starts),
            "feature": np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64),
            "threshold": nodes["num_threshold"].astype(np.float64),
            "missing_left": nodes["missing_go_to_left"].astype(bool),
            "values": nodes["value"].astype(np.float64),
            "baseline": baseline.astype(np.float64),
        }

    def raw(self, X: np.ndarray) -> np.ndarray:
        """`_raw_predict`: zeros plus the baseline, then each tree's leaf value added in order."""
        raw = np.zeros((X.shape[0], self.baseline.shape[1]), dtype=np.float64, order="F")
        raw += self.baseline
        tree = (self.left, self.right, self.feature, self.threshold, self.missing_left)
        n_trees, k = len(self.offsets) - 1, raw.shape[1]  # tree t adds to output t % k
        if X.shape[0] <= ALL_TREES_ROWS:
            leaves = _descend(X, self.offsets[:-1], *tree)  # trees x rows
            steps = np.empty((n_trees // k + 1, X.shape[0], k), dtype=np.float64)
            steps[0] = raw  # the baseline, then each iteration's trees, added one after the other
            steps[1:] = self.values[leaves].reshape(n_trees // k, k, X.shape[0]).transpose(0, 2, 1)
            raw[:] = np.add.accumulate(steps, axis=0)[-1]
        else:
            for t in range(n_trees):
                raw[:, t % k] += self.values[_descend_one(X, int(self.offsets[t]), *tree)]
        return raw

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raw = self.raw(np.asarray(X, dtype=np.float64))
        if self.classes is None:
            return raw.ravel(), None
        if raw.shape[1] == 1:
            proba = np.empty((raw.shape[0], 2), dtype=raw.dtype)
            proba[:, 1] = _expit(raw[:, 0])
            proba[:, 0] = 1 - proba[:, 1]
            return self.classes[(raw.ravel() > 0).astype(int)], proba
        return self.classes[np.argmax(raw, axis=1)], _softmax(np.array(raw, copy=True))


class Linear:
    """A compiled Ridge regression or LogisticRegression: the same matrix product, then the same link."""

    family = "linear"

    def __init__(self, arrays: dict[str, np.ndarray], classes: np.ndarray | None) -> None:
        self.coef, self.intercept = arrays["coef"], arrays["intercept"]
        self.classes = classes

    @staticmethod
    def compile(model: Any, task: str) -> dict[str, np.ndarray]:
        coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
        need(coef.dtype == np.float64 and np.asarray(intercept).dtype == np.float64)
        if task == "regression":
            need(coef.ndim == 1)
        else:
            need(coef.ndim == 2 and len(model.classes_) == (2 if coef.shape[0] == 1 else coef.shape[0]))
        return {"coef": coef, "intercept": np.asarray(intercept, dtype=np.float64)}

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        X = np.asarray(X, dtype=np.float64)
        if self.classes is None:
            return X @ self.coef + self.intercept, None
        scores = X @ self.coef.T + self.intercept
        if scores.shape[1] == 1:
            scores = scores.reshape(-1)
            prob = _expit(scores)
            return self.classes.take((scores > 0).astype(np.intp), axis=0), np.stack([1 - prob, prob], axis=1)
        return self.classes.take(np.argmax(scores, axis=1), axis=0), _softmax(scores)


class Constant:
    """A compiled dummy baseline: the same answer (and class shares) for every row."""

    family = "constant"

    def __init__(self, arrays: dict[str, np.ndarray], classes: np.ndarray | None) -> None:
        self.value, self.proba = arrays["value"], arrays["proba"]
        self.classes = classes

    @staticmethod
    def compile(model: Any, task: str, width: int) -> dict[str, np.ndarray]:
        need(getattr(model, "strategy", None) in (("prior", "most_frequent") if task == "classification"
                                                  else ("mean", "median", "quantile", "constant")))
        one = np.zeros((1, width))
        value = np.asarray(model.predict(one))
        if value.dtype == object and all(isinstance(v, str) for v in value):
            value = value.astype(str)  # a text label: saved without pickle
        need(value.shape == (1,) and value.dtype.kind in "biufU")
        proba = np.asarray(model.predict_proba(one), dtype=np.float64)[0] if task == "classification" \
            else np.zeros(0)
        return {"value": value, "proba": proba}

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        n = X.shape[0]
        pred = np.repeat(self.value, n)
        return pred, (None if self.classes is None else np.tile(self.proba, (n, 1)))


class Fitted:
    """The fitted estimator itself behind compiled preprocessing (k-NN in a server: registry/compiled
    .with_estimator); bound after loading, never saved."""

    family = "fitted"

    def __init__(self, arrays: dict[str, np.ndarray], classes: np.ndarray | None) -> None:
        self.model: Any = None
        self.task = "regression" if classes is None else "classification"

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        from mlcycle_tui.predictions.predicting import predict_with_proba

        return predict_with_proba(self.task, self.model, X)


FAMILIES: dict[str, Any] = {"forest": Forest, "hgb": Boosting, "linear": Linear, "constant": Constant,
                            "fitted": Fitted}


def compile_estimator(model: Any, task: str, width: int) -> tuple[str, dict[str, np.ndarray]]:
    """(family, arrays) of a fitted catalog estimator reading `width` features; Unsupported otherwise."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge

    classification = task == "classification"
    kind = type(model)
    need(getattr(model, "n_outputs_", 1) == 1)
    if kind in ((RandomForestClassifier, ExtraTreesClassifier) if classification
                else (RandomForestRegressor, ExtraTreesRegressor)):
        return "forest", Forest.compile(model)
    if kind is (HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor):
        return "hgb", Boosting.compile(model, task)
    if kind is (LogisticRegression if classification else Ridge):
        return "linear", Linear.compile(model, task)
    if kind is (DummyClassifier if classification else DummyRegressor):
        return "constant", Constant.compile(model, task, width)
    raise Unsupported


def _expit(x: np.ndarray) -> np.ndarray:
    """scipy.special.expit, which scikit-learn uses (NumPy's own exp differs in the last bit)."""
    from scipy.special import expit

    return expit(x)


def _softmax(X: np.ndarray) -> np.ndarray:
    """scikit-learn's extmath.softmax on NumPy arrays, in place, step for step."""
    X -= np.max(X, axis=1).reshape((-1, 1))
    np.exp(X, out=X)
    X /= np.sum(X, axis=1).reshape((-1, 1))
    return X

"""Exact per-row contributions (Shapley values) for tree ensembles and linear models.

Why this exists: `?explain=true` should say why the served model gave *this*
answer, and for the two families most people train the answer can be exact
rather than an occlusion estimate. The contributions are per input column the
user gave (not per one-hot or date-part feature): every transformed feature is
mapped back to its column, and a column is one player of the game.

Tree models (decision trees, random forests, extra trees, gradient boosting,
histogram gradient boosting): path-dependent TreeSHAP. The value of a set S of
columns is the tree's expected output when the columns in S follow the row and
the others are averaged over the training rows that reached each split (the
node covers): sum over leaves of value x prod over the columns on the leaf's path
of (1 if the row follows all of that column's splits else 0, for columns in S;
the share of training rows that went that way, for the others). Each leaf's
term is a product game, whose Shapley values have a closed form computed here
with polynomial arithmetic, vectorised over rows and leaves. The contributions
add up exactly to the output minus `base`, the model's average training output;
the output is the probability (forests, trees) or the raw score, i.e. log-odds
(gradient boosting).

Linear models: the output is the decision value (log-odds for a logistic
regression, the prediction for a ridge); columns act additively through a
column-wise preprocessing, so the Shapley value of a column relative to the
reference row (typical training values) is exactly coef . (z(row) - z(reference))
over its features; `base` is the output at the reference row.

Anything else (k-nearest neighbours, an estimator by import path, a tree with
native categorical splits) returns None: the caller falls back to occlusion.
Every result is checked at run time: contributions plus base must equal the
model's own output to 1e-6, or the caller is told to fall back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOLERANCE = 1e-6


# -- transformed features -> the user's columns -------------------------------------
def feature_columns(prep: Any, columns: list[str]) -> np.ndarray | None:
    """For each output feature of the fitted ColumnTransformer `prep`, the index in `columns` of
    the input column it comes from (None when a feature cannot be placed)."""
    try:
        names = [str(n) for n in prep.get_feature_names_out()]
    except Exception:
        return None
    out = np.empty(len(names), dtype=np.intp)
    by_group: dict[str, list[str]] = {}
    for name, _trans, cols in getattr(prep, "transformers_", []):
        if isinstance(cols, list | tuple | np.ndarray):
            by_group[str(name)] = [str(c) for c in cols]
    index = {c: i for i, c in enumerate(columns)}

    def source(feature: str, candidates: list[str]) -> str | None:  # "island_Dream" -> "island"
        return max((c for c in candidates if feature == c or feature.startswith(c + "_")), key=len, default=None)

    for k, full in enumerate(names):
        group, _, feature = full.partition("__")
        candidates = by_group.get(group, columns)
        match = source(feature.removeprefix("missingindicator_"), candidates) or source(feature, candidates)
        if match not in index:
            return None
        out[k] = index[match]
    return out


# -- trees -----------------------------------------------------------------------------
class _Tree:
    """One tree as arrays: children, split feature and threshold, cover, leaf values (n_nodes x outputs)."""

    def __init__(self, left: np.ndarray, right: np.ndarray, feature: np.ndarray, threshold: np.ndarray,
                 cover: np.ndarray, value: np.ndarray, missing_left: np.ndarray | None = None,
                 float32: bool = False) -> None:
        self.left, self.right, self.feature, self.threshold = left, right, feature, threshold
        self.cover, self.value = cover.astype(float), value.astype(float)
        self.missing_left = missing_left
        self.float32 = float32
        self._levels: list[np.ndarray] | None = None

    def go_left(self, Z: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """rows x len(nodes): whether each row goes to the left child at each (internal) node."""
        x = Z[:, self.feature[nodes]]
        if self.float32:  # scikit-learn's trees compare float32 values with their thresholds
            x = x.astype(np.float32)
        left = x <= self.threshold[nodes]
        if self.missing_left is not None:
            left = np.where(np.isnan(x), self.missing_left[nodes][None, :], left)
        return left

    def levels(self) -> list[np.ndarray]:
        """The internal nodes depth by depth (root first)."""
        if self._levels is not None:
            return self._levels
        out: list[np.ndarray] = []
        frontier = np.array([0], dtype=np.intp)
        while frontier.size:
            frontier = frontier[self.left[frontier] >= 0]
            if frontier.size:
                out.append(frontier)
                frontier = np.concatenate([self.left[frontier], self.right[frontier]])
        self._levels = out
        return out

    def paths(self, groups: np.ndarray, n_groups: int) -> tuple[Any, ...]:
        """Per leaf, per column on its path: the share of the training rows that followed that column's
        splits (the product of the cover ratios), computed top-down, a step per depth.

        Returns (leaves, leaf values (leaves x outputs), shares (leaves x K), column per slot (leaves x K,
        -1 = padding), slot per (leaf, column) (leaves x columns, -1 = not on the path)), K being the
        most columns on one path."""
        n_nodes = len(self.left)
        share = np.ones((n_nodes, n_groups))
        present = np.zeros((n_nodes, n_groups), dtype=bool)
        for nodes in self.levels():
            g = groups[self.feature[nodes]]
            for children in (self.left[nodes], self.right[nodes]):
                share[children] = share[nodes]
                share[children, g] *= self.cover[children] / self.cover[nodes]
                present[children] = present[nodes]
                present[children, g] = True
        leaves = np.flatnonzero(self.left < 0)
        on_path = present[leaves]
        K = max(int(on_path.sum(axis=1).max(initial=0)), 1)
        slot = np.where(on_path, np.cumsum(on_path, axis=1) - 1, -1)
        leaf_of, column_of = np.nonzero(on_path)
        shares = np.ones((len(leaves), K))
        gids = np.full((len(leaves), K), -1, dtype=np.intp)
        shares[leaf_of, slot[leaf_of, column_of]] = share[leaves][leaf_of, column_of]
        gids[leaf_of, slot[leaf_of, column_of]] = column_of
        return leaves, self.value[leaves], shares, gids, slot

    def follows(self, Z: np.ndarray, groups: np.ndarray, n_groups: int, leaves: np.ndarray) -> np.ndarray:
        """rows x leaves x columns: whether the row follows every split on that column on the leaf's path
        (true for columns not on it), computed top-down."""
        n = Z.shape[0]
        agree = np.ones((n, len(self.left), n_groups), dtype=bool)
        for nodes in self.levels():
            g = groups[self.feature[nodes]]
            left = self.go_left(Z, nodes)
            for children, went in ((self.left[nodes], left), (self.right[nodes], ~left)):
                agree[:, children] = agree[:, nodes]
                agree[:, children, g] &= went
        return agree[:, leaves]

    def expected(self) -> np.ndarray:
        """The output with no column known: the cover-weighted average of the leaf values."""
        leaves = np.flatnonzero(self.left < 0)
        w = self.cover[leaves] / self.cover[0]
        return (w[:, None] * self.value[leaves]).sum(axis=0)


# The work of one row in one tree is about leaves x K x K/2 (K: the most columns on one path); this
# machine does about UNITS_PER_SECOND of it (a 100-tree forest of 5,000-leaf trees: ~0.6 s a row).
UNITS_PER_SECOND = 6e7
BUDGET_S = 5.0


class TooCostly(Exception):
    """Exact contributions for these rows would take about `seconds`; `rows` would fit the budget."""

    def __init__(self, seconds: float, rows: int) -> None:
        super().__init__(f"about {seconds:.0f} s")
        self.seconds, self.rows = seconds, rows


def _cost(tree: _Tree, n_groups: int) -> float:
    K = min(len(tree.levels()), n_groups)
    return float((tree.left < 0).sum()) * K * max(1, (K + 1) // 2)


CHUNK_ELEMENTS = 2_000_000  # rows x leaves x depth per step: bounds the memory of one tree's pass


def tree_shap(tree: _Tree, Z: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """rows x groups x outputs: the exact path-dependent Shapley values of one tree."""
    n = Z.shape[0]
    out = np.zeros((n, n_groups, tree.value.shape[1]))
    if tree.left[0] < 0:
        return out  # a single leaf: a constant
    leaves, values, zf, gids, slot = tree.paths(groups, n_groups)
    L, K = zf.shape
    leaf_of, column_of = np.nonzero(slot >= 0)
    slot_of = slot[leaf_of, column_of]
    nodes = _quadrature(K)
    step = max(1, CHUNK_ELEMENTS // (len(tree.left) * max(n_groups, K * len(nodes[0]))))
    for lo in range(0, n, step):
        agree = tree.follows(Z[lo:lo + step], groups, n_groups, leaves)  # rows x L x columns
        one = np.ones((agree.shape[0], L, K), dtype=bool)
        one[:, leaf_of, slot_of] = agree[:, leaf_of, column_of]
        phi = _leaf_shapley(one, zf, gids, nodes)
        per_column = np.zeros((phi.shape[0], L, n_groups))  # back from slots to columns
        per_column[:, leaf_of, column_of] = phi[:, leaf_of, slot_of]
        out[lo:lo + phi.shape[0]] = per_column.transpose(0, 2, 1) @ values  # weighted by the leaf values
    return out


def _leaf_shapley(one: np.ndarray, zf: np.ndarray, gids: np.ndarray, nodes: tuple[np.ndarray, np.ndarray]
                  ) -> np.ndarray:
    """rows x leaves x slots: each column's Shapley value in each leaf's product game (of value 1), from
    o (`one`: the row follows that column's splits) and z (`zf`: the share of training rows that did).

    The Shapley weight s!(K-1-s)!/K! is the integral over [0, 1] of t^s (1-t)^(K-1-s), so
    phi_i = (o_i - z_i) * integral of prod_{j != i} (z_j (1-t) + o_j t) dt: a polynomial of degree
    K-1, integrated exactly by Gauss-Legendre quadrature on ceil(K/2) nodes. Every factor is positive
    inside (0, 1), so dividing the full product by one factor is safe."""
    t, w = nodes
    o = one.astype(float)[..., None]  # rows x L x K x 1
    z = zf[None, :, :, None]
    factor = z * (1.0 - t) + o * t  # rows x L x K x M
    full = np.prod(factor, axis=2, keepdims=True)
    integral = (full / factor) @ w  # rows x L x K
    return np.where(gids[None, :, :] >= 0, (o[..., 0] - zf[None]) * integral, 0.0)


def _quadrature(K: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1], exact for polynomials of degree K-1."""
    x, w = np.polynomial.legendre.leggauss(max(1, (K + 1) // 2))
    return (x + 1.0) / 2.0, w / 2.0


def _sklearn_tree(t: Any, classifier: bool) -> _Tree:
    tr = t.tree_
    value = tr.value[:, :, :] if tr.value.ndim == 3 else tr.value[:, :, None]
    if classifier:  # class shares per node (as predict_proba reads them)
        v = value[:, 0, :]
        v = v / np.clip(v.sum(axis=1, keepdims=True), 1e-300, None)
    else:
        v = value[:, :, 0]
    return _Tree(tr.children_left, tr.children_right, tr.feature, tr.threshold, tr.weighted_n_node_samples, v,
                 float32=True)


def _hgb_tree(pred: Any) -> _Tree | None:
    nodes = pred.nodes
    if "is_categorical" in nodes.dtype.names and bool(np.any(nodes["is_categorical"])):
        return None
    leaf = nodes["is_leaf"].astype(bool)
    left = np.where(leaf, -1, nodes["left"].astype(np.intp))
    right = np.where(leaf, -1, nodes["right"].astype(np.intp))
    return _Tree(left, right, nodes["feature_idx"].astype(np.intp), nodes["num_threshold"],
                 nodes["count"], nodes["value"][:, None], nodes["missing_go_to_left"].astype(bool))


def _tree_model(model: Any) -> tuple[list[tuple[_Tree, int, float]], str, Any, Any] | None:
    """The trees of a supported model as (tree, output index, weight), the output space, a
    function rows -> the model's own output in that space (rows x outputs), and one rows -> the
    constant the trees add to (a boosting's initial score)."""
    from sklearn import ensemble, tree

    if isinstance(model, tree.BaseDecisionTree):
        classifier = hasattr(model, "classes_")
        out = model.predict_proba if classifier else (lambda Z: np.asarray(model.predict(Z)).reshape(len(Z), -1))
        t = _sklearn_tree(model, classifier)
        return [(t, -1, 1.0)], "probability" if classifier else "prediction", out, _no_offset
    if isinstance(model, ensemble.RandomForestClassifier | ensemble.ExtraTreesClassifier |
                  ensemble.RandomForestRegressor | ensemble.ExtraTreesRegressor):
        classifier = hasattr(model, "classes_")
        w = 1.0 / len(model.estimators_)
        trees = [(_sklearn_tree(e, classifier), -1, w) for e in model.estimators_]
        out = model.predict_proba if classifier else (lambda Z: np.asarray(model.predict(Z)).reshape(len(Z), -1))
        return trees, "probability" if classifier else "prediction", out, _no_offset
    if isinstance(model, ensemble.GradientBoostingClassifier | ensemble.GradientBoostingRegressor):
        lr = float(model.learning_rate)
        trees = [(_sklearn_tree(e, False), k, lr) for stage in model.estimators_ for k, e in enumerate(stage)]

        def start(Z: np.ndarray) -> np.ndarray:  # the init estimator's raw score (a constant per output)
            return np.asarray(model._raw_predict_init(Z[:1]), dtype=float).reshape(-1)
        return trees, "raw", _raw_output(model), start
    if isinstance(model, ensemble.HistGradientBoostingClassifier | ensemble.HistGradientBoostingRegressor):
        trees = []
        for stage in model._predictors:
            for k, p in enumerate(stage):
                t = _hgb_tree(p)
                if t is None:
                    return None
                trees.append((t, k, 1.0))

        def baseline(Z: np.ndarray) -> np.ndarray:
            return np.asarray(model._baseline_prediction, dtype=float).reshape(-1)
        return trees, "raw", _raw_output(model), baseline
    return None


def _raw_output(model: Any) -> Any:
    """rows -> the boosting's raw score: the decision function of a classifier (log-odds), the
    prediction of a regressor (identity link: squared error, the default)."""
    def raw(Z: np.ndarray) -> np.ndarray:
        if hasattr(model, "classes_"):
            return np.asarray(model.decision_function(Z)).reshape(len(Z), -1)
        return np.asarray(model.predict(Z)).reshape(len(Z), -1)
    return raw


def _no_offset(Z: np.ndarray) -> np.ndarray:
    return np.zeros(1)


def tree_contributions(model: Any, Z: np.ndarray, groups: np.ndarray, n_groups: int,
                       budget_s: float = BUDGET_S) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """(phi rows x groups x outputs, base rows x outputs, the model's output rows x outputs, space) for a
    supported tree model on transformed rows Z; None if the model is not one or the check fails.
    Raises TooCostly when the estimated time is over `budget_s`."""
    found = _tree_model(model)
    if found is None:
        return None
    trees, space, output, offset = found
    seconds = len(Z) * sum(_cost(t, n_groups) for t, _, _ in trees) / UNITS_PER_SECOND
    if seconds > budget_s:
        raise TooCostly(seconds, max(1, int(len(Z) * budget_s / seconds)))
    own = np.asarray(output(Z), dtype=float)
    n_out = own.shape[1]
    phi = np.zeros((len(Z), n_groups, n_out))
    base = np.broadcast_to(offset(Z), (n_out,)).astype(float)
    for t, k, w in trees:
        values = tree_shap(t, Z, groups, n_groups)
        if k < 0:
            phi += w * values
            base += w * t.expected()
        else:
            phi[:, :, k] += w * values[:, :, 0]
            base[k] += w * t.expected()[0]
    base_rows = np.broadcast_to(base, own.shape).copy()
    scale = max(1.0, float(np.abs(own).max(initial=0.0)))
    if np.abs(phi.sum(axis=1) + base_rows - own).max(initial=0.0) > TOLERANCE * scale:
        return None  # not additive: something this code does not model (a loss with another link, ...)
    return phi, base_rows, own, space


# -- linear models -----------------------------------------------------------------------
def linear_contributions(model: Any, Z: np.ndarray, Zb: np.ndarray, groups: np.ndarray, n_groups: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """(phi, base, output, "raw") of a linear model: coef . (z - z_baseline) per column, base the output
    at the baseline rows; None if the model is not linear in Z (checked against its own output)."""
    coef = getattr(model, "coef_", None)
    intercept = getattr(model, "intercept_", None)
    if coef is None or intercept is None:
        return None
    coef = np.atleast_2d(np.asarray(coef, dtype=float))
    if coef.shape[1] != Z.shape[1]:
        return None
    output = model.decision_function if hasattr(model, "decision_function") else model.predict
    own = np.asarray(output(Z), dtype=float).reshape(len(Z), -1)
    at_base = np.asarray(output(Zb), dtype=float).reshape(len(Z), -1)
    mine = Z @ coef.T + np.asarray(intercept, dtype=float).reshape(1, -1)
    if mine.shape != own.shape or np.abs(mine - own).max(initial=0.0) > TOLERANCE * max(1.0, np.abs(own).max()):
        return None
    G = np.zeros((Z.shape[1], n_groups))
    G[np.arange(Z.shape[1]), groups] = 1.0
    diff = Z - Zb
    phi = np.stack([(diff * coef[k]) @ G for k in range(coef.shape[0])], axis=2)
    if np.abs(phi.sum(axis=1) + at_base - own).max(initial=0.0) > TOLERANCE * max(1.0, np.abs(own).max()):
        return None
    return phi, at_base, own, "raw"


# -- the served answer ----------------------------------------------------------------------
def exact_contributions(task: str, pipeline: Any, X: Any, reference: dict[str, Any],
                        classes: list[Any] | None = None, positive: Any = None,
                        budget_s: float = BUDGET_S) -> dict[str, Any] | None:
    """Exact contributions per row and input column for a Pipeline(prep, model) of a supported kind,
    in the shape of `explain.contributions` plus "base" per row; None when not supported. Raises
    TooCostly when a large forest would take over `budget_s` for these rows."""
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) != 2:
        return None
    prep, model = steps[0][1], steps[1][1]
    columns = [str(c) for c in X.columns]
    groups = feature_columns(prep, columns)
    if groups is None:
        return None
    Z = np.asarray(prep.transform(X), dtype=float)
    if Z.ndim != 2 or Z.shape[1] != len(groups):
        return None
    found = tree_contributions(model, Z, groups, len(columns), budget_s)
    method = "tree_shap"
    if found is None:
        from mlcycle_tui.experiments.explain import with_reference

        baseline = with_reference(X, reference, [c for c in columns if c in reference])
        Zb = np.asarray(prep.transform(baseline), dtype=float)
        found = linear_contributions(model, Z, Zb, groups, len(columns))
        method = "linear"
    if found is None:
        return None
    phi, base, own, space = found
    used = sorted({int(g) for g in groups})
    labels = [str(c) for c in (classes if classes is not None else getattr(model, "classes_", []))]
    n = len(X)
    if task == "classification" and len(labels) == 2:
        pos = labels.index(str(positive)) if str(positive) in labels else 1
        if phi.shape[2] == 1:  # a raw score: the log-odds of classes_[1]
            sign = 1.0 if pos == 1 else -1.0
            index, phi, base = np.zeros(n, dtype=np.intp), sign * phi, sign * base
            of = f"log-odds of {labels[pos]}"
        else:
            index = np.full(n, pos)
            of = f"P({labels[pos]})"
    elif task == "classification":
        index = own.argmax(axis=1)
        of = "P(predicted class)" if space == "probability" else "score of the predicted class"
    else:
        index = np.zeros(n, dtype=np.intp)
        of = "prediction"
    rows = [{columns[g]: float(phi[r, g, index[r]]) for g in used} for r in range(n)]
    bases = [float(base[r, index[r]]) for r in range(n)]
    return {"method": method, "of": of, "rows": rows, "base": bases, "reference": reference}

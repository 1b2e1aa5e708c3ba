"""A fitted pipeline as plain NumPy arrays, so that scoring a file needs no scikit-learn.

Why this exists: `mlcycle predict` is often a short command in a script, and
importing scikit-learn (which imports SciPy's statistics and pandas) takes
about a second before one row is scored. For the pipelines mlcycle builds from
numeric columns (coerce, impute with a missing-value indicator, scale) ending
in a random forest or extra-trees model, the same arithmetic fits in a few
arrays: this module turns such a pipeline into a `.npz` file and scores Arrow
tables with NumPy alone.

Exactness is checked, not assumed: `compile_pipeline` scores probe rows (with
missing values) both ways and gives up unless labels and probabilities are
identical to the bit. Anything else (text or date columns, other estimators,
several outputs) returns None, and callers use scikit-learn as before.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

FORMAT = 1
_PROBE_ROWS = 2048
ALL_TREES_ROWS = 1024  # up to this many rows, all trees are walked at once (faster for few rows)


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
            if classifier:  # DecisionTreeClassifier.predict_proba: each leaf's counts as shares
                value = value[:, : int(model.n_classes_)].copy()
                normalizer = value.sum(axis=1)[:, np.newaxis]
                normalizer[normalizer == 0.0] = 1.0
                value /= normalizer
            values.append(value.astype(np.float64))
            offsets.append(start + t.node_count)
        return cls(np.asarray(offsets, dtype=np.int64), np.concatenate(left).astype(np.int64),
                   np.concatenate(right).astype(np.int64), np.concatenate(feature).astype(np.int64),
                   np.concatenate(threshold), np.concatenate(values))

    def mean(self, X: np.ndarray) -> np.ndarray:
        """rows x outputs: the mean over the trees of each row's leaf value (X: float32, as the trees read it)."""
        n_trees = len(self.offsets) - 1
        out = np.zeros((X.shape[0], self.leaf_values.shape[1]), dtype=np.float64)
        if X.shape[0] <= ALL_TREES_ROWS:  # few rows (an online request): walk every tree at once
            leaves = self._all_leaves(X)
            for t in range(n_trees):  # trees in order: the same sums, in the same order, as scikit-learn
                out += self.leaf_values[leaves[t]]
        else:
            rows = np.arange(X.shape[0])
            for t in range(n_trees):
                out += self.leaf_values[self._leaves(X, rows, self.offsets[t])]
        out /= n_trees
        return out

    def _all_leaves(self, X: np.ndarray) -> np.ndarray:
        """The leaf of every (tree, row), all trees descending together (trees x rows)."""
        node = np.repeat(self.offsets[:-1, np.newaxis], X.shape[0], axis=1)
        rows = np.broadcast_to(np.arange(X.shape[0]), node.shape)
        while True:
            left = self.left[node]
            inner = left >= 0
            if not inner.any():
                return node
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, left, self.right[node]), node)

    def _leaves(self, X: np.ndarray, rows: np.ndarray, root: int) -> np.ndarray:
        node = np.full(X.shape[0], root, dtype=np.int64)
        active = rows if self.left[root] >= 0 else rows[:0]  # a one-node tree: the root is the leaf
        while active.size:
            at = node[active]
            go_left = X[active, self.feature[at]] <= self.threshold[at]
            nxt = np.where(go_left, self.left[at], self.right[at])
            node[active] = nxt
            active = active[self.left[nxt] >= 0]  # stop at leaves (no left child)
        return node


class CompiledModel:
    """Scores rows of named numeric columns the way the original pipeline does."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        meta = json.loads(bytes(arrays["meta"]).decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"compiled model format {meta.get('format')!r} is not {FORMAT}")
        self.task: str = meta["task"]
        self.inputs: list[str] = meta["inputs"]
        self.statistics = arrays["statistics"]
        self.indicator = arrays["indicator"]
        self.mean = arrays["mean"] if meta["with_mean"] else None
        self.scale = arrays["scale"] if meta["with_std"] else None
        self.classes = arrays["classes"] if self.task == "classification" else None
        self.forest = ForestArrays(arrays["offsets"], arrays["left"], arrays["right"], arrays["feature"],
                                   arrays["threshold"], arrays["values"])

    # -- scoring ---------------------------------------------------------
    def features(self, columns: list[np.ndarray]) -> np.ndarray:
        """The preprocessed matrix: impute, append missing indicators, scale (float64 throughout)."""
        X = np.column_stack(columns).astype(np.float64, copy=True) if columns else np.empty((0, 0))
        missing = np.isnan(X)
        if self.indicator.size:
            flags = missing[:, self.indicator].astype(np.float64)
        if missing.any():
            X[missing] = np.take(self.statistics, np.nonzero(missing)[1])
        if self.indicator.size:
            X = np.hstack([X, flags])
        if self.mean is not None:
            X -= self.mean
        if self.scale is not None:
            X /= self.scale
        return X

    def predict(self, columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, class probabilities or None), as the pipeline's predict/predict_proba."""
        X = self.features(columns).astype(np.float32)  # trees compare float32 features, as scikit-learn does
        out = self.forest.mean(X)
        if self.classes is None:
            return out[:, 0], None
        return self.classes.take(np.argmax(out, axis=1), axis=0), out


def load(data: bytes) -> CompiledModel:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return CompiledModel({k: npz[k] for k in npz.files})


def compile_pipeline(pipeline: Any, task: str, inputs: list[str]) -> bytes | None:
    """The `.npz` bytes of a compiled pipeline, or None when it is not one this module can score
    exactly (see the module docstring)."""
    try:
        arrays = _arrays(pipeline, task, inputs)
    except _Unsupported:
        return None
    compiled = CompiledModel(arrays)
    if not _agrees(pipeline, compiled, inputs):
        return None
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class _Unsupported(Exception):
    pass


def _need(condition: bool) -> None:
    if not condition:
        raise _Unsupported


def _arrays(pipeline: Any, task: str, inputs: list[str]) -> dict[str, np.ndarray]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlcycle_tui.experiments.preprocess import NumericCoercer

    _need(isinstance(pipeline, Pipeline) and len(pipeline.steps) == 2)
    prep, model = pipeline.steps[0][1], pipeline.steps[1][1]
    _need(isinstance(prep, ColumnTransformer))
    groups = [(name, steps, cols) for name, steps, cols in prep.transformers_
              if not (name == "remainder" and steps == "drop")]
    _need(len(groups) == 1)
    _, steps, cols = groups[0]
    _need(list(cols) == list(inputs) and isinstance(steps, Pipeline) and len(steps.steps) == 3)
    coerce, impute, scale = (s for _, s in steps.steps)
    _need(type(coerce) is NumericCoercer and type(impute) is SimpleImputer and type(scale) is StandardScaler)
    _need(isinstance(impute.missing_values, float) and np.isnan(impute.missing_values))
    statistics = np.asarray(impute.statistics_, dtype=np.float64)
    _need(statistics.shape == (len(inputs),) and not np.isnan(statistics).any())
    indicator = np.asarray(impute.indicator_.features_ if impute.add_indicator else [], dtype=np.int64)
    _need(getattr(impute.indicator_, "features", "missing-only") == "missing-only" if impute.add_indicator else True)
    kinds = (RandomForestClassifier, ExtraTreesClassifier) if task == "classification" \
        else (RandomForestRegressor, ExtraTreesRegressor)
    _need(type(model) in kinds and getattr(model, "n_outputs_", 1) == 1)
    forest = ForestArrays.from_forest(model)
    classes = np.asarray(getattr(model, "classes_", []))
    if classes.dtype == object and all(isinstance(c, str) for c in classes):
        classes = classes.astype(str)  # text labels: saved without pickle, written back as text
    if task == "classification":
        _need(classes.dtype.kind in "iufU")
    meta = {"format": FORMAT, "task": task, "inputs": list(inputs),
            "with_mean": bool(scale.with_mean), "with_std": bool(scale.with_std)}
    n_out = len(inputs) + len(indicator)
    return {
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "statistics": statistics,
        "indicator": indicator,
        "mean": np.asarray(scale.mean_ if scale.with_mean else np.zeros(n_out), dtype=np.float64),
        "scale": np.asarray(scale.scale_ if scale.with_std else np.ones(n_out), dtype=np.float64),
        "classes": classes,
        "offsets": forest.offsets,
        "left": forest.left,
        "right": forest.right,
        "feature": forest.feature,
        "threshold": forest.threshold,
        "values": forest.leaf_values,
    }


def _agrees(pipeline: Any, compiled: CompiledModel, inputs: list[str]) -> bool:
    """Whether both give bit-identical answers on probe rows spread around the training data."""
    import pandas as pd

    from mlcycle_tui.predictions.predicting import predict_with_proba

    rng = np.random.default_rng(0)
    n_in = len(inputs)
    center = compiled.statistics
    spread = compiled.scale[:n_in] if compiled.scale is not None else np.ones(n_in)
    X = center + spread * rng.normal(0.0, 1.5, size=(_PROBE_ROWS, n_in))
    X[rng.random(X.shape) < 0.1] = np.nan
    frame = pd.DataFrame(X, columns=inputs)
    pred, proba = predict_with_proba(compiled.task, pipeline, frame)
    for rows in (slice(None), slice(0, 7)):  # both ways of walking the trees
        mine, my_proba = compiled.predict([X[rows, j] for j in range(n_in)])
        if not np.array_equal(np.asarray(pred)[rows], mine):
            return False
        if (proba is None) != (my_proba is None) or (proba is not None and not np.array_equal(proba[rows], my_proba)):
            return False
    return True

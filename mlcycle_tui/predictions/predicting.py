"""Predictions and class probabilities from one pass over a fitted pipeline.

Why this exists: the server and batch scoring both need the predicted label
*and* the class probabilities. Asking scikit-learn for `predict` and then
`predict_proba` runs the preprocessing twice and, for a forest, walks every
tree twice; a forest's `predict` is by definition the argmax of its
`predict_proba`, so one walk gives both. joblib's thread pool also costs more
than it saves on small inputs (it polls with sleeps), so small inputs are
scored on the calling thread.

The tree-by-tree walk uses one private scikit-learn method,
`_validate_X_predict` (the input check `predict` itself runs). Forests are
recognised by their public classes. If a scikit-learn release changes or
drops that method, every call falls back to the public `predict` /
`predict_proba` (same results, slower), so serving never breaks on an upgrade;
tests run both paths.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

# The one private scikit-learn method the walk uses: the input check of a forest's `predict`.
PRIVATE_CHECK = "_validate_X_predict"
SMALL_ROWS = 20_000  # below this, a forest is walked without joblib
SPLIT_ROWS = 4_096  # from this many rows, on two threads (each row's sum in the same order)
ALL_TREES_ROWS = 64  # up to this many rows, all trees are walked at once as arrays
MAX_ARRAY_NODES = 2_000_000  # larger forests are not copied into arrays (~50 bytes a node, plus class shares)


def predict_with_proba(task: str, pipeline: Any, frame: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(predictions, class probabilities or None) of `pipeline` on `frame`."""
    from sklearn.pipeline import Pipeline

    from mlcycle_tui.experiments.evaluation import predictions

    model, features = pipeline, frame
    if isinstance(model, Pipeline) and len(model) > 1:  # transform once for predict and predict_proba
        features, model = model[:-1].transform(frame), model[-1]
    if task == "classification" and _argmax_of_proba(model):
        proba = forest_proba(model, features, same_thread=len(frame) < SMALL_ROWS)
        return model.classes_.take(np.argmax(proba, axis=1), axis=0), proba
    if task == "regression" and len(frame) < SMALL_ROWS:
        mean = forest_mean(model, features)
        if mean is not None:
            return mean, None
    pred, proba, _ = predictions(task, model, features)
    return pred, proba


def forest_mean(model: Any, features: Any) -> np.ndarray | None:
    """A regression forest's `predict` without joblib: the trees' predictions summed in order and
    divided by their number, as scikit-learn does with n_jobs=1 (so the same bits every time);
    None for anything else."""
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    if not isinstance(model, RandomForestRegressor | ExtraTreesRegressor) or getattr(model, "n_outputs_", 1) != 1:
        return None
    X = _checked_rows(model, features)
    if X is None:
        return None
    return _tree_mean(model, X, lambda tree, rows: tree.predict(rows, check_input=False))


def _checked_rows(model: Any, features: Any) -> np.ndarray | None:
    """`features` as the forest's `predict` checks them (private `_validate_X_predict`), or None when
    that method is missing, behaves differently in this scikit-learn or gives something else than a
    dense array: the caller then takes the public path, which raises any real input error itself."""
    check = getattr(model, PRIVATE_CHECK, None)
    if check is None:
        return None
    try:
        X = check(features)
    except Exception:  # a changed private API, or bad input that the public path reports
        return None
    return X if isinstance(X, np.ndarray) and X.ndim == 2 else None


def _argmax_of_proba(model: Any) -> bool:
    """Whether `model.predict` is the argmax of `model.predict_proba` (forests and trees)."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

    return isinstance(model, RandomForestClassifier | ExtraTreesClassifier | DecisionTreeClassifier
                      | ExtraTreeClassifier) and getattr(model, "n_outputs_", 1) == 1


def forest_proba(model: Any, features: Any, same_thread: bool = False) -> np.ndarray:
    """`predict_proba` of a classifier; a forest is walked tree by tree without joblib when
    it is single-threaded anyway or `same_thread` asks for it (1 row: 1.5 ms -> 0.4 ms).

    scikit-learn with n_jobs=1 sums the trees' probabilities in order and divides by
    their number; this does the same sums in the same order, so the result is
    bit-for-bit the same. Anything unexpected (a sparse matrix, several outputs,
    another scikit-learn) goes to `predict_proba`.
    """
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    if not isinstance(model, RandomForestClassifier | ExtraTreesClassifier) or getattr(model, "n_outputs_", 1) != 1 \
            or not (same_thread or model.n_jobs in (None, 1)):
        return model.predict_proba(features)
    X = _checked_rows(model, features)
    if X is None:
        return model.predict_proba(features)
    return _tree_mean(model, X, lambda tree, rows: tree.predict_proba(rows, check_input=False))


def _tree_mean(model: Any, X: np.ndarray, per_tree: Callable[[Any, np.ndarray], np.ndarray]) -> np.ndarray:
    """The mean of `per_tree(tree, X)` over the forest's trees, summed in tree order; large inputs
    have their second half of rows on a short-lived thread (each row's sum is the same: same bits).
    A few rows (an online request) walk every tree at once as NumPy arrays (`forest_arrays`):
    200 trees on one row, ~10 ms tree by tree, ~0.5 ms at once; the same sums in the same order."""
    if X.shape[0] <= ALL_TREES_ROWS and not np.isnan(X).any():  # (scikit-learn's own rules for missing values)
        arrays = forest_arrays(model)
        if arrays is not None:
            out = arrays.mean(X)
            return out if hasattr(model, "n_classes_") else out[:, 0]

    def summed(rows: np.ndarray) -> np.ndarray:
        out: np.ndarray | None = None
        for tree in model.estimators_:
            values = per_tree(tree, rows)  # releases the GIL while it walks
            if out is None:
                out = np.zeros(values.shape, dtype=np.float64)  # from zeros, as scikit-learn sums
            out += values
        assert out is not None
        return out

    if X.shape[0] < SPLIT_ROWS or (os.cpu_count() or 1) < 2:
        out = summed(X)
    else:
        half = X.shape[0] // 2
        result: dict[str, Any] = {}

        def second() -> None:
            try:
                result["out"] = summed(X[half:])
            except BaseException as exc:  # re-raised on the calling thread
                result["error"] = exc

        worker = threading.Thread(target=second, name="mlcycle-trees", daemon=True)
        worker.start()
        first = summed(X[:half])
        worker.join()
        if "error" in result:
            raise result["error"]
        out = np.concatenate([first, result["out"]])
    out /= len(model.estimators_)
    return out


def single_threaded(pipeline: Any) -> None:
    """n_jobs=1 everywhere: joblib's pool costs ~15 ms per call, more than scoring a small batch.

    Results do not depend on n_jobs.
    """
    get_params = getattr(pipeline, "get_params", None)
    if get_params is None:
        return
    keys = [k for k in get_params(deep=True) if k == "n_jobs" or k.endswith("__n_jobs")]
    if keys:
        try:
            pipeline.set_params(**dict.fromkeys(keys, 1))
        except (ValueError, TypeError):
            pass


_FORESTS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # forest -> ForestArrays or None
_FORESTS_LOCK = threading.Lock()


def forest_arrays(model: Any) -> Any:
    """The forest's trees as one set of arrays (registry/compiled.ForestArrays), built once per fitted
    model and kept while it lives; None when it has more than MAX_ARRAY_NODES nodes."""
    from mlcycle_tui.registry.compiled import ForestArrays

    with _FORESTS_LOCK:
        try:
            return _FORESTS[model]
        except KeyError:
            pass
        except TypeError:  # not weak-referenceable
            return None
        nodes = sum(int(t.tree_.node_count) for t in model.estimators_)
        arrays = ForestArrays.from_forest(model) if nodes <= MAX_ARRAY_NODES else None
        _FORESTS[model] = arrays
        return arrays

"""Evaluation: the metrics a run, a model version and a slice report.

One function, `evaluate`, computes every metric from labels, predictions and
(for classifiers) probabilities, so training, `mlcycle evaluate`, the
champion/challenger comparison and monitoring with feedback all agree. The
result is plain JSON (NaN and infinity become None) with flat top-level keys
(`accuracy`, `f1`, `rmse`, ...) that run filters such as `metrics.f1 > 0.8`
read, plus nested detail (per class, confusion matrix, curves).

Conventions:
- Rows whose true label is missing are left out; `rows` counts the rows used.
- Classes are sorted (as scikit-learn's `classes_`); probability columns
  follow `classes`.
- Binary classification: the positive class is the one the caller names
  (a run records its own: `--positive-class`, by default `default_positive`),
  else a 1/true/yes label, else the second class in sorted order. The flat
  `f1`, `precision`, `recall`, `roc_auc` and `brier` are for that class; for
  more than two classes they are macro averages. `brier` is the binary Brier score (in [0, 1]); for more
  classes it is the multi-class Brier score (sum over classes, in [0, 2]).
- Regression residuals are `y_true - y_pred`; `mape` is None when any true
  value is 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.common.jsonsafe import json_safe
from mlcycle_tui.experiments.catalog import TASKS

MAX_CURVE_POINTS = 101
MISSING = "(missing)"
OTHER = "(other)"
# Metrics where a smaller value is better; everything else: larger is better.
LOWER_IS_BETTER = frozenset({
    "mae", "mse", "rmse", "mape", "median_ae", "max_error", "log_loss", "brier",
})
# The metrics a run may rank by (`--metric`): the flat numbers `evaluate` reports per task.
METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("f1", "accuracy", "balanced_accuracy", "precision", "recall", "roc_auc", "log_loss",
                       "brier", "f1_macro", "f1_weighted", "precision_macro", "recall_macro"),
    "regression": ("rmse", "mae", "mse", "r2", "mape", "median_ae", "max_error"),
}
# Labels that name the positive class of a binary target when present (compared lower-case).
POSITIVE_WORDS = ("1", "1.0", "true", "yes", "y", "positive", "pos")


# --- JSON helpers ----------------------------------------------------------------------

def _label(value: Any) -> Any:
    """A class label as a plain JSON value."""
    return value.item() if isinstance(value, np.generic) else value


def _sorted_labels(values: Any) -> list[Any]:
    unique = list(pd.unique(pd.Series(list(values), dtype=object).dropna()))
    try:
        return sorted(unique)
    except TypeError:  # mixed types: order by text
        return sorted(unique, key=str)


def _label_arrays(*groups: Any) -> list[np.ndarray]:
    """Label arrays scikit-learn can type: numbers stay numbers, else text.

    All groups (true labels, predictions, classes) get one common type, so 1,
    1.0 and "1" cannot become different classes.
    """
    lists = [[_label(v) for v in group] for group in groups]
    both = pd.Series([v for values in lists for v in values], dtype=object)
    present = both.dropna()
    if len(present) and all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
                            for v in present):
        array = np.asarray(both.to_numpy(dtype=float), dtype=object)
        if all(float(v).is_integer() for v in present):
            array = np.array([v if pd.isna(v) else int(v) for v in array], dtype=object)
    elif len(present) and not all(isinstance(v, bool | np.bool_) for v in present):
        array = np.array([v if pd.isna(v) else str(v) for v in both], dtype=object)
    else:
        array = both.to_numpy(dtype=object)
    bounds = np.cumsum([0] + [len(values) for values in lists])
    return [array[bounds[i]:bounds[i + 1]] for i in range(len(lists))]


def _typed(array: np.ndarray) -> np.ndarray:
    """An object array of ints becomes int64 (sklearn calls object ints 'unknown')."""
    present = [v for v in array if not pd.isna(v)]
    if present and len(present) == len(array) and all(isinstance(v, int) for v in present):
        return array.astype(np.int64)
    if present and len(present) == len(array) and all(isinstance(v, float) for v in present):
        return array.astype(float)
    return array


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Only the top-level numbers of a metrics dict (what a run table shows)."""
    return {
        k: float(v) for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def primary_metric(task: str) -> str:
    """The default metric that ranks runs and decides promotions: f1 or rmse (`--metric` overrides it)."""
    if task == "classification":
        return "f1"
    if task == "regression":
        return "rmse"
    raise UserError(f"unknown task {task!r}; expected classification or regression")


def check_metric(task: str, metric: str | None) -> str:
    """`metric` if a run of `task` can rank by it, the task's default when None; else a UserError."""
    default = primary_metric(task)
    if metric is None or str(metric).strip() == "":
        return default
    name = str(metric).strip().lower().removeprefix("metrics.")
    if name not in METRICS[task]:
        raise UserError(f"unknown --metric {metric!r} for {task}; choose one of: {', '.join(METRICS[task])}")
    return name


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is better ("metrics." prefix allowed)."""
    name = metric.removeprefix("metrics.").lower()
    return name not in LOWER_IS_BETTER


def _task_and_metrics(subject: Any) -> tuple[Any, Mapping[str, Any]]:
    """(task, metrics) of a run document, a model version or a bare metrics dict."""
    if isinstance(subject, Mapping):
        if "task" in subject or "metrics" in subject:
            return subject.get("task"), subject.get("metrics") or {}
        return None, subject
    return getattr(subject, "task", None), getattr(subject, "metrics", None) or {}


def task_of(subject: Any) -> str | None:
    """The task of a run document, a model version or a bare metrics dict.

    Its own `task` when it names a known one; else what its metrics show (a
    run logged by hand may have no task): a classification primary metric
    (f1) means classification, else a regression one (rmse) regression;
    None when neither is there.
    """
    task, metrics = _task_and_metrics(subject)
    if task in TASKS:
        return str(task)
    return next((t for t in TASKS if primary_metric(t) in metrics), None)


def _chosen_metric(subject: Any) -> Any:
    """The metric a run or version was trained to rank by, if it recorded one."""
    if isinstance(subject, Mapping):
        return ((subject.get("tags") or {}).get("primary_metric")
                or (subject.get("recipe") or {}).get("metric") or subject.get("primary_metric"))
    return (getattr(subject, "recipe", None) or {}).get("metric")


def primary_metric_of(subject: Any) -> str:
    """The metric that ranks `subject` (a run, a model version or a metrics dict).

    The metric the run chose (`--metric`, recorded as its `primary_metric` tag
    and in its recipe) when it names one of its task's metrics; else the
    primary metric of its task (see `task_of`); classification's when nothing
    tells the task.
    """
    task = task_of(subject) or TASKS[0]
    chosen = _chosen_metric(subject)
    if isinstance(chosen, str) and chosen in METRICS[task]:
        return chosen
    return primary_metric(task)


def _score(run: Mapping[str, Any]) -> float | None:
    value = (run.get("metrics") or {}).get(primary_metric_of(run))
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def best_run(runs: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The best finished run by its primary metric, or None.

    `runs` come newest first (as `Tracking.search` returns them). Only
    finished runs of a known task with a finite value of their primary metric
    take part, and of those only the runs of the newest one's task and
    primary metric (an f1 and an rmse, or an f1 and a roc_auc, do not
    compare). On a tie the newer run wins.
    """
    scored = [(run, value) for run in runs
              if run.get("status") == "finished" and run.get("task") in TASKS
              and (value := _score(run)) is not None]
    if not scored:
        return None
    task, metric = scored[0][0]["task"], primary_metric_of(scored[0][0])
    sign = 1.0 if higher_is_better(metric) else -1.0
    # max keeps the first of equal keys: the newest run
    best, _ = max(((run, value) for run, value in scored
                   if run["task"] == task and primary_metric_of(run) == metric),
                  key=lambda pair: sign * pair[1])
    return dict(best)


# --- the positive class ------------------------------------------------------------------

def _is_positive_word(value: Any) -> bool:
    return str(_label(value)).strip().lower() in POSITIVE_WORDS


def default_positive(y: Any) -> Any:
    """The positive class a binary target gets when the user names none, or None if not binary.

    A label that reads as positive (1, true, yes) when exactly one of the two
    does; else the minority class of `y` (the rarer one is what people look
    for: fraud, churn, disease); on a tie the second in sorted order.
    """
    values = pd.Series(list(y), dtype=object).dropna().map(_label)
    labels = _sorted_labels(values)
    if len(labels) != 2:
        return None
    words = [lbl for lbl in labels if _is_positive_word(lbl)]
    if len(words) == 1:
        return words[0]
    counts = values.map(str).value_counts()
    first, second = (int(counts.get(str(lbl), 0)) for lbl in labels)
    return labels[0] if first < second else labels[1]


def resolve_positive(classes: Sequence[Any], positive: Any) -> Any:
    """The class of `classes` that `positive` names (1 and "1" are the same class); a UserError if none."""
    for lbl in classes:
        if lbl == positive or str(_label(lbl)) == str(positive):
            return _label(lbl)
    raise UserError(f"--positive-class {positive!r} is not a class of the target; "
                    f"the classes are: {', '.join(map(str, classes))}")


def _positive_index(classes: list[Any], positive: Any) -> int:
    """Which of two classes is positive: the named one, else a 1/true/yes label, else the second."""
    if len(classes) != 2:
        return 1
    if positive is not None:
        for i, lbl in enumerate(classes):
            if lbl == positive or str(_label(lbl)) == str(positive):
                return i
    words = [i for i, lbl in enumerate(classes) if _is_positive_word(lbl)]
    return words[0] if len(words) == 1 else 1


# --- classification ----------------------------------------------------------------------

def _downsample(columns: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    n = len(next(iter(columns.values())))
    if n > MAX_CURVE_POINTS:
        index = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))
        columns = {k: np.asarray(v, dtype=object)[index] for k, v in columns.items()}
    return {k: json_safe(list(v)) for k, v in columns.items()}


def _binary_curves(is_pos: np.ndarray, score: np.ndarray) -> tuple[dict, dict] | None:
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

    if is_pos.all() or not is_pos.any():
        return None
    fpr, tpr, thr = roc_curve(is_pos, score)
    precision, recall, pr_thr = precision_recall_curve(is_pos, score)
    roc = _downsample({"fpr": fpr, "tpr": tpr, "thresholds": thr})
    pr = _downsample({
        "precision": precision, "recall": recall,
        "thresholds": np.append(pr_thr.astype(object), None),
    })
    pr["average_precision"] = json_safe(float(average_precision_score(is_pos, score)))
    return roc, pr


def _curves(y: np.ndarray, proba: np.ndarray, classes: list[Any], pos: int = 1) -> dict[str, Any]:
    if len(classes) == 2:
        got = _binary_curves(y == classes[pos], proba[:, pos])
        if got is None:
            return {"roc_curve": None, "pr_curve": None}
        roc, pr = got
        positive = _label(classes[pos])
        return {"roc_curve": {"positive_class": positive, **roc},
                "pr_curve": {"positive_class": positive, **pr}}
    roc_all: dict[str, Any] = {}
    pr_all: dict[str, Any] = {}
    for i, cls in enumerate(classes):
        got = _binary_curves(y == cls, proba[:, i])
        roc_all[str(cls)], pr_all[str(cls)] = got if got else (None, None)
    return {"roc_curve": {"per_class": roc_all}, "pr_curve": {"per_class": pr_all}}


def _safe(fn: Any, *args: Any, **kwargs: Any) -> float | None:
    """A metric value, or None when it is not defined for this data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(fn(*args, **kwargs))
    except (ValueError, ZeroDivisionError, IndexError):
        return None
    return value if math.isfinite(value) else None


def _proba_metrics(y: np.ndarray, proba: np.ndarray, classes: list[Any],
                   curves: bool, pos: int = 1) -> dict[str, Any]:
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    out: dict[str, Any] = {"roc_auc": None, "log_loss": None, "brier": None}
    if curves:
        out.update(roc_curve=None, pr_curve=None)
    known = np.isin(y, np.asarray(classes, dtype=object))
    if not known.all() or len(classes) < 2:
        return out  # a label the model never saw: probability metrics undefined
    onehot = (y[:, None] == np.asarray(classes, dtype=object)[None, :]).astype(float)
    if len(classes) == 2:
        is_pos = onehot[:, pos]
        out["roc_auc"] = _safe(roc_auc_score, is_pos, proba[:, pos])
        out["brier"] = _safe(brier_score_loss, is_pos, proba[:, pos])
    else:
        out["roc_auc"] = _safe(roc_auc_score, y, proba, multi_class="ovr", average="macro",
                               labels=classes)
        out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    out["log_loss"] = _safe(log_loss, y, proba, labels=classes)
    if curves:
        out.update(_curves(y, proba, classes, pos))
    return out


def _label_metrics(y: np.ndarray, pred: np.ndarray, labels: list[Any],
                   classes: list[Any], pos: int = 1) -> dict[str, Any]:
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    out: dict[str, Any] = {"accuracy": _safe(accuracy_score, y, pred),
                           "balanced_accuracy": _safe(balanced_accuracy_score, y, pred)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # averages over the labels that occur (as scikit-learn does by default), so that
        # a slice without some class is not marked down for it
        seen = set(y.tolist()) | set(pred.tolist())
        present = [lbl for lbl in labels if lbl in seen] or labels
        for avg in ("macro", "weighted"):
            p, r, f, _ = precision_recall_fscore_support(
                y, pred, labels=present, average=avg, zero_division=0)
            out.update({f"precision_{avg}": p, f"recall_{avg}": r, f"f1_{avg}": f})
        p, r, f, s = precision_recall_fscore_support(
            y, pred, labels=labels, average=None, zero_division=0)
    out["per_class"] = {
        str(lbl): {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])}
        for i, lbl in enumerate(labels)
    }
    if len(classes) == 2:
        chosen = out["per_class"][str(classes[pos])]
        out.update(positive_class=_label(classes[pos]), precision=chosen["precision"],
                   recall=chosen["recall"], f1=chosen["f1"])
    else:
        out.update(precision=out["precision_macro"], recall=out["recall_macro"],
                   f1=out["f1_macro"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matrix = confusion_matrix(y, pred, labels=labels)
    out["confusion_matrix"] = {"labels": [_label(v) for v in labels], "matrix": matrix.tolist()}
    return out


def _as_proba(proba: Any, n_classes: int) -> np.ndarray:
    array = np.asarray(proba, dtype=float)
    if array.ndim == 1 and n_classes == 2:
        array = np.column_stack([1.0 - array, array])
    if array.ndim != 2 or array.shape[1] != n_classes:
        raise UserError(
            f"probabilities have shape {array.shape}, expected one column per class "
            f"({n_classes} classes)"
        )
    return array


def _classification(y: np.ndarray, pred: np.ndarray, proba: Any, classes: Any,
                    curves: bool, positive: Any = None) -> dict[str, Any]:
    class_list = list(classes) if classes is not None else _sorted_labels(
        np.concatenate([y, pred]))
    labels = class_list + [v for v in _sorted_labels(np.concatenate([y, pred]))
                           if v not in class_list]
    out: dict[str, Any] = {"rows": len(y)}
    if len(y) == 0:
        return out
    pos = _positive_index(class_list, positive)
    out.update(_label_metrics(y, pred, labels, class_list, pos))
    if proba is not None:
        out.update(_proba_metrics(y, _as_proba(proba, len(class_list)), class_list, curves, pos))
    else:
        out.update(roc_auc=None, log_loss=None, brier=None)
    return out


# --- regression ---------------------------------------------------------------------------

def _regression(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import (
        max_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_error,
        median_absolute_error,
        r2_score,
    )

    out: dict[str, Any] = {"rows": len(y)}
    if len(y) == 0:
        return out
    mse = mean_squared_error(y, pred)
    residual = y - pred
    out.update(
        mae=mean_absolute_error(y, pred), mse=mse, rmse=math.sqrt(mse),
        r2=_safe(r2_score, y, pred) if len(y) > 1 else None,
        mape=None if np.any(y == 0) else mean_absolute_percentage_error(y, pred),
        median_ae=median_absolute_error(y, pred), max_error=max_error(y, pred),
        residuals={
            "mean": residual.mean(), "std": residual.std(),
            "p5": np.percentile(residual, 5), "p50": np.percentile(residual, 50),
            "p95": np.percentile(residual, 95),
        },
    )
    return out


def _numbers(values: Any) -> np.ndarray:
    converted = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
    return converted.to_numpy(dtype=float, na_value=np.nan)


# --- public API -------------------------------------------------------------------------

def evaluate(task: str, y_true: Any, y_pred: Any, proba: Any = None,
             classes: Sequence[Any] | None = None, *, curves: bool = True,
             positive: Any = None) -> dict[str, Any]:
    """Every metric for one set of predictions, as JSON-ready dict (see module doc).

    `classes` orders the columns of `proba` (a fitted model's `classes_`); it
    defaults to the sorted labels seen. `curves=False` leaves out ROC/PR points.
    `positive` is the positive class of a binary target (see the module doc).
    """
    primary_metric(task)  # validates the task
    if len(y_true) != len(y_pred):
        raise UserError(f"{len(y_true)} true values but {len(y_pred)} predictions")
    if task == "regression":
        y, pred = _numbers(y_true), _numbers(y_pred)
        keep = ~np.isnan(y) & ~np.isnan(pred)
        return json_safe(_regression(y[keep], pred[keep]))
    y, pred, class_array = _label_arrays(y_true, y_pred, [] if classes is None else classes)
    keep = ~pd.isna(y)
    y, pred = _typed(y[keep]), _typed(pred[keep])
    if proba is not None:
        proba = np.asarray(proba, dtype=float)[keep]
    classes = list(class_array) if classes is not None else None
    return json_safe(_classification(y, pred, proba, classes, curves, positive))


_QUICK_LABEL_METRICS = frozenset({"accuracy", "balanced_accuracy", "f1", "precision", "recall", "f1_macro",
                                  "precision_macro", "recall_macro", "f1_weighted"})
_QUICK_REGRESSION_METRICS = frozenset({"rmse", "mae", "mse", "r2", "median_ae", "max_error"})


def quick_metric(task: str, metric: str, y_true: Any, y_pred: Any, positive: Any = None) -> float | None:
    """One metric of `evaluate(task, y_true, y_pred, positive=positive)`, computed alone.

    The search's scorer and permutation importance call it dozens of times per run, where
    `evaluate` (every metric, per class, the confusion matrix) costs 30-40 ms a call. Same
    conventions as `evaluate`: rows without a true label left out, the positive class of a
    binary target, macro averages over the labels that occur. Metrics that need
    probabilities are not computed here: None.
    """
    from sklearn import metrics as skm

    if task == "regression":
        if metric not in _QUICK_REGRESSION_METRICS:
            return None
        y, pred = _numbers(y_true), _numbers(y_pred)
        keep = ~np.isnan(y) & ~np.isnan(pred)
        y, pred = y[keep], pred[keep]
        if len(y) == 0 or (metric == "r2" and len(y) < 2):
            return None
        mse = float(np.mean((y - pred) ** 2))
        value = {"rmse": lambda: math.sqrt(mse), "mse": lambda: mse, "mae": lambda: float(np.mean(np.abs(y - pred))),
                 "r2": lambda: _safe(skm.r2_score, y, pred), "median_ae": lambda: float(np.median(np.abs(y - pred))),
                 "max_error": lambda: float(np.max(np.abs(y - pred)))}[metric]()
        return value if value is None or math.isfinite(value) else None
    if metric not in _QUICK_LABEL_METRICS:
        return None
    y, pred, _ = _label_arrays(y_true, y_pred, [])
    keep = ~pd.isna(y)
    y, pred = _typed(y[keep]), _typed(pred[keep])
    if len(y) == 0:
        return None
    if metric == "accuracy":
        return float(np.mean(y == pred))
    if metric == "balanced_accuracy":
        return _safe(skm.balanced_accuracy_score, y, pred)
    labels = _sorted_labels(np.concatenate([y, pred]))
    name, _, avg = metric.partition("_")
    fn = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not avg and len(labels) == 2:
            pos = labels[_positive_index(labels, positive)]
            return float(fn(y, pred, labels=labels, pos_label=pos, average="binary", zero_division=0))
        return float(fn(y, pred, labels=labels, average=avg or "macro", zero_division=0))


def predictions(task: str, model: Any, X: Any) -> tuple[np.ndarray, Any, list[Any] | None]:
    """(predictions, probabilities or None, classes or None) of a fitted model."""
    pred = np.asarray(model.predict(X))
    if task != "classification" or not hasattr(model, "predict_proba"):
        return pred, None, None
    classes = [_label(c) for c in getattr(model, "classes_", [])]
    try:
        proba = model.predict_proba(X)
    except (AttributeError, NotImplementedError):
        return pred, None, classes or None
    return pred, proba, classes


def evaluate_with_baseline(task: str, X_train: Any, y_train: Any, X_test: Any, y_test: Any,
                           fitted_pipeline: Any, positive: Any = None) -> dict[str, dict[str, Any]]:
    """Metrics of a fitted model and of the dummy baseline on the same test rows.

    The baseline is the catalog's `dummy` (class priors / training mean), fit
    on `y_train` here; X_train is accepted for symmetry and not used by it.
    """
    from mlcycle_tui.experiments.catalog import make_estimator

    pred, proba, classes = predictions(task, fitted_pipeline, X_test)
    model = evaluate(task, y_test, pred, proba, classes, positive=positive)
    y_fit = pd.Series(list(y_train))
    keep = y_fit.notna().to_numpy()
    baseline = make_estimator("dummy", task, None, seed=0)
    baseline.fit(np.zeros((int(keep.sum()), 1)), y_fit[keep].to_numpy())
    dummy_X = np.zeros((len(y_test), 1))
    b_pred, b_proba, b_classes = predictions(task, baseline, dummy_X)
    if task == "classification" and classes is not None and b_proba is not None:
        b_proba, b_classes = _align(b_proba, b_classes, classes), classes
    return {"model": model, "baseline": evaluate(task, y_test, b_pred, b_proba, b_classes, positive=positive)}


def _align(proba: np.ndarray, source: list[Any], target: list[Any]) -> np.ndarray:
    """Reorders probability columns from `source` classes to `target` classes."""
    out = np.zeros((proba.shape[0], len(target)))
    for j, cls in enumerate(target):
        if cls in source:
            out[:, j] = proba[:, source.index(cls)]
    return out


# --- slices --------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return repr(float(round(float(x), 6)))


def _numeric_bins(values: pd.Series, bins: int) -> pd.Series:
    """Quantile bin labels "[lo, hi)" (the last bin closed: "[lo, hi]")."""
    present = values.dropna()
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0]])
    inner = edges[1:-1]
    labels = [f"[{_fmt(edges[i])}, {_fmt(edges[i + 1])})" for i in range(len(edges) - 1)]
    labels[-1] = labels[-1][:-1] + "]"
    index = np.searchsorted(inner, values.to_numpy(dtype=float), side="right")
    out = pd.Series([labels[min(i, len(labels) - 1)] for i in index], index=values.index,
                    dtype=object)
    out[values.isna()] = MISSING
    return out


def slice_labels(values: Any, max_slices: int = 20, bins: int = 5) -> tuple[pd.Series, bool]:
    """(the slice of each row, whether they are numeric bins).

    A slice is the row's value, a quantile bin, MISSING or OTHER.
    """
    series = pd.Series(values).reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and series.nunique() > max_slices:
        return _numeric_bins(series.astype(float), min(bins, max_slices)), True
    labels = series.map(lambda v: MISSING if pd.isna(v) else str(_label(v))).astype(object)
    counts = labels.value_counts()
    if len(counts) > max_slices:
        keep = set(counts.index[: max_slices - 1])
        labels = labels.where(labels.isin(keep), OTHER)
    return labels, False


def evaluate_slices(task: str, frame: pd.DataFrame, y_true: Any, y_pred: Any, proba: Any,
                    classes: Sequence[Any] | None, column: str, max_slices: int = 20,
                    *, bins: int = 5, positive: Any = None) -> dict[str, dict[str, Any]]:
    """Metrics per value of `frame[column]` (each with "rows"), largest slice first.

    Numeric columns with more than `max_slices` distinct values are cut into
    `bins` quantile bins ("[0.0, 5.0)"); other columns keep their
    `max_slices - 1` most frequent values and group the rest as "(other)".
    Missing values form their own slice, "(missing)". Curves are left out.
    """
    if column not in frame.columns:
        raise UserError(f"unknown slice column {column!r}; columns are: "
                        f"{', '.join(map(str, frame.columns))}")
    labels, binned = slice_labels(frame[column], max_slices, bins)
    if not len(labels) == len(y_true) == len(y_pred):
        raise UserError("the frame, y_true and y_pred must have the same number of rows")
    y_true, y_pred = np.asarray(list(y_true), dtype=object), np.asarray(list(y_pred), dtype=object)
    proba_arr = None if proba is None else np.asarray(proba, dtype=float)
    keys = [k for k in labels.value_counts().index if k not in (OTHER, MISSING)]
    keys += [k for k in (OTHER, MISSING) if (labels == k).any()]
    if binned:
        keys.sort(key=lambda k: (k == MISSING, _bin_start(k)))
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        mask = (labels == key).to_numpy()
        out[key] = evaluate(task, y_true[mask], y_pred[mask],
                            None if proba_arr is None else proba_arr[mask], classes,
                            curves=False, positive=positive)
    return out


def _bin_start(label: str) -> float:
    try:
        return float(label[1:].split(",")[0])
    except ValueError:
        return math.inf


# --- fairness -----------------------------------------------------------------------------

def _rate(mask: np.ndarray, where: np.ndarray) -> float | None:
    return float(mask[where].mean()) if where.any() else None


def _positive(labels: list[Any], positive_label: Any) -> Any:
    if positive_label is None:
        if len(labels) == 2:
            return labels[_positive_index(labels, None)]
        raise UserError(
            f"{len(labels)} classes ({', '.join(map(str, labels))}): "
            "choose the positive label for the fairness report"
        )
    for lbl in labels:
        if lbl == positive_label or str(lbl) == str(positive_label):
            return lbl
    raise UserError(f"positive label {positive_label!r} is not one of: "
                    f"{', '.join(map(str, labels))}")


def fairness(y_true: Any, y_pred: Any, groups: Any, positive_label: Any = None
             ) -> dict[str, Any]:
    """Group fairness of a classifier for one positive label.

    Per group: rows, selection_rate (share predicted positive), tpr (recall
    of actual positives), fpr (share of actual negatives predicted positive)
    and base_rate (share actually positive); None where a group has no
    actual positives (tpr) or negatives (fpr). `gaps` are max - min over the
    groups, `ratios` min / max (for selection_rate: the disparate-impact
    ratio; 0.8 is the common "four-fifths" bar). The positive label defaults
    for binary targets as in `evaluate` (a 1/true/yes label, else the second sorted class); with more classes it must
    be given, and the report is one-vs-rest for it.
    """
    y = np.array([_label(v) for v in y_true], dtype=object)
    pred = np.array([_label(v) for v in y_pred], dtype=object)
    if not len(y) == len(pred) == len(groups):
        raise UserError("y_true, y_pred and groups must have the same length")
    pos = _positive(_sorted_labels(np.concatenate([y, pred])), positive_label)
    actual, chosen = (y == pos), (pred == pos)
    group_labels, _ = slice_labels(pd.Series(list(groups), dtype=object), max_slices=10**6)
    per_group: dict[str, dict[str, Any]] = {}
    for g in sorted(group_labels.unique(), key=str):
        m = (group_labels == g).to_numpy()
        per_group[g] = {
            "rows": int(m.sum()),
            "selection_rate": _rate(chosen, m),
            "tpr": _rate(chosen, m & actual),
            "fpr": _rate(chosen, m & ~actual),
            "base_rate": _rate(actual, m),
        }
    gaps, ratios = {}, {}
    for metric in ("selection_rate", "tpr", "fpr"):
        values = [v[metric] for v in per_group.values() if v[metric] is not None]
        ok = len(values) >= 2
        gaps[metric] = max(values) - min(values) if ok else None
        ratios[metric] = min(values) / max(values) if ok and max(values) > 0 else None
    return json_safe({"positive_label": pos, "groups": per_group, "gaps": gaps, "ratios": ratios})

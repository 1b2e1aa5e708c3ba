"""Estimated performance without labels: CBPE for classifiers, DLE for regressors.

Why this exists: most deployed models get their true labels late or never, so
decay measured on feedback labels comes too late or not at all. This stage
estimates, per chunk of current data, how well the production model performs
from its own outputs, with a band for the sampling error at the chunk's size,
an alert when the estimate crosses the threshold, and the realized value beside
it wherever feedback labels exist. The method follows NannyML's documentation
(written here on scikit-learn; no NannyML code):

- Classification, confidence-based performance estimation (CBPE). The model's
  probabilities are calibrated on the reference holdout (its test split rows,
  less any row it trained on) with isotonic regression, one class against the
  rest; a class is calibrated only when that lowers the expected calibration
  error out of fold (3-fold, stratified), and multiclass rows are normalised to
  sum to one. The calibrated probabilities are the expected labels: the
  expected confusion matrix gives accuracy, precision, recall and F1, and the
  expected ROC curve (rows ranked by the model's own score, each row counting
  as a positive with its calibrated probability) gives ROC AUC. Binary: the
  positive class is the second class in sorted order (as in `evaluation`);
  multiclass: accuracy, and macro averages one-vs-rest of precision, recall,
  F1 and ROC AUC over the classes present in the chunk.
- Regression, direct loss estimation (DLE). Two small gradient-boosting
  "nanny" models, fitted on the reference holdout, predict each row's absolute
  and squared error from the model's prepared inputs and its prediction; their
  means give MAE and RMSE.

The band is estimate +/- 3 standard errors of the metric at the chunk's size,
measured on the reference holdout (bootstrap samples of the chunk's size for
classification metrics, the standard error of the mean for MAE and, by the
delta method, RMSE). It says how far the realized value may fall from the
estimate by sampling alone, when the assumptions hold.

The threshold of a metric is the gate the registry applies (`gates.min` for
scores, `gates.max` for errors, in config.toml) when one is set for it; else
the reference value minus `policy.decay_margin` (absolute for scores, relative
for errors: the rule decay uses). A chunk alerts when the estimate crosses it.

Its blind spot: both methods assume P(y|x) holds, that is, the relation
between inputs and label is the one seen on the reference holdout. Covariate
shift (other inputs, same relation) is what they handle; concept shift, and
inputs far outside the reference's range, they cannot see. Every result says
so (`caveat`), and the realized value replaces the guess as labels arrive.

Cannot estimate (`judged` false, with the reason; never "all fine"): a
classifier without `predict_proba`, a version without a recorded split, fewer
than `MIN_REFERENCE_ROWS` labelled holdout rows it did not train on (or one
class only), fewer than `MIN_ROWS` current rows.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.common.timeutil import now_iso

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlcycle_tui.data.splits import Splits
    from mlcycle_tui.events import Events
    from mlcycle_tui.loop.jobs import Jobs
    from mlcycle_tui.monitoring.checks import Monitoring
    from mlcycle_tui.registry.versions import ModelVersion, Registry

CLASSIFICATION_METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall")
REGRESSION_METRICS = ("mae", "rmse")
DEFAULT_CHUNK = 1000  # rows per chunk unless --chunk says otherwise (fewer for less traffic: default_chunk)
MIN_ROWS = 100  # current rows (and rows per chunk) needed to estimate anything
MIN_REFERENCE_ROWS = 100  # labelled holdout rows needed to calibrate / fit the nanny models
MIN_LABELLED = 20  # labelled rows a chunk needs before its realized value is shown
BAND_Z = 3.0  # the band is +/- this many standard errors
N_BOOTSTRAP = 100  # bootstrap samples per chunk size for the classification standard errors
TRIGGER = "estimated_performance"
ACTIONS = ("alert", "retrain")
CANNOT = "cannot estimate"
CAVEAT = ("the estimate assumes P(y|x) holds: the relation between inputs and label is the one seen on the "
          "reference holdout. It follows covariate shift (other inputs, same relation) but is blind to concept "
          "shift and to inputs far outside the reference's range; trust the realized values from feedback labels "
          "where they exist.")
_CACHE_SIZE = 8


# --- classification: CBPE ---------------------------------------------------------------

def expected_auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC of `score` when row i is a positive with probability `positive[i]`.

    With 0/1 `positive` this is the usual ROC AUC (ties count one half). With
    calibrated probabilities it is the area under the expected ROC curve:
    expected positive-negative pairs ranked right over the expected pairs (a row
    is never paired with itself)."""
    import numpy as np

    p = np.asarray(positive, dtype=float)
    q = 1.0 - p
    _, group = np.unique(np.asarray(score, dtype=float), return_inverse=True)
    pos = np.bincount(group, weights=p)
    neg = np.bincount(group, weights=q)
    below = np.cumsum(neg) - neg
    self_pairs = float(np.sum(p * q))
    pairs = float(p.sum() * q.sum()) - self_pairs
    if pairs <= 1e-9:
        return None
    return (float(np.sum(pos * (below + 0.5 * neg))) - 0.5 * self_pairs) / pairs


def classification_metrics(score: np.ndarray, expected: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    """Accuracy, ROC AUC, F1, precision and recall from a matrix of expected labels.

    `score` (n x c) ranks rows for ROC AUC, `expected` (n x c) holds each row's
    probability of being each class (one-hot true labels give the realized metrics,
    calibrated probabilities the estimated ones), `pred` the predicted class index
    (-1: not one of the classes). Binary: the second class is the positive one.
    Multiclass: macro averages over the classes present (predicted, or expected at
    least half a time); a 0/0 precision or recall counts as 0, as scikit-learn's
    `zero_division=0` does."""
    import numpy as np

    n, c = expected.shape
    if n == 0:
        return dict.fromkeys(CLASSIFICATION_METRICS)
    predicted = pred[:, None] == np.arange(c)[None, :]
    tp = np.sum(expected * predicted, axis=0)
    n_pred = predicted.sum(axis=0).astype(float)
    n_true = expected.sum(axis=0)
    accuracy = float(tp.sum() / n)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 1e-12)

    precision, recall, f1 = ratio(tp, n_pred), ratio(tp, n_true), ratio(2 * tp, n_pred + n_true)
    if c == 2:
        out = {"accuracy": accuracy, "roc_auc": expected_auc(score[:, 1], expected[:, 1]),
               "precision": float(precision[1]) if n_pred[1] else None,
               "recall": float(recall[1]) if n_true[1] > 1e-12 else None,
               "f1": float(f1[1]) if n_pred[1] + n_true[1] > 1e-12 else None}
    else:
        present = (n_pred > 0) | (n_true >= 0.5)
        aucs = [expected_auc(score[:, k], expected[:, k]) for k in range(c) if 0.5 <= n_true[k] <= n - 0.5]
        aucs = [a for a in aucs if a is not None]
        out = {"accuracy": accuracy, "roc_auc": float(np.mean(aucs)) if aucs else None,
               "precision": float(precision[present].mean()), "recall": float(recall[present].mean()),
               "f1": float(f1[present].mean())}
    return {m: out[m] for m in CLASSIFICATION_METRICS}


def calibration_error(prob: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |mean probability - share of positives| over equal-width bins."""
    import numpy as np

    which = np.minimum((np.asarray(prob) * bins).astype(int), bins - 1)
    total = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, weights=prob, minlength=bins) - np.bincount(which, weights=outcome,
                                                                                 minlength=bins))
    return float(gap.sum() / max(total.sum(), 1))


class CBPE:
    """Confidence-based performance estimation (scikit-learn estimator contract).

    `fit(proba, pred, y)` on the reference holdout: the model's probabilities
    (n x c, columns in `classes_` order), predicted and true class indices (-1 for
    a label the model does not know). Then `estimate(proba, pred)` per chunk and
    `standard_error(n)` for the band at a chunk's size."""

    def __init__(self, calibrate: str = "auto", n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> None:
        self.calibrate = calibrate
        self.n_bootstrap = n_bootstrap
        self.seed = seed

    def fit(self, proba: Any, pred: Any, y: Any) -> CBPE:
        import numpy as np
        from sklearn.isotonic import IsotonicRegression

        if self.calibrate not in ("auto", "always", "never"):
            raise ValueError(f"calibrate must be auto, always or never, not {self.calibrate!r}")
        proba, pred, y = _proba(proba), np.asarray(pred, dtype=int), np.asarray(y, dtype=int)
        c = proba.shape[1]
        self.n_classes_ = c
        self.calibrators_: list[Any] = [None] * c
        self.calibration_: list[dict[str, Any]] = []
        for k in ([1] if c == 2 else range(c)):
            outcome = (y == k).astype(float)
            use, raw, cal = self._worth_calibrating(proba[:, k], outcome)
            if use:
                iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                self.calibrators_[k] = iso.fit(proba[:, k], outcome)
            self.calibration_.append({"class_index": k, "calibrated": use, "ece_raw": raw, "ece_calibrated": cal})
        self._reference = (proba, self.calibrated_proba(proba), pred, np.eye(c)[y] * (y >= 0)[:, None])
        self.reference_metrics_ = classification_metrics(proba, self._reference[3], pred)
        self._se: dict[int, dict[str, float | None]] = {}
        return self

    def _worth_calibrating(self, prob: np.ndarray, outcome: np.ndarray) -> tuple[bool, float | None, float | None]:
        """(calibrate?, out-of-fold ECE raw, out-of-fold ECE calibrated) for one class column."""
        import numpy as np
        from sklearn.isotonic import IsotonicRegression
        from sklearn.model_selection import StratifiedKFold

        if self.calibrate == "never":
            return False, None, None
        folds = 3
        if min(outcome.sum(), len(outcome) - outcome.sum()) < folds:
            return self.calibrate == "always", None, None
        oof = np.empty_like(prob)
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=self.seed).split(prob, outcome):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(prob[train], outcome[train])
            oof[test] = iso.predict(prob[test])
        raw, cal = calibration_error(prob, outcome), calibration_error(oof, outcome)
        return (self.calibrate == "always" or cal < raw), raw, cal

    def calibrated_proba(self, proba: Any) -> np.ndarray:
        """The calibrated probabilities (rows sum to one)."""
        import numpy as np

        proba = _proba(proba)
        out = proba.copy()
        if self.n_classes_ == 2:
            if self.calibrators_[1] is not None:
                out[:, 1] = self.calibrators_[1].predict(proba[:, 1])
                out[:, 0] = 1.0 - out[:, 1]
            return out
        for k, iso in enumerate(self.calibrators_):
            if iso is not None:
                out[:, k] = iso.predict(proba[:, k])
        total = out.sum(axis=1, keepdims=True)
        return np.where(total > 1e-12, out / np.where(total > 1e-12, total, 1.0), proba)

    def estimate(self, proba: Any, pred: Any) -> dict[str, float | None]:
        """Estimated metrics of one chunk from the model's probabilities and predictions alone."""
        import numpy as np

        proba = _proba(proba)
        return classification_metrics(proba, self.calibrated_proba(proba), np.asarray(pred, dtype=int))

    @staticmethod
    def realized(proba: Any, pred: Any, y: Any) -> dict[str, float | None]:
        """The same metrics from true class indices (-1: a label the model does not know)."""
        import numpy as np

        proba, y = _proba(proba), np.asarray(y, dtype=int)
        onehot = np.eye(proba.shape[1])[y] * (y >= 0)[:, None]
        return classification_metrics(proba, onehot, np.asarray(pred, dtype=int))

    def standard_error(self, n: int) -> dict[str, float | None]:
        """Standard error of each realized metric on `n` rows drawn from the reference holdout."""
        import numpy as np

        if n not in self._se:
            proba, _, pred, onehot = self._reference
            rng = np.random.default_rng(self.seed + n)
            draws: dict[str, list[float]] = {m: [] for m in CLASSIFICATION_METRICS}
            for _ in range(self.n_bootstrap):
                idx = rng.integers(0, len(pred), n)
                for m, v in classification_metrics(proba[idx], onehot[idx], pred[idx]).items():
                    if v is not None:
                        draws[m].append(v)
            self._se[n] = {m: float(np.std(v, ddof=1)) if len(v) > 1 else None for m, v in draws.items()}
        return self._se[n]


def _proba(proba: Any) -> np.ndarray:
    import numpy as np

    array = np.asarray(proba, dtype=float)
    if array.ndim == 1:
        array = np.column_stack([1.0 - array, array])
    return np.clip(np.nan_to_num(array, nan=0.0), 0.0, 1.0)


# --- regression: DLE ----------------------------------------------------------------------

class NannyInputs:
    """Numeric features for the nanny models: the monitored pipeline's own prepared inputs
    (all but its last step) when it has them, else numbers as they are and other columns
    as category codes learned on the reference."""

    MAX_COLUMNS = 500

    def fit(self, model: Any, frame: pd.DataFrame) -> NannyInputs:
        self.model_ = model
        self.use_pipeline_ = self._prepared(frame) is not None
        if not self.use_pipeline_:
            import pandas as pd

            self.numeric_ = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
                             and not pd.api.types.is_bool_dtype(frame[c])]
            self.categories_ = {c: {v: i for i, v in enumerate(sorted(frame[c].astype(str).unique()))}
                                for c in frame.columns if c not in self.numeric_}
        return self

    def _prepared(self, frame: pd.DataFrame) -> np.ndarray | None:
        import numpy as np
        from sklearn.pipeline import Pipeline

        if not isinstance(self.model_, Pipeline) or len(self.model_.steps) < 2:
            return None
        try:
            out = self.model_[:-1].transform(frame)
        except Exception:  # a preparation that cannot run alone: use the fallback
            return None
        if hasattr(out, "toarray"):
            if out.shape[1] > self.MAX_COLUMNS:
                return None
            out = out.toarray()
        try:
            return np.asarray(out, dtype=float)
        except (TypeError, ValueError):
            return None

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np
        import pandas as pd

        if self.use_pipeline_:
            out = self._prepared(frame)
            if out is None:
                raise UserError("the model's preparation step cannot transform the current data")
            return out
        columns = [pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) for c in self.numeric_]
        columns += [frame[c].astype(str).map(codes).fillna(-1).to_numpy(dtype=float)
                    for c, codes in self.categories_.items()]
        return np.column_stack(columns) if columns else np.zeros((len(frame), 0))


class DLE:
    """Direct loss estimation (scikit-learn estimator contract).

    `fit(features, pred, y)` on the reference holdout (numeric features, the
    model's predictions, the true values): two nanny models learn each row's
    absolute and squared error from the features and the prediction. Then
    `estimate(features, pred)` per chunk and `standard_error(n)`."""

    def __init__(self, max_iter: int = 100, learning_rate: float = 0.1, seed: int = 0) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.seed = seed

    def _nanny(self, X: np.ndarray, loss: np.ndarray) -> Any:
        """A nanny model of one loss; Poisson deviance (log link) keeps its predictions positive and
        follows errors that grow by a factor; a loss that is zero everywhere needs no model. No early
        stopping: on heavy-tailed squared errors a validation split stops it far too soon."""
        from sklearn.dummy import DummyRegressor
        from sklearn.ensemble import HistGradientBoostingRegressor

        n = len(loss)
        if float(loss.sum()) <= 0.0:
            return DummyRegressor(strategy="constant", constant=0.0).fit(X, loss)
        return HistGradientBoostingRegressor(
            loss="poisson", max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=15,
            min_samples_leaf=max(20, n // 100), l2_regularization=1.0, early_stopping=False,
            random_state=self.seed).fit(X, loss)

    def fit(self, features: Any, pred: Any, y: Any) -> DLE:
        import numpy as np

        X = _nanny_matrix(features, pred)
        error = np.asarray(y, dtype=float) - np.asarray(pred, dtype=float)
        self._abs, self._sq = np.abs(error), error ** 2
        with _one_thread():
            self.abs_model_ = self._nanny(X, self._abs)
            self.sq_model_ = self._nanny(X, self._sq)
        self.reference_metrics_ = {"mae": float(self._abs.mean()), "rmse": float(math.sqrt(self._sq.mean()))}
        return self

    def estimate(self, features: Any, pred: Any) -> dict[str, float | None]:
        import numpy as np

        X = _nanny_matrix(features, pred)
        with _one_thread():
            abs_error = np.clip(self.abs_model_.predict(X), 0.0, None)
            sq_error = np.clip(self.sq_model_.predict(X), 0.0, None)
        return {"mae": float(abs_error.mean()), "rmse": float(math.sqrt(sq_error.mean()))}

    @staticmethod
    def realized(pred: Any, y: Any) -> dict[str, float | None]:
        import numpy as np

        error = np.asarray(y, dtype=float) - np.asarray(pred, dtype=float)
        return {"mae": float(np.abs(error).mean()), "rmse": float(math.sqrt(np.mean(error ** 2)))}

    def standard_error(self, n: int) -> dict[str, float | None]:
        import numpy as np

        rmse = self.reference_metrics_["rmse"]
        se_mse = float(np.std(self._sq, ddof=1)) / math.sqrt(n)
        return {"mae": float(np.std(self._abs, ddof=1)) / math.sqrt(n),
                "rmse": se_mse / (2 * rmse) if rmse > 0 else 0.0}


def _one_thread() -> Any:
    """OpenMP on one thread for the small nanny models: on a busy machine its threads wait on
    each other (ten times slower on two loaded cores), and the models are too small to gain."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _nanny_matrix(features: Any, pred: Any) -> np.ndarray:
    import numpy as np

    return np.column_stack([np.asarray(features, dtype=float), np.asarray(pred, dtype=float)])


# --- the stage -------------------------------------------------------------------------------

@dataclass
class _Fitted:
    """A version's estimator fitted on its reference holdout, or why there is none."""

    reason: str | None
    method: str
    estimator: Any = None
    classes: list[Any] = field(default_factory=list)
    inputs: NannyInputs | None = None
    reference: dict[str, Any] = field(default_factory=dict)


class Estimates:
    """Estimated performance per chunk of current data, with bands, thresholds, alerts and the trigger."""

    def __init__(
        self,
        settings: dict[str, Any],
        events: Events,
        splits: Splits,
        registry: Registry,
        monitoring: Monitoring,
        jobs: Jobs,
    ) -> None:
        self.settings = settings
        self.events = events
        self.splits = splits
        self.registry = registry
        self.monitoring = monitoring
        self.jobs = jobs
        self._fitted: OrderedDict[tuple[int, str], _Fitted] = OrderedDict()
        self._lock = threading.Lock()  # the TUI estimates from worker threads

    def estimate(
        self,
        model_ref: str | ModelVersion,
        current: Any = None,
        *,
        window: str | None = None,
        last: int | None = None,
        chunk: int | None = None,
        metric: str | None = None,
        action: str = "alert",
    ) -> dict[str, Any]:
        """Estimate the model's performance per chunk of `current` data (see the module doc).

        `current`: None (the inputs logged for this version in `window`, default 24h, or its
        `last` N), a DataFrame, a dataset reference or a file path. `chunk`: rows per chunk
        (default 1,000, fewer for less traffic: `default_chunk`; a short remainder joins the chunk
        before it). `metric`: the one whose
        alert counts (default the model's primary metric when it is estimated, else f1 or rmse). `action`: "alert" only
        reports; "retrain" also queues a retraining job (trigger `estimated_performance`) when
        a chunk alerts. Returns {"model", "version", "metric", "judged", "chunks": [{"index",
        "start", "end", "rows", "first", "last", "labelled", "estimated", "lower", "upper",
        "realized", "alert", "realized_alert", "metrics": {metric: the same five and two}}],
        "thresholds", "caveat", ...}: the chunk's top-level values are those of `metric`;
        `realized` is None until a chunk has MIN_LABELLED labelled rows. `judged` is False,
        with a `reason` and no chunks, when it cannot estimate."""
        from mlcycle_tui.experiments.evaluation import primary_metric, primary_metric_of

        if action not in ACTIONS:
            raise UserError(f"unknown action {action!r}; use alert or retrain")
        if chunk is not None and int(chunk) < MIN_ROWS:
            raise UserError(f"--chunk {chunk} is too small: chunks need at least {MIN_ROWS} rows, below that the "
                            "sampling error swamps any change; give a larger --chunk")
        mv, win = self.monitoring.current_window(model_ref, current, window=window, last=last)
        names = CLASSIFICATION_METRICS if mv.task == "classification" else REGRESSION_METRICS
        if metric is None:  # the model's own primary metric when it is one this estimates, else the task's
            metric = primary_metric_of(mv) if primary_metric_of(mv) in names else primary_metric(mv.task)
        if metric not in names:
            raise UserError(f"{metric!r} is not estimated for {mv.task}; choose one of {', '.join(names)}")
        frame, labels, times = win["frame"], win["labels"], win.get("times")
        chunk = default_chunk(len(frame)) if chunk is None else int(chunk)
        doc: dict[str, Any] = {
            "model": mv.name, "version": mv.version, "task": mv.task,
            "method": "CBPE" if mv.task == "classification" else "DLE",
            "metric": metric, "metrics": list(names), "created": now_iso(), "source": win["source"],
            "rows": len(frame), "chunk_size": chunk, "judged": False, "verdict": CANNOT, "verdict_text": "",
            "reason": None, "reference": None, "thresholds": {}, "band": f"estimate +/- {BAND_Z:g} standard errors "
            "of the metric at the chunk's size (sampling error, from the reference holdout)",
            "chunks": [], "alert": False, "alerts": [], "caveat": CAVEAT, "assumption": "P(y|x) holds",
            "action": action, "trigger": TRIGGER, "job_id": None, "job_queued": False,
        }
        fitted = self.fitted(mv)
        doc["reference"] = fitted.reference or None
        min_rows = max(MIN_ROWS, int(self.monitoring.policy()["min_rows"]))
        reason = fitted.reason or (f"{len(frame)} current rows; needs {min_rows}: give a longer --window, more "
                                   "predictions (--last N) or a larger --current file" if len(frame) < min_rows
                                   else None)
        if reason is None:
            _, model = self.registry.load_model(mv)
            outputs = _outputs(mv.task, model, frame, fitted)
            reason = outputs if isinstance(outputs, str) else None
        if reason is not None:
            doc["reason"] = reason
            doc["verdict_text"] = f"{CANNOT}: {reason}"
            return doc
        doc["thresholds"] = self._thresholds(names, fitted.reference["metrics"])
        truth = _truth(mv.task, labels, fitted.classes)
        for index, (start, end) in enumerate(chunk_bounds(len(frame), chunk)):
            doc["chunks"].append(self._chunk(fitted, outputs, truth, times, index, start, end, doc["thresholds"],
                                             metric))
        doc["alerts"] = [{"chunk": c["index"], "metric": metric, "estimated": c["estimated"],
                          "threshold": doc["thresholds"][metric]["value"]} for c in doc["chunks"] if c["alert"]]
        doc.update(judged=True, alert=bool(doc["alerts"]), verdict="alert" if doc["alerts"] else "ok")
        doc["verdict_text"] = _verdict_text(doc)
        self._act(mv, doc)
        return doc

    # -- the reference ---------------------------------------------------------------------
    def fitted(self, ref: str | ModelVersion) -> _Fitted:
        """The version's estimator fitted on its reference holdout (kept for the life of the workspace
        object, per version), or the reason it cannot be fitted."""
        mv = self.registry.model_version(ref)
        key = (mv.id, mv.artifact_sha256)
        with self._lock:
            if key in self._fitted:
                self._fitted.move_to_end(key)
                return self._fitted[key]
        fitted = self._fit(mv)
        with self._lock:
            self._fitted[key] = fitted
            while len(self._fitted) > _CACHE_SIZE:
                self._fitted.popitem(last=False)
        return fitted

    def _fit(self, mv: ModelVersion) -> _Fitted:
        import numpy as np

        from mlcycle_tui.experiments import evaluation, overlap

        method = "CBPE" if mv.task == "classification" else "DLE"
        if mv.task not in ("classification", "regression"):
            return _Fitted(f"task {mv.task!r} has no estimation method", method)
        if not mv.split_id:
            return _Fitted(f"{mv.ref} records no test split, so there is no reference holdout to calibrate on; "
                           "register a model trained by mlcycle on a split", method)
        target = self.monitoring.target_of(mv)
        _, test_df = self.splits.frames(mv.split_id)
        if target not in test_df.columns:
            return _Fitted(f"the test split {mv.split_id} has no target column {target!r}", method)
        test_df = test_df[test_df[target].notna()].reset_index(drop=True)
        keep = overlap.unseen(test_df, [self.registry.training_keys(mv, test_df)])
        holdout = test_df[keep].reset_index(drop=True)
        ref: dict[str, Any] = {"split_id": mv.split_id, "rows": len(holdout), "test_rows": len(test_df),
                               "left_out": int(len(test_df) - len(holdout))}
        if len(holdout) < MIN_REFERENCE_ROWS:
            return _Fitted(f"the reference holdout (test split {mv.split_id}) has {len(holdout)} labelled rows the "
                           f"model did not train on; needs {MIN_REFERENCE_ROWS}. Train on a split with a larger "
                           "--test-size (or more data) and register that run", method, reference=ref)
        _, model = self.registry.load_model(mv)
        X, y = holdout.drop(columns=[target]), holdout[target]
        if mv.task == "classification":
            pred, proba, classes = evaluation.predictions(mv.task, model, X)
            if proba is None or not classes:
                return _Fitted(f"{mv.ref} ({mv.kind or 'this model'}) gives no class probabilities "
                               "(predict_proba), and CBPE estimates from them; use a classifier that has "
                               "predict_proba, or wait for feedback labels (`mlcycle monitor check`)", method,
                               reference=ref)
            y_idx = class_index(y, classes)
            if len(set(y_idx[y_idx >= 0].tolist())) < 2:
                return _Fitted("the reference holdout holds one class only; probabilities cannot be calibrated",
                               method, reference=ref)
            estimator = CBPE().fit(proba, class_index(pred, classes), y_idx)
            ref.update(metrics=estimator.reference_metrics_, classes=classes, calibration=estimator.calibration_)
            return _Fitted(None, method, estimator, classes=classes, reference=ref)
        import pandas as pd

        truth = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(truth)
        inputs = NannyInputs().fit(model, X)
        pred = np.asarray(model.predict(X), dtype=float)
        estimator = DLE().fit(inputs.transform(X)[ok], pred[ok], truth[ok])
        ref.update(metrics=estimator.reference_metrics_)
        return _Fitted(None, method, estimator, inputs=inputs, reference=ref)

    # -- per chunk -----------------------------------------------------------------------------
    def _thresholds(self, names: tuple[str, ...], reference: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Per metric: the gate's bound when one is set, else the reference value less the decay margin."""
        from mlcycle_tui.experiments.evaluation import higher_is_better

        gates = self.settings.get("gates") or {}
        margin = float(self.monitoring.policy()["decay_margin"])
        out: dict[str, dict[str, Any]] = {}
        for m in names:
            higher = higher_is_better(m)
            side = "min" if higher else "max"
            bound = (gates.get(side) or {}).get(m)
            ref = reference.get(m)
            if isinstance(bound, int | float) and not isinstance(bound, bool):
                value, source = float(bound), f"gates.{side}.{m}"
                text = f"{m} {'>=' if higher else '<='} {value:.4g} (gate {source})"
            elif ref is not None:
                value = ref - margin if higher else ref * (1 + margin)
                source = "policy.decay_margin"
                how = f"minus {margin:g}" if higher else f"plus {margin:.0%}"
                text = (f"{m} {'>=' if higher else '<='} {value:.4g}: the reference holdout's {ref:.4g} {how} "
                        "(policy.decay_margin; set gates.min/max in config.toml for a fixed bound)")
            else:
                out[m] = {"value": None, "direction": side, "source": None, "reference": None,
                          "text": f"no threshold: {m} is undefined on the reference holdout"}
                continue
            out[m] = {"value": value, "direction": side, "source": source, "reference": ref, "text": text}
        return out

    def _chunk(self, fitted: _Fitted, outputs: dict[str, Any], truth: np.ndarray | None, times: Any, index: int,
               start: int, end: int, thresholds: dict[str, dict[str, Any]], metric: str) -> dict[str, Any]:
        rows = slice(start, end)
        est = fitted.estimator
        if fitted.method == "CBPE":
            estimated = est.estimate(outputs["proba"][rows], outputs["pred"][rows])
        else:
            estimated = est.estimate(outputs["features"][rows], outputs["pred"][rows])
        se = est.standard_error(end - start)
        labelled = None if truth is None else _labelled(fitted.method, truth[rows])
        realized = None
        if labelled is not None and labelled.sum() >= MIN_LABELLED:
            if fitted.method == "CBPE":
                realized = est.realized(outputs["proba"][rows][labelled], outputs["pred"][rows][labelled],
                                        truth[rows][labelled])
            else:
                realized = est.realized(outputs["pred"][rows][labelled], truth[rows][labelled])
        per: dict[str, dict[str, Any]] = {}
        for m, value in estimated.items():
            thr = thresholds[m]
            lower = upper = None
            if value is not None and se.get(m) is not None:
                lower, upper = value - BAND_Z * se[m], value + BAND_Z * se[m]
                lower = max(lower, 0.0)
                upper = min(upper, 1.0) if fitted.method == "CBPE" else upper
            real = None if realized is None else realized[m]
            per[m] = {"estimated": value, "lower": lower, "upper": upper, "realized": real,
                      "alert": _crosses(value, thr), "realized_alert": None if real is None else _crosses(real, thr)}
        head = per[metric]
        return {"index": index, "start": start, "end": end, "rows": end - start,
                "first": _when(times, start), "last": _when(times, end - 1),
                "labelled": 0 if labelled is None else int(labelled.sum()), **head, "metrics": per}

    # -- the trigger -----------------------------------------------------------------------------
    def _act(self, mv: ModelVersion, doc: dict[str, Any]) -> None:
        """Log alerts; with action "retrain", queue one retraining job (none while one is open)."""
        if not doc["alert"]:
            return
        reason = _reason(mv, doc)
        if doc["action"] == "retrain":
            job = self.jobs.enqueue_retrain(mv.name, reason, trigger=TRIGGER)
            doc["job_id"], doc["job_queued"] = job["id"], job["queued"]
            tail = f"; retraining job {job['id']} {'queued' if job['queued'] else 'already open'}"
        else:
            tail = "; alert only (no retraining: use --queue to queue one)"
        self.events.log("alert", mv.ref, f"{TRIGGER}: {reason}{tail}")


def _crosses(value: float | None, threshold: dict[str, Any]) -> bool:
    if value is None or threshold["value"] is None:
        return False
    return bool(value < threshold["value"] if threshold["direction"] == "min" else value > threshold["value"])


def default_chunk(n: int) -> int:
    """Rows per chunk when none is asked for: DEFAULT_CHUNK, or fewer for less traffic, so that there
    are about five chunks to compare, in whole hundreds and never under MIN_ROWS."""
    return max(MIN_ROWS, min(DEFAULT_CHUNK, n // 5 // 100 * 100))


def chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """[start, end) of consecutive chunks of `size` rows; a remainder under half a chunk joins the one before."""
    if n <= size:
        return [(0, n)] if n else []
    bounds = [(s, min(s + size, n)) for s in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < size / 2:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def _norm_label(value: Any) -> str:
    """A label as text that 1, 1.0 and "1" share (JSON feedback may bring any of them)."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.number):
        v = float(value)
        return str(int(v)) if v.is_integer() else repr(v)
    text = str(value)
    try:
        v = float(text)
    except ValueError:
        return text
    return str(int(v)) if math.isfinite(v) and v.is_integer() else text


def class_index(labels: Any, classes: list[Any]) -> np.ndarray:
    """Index of each label in `classes` (-1: missing or not one of them)."""
    import numpy as np
    import pandas as pd

    lookup = {_norm_label(c): i for i, c in enumerate(classes)}
    return np.array([-1 if v is None or (not isinstance(v, str) and pd.isna(v)) else lookup.get(_norm_label(v), -1)
                     for v in np.asarray(labels, dtype=object).ravel()], dtype=int)


def _outputs(task: str, model: Any, frame: pd.DataFrame, fitted: _Fitted) -> dict[str, Any] | str:
    """The model's outputs on the current rows, or why they cannot be had."""
    import numpy as np

    from mlcycle_tui.experiments import evaluation

    try:
        pred, proba, _ = evaluation.predictions(task, model, frame)
    except (KeyError, ValueError, TypeError) as exc:
        return f"the model cannot score the current data ({exc})"
    if task == "classification":
        if proba is None:
            return "the model gives no class probabilities (predict_proba) on the current data"
        return {"pred": class_index(pred, fitted.classes), "proba": _proba(proba)}
    assert fitted.inputs is not None
    return {"pred": np.asarray(pred, dtype=float), "features": fitted.inputs.transform(frame)}


def _truth(task: str, labels: Any, classes: list[Any]) -> np.ndarray | None:
    """True labels aligned with the current rows (class index, -2 where unlabelled; or floats, NaN), or None."""
    import pandas as pd

    if labels is None:
        return None
    series = pd.Series(labels).reset_index(drop=True)
    if task == "classification":
        idx = class_index(series, classes)
        idx[series.isna().to_numpy()] = -2
        return idx
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _labelled(method: str, truth: np.ndarray) -> np.ndarray:
    import numpy as np

    return truth > -2 if method == "CBPE" else np.isfinite(truth)


def _when(times: Any, i: int) -> str | None:
    if times is None or i < 0 or i >= len(times):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(float(times[i]))) + "Z"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _verdict_text(doc: dict[str, Any]) -> str:
    m, n = doc["metric"], len(doc["chunks"])
    thr = doc["thresholds"][m]
    if doc["alerts"]:
        worst = min(doc["alerts"], key=lambda a: a["estimated"]) if thr["direction"] == "min" else \
            max(doc["alerts"], key=lambda a: a["estimated"])
        return (f"ALERT: estimated {m} crosses {_fmt(thr['value'])} in {len(doc['alerts'])} of {n} chunks "
                f"(worst {_fmt(worst['estimated'])}, chunk {worst['chunk']})")
    values = [c["estimated"] for c in doc["chunks"] if c["estimated"] is not None]
    span = f"{_fmt(min(values))}-{_fmt(max(values))}" if values else "n/a"
    return f"estimated {m} {span} in {n} chunks, within the threshold {_fmt(thr['value'])}"


def _reason(mv: ModelVersion, doc: dict[str, Any]) -> str:
    m = doc["metric"]
    thr = doc["thresholds"][m]
    latest = doc["alerts"][-1]
    return (f"{doc['method']} estimate of {mv.ref}: {m} {_fmt(latest['estimated'])} in chunk {latest['chunk']} "
            f"crosses {_fmt(thr['value'])} ({thr['source']}), {len(doc['alerts'])} of {len(doc['chunks'])} chunks "
            f"of {doc['source']}")

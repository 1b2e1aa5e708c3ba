"""Monitoring: drift checks of a deployed model against its training data, and the policy.

Why this exists: MLflow records what was trained; mlcycle also watches what
the model sees afterwards and acts on it. A check compares a current window
(by default the inputs the server logged for that model version in the last
24 hours)
with reference statistics prepared once, when the version was registered
(training rows of its split, its signature columns, its predictions on the
test rows). It reports per-column drift, prediction drift, unseen categories
and missing-share changes and, when true labels came back as feedback, the
real metrics of the window against the version's recorded metrics (decay).
Every report is stored with its verdict: "drift", "decay", "no drift" or
"not enough data". A check cannot judge when the window has fewer than
`min_rows` rows or when no column (nor the predictions) had enough values to
compare; such a check is stored and logged, but never replaces the last real
verdict (`monitoring_status`, the persistence count) and never acts. Current
data without the model's input columns is refused (a schema error), not
checked. The policy then decides whether to queue a retraining job (see
`loop/jobs.py`).

Policy (the "policy" section of config.toml; defaults in `config.DEFAULTS`):
- enough data: a window with fewer than `min_rows` (20) rows gets the verdict
  "not enough data (N rows; needs 20)" instead of a drift verdict;
- drift: share of drifted input columns >= `drift_share` (0.5), or the
  predictions drifted;
- persistence: drift must be seen in `persistence_k` of the last
  `persistence_m` checks of the same version (1 of 1: act on the first);
- decay: the primary metric (f1 or rmse) on labelled feedback is worse than
  the version's recorded test metric by more than `decay_margin` (0.05;
  absolute for scores such as f1, relative for errors such as rmse), judged
  once at least `MIN_LABELLED` labelled rows are in the window; decay acts at
  once, without persistence;
- then one retraining job per model is queued (none while one is open).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import MlcycleError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.common.words import plural
from mlcycle_tui.config import parse_duration
from mlcycle_tui.monitoring.policy import monitoring_policy

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.data.splits import Splits
    from mlcycle_tui.data.versions import Data
    from mlcycle_tui.events import Events
    from mlcycle_tui.loop.jobs import Jobs
    from mlcycle_tui.monitoring.drift import Reference
    from mlcycle_tui.predictions.log import PredictionLog
    from mlcycle_tui.registry.versions import ModelVersion, Registry
    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database

DEFAULT_WINDOW = "24h"
MIN_LABELLED = 20  # labelled rows needed before a metric drop counts as decay
ACTIONS = ("retrain", "alert")
NOT_JUDGED = "not enough data"  # the verdict of a check that could not judge
META_COLUMNS = ("_prediction", "_time", "_version", "_id", "_label")


class Monitoring:
    """Workspace methods for drift references, checks, reports and the policy (see `Workspace`)."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        settings: dict[str, Any],
        events: Events,
        data: Data,
        splits: Splits,
        registry: Registry,
        predictions: PredictionLog,
        jobs: Jobs,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.settings = settings
        self.events = events
        self.data = data
        self.splits = splits
        self.registry = registry
        self.predictions = predictions
        self.jobs = jobs

    # -- references ----------------------------------------------------------
    def on_register(self, mv: ModelVersion) -> None:
        """Called by the registry for each new version: prepare its drift reference right away."""
        try:
            self.prepare_drift_reference(mv)
        except Exception as exc:  # registration succeeded; the first check prepares it again
            self.events.log("monitor", mv.ref, f"drift reference not prepared yet: {exc}")

    def prepare_drift_reference(self, ref: str | ModelVersion) -> Reference:
        """Summarise the version's training rows, signature columns and test predictions; store it."""
        from mlcycle_tui.monitoring import drift

        mv = self.registry.model_version(ref)
        if not mv.split_id:
            raise UserError(f"{mv.ref} records no training split; it has no reference data for drift checks")
        train_df, test_df = self.splits.frames(mv.split_id)
        columns = [dict(c) for c in mv.signature.get("inputs", [])]
        if not columns:
            columns = drift.infer_columns(train_df.drop(columns=[self.target_of(mv)], errors="ignore"))
        target = self.target_of(mv)
        predictions = None
        if target in test_df.columns:
            test_df = test_df[test_df[target].notna()]
        if len(test_df):
            _, model = self.registry.load_model(mv)
            predictions = model.predict(test_df.drop(columns=[target], errors="ignore"))
        reference = drift.prepare_reference(train_df, columns, predictions)
        sha, rel = self.artifacts.put_joblib(reference)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO drift_references(model, version, artifact_sha256, artifact_path, rows, created)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(model, version) DO UPDATE SET"
                " artifact_sha256 = excluded.artifact_sha256, artifact_path = excluded.artifact_path,"
                " rows = excluded.rows, created = excluded.created",
                (mv.name, mv.version, sha, rel, len(train_df), now_iso()),
            )
        return reference

    def drift_reference(self, ref: str | ModelVersion) -> tuple[ModelVersion, Reference]:
        """The version and its prepared reference (prepared now for versions registered before)."""
        mv = self.registry.model_version(ref)
        row = self.db.query_one(
            "SELECT artifact_sha256, artifact_path FROM drift_references WHERE model = ? AND version = ?",
            (mv.name, mv.version),
        )
        if row is None:
            return mv, self.prepare_drift_reference(mv)
        return mv, self.artifacts.load_joblib(row["artifact_sha256"], row["artifact_path"])

    def target_of(self, mv: ModelVersion) -> str:
        """The name of the version's target column ("" when none is recorded)."""
        target = mv.recipe.get("target")
        if target:
            return str(target)
        if mv.dataset_version_id is not None:
            return self.data.dataset_by_id(mv.dataset_version_id).target or ""
        return ""

    def importances(self, mv: ModelVersion) -> dict[str, float]:
        """{input column: permutation importance} that the version's run measured ({} for older runs)."""
        import json

        from mlcycle_tui.experiments.explain import IMPORTANCES_ARTIFACT

        row = self.db.query_one(
            "SELECT artifact_sha256, artifact_path FROM run_artifacts WHERE run_id = ? AND name = ?",
            (mv.run_id, IMPORTANCES_ARTIFACT))
        if row is None:
            return {}
        try:
            rows = json.loads(self.artifacts.load_bytes(row["artifact_sha256"], row["artifact_path"]))
        except (OSError, ValueError, MlcycleError):
            return {}
        return {str(r["feature"]): float(r["importance"]) for r in rows
                if isinstance(r, dict) and isinstance(r.get("importance"), int | float)}

    def policy(self) -> dict[str, Any]:
        """The monitoring policy: settings with their defaults, checked."""
        return monitoring_policy(self.settings)

    # -- the check -------------------------------------------------------------
    def check_drift(
        self,
        model_ref: str | ModelVersion,
        current: Any = None,
        *,
        window: str | None = None,
        last: int | None = None,
        method: str = "auto",
        action: str = "retrain",
        schedule: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Check a model's current inputs against its training data; store the report; apply the policy.

        `current`: None (the inputs logged for this version in `window`,
        default 24h, or its `last` N predictions), a DataFrame, a dataset reference or
        a file path. `action`: "retrain" queues a retraining job when the
        policy says so, "alert" only records and logs it.
        """
        from mlcycle_tui.experiments.evaluation import primary_metric_of
        from mlcycle_tui.monitoring import drift

        if method not in drift.METHODS:
            raise UserError(f"unknown drift method {method!r}; choose one of {', '.join(drift.METHODS)}")
        if action not in ACTIONS:
            raise UserError(f"unknown action {action!r}; use retrain or alert")
        mv, reference = self.drift_reference(model_ref)
        pol = self.policy()
        window_doc = self._current_window(mv, current, window, last)
        frame, predictions, labels = window_doc.pop("frame"), window_doc.pop("predictions"), window_doc.pop("labels")
        window_doc.pop("times")
        _check_schema(mv, [c["name"] for c in reference.columns], frame, window_doc["source"])
        if len(frame) < pol["min_rows"]:
            # too few rows to judge anything: no statistics (they would all read 0), no verdict
            core = {"drift": False, "share_drifted": None, "drift_share": float(pol["drift_share"]),
                    "n_columns": 0, "n_drifted": 0, "columns": [], "prediction_drift": None}
            performance = None
            not_judged = f"{plural(len(frame), 'row')}; needs {pol['min_rows']}"
        else:
            core = drift.check_drift(reference, frame, method=method, drift_share=pol["drift_share"],
                                     current_predictions=predictions)
            performance = self._performance(mv, predictions, labels, pol["decay_margin"])
            not_judged = _why_not_judged(core)
        pred = core["prediction_drift"]
        data_drift = bool(core["drift"])
        prediction_drift = bool(pred and pred["drifted"])
        decay = bool(performance and performance["decay"])
        if not_judged and decay:
            not_judged = None  # the labels judged it: decay is a real verdict
        if not_judged:
            core["share_drifted"] = None
        verdict = "drift" if data_drift or prediction_drift else "decay" if decay else "no drift"
        weights = self.importances(mv)
        for col in core["columns"]:
            col["importance"] = weights.get(col["column"])
        drifted = [c for c in core["columns"] if c["drifted"]]
        # drift in a column the model relies on first (permutation importance of its run), then the rest
        drifted.sort(key=lambda c: -(c["importance"] if c["importance"] is not None else float("-inf")))
        report: dict[str, Any] = {
            "report_id": None,
            "model": mv.name,
            "version": mv.version,
            "created": now_iso(),
            "source": window_doc["source"],
            "window": window_doc,
            "rows": len(frame),
            "method": method,
            "verdict": NOT_JUDGED if not_judged else verdict,
            "judged": not not_judged,
            "verdict_text": "",
            "drift": data_drift or prediction_drift,
            "data_drift": data_drift,
            "prediction_drift": prediction_drift,
            "share_drifted": core["share_drifted"],
            "drift_share": core["drift_share"],
            "n_columns": core["n_columns"],
            "n_drifted": core["n_drifted"],
            "drifted_columns": [c["column"] for c in drifted],
            "columns": core["columns"],
            "prediction": pred,
            "new_categories": {c["column"]: c["new_categories"] for c in core["columns"] if c["new_categories"]},
            "missing_changed": [c["column"] for c in core["columns"] if c.get("missing_changed")],
            "performance": performance,
            "primary_metric": primary_metric_of(mv),
            "decay": decay,
            "policy": {k: pol[k] for k in ("drift_share", "persistence_k", "persistence_m", "decay_margin",
                                           "min_rows")},
            "action": action,
            "schedule": schedule,
            "job_id": None,
            "job_queued": False,
        }
        report["verdict_text"] = f"{NOT_JUDGED} ({not_judged})" if not_judged else _verdict_text(report)
        self._apply_policy(mv, report, pol)
        return report

    def current_window(
        self, model_ref: str | ModelVersion, current: Any = None, *, window: str | None = None,
        last: int | None = None,
    ) -> tuple[ModelVersion, dict[str, Any]]:
        """The version and the current data a check reads, as `check_drift` takes it: {"frame" (the
        model's input columns), "predictions", "labels" (or None), "times" (epoch seconds of logged
        rows, or None), "source", ...}. Data without the model's input columns is refused."""
        mv = self.registry.model_version(model_ref)
        doc = self._current_window(mv, current, window, last)
        _check_schema(mv, [c["name"] for c in mv.signature.get("inputs", [])], doc["frame"], doc["source"])
        return mv, doc

    def _current_window(
        self, mv: ModelVersion, current: Any, window: str | None, last: int | None
    ) -> dict[str, Any]:
        """The current data as {"frame", "predictions", "labels", "times", "source", ...}."""
        import pandas as pd

        if current is None:
            return self._logged_window(mv, window, last)
        if window is not None or last is not None:
            raise UserError("--window and --last select logged predictions; do not combine them with --current")
        if isinstance(current, pd.DataFrame):
            frame, source = current, "dataframe"
        elif isinstance(current, str | Path) and _looks_like_path(current):
            from mlcycle_tui.data.readers import read_table

            frame, source = read_table(current), f"file {current}"
        elif isinstance(current, str):
            ds = self.data.dataset(current)
            frame, source = self.data.load_frame(ds), f"dataset {ds.ref}"
        else:
            raise UserError("current data must be a DataFrame, a dataset reference or a file path")
        if len(frame) == 0:
            raise UserError(f"the current data ({source}) has no rows")
        frame = frame.reset_index(drop=True)
        target = self.target_of(mv)
        labels = frame[target] if target and target in frame.columns else None
        if "_prediction" in frame.columns:
            predictions = frame["_prediction"].to_numpy()
        else:
            predictions = self._predict_quietly(mv, frame.drop(columns=[target], errors="ignore"))
        inputs = frame.drop(columns=[c for c in (target, *META_COLUMNS) if c and c in frame.columns])
        return {"frame": inputs, "predictions": predictions, "labels": labels, "times": None, "source": source,
                "since": None, "last": None}

    def _logged_window(self, mv: ModelVersion, window: str | None, last: int | None) -> dict[str, Any]:
        """Inputs, predictions and labels the server logged for this version (not for earlier ones:
        a freshly promoted version may have been trained on them)."""
        if window is not None and last is not None:
            raise UserError("give --window or --last, not both")
        since = None
        if last is None:
            window = window or DEFAULT_WINDOW
            since = time.time() - parse_duration(window)
        span = f"in the last {window}" if last is None else "yet"
        logged = self.predictions.frame(mv.name, since=since, last=last, version=mv.version)
        if logged.empty:
            others = self.predictions.count(mv.name, since=since)
            if others:
                raise UserError(
                    f"no logged predictions for {mv.ref} {span} ({others} for other versions of {mv.name}); "
                    "send traffic to it or use --current"
                )
            raise UserError(f"no logged predictions for model {mv.name} {span}; send traffic or use --current")
        labels = None
        labelled = self.predictions.frame(mv.name, since=since, version=mv.version, with_feedback=True)
        if len(labelled):
            by_id = dict(zip(labelled["_id"], labelled["_label"], strict=True))
            labels = logged["_id"].map(by_id).reset_index(drop=True)
        inputs = logged.drop(columns=[c for c in META_COLUMNS if c in logged.columns])
        source = f"logged predictions, last {last}" if last is not None else f"logged predictions, last {window}"
        return {"frame": inputs, "predictions": logged["_prediction"].to_numpy(), "labels": labels,
                "times": logged["_time"].to_numpy(dtype=float), "source": source, "since": since, "last": last,
                "first": float(logged["_time"].min()), "newest": float(logged["_time"].max())}

    def _predict_quietly(self, mv: ModelVersion, frame: pd.DataFrame) -> Any:
        """The model's predictions on a frame, or None if the frame does not fit its signature."""
        needed = [c["name"] for c in mv.signature.get("inputs", [])]
        if any(c not in frame.columns for c in needed):
            return None
        try:
            _, model = self.registry.load_model(mv)
            return model.predict(frame)
        except Exception:  # a frame the model cannot score: input drift is still checked
            return None

    def _performance(self, mv: ModelVersion, predictions: Any, labels: Any, margin: float) -> dict | None:
        """Real metrics on the labelled rows of the window, against the version's test metrics."""
        import numpy as np
        import pandas as pd

        from mlcycle_tui.experiments import evaluation

        if predictions is None or labels is None:
            return None
        labels = pd.Series(labels).reset_index(drop=True)
        preds = pd.Series(np.asarray(predictions, dtype=object).ravel())
        keep = labels.notna().to_numpy()
        if not keep.any():
            return None
        try:
            metrics = evaluation.flat_metrics(
                evaluation.evaluate(mv.task, labels[keep].tolist(), preds[keep].tolist(), curves=False,
                                    positive=mv.recipe.get("positive_class"))
            )
        except (UserError, ValueError, TypeError) as exc:
            return {"rows": int(keep.sum()), "decay": False, "message": f"metrics not computed: {exc}"}
        metric = evaluation.primary_metric_of(mv)  # the run's --metric
        if metrics.get(metric) is None:  # a probability metric (roc_auc, ...): the log holds labels only
            metric = evaluation.primary_metric(mv.task)
        now_value, recorded = metrics.get(metric), mv.metrics.get(metric)
        decay, message = False, f"{metric} on {int(keep.sum())} labelled rows"
        if now_value is None or recorded is None:
            message += ": not comparable with the recorded test metric"
        elif evaluation.higher_is_better(metric):
            decay = now_value < recorded - margin
            message += f" {now_value:.4g} vs {recorded:.4g} at registration (decay below {recorded - margin:.4g})"
        else:
            limit = recorded * (1 + margin)
            decay = now_value > limit
            message += f" {now_value:.4g} vs {recorded:.4g} at registration (decay above {limit:.4g})"
        if keep.sum() < MIN_LABELLED:
            decay = False
            message += f"; fewer than {MIN_LABELLED} labelled rows, decay not judged"
        return {"rows": int(keep.sum()), "metric": metric, "current": now_value, "reference": recorded,
                "margin": margin, "decay": bool(decay), "metrics": metrics, "message": message}

    # -- the policy ------------------------------------------------------------
    def _apply_policy(self, mv: ModelVersion, report: dict[str, Any], pol: dict[str, Any]) -> None:
        """Store the report; when drift persisted or decay was found, queue one retraining job.

        Only judged checks count towards persistence: a check with not enough data neither
        breaks nor extends a run of drifted checks (it is stored, but never acts)."""
        k, m = pol["persistence_k"], pol["persistence_m"]
        schedule_id = (report.get("schedule") or {}).get("id")
        with self.db.transaction() as conn:
            previous = [
                r[0] for r in conn.execute(
                    "SELECT drift FROM drift_reports WHERE model = ? AND version = ? AND verdict != ?"
                    " ORDER BY id DESC LIMIT ?",
                    (mv.name, mv.version, NOT_JUDGED, m - 1),
                )
            ] if m > 1 else []
            seen = int(report["drift"]) + sum(previous)
            persistent = report["drift"] and seen >= k
            report["persistence"] = {"k": k, "m": m, "drift_in_last_m": seen, "persistent": bool(persistent)}
            report["alarm"] = bool(persistent or report["decay"])
            cur = conn.execute(
                "INSERT INTO drift_reports(model, version, time, created, source, rows, method, drift,"
                " share_drifted, prediction_drift, decay, alarm, schedule_id, verdict, report_json)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?, '{}')",
                (mv.name, mv.version, time.time(), report["created"], report["source"], report["rows"],
                 report["method"], int(report["drift"]), report["share_drifted"] or 0.0,
                 int(report["prediction_drift"]), int(report["decay"]), int(report["alarm"]), schedule_id,
                 report["verdict"]),
            )
            report["report_id"] = int(cur.lastrowid)
            if report["alarm"] and report["action"] == "retrain":
                trigger = "drift" if report["drift"] else "decay"
                job = self.jobs.enqueue_retrain(mv.name, _reason(report), report_id=report["report_id"],
                                                trigger=trigger)
                report["job_id"], report["job_queued"] = job["id"], job["queued"]
            conn.execute(
                "UPDATE drift_reports SET job_id = ?, report_json = ? WHERE id = ?",
                (report["job_id"], json.dumps(report, default=str), report["report_id"]),
            )
            self.events.log(*_event(report))

    # -- reports -----------------------------------------------------------------
    def drift_reports(
        self, model: str | None = None, limit: int = 50, *, judged: bool = False
    ) -> list[dict[str, Any]]:
        """Past reports, newest first (summaries; `drift_report(id)` has the columns).

        Each has its `verdict`; checks with "not enough data" have no `share_drifted`.
        `judged=True` leaves them out (the reports whose verdict stands)."""
        name = None
        if model is not None:
            name = self.registry.model_version(model).name if "@" in model else model
        rows = self.db.query(
            "SELECT id, model, version, created, source, rows, method, verdict, drift, share_drifted,"
            " prediction_drift, decay, alarm, schedule_id, job_id FROM drift_reports"
            " WHERE (? IS NULL OR model = ?) AND (? = 0 OR verdict != ?) ORDER BY id DESC LIMIT ?",
            (name, name, int(judged), NOT_JUDGED, int(limit)),
        )
        for r in rows:
            r["report_id"] = r.pop("id")
            for key in ("drift", "prediction_drift", "decay", "alarm"):
                r[key] = bool(r[key])
            if r["verdict"] == NOT_JUDGED:
                r["share_drifted"] = None
        return rows

    def drift_report(self, report_id: int) -> dict[str, Any]:
        row = self.db.query_one("SELECT verdict, report_json FROM drift_reports WHERE id = ?", (int(report_id),))
        if row is None:
            from mlcycle_tui.common.errors import NotFoundError

            raise NotFoundError(f"no drift report {report_id}; list them with `mlcycle monitor reports`")
        report = json.loads(row["report_json"])
        if "verdict" not in report:  # stored before verdicts were: the column has it (see the migration)
            report["verdict"] = row["verdict"]
            report["judged"] = row["verdict"] != NOT_JUDGED
            report["verdict_text"] = row["verdict"] if report["judged"] else f"{NOT_JUDGED} (no column was judged)"
        return report

    def drift_histogram(
        self, model_ref: str, column: str, current: Any = None, *, window: str | None = None,
        last: int | None = None, bins: int = 20,
    ) -> dict[str, Any]:
        """Reference vs current distribution of one column (or "prediction"), for a plot."""
        from mlcycle_tui.monitoring import drift

        mv, reference = self.drift_reference(model_ref)
        doc = self._current_window(mv, current, window, last)
        if column == drift.PREDICTION:
            if doc["predictions"] is None:
                raise UserError(f"no predictions of {mv.ref} in the current window")
            return drift.histogram_pair(reference, doc["predictions"], column, bins)
        try:
            return drift.histogram_pair(reference, doc["frame"], column, bins)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    def status(self) -> list[dict[str, Any]]:
        """One row per model: production version, last check, open job (for the TUI).

        `last_check`, `verdict`, `drift`, `share_drifted` and `decay` are those of the last check that
        could judge; `newest_check` is the newest check of any verdict (it may have had not enough data)."""
        out = []
        for m in self.registry.models():
            last = self.db.query_one(
                "SELECT id, version, created, verdict, drift, share_drifted, decay, alarm FROM drift_reports"
                " WHERE model = ? AND verdict != ? ORDER BY id DESC LIMIT 1", (m["name"], NOT_JUDGED))
            newest = self.db.query_one(
                "SELECT id AS report_id, version, created, rows, verdict,"
                " json_extract(report_json, '$.verdict_text') AS verdict_text FROM drift_reports"
                " WHERE model = ? ORDER BY id DESC LIMIT 1", (m["name"],))
            if newest is not None and not newest["verdict_text"]:
                newest["verdict_text"] = newest["verdict"]
            job = self.db.query_one(
                "SELECT id, status FROM jobs WHERE model = ? AND status IN ('queued','running','awaiting_approval')"
                " ORDER BY id DESC LIMIT 1", (m["name"],))
            out.append({
                "model": m["name"], "production": m["production"], "latest": m["latest"],
                "last_check": last["created"] if last else None,
                "last_report_id": last["id"] if last else None,
                "verdict": last["verdict"] if last else None,
                "drift": bool(last["drift"]) if last else None,
                "share_drifted": last["share_drifted"] if last else None,
                "decay": bool(last["decay"]) if last else None,
                "newest_check": newest,
                "open_job": job,
                "predictions_24h": self.predictions.count(m["name"], since=time.time() - 86400),
            })
        return out

    def artifact_tables(self) -> list[tuple[str, str]]:
        """(table, owner expression) of this stage's tables that point at artifacts, for `doctor()`."""
        return [("drift_references", "'drift reference ' || model || '@' || version")]


def _looks_like_path(value: str | Path) -> bool:
    if isinstance(value, Path):
        return True
    return "/" in value or "\\" in value or Path(value).suffix.lower() in (
        ".csv", ".parquet", ".pq", ".jsonl", ".json", ".ndjson", ".sqlite", ".db", ".tsv", ".txt"
    ) or Path(value).exists()


def _check_schema(mv: ModelVersion, needed: list[str], frame: pd.DataFrame, source: str) -> None:
    """Refuse current data that lacks input columns of the model: it cannot be compared, only misread."""
    missing = [c for c in needed if c not in frame.columns]
    if not missing:
        return
    have = [str(c) for c in frame.columns]
    what = "none" if len(missing) == len(needed) else f"{len(missing)} missing"
    raise UserError(
        f"the current data ({source}) does not have the input columns of {mv.ref} ({what} of "
        f"{len(needed)}): missing {_names(missing)}; it has {_names(have) if have else 'no columns'}. "
        "Give a file or dataset with the model's input columns (as in its training data), "
        "or leave out --current to check the predictions logged for it",
        code="schema_mismatch",
    )


def _names(names: list[str], shown: int = 10) -> str:
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _why_not_judged(core: dict[str, Any]) -> str | None:
    """Why a check with enough rows still cannot judge (no column nor the predictions compared), or None."""
    pred = core["prediction_drift"]
    if core["n_columns"] or (pred and pred["verdict"] in ("drift", "ok")):
        return None
    columns = core["columns"]
    few = sum(1 for c in columns if c["verdict"] == "insufficient data")
    skipped = len(columns) - few
    parts = [f"{few} with too few values"] if few else []
    parts += [f"{skipped} not checked"] if skipped else []
    return "no column could be judged" + (f": {', '.join(parts)}" if parts else "")


def _verdict_text(report: dict[str, Any]) -> str:
    """A judged check in a few words: "drift in 5/7 columns", "no drift in 7 columns", "decay"."""
    parts = []
    if report["data_drift"]:
        parts.append(f"drift in {report['n_drifted']}/{report['n_columns']} columns")
    if report["prediction_drift"]:
        parts.append("prediction drift")
    if not parts:
        if report["n_columns"] and report["n_drifted"]:  # some drifted, fewer than the policy's share
            parts.append(f"no dataset drift: {report['n_drifted']} of {plural(report['n_columns'], 'column')} "
                         "drifted, under the policy's share")
        elif report["n_columns"]:
            parts.append(f"no drift in {plural(report['n_columns'], 'column')}")
        else:
            parts.append("no prediction drift (no input column judged)")
    if report["decay"]:
        parts.append("decay")
    return ", ".join(parts)


def _reason(report: dict[str, Any]) -> str:
    parts = []
    if report["data_drift"]:
        parts.append(f"drift in {report['n_drifted']}/{report['n_columns']} columns "
                     f"({', '.join(report['drifted_columns'][:5])})")
    if report["prediction_drift"]:
        parts.append("prediction drift")
    if report["decay"]:
        perf = report["performance"]
        parts.append(f"decay: {perf['metric']} {perf['current']:.4g} vs {perf['reference']:.4g}")
    return f"report {report['report_id']}: " + "; ".join(parts or ["alarm"])


def _event(report: dict[str, Any]) -> tuple[str, str, str]:
    subject = f"{report['model']}@{report['version']}"
    head = f"check {report['report_id']} on {report['rows']} rows ({report['source']}): "
    if not report["judged"]:
        return "check", subject, head + f"{report['verdict_text']}; the last verdict stands"
    if not report["drift"] and not report["decay"]:
        return "check", subject, head + f"no drift (share {report['share_drifted']:.2f})"
    text = head + _reason(report).split(": ", 1)[1]
    if report["job_queued"]:
        text += f"; retraining job {report['job_id']} queued"
    elif report["job_id"] is not None:
        text += f"; retraining job {report['job_id']} already open"
    elif report["alarm"] and report["action"] == "alert":
        text += "; alert only (no retraining)"
    elif not report["alarm"]:
        p = report["persistence"]
        text += f"; seen in {p['drift_in_last_m']} of the last {p['m']} checks, {p['k']} needed"
    kind = "alert" if report["action"] == "alert" and report["alarm"] else "drift"
    return kind, subject, text

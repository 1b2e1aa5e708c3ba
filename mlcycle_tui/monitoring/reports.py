"""Reports: self-contained HTML for a drift check, an evaluation and a model card.

Why this exists: the people who decide about a model read a page, not a JSON
document. `mlcycle report drift|evaluation|model`, `mlcycle monitor report ID
--out FILE.html`, the TUI and the Python API all call this stage, which
gathers what the other stages already return (a stored drift report and its
histograms, an evaluation with slices and fairness, the registry's gates and
alias history, a run's recipe) and renders one HTML file that needs nothing
else: no script, no network, charts as inline SVG (see `report_html`).

    rep = ws.reports.drift(report_id, out="drift.html")   # a stored check
    rep = ws.reports.drift_check("churn", current="new.csv", out="drift.html")
    rep = ws.reports.evaluation("churn", slice_column="region", sensitive="sex", out="eval.html")
    rep = ws.reports.model("churn@production", out="card.html")
    rep.html, rep.path, rep.headline

The histograms of a stored check are drawn from the same current rows the
check read: a dataset version (immutable), the logged predictions between the
first and the newest row it saw, or its file read again; a DataFrame passed in
Python is not kept, so its report shows the statistics without histograms
(pass the same frame as `current=` to get them).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.common.timeutil import now_iso

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.data.splits import Splits
    from mlcycle_tui.data.versions import Data
    from mlcycle_tui.experiments.evaluate import Evaluation
    from mlcycle_tui.experiments.tracking import Tracking
    from mlcycle_tui.monitoring.checks import Monitoring
    from mlcycle_tui.monitoring.estimate import Estimates
    from mlcycle_tui.predictions.log import PredictionLog
    from mlcycle_tui.registry.versions import ModelVersion, Registry
    from mlcycle_tui.storage.artifacts import ArtifactStore

KINDS = ("drift", "evaluation", "model")
# run artifacts read as feature importances, first found wins: {column: value}, or a list of
# {"feature"|"column"|"name": ..., "importance"|"importance_mean"|"mean"|"value": ...}, possibly under
# an "importances" or "features" key
IMPORTANCE_ARTIFACTS = ("importances.json", "importance.json", "feature_importances.json",
                        "permutation_importance.json")
HISTOGRAM_BINS = 20


@dataclass
class Report:
    """A rendered report: its HTML, where it was written (None: not written), and its verdict in words."""

    kind: str
    title: str
    headline: str
    html: str = field(repr=False)
    path: Path | None = None
    subject: str = ""
    report_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return len(self.html.encode("utf-8"))

    def summary(self) -> dict[str, Any]:
        """What the CLI prints with --json."""
        return {"path": None if self.path is None else str(self.path), "kind": self.kind, "title": self.title,
                "subject": self.subject, "headline": self.headline, "bytes": self.bytes,
                "report_id": self.report_id, "notes": self.notes}

    @property
    def message(self) -> str:
        """One line for people: what was written and what it says."""
        where = f"written to {self.path} ({self.bytes / 1024:.0f} KB); open it in a browser" if self.path else \
            "rendered (not written: give out=FILE.html to keep it)"
        return f"{self.kind} report of {self.subject} {where}. {self.headline}"


class Reports:
    """Renders the HTML reports from what the data, experiment, registry and monitoring stages return."""

    def __init__(
        self,
        artifacts: ArtifactStore,
        data: Data,
        splits: Splits,
        runs: Tracking,
        registry: Registry,
        evaluation: Evaluation,
        predictions: PredictionLog,
        monitoring: Monitoring,
        estimates: Estimates,
        folder: Path,
    ) -> None:
        self.artifacts = artifacts
        self.data = data
        self.splits = splits
        self.runs = runs
        self.registry = registry
        self.evaluator = evaluation
        self.predictions = predictions
        self.monitoring = monitoring
        self.estimates = estimates
        self.folder = folder
        """Where `default_path` puts reports (the workspace's `reports/`)."""

    def default_path(self, kind: str, subject: str) -> Path:
        """A new file name in the workspace's `reports/` folder, e.g. reports/drift-churn-1-20260101-120000.html
        (for front doors that write without asking for a name, like a key in the TUI)."""
        import re
        import time

        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", subject).strip("-") or "report"
        return self.folder / f"{kind}-{safe}-{time.strftime('%Y%m%d-%H%M%S')}.html"

    # -- drift ---------------------------------------------------------------------------
    def drift_check(
        self, model_ref: str, current: Any = None, *, window: str | None = None, last: int | None = None,
        method: str = "auto", out: str | os.PathLike[str] | None = None, estimate: bool = False,
        chunk: int | None = None,
    ) -> Report:
        """Check `model_ref` now (as `monitoring.check_drift`, recording the check but queueing nothing:
        action "alert") and render that check's report."""
        import pandas as pd

        report = self.monitoring.check_drift(model_ref, current, window=window, last=last, method=method,
                                             action="alert")
        frame = current if isinstance(current, pd.DataFrame) else None
        return self._drift(report["report_id"], out, estimate, chunk, frame, fresh=True)

    def drift(
        self, report_id: int, *, out: str | os.PathLike[str] | None = None, estimate: bool = False,
        chunk: int | None = None, current: pd.DataFrame | None = None,
    ) -> Report:
        """The report of the stored drift check `report_id`: the verdict, the columns that matter with their
        histograms, every column compactly; with `estimate`, the estimated performance per chunk of the same
        rows (CBPE / DLE, with bands). `current`: the DataFrame the check read, when it was one."""
        return self._drift(report_id, out, estimate, chunk, current, fresh=False)

    def _drift(self, report_id: int, out: str | os.PathLike[str] | None, estimate: bool, chunk: int | None,
               current: pd.DataFrame | None, *, fresh: bool) -> Report:
        from mlcycle_tui.monitoring import drift as drift_stats
        from mlcycle_tui.monitoring import report_drift
        from mlcycle_tui.monitoring.report_html import page

        rep = self.monitoring.drift_report(report_id)
        mv, reference = self.monitoring.drift_reference(f"{rep['model']}@{rep['version']}")
        importances = self.importances(mv.run_id)
        _, featured = report_drift.rank_columns(rep, importances)
        notes: list[str] = []
        frame, note = self._window_of(mv, rep, current, fresh)
        if note:
            notes.append(note)
        histograms: dict[str, dict[str, Any]] = {}
        if frame is not None:
            for name in featured:
                try:
                    histograms[name] = drift_stats.histogram_pair(reference, frame, name, HISTOGRAM_BINS)
                except ValueError:  # a column without a reference (not checked): no chart
                    pass
            if rep.get("prediction") and reference.prediction is not None:
                preds = self._predictions_of(mv, frame)
                if preds is not None:
                    histograms["prediction"] = drift_stats.histogram_pair(reference, preds, "prediction",
                                                                          HISTOGRAM_BINS)
        est_doc, est_error = None, None
        if estimate:
            if frame is None:
                est_error = note or "the current rows of this check are not available"
            else:
                try:
                    est_doc = self.estimates.estimate(mv, frame.drop(columns=["_prediction"], errors="ignore"),
                                                      chunk=chunk)
                except UserError as exc:
                    est_error = exc.message
        body = report_drift.page_body(
            rep, histograms=histograms, importances=importances,
            window_note=note or "no chart: the current rows are not available",
            estimate_html=report_drift.estimate_section(est_doc, est_error))
        _tone, head, _lines = report_drift.verdict(rep, report_drift.relied_on(importances))
        title = f"Drift report · {mv.ref} · check {rep['report_id']}"
        html = page(title, body, generated=now_iso())
        return self._finish(Report("drift", title, head, html, subject=mv.ref, report_id=int(rep["report_id"]),
                                   notes=notes), out)

    def _window_of(self, mv: ModelVersion, rep: dict[str, Any], current: pd.DataFrame | None, fresh: bool
                   ) -> tuple[pd.DataFrame | None, str | None]:
        """The current rows the check read (inputs, the target where labels exist, `_prediction` where
        logged), or None and why not (and a note when they may differ). `fresh`: the check was just made."""
        from mlcycle_tui.data.readers import read_table

        window = rep.get("window") or {}
        source = str(rep.get("source") or window.get("source") or "")
        if current is not None:
            return current.reset_index(drop=True), None
        if source.startswith("dataset "):
            try:
                return self.data.load_frame(source.removeprefix("dataset ")), None
            except UserError as exc:
                return None, f"the dataset the check read is gone ({exc.message})"
        if source.startswith("file "):
            path = Path(source.removeprefix("file "))
            if not path.exists():
                return None, f"the file the check read ({path}) is gone, so its histograms cannot be drawn"
            return read_table(path), None if fresh else (f"the histograms re-read {path} now; if it changed since "
                                                         "the check they show it as it is now")
        if source.startswith("logged predictions"):
            return self._logged_rows(mv, rep, window)
        return None, ("the current data was a DataFrame passed in Python, which is not kept: the statistics are the "
                      "check's, without histograms (pass the same frame as current= to draw them)")

    def _logged_rows(self, mv: ModelVersion, rep: dict[str, Any], window: dict[str, Any]
                     ) -> tuple[pd.DataFrame | None, str | None]:
        """The logged predictions the check read: those of its version from its first to its newest row."""
        first, newest = window.get("first"), window.get("newest")
        if first is None or newest is None:
            return None, "this check was stored without the time span of its rows, so its histograms cannot be drawn"
        logged = self.predictions.frame(mv.name, since=float(first), version=mv.version)
        logged = logged[logged["_time"] <= float(newest)] if len(logged) else logged
        if window.get("last"):
            logged = logged.tail(int(window["last"]))
        if logged.empty:
            return None, "the logged predictions this check read are no longer in the log"
        logged = logged.reset_index(drop=True)
        target = self.monitoring.target_of(mv)
        labelled = self.predictions.frame(mv.name, since=float(first), version=mv.version, with_feedback=True)
        if target and len(labelled):
            by_id = dict(zip(labelled["_id"], labelled["_label"], strict=True))
            logged[target] = logged["_id"].map(by_id)
        note = None
        if len(logged) != rep.get("rows"):
            note = f"{len(logged)} of the check's {rep.get('rows')} rows are still in the prediction log"
        return logged.drop(columns=["_time", "_version", "_id"], errors="ignore"), note

    def _predictions_of(self, mv: ModelVersion, frame: pd.DataFrame) -> Any:
        if "_prediction" in frame.columns:
            return frame["_prediction"].to_numpy()
        inputs = [c["name"] for c in mv.signature.get("inputs", [])]
        if any(c not in frame.columns for c in inputs):
            return None
        _, model = self.registry.load_model(mv)
        try:
            return model.predict(frame[inputs])
        except Exception:  # the check scored it "quietly" too: no prediction chart, the rest stands
            return None

    # -- evaluation and the model card ------------------------------------------------------
    def evaluation(
        self, source: str, *, data: str | None = None, slice_column: str | None = None,
        sensitive: str | None = None, positive_label: Any = None, out: str | os.PathLike[str] | None = None,
    ) -> Report:
        """Metrics against the baseline, confusion matrix, ROC and PR curves; per slice of `slice_column` and
        fairness across `sensitive` when given. `source`: a model reference or a run id."""
        from mlcycle_tui.monitoring import report_model
        from mlcycle_tui.monitoring.report_html import page

        result = self.evaluator.evaluate(source, data=data, slice_column=slice_column, sensitive=sensitive,
                                          positive_label=positive_label)
        subject = self._subject(source, result["run_id"])
        body = report_model.evaluation_body(result, subject=subject, slice_column=slice_column, sensitive=sensitive)
        _tone, head, _lines = report_model.evaluation_verdict(result, subject)
        title = f"Evaluation · {subject}"
        return self._finish(Report("evaluation", title, head, page(title, body, generated=now_iso()),
                                   subject=subject), out)

    def model(
        self, model_ref: str, *, slice_column: str | None = None, sensitive: str | None = None,
        positive_label: Any = None, out: str | os.PathLike[str] | None = None,
    ) -> Report:
        """The model card of a version: data, recipe, metrics, slices and fairness (when asked), importances,
        gates and lineage (run, dataset version, versions, alias history, recent drift checks)."""
        from mlcycle_tui.monitoring import report_model
        from mlcycle_tui.monitoring.report_html import num, page

        mv = self.registry.model_version(model_ref)
        run = self.runs.get(mv.run_id)
        try:
            recipe = self.runs.recipe(mv.run_id)
        except UserError:
            recipe = dict(mv.recipe)
        card: dict[str, Any] = {"version": mv.summary() | {"baseline": mv.baseline}, "recipe": recipe, "run": run,
                                "dataset": None, "split": None, "slice_column": slice_column,
                                "sensitive": sensitive}
        if mv.dataset_version_id is not None:
            ds = self.data.dataset_by_id(mv.dataset_version_id)
            card["dataset"] = ds.summary() | {"n_columns": ds.columns, "source": ds.source,
                                              "schema": ds.profile.get("columns", [])}
        if mv.split_id:
            try:
                card["split"] = self.splits.get(mv.split_id).summary()
            except UserError:
                pass
        try:
            card["evaluation"] = self.evaluator.evaluate(mv.ref, slice_column=slice_column, sensitive=sensitive,
                                                          positive_label=positive_label)
        except UserError as exc:
            if slice_column or sensitive:
                raise  # what was asked for cannot be shown: say so instead of a card without it
            card["evaluation"], card["evaluation_error"] = None, exc.message
        card["importances"] = self.importances(mv.run_id)
        card["gates"] = self.registry.gate_check(mv)
        card["alias_history"] = self.registry.alias_history(mv.name)
        card["versions"] = [v.summary() for v in self.registry.model_versions(mv.name)]
        card["drift_checks"] = [r for r in self.monitoring.drift_reports(mv.name, limit=50)
                                if r["version"] == mv.version][:5]
        body = report_model.model_card_body(card)
        title = f"Model card · {mv.ref}"
        passed = card["gates"].get("passed")
        metric = recipe.get("metric") or mv.summary()["primary_metric"]
        head = (f"{metric} {num(mv.metrics.get(metric))} (baseline {num(mv.baseline.get(metric))}); promotion gates "
                + ("passed" if passed else "not passed"))
        return self._finish(Report("model", title, head, page(title, body, generated=now_iso()), subject=mv.ref),
                            out)

    # -- helpers ---------------------------------------------------------------------------
    def importances(self, run_id: str) -> dict[str, float] | None:
        """The feature importances a run recorded as an artifact (see IMPORTANCE_ARTIFACTS), or None."""
        arts = {a["name"]: a for a in self.runs.list_artifacts(run_id)}
        for name in IMPORTANCE_ARTIFACTS:
            if name in arts:
                try:
                    doc = json.loads(self.artifacts.load_bytes(arts[name]["sha256"], arts[name]["path"]))
                except (ValueError, OSError):
                    return None
                return _importance_map(doc)
        return None

    def _subject(self, source: str, run_id: str) -> str:
        try:
            return self.registry.model_version(source).ref
        except UserError:
            return f"run {run_id[:12]}"

    @staticmethod
    def _finish(report: Report, out: str | os.PathLike[str] | None) -> Report:
        from mlcycle_tui.monitoring.report_html import write_atomic

        if out is not None:
            report.path = write_atomic(report.html, out)
        return report


def _importance_map(doc: Any) -> dict[str, float] | None:
    """{column: importance} from the shapes IMPORTANCE_ARTIFACTS may hold; None when it holds none."""
    if isinstance(doc, dict):
        for key in ("importances", "features", "columns"):
            if key in doc and isinstance(doc[key], dict | list):
                return _importance_map(doc[key])
        out = {str(k): float(v) for k, v in doc.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        return out or None
    if isinstance(doc, list):
        out = {}
        for item in doc:
            if not isinstance(item, dict):
                continue
            name = next((item[k] for k in ("feature", "column", "name") if k in item), None)
            value = next((item[k] for k in ("importance", "importance_mean", "mean", "value") if k in item), None)
            if name is not None and isinstance(value, int | float) and not isinstance(value, bool):
                out[str(name)] = float(value)
        return out or None
    return None

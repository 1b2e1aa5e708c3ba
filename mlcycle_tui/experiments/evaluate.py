"""Evaluating a run or a model version: metrics on its test split or any dataset, slices, fairness.

Why this exists: `mlcycle evaluate` and the Experiments screen's evaluation
take a run id or a model reference and report the metrics next to the dummy
baseline, per slice and per group. The metrics themselves are computed in
`experiments/evaluation.py`; this stage finds the model, the recipe and the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError

if TYPE_CHECKING:
    from mlcycle_tui.data.splits import Splits
    from mlcycle_tui.data.versions import Data
    from mlcycle_tui.experiments.tracking import Tracking
    from mlcycle_tui.registry.versions import Registry


class Evaluation:
    """Evaluate a run's or a model version's pipeline."""

    def __init__(self, data: Data, splits: Splits, runs: Tracking, registry: Registry) -> None:
        self.data = data
        self.splits = splits
        self.runs = runs
        self.registry = registry

    def evaluate(
        self,
        source: str,
        *,
        data: str | None = None,
        slice_column: str | None = None,
        sensitive: str | None = None,
        positive_label: Any = None,
    ) -> dict[str, Any]:
        """Metrics of a run's or a model version's pipeline, next to the dummy baseline.

        `source` is a run id (prefix) or a model reference; `data` a dataset
        reference (default: the run's test split).
        """
        from mlcycle_tui.experiments import evaluation

        run_id = self._run_for_source(source)
        rec = self.runs.recipe(run_id)
        ds_train = self.data.dataset(rec["dataset"])
        target = rec.get("target") or ds_train.target
        positive = rec.get("positive_class")
        train_df, test_df = self.splits.frames(rec["split_id"])
        if data is not None:
            eval_ds = self.data.dataset(data)
            test_df = self.data.load_frame(eval_ds)
            if target not in test_df.columns:
                raise UserError(f"{eval_ds.ref} has no column {target!r} (the model's target); cannot evaluate")
            where = eval_ds.ref
        else:
            where = f"test split {rec['split_id']} of {ds_train.ref}"
        test_df = test_df[test_df[target].notna()].reset_index(drop=True)
        if test_df.empty:
            raise UserError(f"{where} has no labelled rows to evaluate on")
        for col in (slice_column, sensitive):
            if col is not None and col not in test_df.columns:
                raise UserError(f"no column {col!r} in {where}; columns are: {', '.join(test_df.columns)}")
        model = self.runs.load_model(run_id)
        task = rec["task"]
        train_df = train_df[train_df[target].notna()]
        X_test, y_test = test_df.drop(columns=[target]), test_df[target]
        result = evaluation.evaluate_with_baseline(
            task, train_df.drop(columns=[target]), train_df[target], X_test, y_test, model, positive
        )
        out: dict[str, Any] = {
            "run_id": run_id,
            "data": where,
            "task": task,
            "primary_metric": evaluation.check_metric(task, rec.get("metric")),
            "positive_class": positive,
            "metrics": result["model"],
            "baseline": result["baseline"],
            "slices": {},
            "slice_column": slice_column,
            "sensitive": sensitive,
        }
        pred, proba, classes = evaluation.predictions(task, model, X_test)
        if slice_column:
            out["slices"] = evaluation.evaluate_slices(
                task, test_df, y_test, pred, proba, classes, slice_column, positive=positive
            )
        if sensitive:
            if task != "classification":
                raise UserError("fairness figures need a classification model")
            out["fairness"] = evaluation.fairness(
                y_test, pred, test_df[sensitive], positive if positive_label is None else positive_label)
        return out

    def explanation(self, source: str) -> dict[str, Any]:
        """What a run's model relies on: {"run_id", "metric", "rows", "importances", "partial_dependence",
        "stored"}. The run's own measurement (made at training); for runs older than that, measured now
        on the run's test split (not stored)."""
        import json

        from mlcycle_tui.common.errors import NotFoundError
        from mlcycle_tui.experiments import evaluation, explain
        from mlcycle_tui.experiments.training import MetricScorer

        run_id = self._run_for_source(source)
        try:
            doc = json.loads(self.runs.artifact_file(run_id, explain.EXPLANATION_ARTIFACT).read_text())
            return {"run_id": run_id, **doc, "stored": True}
        except NotFoundError:
            pass
        rec = self.runs.recipe(run_id)
        target = rec.get("target") or self.data.dataset(rec["dataset"]).target
        _, test_df = self.splits.frames(rec["split_id"])
        test_df = test_df[test_df[target].notna()]
        task, positive = rec["task"], rec.get("positive_class")
        metric = evaluation.check_metric(task, rec.get("metric"))
        try:
            inputs = [c["name"] for c in json.loads(self.runs.artifact_file(run_id, "signature.json").read_text())
                      ["inputs"]]
        except NotFoundError:
            inputs = None
        doc = explain.explain(task, self.runs.load_model(run_id), test_df.drop(columns=[target]), test_df[target],
                              MetricScorer(task, metric, positive), positive, int(rec.get("seed", 0)), metric=metric,
                              columns=inputs)
        return {"run_id": run_id, **doc, "stored": False}

    def reference_values(self, mv: Any) -> dict[str, Any]:
        """Typical training values of a model version's inputs: what per-row contributions compare with."""
        from mlcycle_tui.experiments import explain

        if mv.dataset_version_id is None:
            return {}
        ds = self.data.dataset_by_id(mv.dataset_version_id)
        return explain.reference_values(ds.profile["columns"], [c["name"] for c in mv.signature.get("inputs", [])])

    def explain_rows(self, ref: str, frame: Any) -> dict[str, Any]:
        """Why a model version gives each of these rows its answer: per input column contributions
        (experiments/explain.contributions: exact for trees and linear models, else occlusion), with the
        predictions. At most explain.MAX_EXPLAINED_ROWS rows; columns the model does not read are ignored."""
        from mlcycle_tui.experiments import explain
        from mlcycle_tui.predictions.predicting import predict_with_proba

        mv, pipeline = self.registry.load_model(ref)
        inputs = [c["name"] for c in mv.signature.get("inputs", [])]
        missing = [c for c in inputs if c not in frame.columns]
        if missing:
            raise UserError(f"the rows lack {len(missing)} of {mv.name}@{mv.version}'s input columns: "
                            f"{', '.join(missing[:10])}; give rows with every input column")
        if len(frame) == 0:
            raise UserError("there are no rows to explain; give at least one")
        if len(frame) > explain.MAX_EXPLAINED_ROWS:
            raise UserError(f"at most {explain.MAX_EXPLAINED_ROWS} rows are explained at a time, got {len(frame)}; "
                            "give fewer rows")
        X = frame[inputs].reset_index(drop=True)
        try:
            pred, _ = predict_with_proba(mv.task, pipeline, X)
            doc = explain.contributions(mv.task, pipeline, X, self.reference_values(mv),
                                        positive=mv.recipe.get("positive_class"))
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"{mv.name}@{mv.version} could not score these rows: {exc}; check their values "
                            "against the model's input columns (mlcycle models show)") from None
        return {"model": mv.name, "version": mv.version, "predictions": [_plain(p) for p in pred], **doc}

    def _run_for_source(self, source: str) -> str:
        """A run id from a run id prefix or a model reference."""
        if "@" in source or not all(c in "0123456789abcdef" for c in source) or len(source) < 6:
            try:
                return self.registry.model_version(source).run_id
            except UserError:
                if "@" in source:
                    raise
        return self.runs.resolve_id(source)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value

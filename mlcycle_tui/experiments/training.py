"""Training runs: the recipe (data, split, model kind, params, search), tracked end to end.

Why this exists: `mlcycle train`, the TUI's Train dialog, `runs reproduce` and
the retraining worker all train the same way. A run records its recipe so it
can be redone exactly (same data version, same split rows, same seed) or redone
on newer data (retraining). The fitted artifact is one scikit-learn Pipeline
(preparation + estimator), so the server needs nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.data.splits import Splits
    from mlcycle_tui.data.versions import Data, DatasetVersion
    from mlcycle_tui.events import Events
    from mlcycle_tui.experiments.tracking import Tracking
    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database

Progress = Callable[[float, str], None]
SEARCH_MODES = ("grid", "random")
BACKENDS = ("joblib", "dask")
# How long a search on Dask waits for the scheduler to have at least one worker.
DASK_WORKER_WAIT_S = 10.0
# How long each worker has to open its own client to the scheduler before the search.
DASK_CONNECT_WAIT_S = 60.0


def _no_progress(_f: float, _m: str) -> None:
    return None


class MetricScorer:
    """A scikit-learn scorer for a run's primary metric, computed as `evaluation.evaluate` reports it.

    The search then ranks candidates by exactly the number the run, the runs
    table and the gates use: the same positive class of a binary target (not
    scikit-learn's `pos_label=1`), the same averaging. Lower-is-better metrics
    (rmse, log_loss, ...) are negated, because scikit-learn maximises; an
    undefined value (roc_auc of a fold with one class) is NaN, which the search
    ranks last. Plain attributes and a module-level class: it pickles for
    process workers.
    """

    _NEEDS_PROBA = frozenset({"roc_auc", "log_loss", "brier"})

    def __init__(self, task: str, metric: str, positive: Any = None) -> None:
        self.task, self.metric, self.positive = task, metric, positive

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
        import math

        import numpy as np

        from mlcycle_tui.experiments import evaluation

        if self.task == "classification" and self.metric in self._NEEDS_PROBA:
            pred, proba, classes = evaluation.predictions(self.task, estimator, X)
            value = evaluation.evaluate(self.task, y, pred, proba, classes, curves=False,
                                        positive=self.positive).get(self.metric)
        else:  # the one metric alone: this runs for every fold and every shuffled column
            value = evaluation.quick_metric(self.task, self.metric, y, np.asarray(estimator.predict(X)),
                                            self.positive)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return math.nan
        return float(value) if evaluation.higher_is_better(self.metric) else -float(value)

    def __repr__(self) -> str:
        return f"MetricScorer({self.task!r}, {self.metric!r}, positive={self.positive!r})"


def scoring_for(task: str, y: Any, metric: str | None = None, positive: Any = None) -> MetricScorer:
    """The scorer cross-validation ranks candidates by: the run's primary metric (default f1 or rmse).

    For a binary target the positive class is `positive`, else the one the
    run would choose (`evaluation.default_positive`).
    """
    from mlcycle_tui.experiments import evaluation

    metric = evaluation.check_metric(task, metric)
    if task == "classification" and positive is None:
        positive = evaluation.default_positive(y)
    return MetricScorer(task, metric, positive)


class Training:
    """Train a recipe on a dataset version's split, tracked as a run; reproduce a run."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        events: Events,
        data: Data,
        splits: Splits,
        runs: Tracking,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else {}
        self.db = db
        self.artifacts = artifacts
        self.events = events
        self.data = data
        self.splits = splits
        self.runs = runs

    # -- training ----------------------------------------------------------
    def train(
        self,
        ref: str | DatasetVersion,
        model: str = "rf",
        *,
        params: Mapping[str, Any] | list[str] | None = None,
        search: str | None = None,
        trials: int = 10,
        cv: int | str = 3,
        seed: int = 42,
        experiment: str | None = None,
        split: str | None = None,
        task: str | None = None,
        target: str | None = None,
        metric: str | None = None,
        positive_class: Any = None,
        include: list[str] | None = None,
        drop: list[str] | None = None,
        backend: str = "joblib",
        scheduler: str | None = None,
        n_jobs: int | None = None,
        extra_train: pd.DataFrame | None = None,
        tags: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Fit a pipeline on the train split, evaluate on the test split, track it all.

        `target` overrides the dataset's target column; `metric` is the primary
        metric (what the search optimises, runs are ranked by and gates compare;
        default f1 or rmse); `positive_class` the positive class of a binary
        target (default `evaluation.default_positive` of the training labels);
        `cv` a fold count or strategy (experiments/folds.py). All of them are
        recorded in the run's recipe, and the metric and positive class also as
        the tags `primary_metric` and `positive_class`.
        """
        from mlcycle_tui.experiments import catalog, evaluation, explain, folds, overlap, preprocess

        report = progress or _no_progress
        ds = self.data.dataset(ref)
        target = self._target(ds, target)
        if search is not None and search not in SEARCH_MODES:
            raise UserError(f"unknown --search {search!r}; use grid or random")
        if backend not in BACKENDS:
            raise UserError(f"unknown --backend {backend!r}; use joblib or dask")
        if backend == "dask" and not scheduler:
            raise UserError("--backend dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
        fold_plan = folds.parse(cv)
        report(0.05, "loading data")
        sp = self.splits.get(split) if split else self.default_split(ds, target)
        if sp.dataset_version_id != ds.id:
            raise UserError(f"split {sp.split_id} belongs to {sp.dataset}, not {ds.ref}")
        train_df, test_df = self.splits.frames(sp.split_id)
        feedback_left_out = 0
        if extra_train is not None and len(extra_train):
            train_df, feedback_left_out = _add_feedback(train_df, test_df, extra_train, target)
        train_df = train_df[train_df[target].notna()]
        test_df = test_df[test_df[target].notna()]
        task = preprocess.infer_task(train_df[target], kind=task)
        metric = evaluation.check_metric(task, metric)
        positive = self._positive(task, train_df[target], positive_class)
        kind = catalog.resolve_kind(model, task)
        user_params = catalog.parse_params(kind, task, params)
        resolved = catalog.resolved_params(kind, task, user_params, seed)
        if search:
            catalog.search_space(kind, task, search)  # refuses a kind without one before the run starts
            if trials < 1:
                raise UserError(f"--trials must be at least 1, got {trials}")
        if len(test_df) == 0:
            raise UserError(f"the test part of split {sp.split_id} has no labelled rows; choose a larger --test-size")
        estimator = catalog.make_estimator(kind, task, user_params, seed)
        pipeline = preprocess.build_pipeline(ds.schema, target, estimator, include=include, drop=drop)
        recipe = {
            "dataset": ds.ref,
            "dataset_name": ds.name,
            "split_id": sp.split_id,
            "split": {"method": sp.method, "test_size": sp.test_size, "seed": sp.seed,
                      "time_column": sp.time_column, "stratify": sp.method == "stratified"},
            "target": target,
            "model": kind,
            "task": task,
            "metric": metric,
            "positive_class": positive,
            "params": user_params,
            "search": search,
            "trials": trials,
            "cv": fold_plan.spec(),
            "seed": seed,
            "include": include,
            "drop": drop,
            "feedback_rows": 0 if extra_train is None else len(extra_train),
            "feedback_left_out": feedback_left_out,
        }
        exp = experiment or ds.name
        X_train, y_train = train_df.drop(columns=[target]), train_df[target]
        X_test, y_test = test_df.drop(columns=[target]), test_df[target]
        cv_plan = None
        if search:
            cv_plan = folds.splitter(fold_plan, task, X_train, y_train, seed, time_column=ds.time_column)
        run_tags = {"search": search or "none", "primary_metric": metric, **(tags or {})}
        if positive is not None:
            run_tags["positive_class"] = str(positive)
        with self.runs.start(exp, dataset=ds, split=sp.split_id, seed=seed, model=kind, task=task,
                            tags=run_tags) as run:
            run.log_params({"model": kind, **resolved})
            report(0.15, "fitting" if not search else f"{search} search ({fold_plan.describe()})")
            if search and cv_plan is not None:
                splitter, groups, X_fold, y_fold = cv_plan
                fitted, search_log = _refusals_as_user_errors(kind, lambda: self._search(
                    pipeline, kind, task, search, trials, splitter, groups, seed, X_fold, y_fold,
                    MetricScorer(task, metric, positive), backend, scheduler, n_jobs,
                ))
                run.log_batch(metrics=[("cv_score", s, i) for i, s in enumerate(search_log["scores"])])
                best = {k.removeprefix("model__"): v for k, v in search_log["best_params"].items()}
                run.log_params(best)
                run.log_metric("cv_best_score", search_log["best_score"])
                recipe["best_params"] = best
            else:
                fitted = _refusals_as_user_errors(kind, lambda: pipeline.fit(X_train, y_train))
            report(0.75, "evaluating")
            result = evaluation.evaluate_with_baseline(task, X_train, y_train, X_test, y_test, fitted, positive)
            flat = evaluation.flat_metrics(result["model"])
            base = evaluation.flat_metrics(result["baseline"])
            run.log_metrics(flat)
            run.log_metrics({f"baseline_{k}": v for k, v in base.items()})
            report(0.85, "explaining (permutation importance)")
            inputs = [c["name"] for c in preprocess.signature(ds.schema, target, include=include, drop=drop)["inputs"]]
            explanation = self._explain(task, fitted, X_test, y_test, metric, positive, seed, inputs)
            report(0.9, "saving")
            run.log_model(fitted)
            if explanation is not None:
                run.log_artifact(json.dumps(explanation["importances"]).encode(), name=explain.IMPORTANCES_ARTIFACT)
                run.log_artifact(json.dumps(explanation).encode(), name=explain.EXPLANATION_ARTIFACT)
            run.log_artifact(json.dumps(recipe, default=str).encode(), name="recipe.json")
            run.log_artifact(overlap.pack(train_df), name=overlap.TRAIN_ROWS_ARTIFACT)
            run.log_artifact(json.dumps(result, default=str).encode(), name="evaluation.json")
            run.log_artifact(
                json.dumps(preprocess.signature(ds.schema, target, include=include, drop=drop)).encode(),
                name="signature.json",
            )
            self.events.log("train", run.id, f"{kind} on {ds.ref}: {metric} {flat.get(metric, float('nan')):.4g}")
        report(1.0, "done")
        return {
            "run_id": run.id,
            "experiment": exp,
            "model": kind,
            "task": task,
            "target": target,
            "primary_metric": metric,
            "positive_class": positive,
            "cv": fold_plan.spec(),
            "dataset": ds.ref,
            "split_id": sp.split_id,
            "metrics": flat,
            "baseline": base,
            "params": resolved | recipe.get("best_params", {}),
            "feedback_left_out": feedback_left_out,
            "importances": (explanation or {}).get("importances", [])[:10],
        }

    def _explain(self, task: str, fitted: Any, X: Any, y: Any, metric: str, positive: Any,
                 seed: int, inputs: list[str]) -> dict[str, Any] | None:
        """Permutation importance and partial dependence on the test rows (`[training] explain`, on by default);
        None when switched off or when the model cannot be explained (the run is still good)."""
        from mlcycle_tui.experiments import explain

        if not self.settings.get("training", {}).get("explain", True):
            return None
        try:
            return explain.explain(task, fitted, X, y, MetricScorer(task, metric, positive), positive, seed,
                                   metric=metric, columns=inputs)
        except (ValueError, TypeError, AttributeError) as exc:
            self.events.log("train", "explain", f"permutation importance not computed: {exc}")
            return None

    def retrain(self, recipe: Mapping[str, Any], ref: str | DatasetVersion, *, split: str | None = None,
                extra_train: pd.DataFrame | None = None, experiment: str | None = None,
                tags: Mapping[str, Any] | None = None, progress: Progress | None = None) -> dict[str, Any]:
        """Train a recorded recipe again on `ref` (newer data): the same model, parameters (the search's
        best when it searched), seed, target, metric, positive class, folds and columns."""
        rec = dict(recipe)
        return self.train(
            ref, rec["model"], params=rec.get("best_params") or rec.get("params") or None,
            seed=int(rec.get("seed", 42)), split=split, task=rec.get("task"), target=rec.get("target"),
            metric=rec.get("metric"), positive_class=rec.get("positive_class"), cv=rec.get("cv") or 3,
            include=rec.get("include"), drop=rec.get("drop"), extra_train=extra_train,
            experiment=experiment or rec.get("experiment"), tags=tags, progress=progress,
        )

    def _target(self, ds: DatasetVersion, target: str | None) -> str:
        """The target column: `target` when given (it must be a column), else the dataset's."""
        if target is None or not str(target).strip():
            if ds.target is None:
                raise UserError(f"{ds.ref} has no target column; train with --target COLUMN, "
                                "or ingest it again with --target COLUMN")
            return ds.target
        name = str(target)
        if ds.column(name) is None:
            names = ", ".join(c["name"] for c in ds.schema)
            raise UserError(f"--target {name!r} is not a column of {ds.ref}; columns are: {names}")
        return name

    @staticmethod
    def _positive(task: str, y: Any, positive_class: Any) -> Any:
        """The positive class of a binary target: the one asked for (it must be a class), else the default."""
        from mlcycle_tui.experiments import evaluation

        if task != "classification":
            if positive_class not in (None, ""):
                raise UserError("--positive-class applies to classification targets only")
            return None
        classes = sorted(y.dropna().unique().tolist(), key=str)
        if positive_class not in (None, ""):
            if len(classes) != 2:
                raise UserError(f"--positive-class needs a binary target; this one has {len(classes)} classes "
                                f"({', '.join(map(str, classes[:10]))})")
            return evaluation.resolve_positive(classes, positive_class)
        return evaluation.default_positive(y)

    def default_split(self, ds: DatasetVersion, target: str | None = None) -> Any:
        """Time split when the data has a time column, else stratified on the target (classification) or random."""
        if ds.time_column:
            return self.splits.create(ds, time_column=ds.time_column)
        target = target or ds.target
        target_col = ds.column(target) if target else None
        if target_col and target_col["kind"] in ("categorical", "boolean"):
            try:
                return self.splits.create(ds, stratify=True, stratify_column=target)
            except UserError:
                return self.splits.create(ds)
        return self.splits.create(ds)

    def _search(
        self, pipeline: Any, kind: str, task: str, mode: str, trials: int, cv: Any, groups: Any, seed: int,
        X: Any, y: Any, scoring: Any, backend: str, scheduler: str | None, n_jobs: int | None,
    ) -> tuple[Any, dict[str, Any]]:
        import joblib
        from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

        from mlcycle_tui.experiments import catalog

        space = catalog.search_space(kind, task, mode)
        if not space:
            return pipeline.fit(X, y), {"scores": [], "best_params": {}, "best_score": None}
        jobs = n_jobs if n_jobs is not None else -1
        if mode == "grid":
            searcher = GridSearchCV(pipeline, space, cv=cv, scoring=scoring, n_jobs=jobs, error_score="raise")
        else:
            searcher = RandomizedSearchCV(pipeline, space, n_iter=trials, cv=cv, scoring=scoring,
                                          n_jobs=jobs, random_state=seed, error_score="raise")
        fit_kwargs = {} if groups is None else {"groups": groups}
        if backend == "dask":
            client = _dask_client(scheduler)
            try:
                _connect_worker_clients(client)
                with joblib.parallel_config(backend="dask"):
                    searcher.fit(X, y, **fit_kwargs)
            finally:
                client.close()
        else:
            searcher.fit(X, y, **fit_kwargs)
        scores = [float(s) for s in searcher.cv_results_["mean_test_score"]]
        return searcher.best_estimator_, {
            "scores": scores,
            "best_params": searcher.best_params_,
            "best_score": float(searcher.best_score_),
        }

    # -- reproduce ---------------------------------------------------------
    def reproduce(self, run_ref: str, progress: Progress | None = None) -> dict[str, Any]:
        """Train again from a run's record; report whether metrics and predictions match."""
        import numpy as np

        from mlcycle_tui.experiments import evaluation

        original = self.runs.get(run_ref)
        rec = self.runs.recipe(original["run_id"])
        target = rec.get("target") or self.data.dataset(rec["dataset"]).target
        new = self.train(
            rec["dataset"], rec["model"], params=rec["params"], search=rec["search"], trials=rec["trials"],
            cv=rec["cv"], seed=rec["seed"], experiment=original["experiment"], split=rec["split_id"],
            task=rec["task"], target=target, metric=rec.get("metric"), positive_class=rec.get("positive_class"),
            include=rec["include"], drop=rec["drop"], tags={"reproduces": original["run_id"]}, progress=progress,
        )
        _, test_df = self.splits.frames(rec["split_id"])
        X = test_df[test_df[target].notna()].drop(columns=[target])
        before = np.asarray(self.runs.load_model(original["run_id"]).predict(X))
        after = np.asarray(self.runs.load_model(new["run_id"]).predict(X))
        same_predictions = bool(np.array_equal(before, after))
        old_metrics = {k: v for k, v in original["metrics"].items() if k in new["metrics"]}
        diffs = {
            k: (old_metrics[k], new["metrics"][k])
            for k in old_metrics
            if not _close(old_metrics[k], new["metrics"][k])
        }
        return {
            "run_id": new["run_id"],
            "original": original["run_id"],
            "same_metrics": not diffs,
            "same_predictions": same_predictions,
            "metric_differences": diffs,
            "metrics": new["metrics"],
            "primary_metric": evaluation.check_metric(rec["task"], rec.get("metric")),
        }


def _refusals_as_user_errors(kind: str, fit: Callable[[], Any]) -> Any:
    """Run a fit; an estimator's refusal of its parameters or data (ValueError) becomes a UserError.

    scikit-learn (and compatible libraries) say what is wrong in a ValueError, e.g. "the
    'liblinear' solver does not support multiclass classification": that is the user's to fix,
    not a bug to report. The run is recorded as failed with the same message.
    """
    try:
        return fit()
    except ValueError as exc:
        reason = str(exc).strip().rstrip(".")
        raise UserError(f"{kind} could not be fitted: {reason}; change --param (or the data) and train again") from exc


def _add_feedback(train_df: pd.DataFrame, test_df: pd.DataFrame, extra: pd.DataFrame,
                  target: str) -> tuple[pd.DataFrame, int]:
    """The train part plus the labelled feedback rows, except those whose inputs are in the test part.

    The split is made first; a feedback row with the same inputs as a test row would let the
    model see (and be scored on) that row, so it is left out. Returns (frame, rows left out).
    """
    import numpy as np
    import pandas as pd

    from mlcycle_tui.experiments import overlap

    extra = extra[list(train_df.columns)].reset_index(drop=True)
    features = [c for c in train_df.columns if c != target]
    held_out = np.isin(overlap.row_keys(extra, features), overlap.row_keys(test_df, features))
    return pd.concat([train_df, extra[~held_out]], ignore_index=True), int(held_out.sum())


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


def _dask_client(address: str | None) -> Any:
    try:
        from dask.distributed import Client
    except ImportError:
        raise UserError(
            "the dask backend needs the optional extra: pip install 'mlcycle_tui[dask]'"
        ) from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _connect_worker_clients(client: Any) -> None:
    """Have every worker open its own client to the scheduler before the search starts.

    joblib's Dask backend opens that client from inside the first task a worker runs.
    If the scheduler has another message for it in the same instant (a sibling task
    finishing), distributed's handshake fails with a bare AssertionError and the whole
    search is lost. Connecting first, while nothing else runs, closes that window.
    """
    try:
        client.wait_for_workers(1, timeout=DASK_WORKER_WAIT_S)
    except TimeoutError:
        raise UserError(
            f"the Dask scheduler at {client.scheduler.address} has no workers after {DASK_WORKER_WAIT_S:g} s; "
            "start one with `dask worker ADDRESS` and train again"
        ) from None
    workers = list(client.scheduler_info().get("workers", {}))
    futures = [client.submit(_worker_client_id, workers=[address], allow_other_workers=False, pure=False)
               for address in workers]
    from distributed import wait

    try:  # a worker that died meanwhile would leave gather waiting for ever
        wait(futures, timeout=DASK_CONNECT_WAIT_S)
    except TimeoutError:
        raise UserError(
            f"the Dask workers of {client.scheduler.address} did not answer within {DASK_CONNECT_WAIT_S:g} s; "
            "check that they are alive (`dask worker` logs) and train again"
        ) from None
    client.gather(futures)


def _worker_client_id() -> str:
    from distributed import get_client

    return str(get_client().id)

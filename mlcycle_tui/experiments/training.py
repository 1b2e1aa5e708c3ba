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


def _no_progress(_f: float, _m: str) -> None:
    return None


def scoring_for(task: str, y: Any) -> Any:
    """The scorer cross-validation ranks candidates by: the primary metric, computed as the run reports it.

    Classification scores `f1` as `evaluation` defines it: for a binary target the
    f1 of the positive class, the second class in sorted order (the classes of a
    fitted classifier, so "yes" of no/yes, not scikit-learn's default pos_label=1),
    else the macro average; an undefined f1 counts 0. The scorer is a
    module-level function with plain arguments, so it pickles for process workers.
    """
    if task == "regression":
        return "neg_root_mean_squared_error"
    import numpy as np
    from sklearn.metrics import f1_score, make_scorer

    classes = np.unique(np.asarray(y))  # what the fitted classifier's classes_ will be
    if len(classes) == 2:
        positive = classes[1].item() if isinstance(classes[1], np.generic) else classes[1]
        return make_scorer(f1_score, pos_label=positive, zero_division=0)
    return make_scorer(f1_score, average="macro", zero_division=0)


def _check_folds(task: str, y: Any, cv: int) -> None:
    if cv < 2:
        raise UserError(f"--cv must be at least 2, got {cv}")
    if len(y) < cv:
        raise UserError(f"{len(y)} training rows are too few for {cv}-fold cross-validation; lower --cv")
    if task == "classification":
        smallest = int(y.value_counts().min())
        if smallest < cv:
            cls = y.value_counts().idxmin()
            raise UserError(
                f"class {cls!r} has only {smallest} training rows, too few for {cv}-fold "
                f"cross-validation; lower --cv to {max(2, smallest)} or add data"
            )


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
    ) -> None:
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
        cv: int = 3,
        seed: int = 42,
        experiment: str | None = None,
        split: str | None = None,
        task: str | None = None,
        include: list[str] | None = None,
        drop: list[str] | None = None,
        backend: str = "joblib",
        scheduler: str | None = None,
        n_jobs: int | None = None,
        extra_train: pd.DataFrame | None = None,
        tags: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Fit a pipeline on the train split, evaluate on the test split, track it all."""
        from mlcycle_tui.experiments import catalog, evaluation, overlap, preprocess

        report = progress or _no_progress
        ds = self.data.dataset(ref)
        if ds.target is None:
            raise UserError(
                f"{ds.ref} has no target column; ingest it again with --target COLUMN to train on it"
            )
        if search is not None and search not in SEARCH_MODES:
            raise UserError(f"unknown --search {search!r}; use grid or random")
        if backend not in BACKENDS:
            raise UserError(f"unknown --backend {backend!r}; use joblib or dask")
        if backend == "dask" and not scheduler:
            raise UserError("--backend dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
        report(0.05, "loading data")
        sp = self.splits.get(split) if split else self.default_split(ds)
        if sp.dataset_version_id != ds.id:
            raise UserError(f"split {sp.split_id} belongs to {sp.dataset}, not {ds.ref}")
        train_df, test_df = self.splits.frames(sp.split_id)
        target = ds.target
        feedback_left_out = 0
        if extra_train is not None and len(extra_train):
            train_df, feedback_left_out = _add_feedback(train_df, test_df, extra_train, target)
        train_df = train_df[train_df[target].notna()]
        test_df = test_df[test_df[target].notna()]
        task = preprocess.infer_task(train_df[target], kind=task)
        kind = catalog.resolve_kind(model, task)
        user_params = catalog.parse_params(kind, task, params)
        resolved = catalog.resolved_params(kind, task, user_params, seed)
        if search:
            _check_folds(task, train_df[target], cv)
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
            "params": user_params,
            "search": search,
            "trials": trials,
            "cv": cv,
            "seed": seed,
            "include": include,
            "drop": drop,
            "feedback_rows": 0 if extra_train is None else len(extra_train),
            "feedback_left_out": feedback_left_out,
        }
        exp = experiment or ds.name
        X_train, y_train = train_df.drop(columns=[target]), train_df[target]
        X_test, y_test = test_df.drop(columns=[target]), test_df[target]
        with self.runs.start(exp, dataset=ds, split=sp.split_id, seed=seed, model=kind, task=task,
                            tags={"search": search or "none", **(tags or {})}) as run:
            run.log_params({"model": kind, **resolved})
            report(0.15, "fitting" if not search else f"{search} search")
            if search:
                fitted, search_log = self._search(
                    pipeline, kind, task, search, trials, cv, seed, X_train, y_train, backend, scheduler, n_jobs,
                )
                run.log_batch(metrics=[("cv_score", s, i) for i, s in enumerate(search_log["scores"])])
                best = {k.removeprefix("model__"): v for k, v in search_log["best_params"].items()}
                run.log_params(best)
                run.log_metric("cv_best_score", search_log["best_score"])
                recipe["best_params"] = best
            else:
                fitted = pipeline.fit(X_train, y_train)
            report(0.75, "evaluating")
            result = evaluation.evaluate_with_baseline(task, X_train, y_train, X_test, y_test, fitted)
            flat = evaluation.flat_metrics(result["model"])
            base = evaluation.flat_metrics(result["baseline"])
            run.log_metrics(flat)
            run.log_metrics({f"baseline_{k}": v for k, v in base.items()})
            report(0.9, "saving")
            run.log_model(fitted)
            run.log_artifact(json.dumps(recipe, default=str).encode(), name="recipe.json")
            run.log_artifact(overlap.pack(train_df), name=overlap.TRAIN_ROWS_ARTIFACT)
            run.log_artifact(json.dumps(result, default=str).encode(), name="evaluation.json")
            run.log_artifact(
                json.dumps(preprocess.signature(ds.schema, target, include=include, drop=drop)).encode(),
                name="signature.json",
            )
            self.events.log("train", run.id, f"{kind} on {ds.ref}: {evaluation.primary_metric(task)} "
                           f"{flat.get(evaluation.primary_metric(task), float('nan')):.4g}")
        report(1.0, "done")
        return {
            "run_id": run.id,
            "experiment": exp,
            "model": kind,
            "task": task,
            "dataset": ds.ref,
            "split_id": sp.split_id,
            "metrics": flat,
            "baseline": base,
            "params": resolved | recipe.get("best_params", {}),
            "feedback_left_out": feedback_left_out,
        }

    def default_split(self, ds: DatasetVersion) -> Any:
        """Time split when the data has a time column, else stratified (classification) or random."""
        if ds.time_column:
            return self.splits.create(ds, time_column=ds.time_column)
        target_col = ds.column(ds.target) if ds.target else None
        if target_col and target_col["kind"] in ("categorical", "boolean"):
            try:
                return self.splits.create(ds, stratify=True)
            except UserError:
                return self.splits.create(ds)
        return self.splits.create(ds)

    def _search(
        self, pipeline: Any, kind: str, task: str, mode: str, trials: int, cv: int, seed: int,
        X: Any, y: Any, backend: str, scheduler: str | None, n_jobs: int | None,
    ) -> tuple[Any, dict[str, Any]]:
        import joblib
        from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

        from mlcycle_tui.experiments import catalog

        space = catalog.search_space(kind, task, mode)
        if not space:
            return pipeline.fit(X, y), {"scores": [], "best_params": {}, "best_score": None}
        scoring = scoring_for(task, y)
        jobs = n_jobs if n_jobs is not None else -1
        if mode == "grid":
            searcher = GridSearchCV(pipeline, space, cv=cv, scoring=scoring, n_jobs=jobs, error_score="raise")
        else:
            if trials < 1:
                raise UserError(f"--trials must be at least 1, got {trials}")
            searcher = RandomizedSearchCV(pipeline, space, n_iter=trials, cv=cv, scoring=scoring,
                                          n_jobs=jobs, random_state=seed, error_score="raise")
        if backend == "dask":
            client = _dask_client(scheduler)
            try:
                _connect_worker_clients(client)
                with joblib.parallel_config(backend="dask"):
                    searcher.fit(X, y)
            finally:
                client.close()
        else:
            searcher.fit(X, y)
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
        new = self.train(
            rec["dataset"], rec["model"], params=rec["params"], search=rec["search"], trials=rec["trials"],
            cv=rec["cv"], seed=rec["seed"], experiment=original["experiment"], split=rec["split_id"],
            task=rec["task"], include=rec["include"], drop=rec["drop"],
            tags={"reproduces": original["run_id"]}, progress=progress,
        )
        _, test_df = self.splits.frames(rec["split_id"])
        target = self.data.dataset(rec["dataset"]).target
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
            "primary_metric": evaluation.primary_metric(rec["task"]),
        }


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
    client.gather(futures)


def _worker_client_id() -> str:
    from distributed import get_client

    return str(get_client().id)

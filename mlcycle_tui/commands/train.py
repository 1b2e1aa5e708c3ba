"""`mlcycle train` and `mlcycle evaluate`: fit a tracked run; measure a model on data."""

from __future__ import annotations

import argparse
from typing import Any

from mlcycle_tui.commands.base import CliContext, table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[common], help="train a model on a dataset, tracked as a run")
    p.add_argument("ref", help="dataset NAME or NAME@VERSION (needs a target)")
    p.add_argument("--model", "-m", default="rf",
                   help="model kind from `mlcycle models catalog` (default: rf), or any scikit-learn-compatible "
                        "class as module:Class, e.g. sklearn.svm:SVC or lightgbm:LGBMClassifier")
    p.add_argument("--param", "-p", action="append", default=[], metavar="K=V", help="a model parameter")
    p.add_argument("--search", choices=["grid", "random"], help="hyperparameter search with cross-validation")
    p.add_argument("--trials", type=int, default=10, help="random-search trials (10)")
    p.add_argument("--cv", default="3", metavar="FOLDS",
                   help="the search's folds: a count, or kfold, stratified, group:COLUMN or time, "
                        "each with an optional :COUNT, e.g. group:customer or time:5 (default: 3)")
    p.add_argument("--metric", help="the primary metric: the search optimises it, runs are ranked and gates "
                                    "judged by it (default: f1 for classification, rmse for regression; "
                                    "e.g. roc_auc, accuracy, mae, r2)")
    p.add_argument("--positive-class", metavar="LABEL",
                   help="the positive class of a binary target (default: a 1/true/yes label, else the "
                        "minority class)")
    p.add_argument("--target", "-t", help="the column to predict (default: the dataset's target)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the model and the search (default: 42)")
    p.add_argument("--experiment", "-e", help="experiment name (default: the dataset name)")
    p.add_argument("--split", help="a recorded split id (default: time, stratified or random split)")
    p.add_argument("--task", choices=["classification", "regression"], help="force the task")
    p.add_argument("--drop", action="append", default=[], metavar="COL", help="leave a column out")
    p.add_argument("--include", action="append", default=[], metavar="COL", help="use an id/text column")
    p.add_argument("--backend", choices=["joblib", "dask"], default="joblib", help="where the search runs")
    p.add_argument("--scheduler", help="Dask scheduler address for --backend dask")
    p.add_argument("--n-jobs", type=int, help="parallel jobs for the search (default: all cores)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("evaluate", parents=[common], help="metrics of a model or run on a dataset")
    p.add_argument("source", help="model NAME[@VERSION|@ALIAS] or run id")
    p.add_argument("--data", help="dataset reference (default: the run's test split)")
    p.add_argument("--slice", dest="slice_column", help="metrics per value of this column")
    p.add_argument("--sensitive", help="group fairness figures per value of this column")
    p.add_argument("--positive", help="the positive class for fairness figures")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("explain", parents=[common],
                       help="why a model answers given rows: per column contributions (exact for trees, linear)")
    p.add_argument("model", help="model NAME[@VERSION|@ALIAS] (default: production)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", "-i", help="rows to explain (.csv, .parquet, .jsonl): the first --rows of them")
    source.add_argument("--logged", action="store_true",
                        help="explain the model's last --rows logged requests (whichever version answered them)")
    p.add_argument("--rows", type=int, default=5, help="how many rows (default 5, at most 100)")
    p.add_argument("--top", type=int, default=5, help="columns shown per row, largest first (default 5)")
    p.set_defaults(handler=cmd_explain)


def _metric_lines(metrics: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    rows = []
    for k, v in metrics.items():
        if isinstance(v, int | float) and k != "rows":
            b = (baseline or {}).get(k)
            rows.append({"metric": k, "model": v, "baseline": b if isinstance(b, int | float) else None})
    return table(rows, ["metric", "model", "baseline"])


def cmd_train(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().training.train(
        args.ref, args.model, params=args.param, search=args.search, trials=args.trials, cv=args.cv,
        target=args.target, metric=args.metric, positive_class=args.positive_class,
        seed=args.seed, experiment=args.experiment, split=args.split, task=args.task,
        drop=args.drop or None, include=args.include or None, backend=args.backend,
        scheduler=args.scheduler, n_jobs=args.n_jobs, progress=ctx.progress(f"train {args.model}"),
    )
    head = (f"run {result['run_id']} ({result['experiment']}): {result['model']} {result['task']} "
            f"on {result['dataset']}, target {result['target']}, split {result['split_id']}\n"
            f"ranked by {result['primary_metric']}"
            + (f", positive class {result['positive_class']!r}" if result["positive_class"] is not None else "")
            + "\n")
    ctx.emit(result, head + _metric_lines(result["metrics"], result["baseline"])
             + f"\nregister it: mlcycle models register {result['run_id'][:8]} --name NAME")
    return 0


def cmd_explain(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.common.errors import NotFoundError, UserError
    from mlcycle_tui.experiments.explain import contribution_lines

    if args.rows < 1 or args.top < 1:
        raise UserError("--rows and --top must be at least 1")
    ws = ctx.ws()
    if args.logged:
        mv = ws.registry.model_version(args.model)
        frame = ws.predictions.frame(mv.name, last=args.rows)  # the model's last requests, whichever version
        if frame.empty:
            raise NotFoundError(f"no predictions of {mv.name} are logged yet; serve it and send some, "
                                "or explain rows from a file with --input FILE")
        ref = f"{mv.name}@{mv.version}"
    else:
        from pathlib import Path

        from mlcycle_tui.predictions.batch import iter_chunks

        path = Path(args.input)
        if not path.exists():
            raise NotFoundError(f"no such file: {path}; check the path and try again")
        first = next(iter_chunks(path, args.rows), None)  # (the first --rows rows, progress)
        if first is None or first[0].empty:
            raise UserError(f"{path} has no rows to explain; give a file with at least one row")
        frame = first[0].head(args.rows)
        ref = args.model
    result = ws.evaluation.explain_rows(ref, frame)
    ctx.emit(result, "\n".join(contribution_lines(result, args.top)))
    return 0


def cmd_evaluate(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.experiments.evaluation import primary_metric

    result = ctx.ws().evaluation.evaluate(
        args.source, data=args.data, slice_column=args.slice_column, sensitive=args.sensitive,
        positive_label=args.positive,
    )
    from mlcycle_tui.experiments.evaluation import flat_metrics

    lines = [f"run {result['run_id'][:12]} on {result['data']}",
             _metric_lines(flat_metrics(result["metrics"]), flat_metrics(result["baseline"]))]
    cm = result["metrics"].get("confusion_matrix")
    if cm:
        lines.append("confusion matrix (rows: true, columns: predicted)")
        labels = [str(x) for x in cm["labels"]]
        width = max(len(x) for x in labels) + 2
        lines.append(" " * width + "".join(x.rjust(width) for x in labels))
        for lab, row in zip(labels, cm["matrix"], strict=True):
            lines.append(lab.rjust(width) + "".join(str(v).rjust(width) for v in row))
    for value, m in result.get("slices", {}).items():
        main = result.get("primary_metric") or primary_metric(result["task"])
        lines.append(f"slice {value}: rows {m.get('rows')}, {main} {m.get(main)}")
    if "fairness" in result:
        f = result["fairness"]
        for g, v in f["groups"].items():
            lines.append(f"group {g}: selection rate {v['selection_rate']}, TPR {v['tpr']}, FPR {v['fpr']}")
        lines.append(f"largest gaps: {f['gaps']}; ratios: {f['ratios']}")
    explained = ctx.ws().evaluation.explanation(result["run_id"])
    result["explanation"] = explained
    if explained["importances"]:
        lines.append(f"what it relies on: the drop of {explained['metric']} on its test rows when a column is "
                     "shuffled (permutation importance)")
        for row in explained["importances"][:10]:
            lines.append(f"  {row['feature']:<24} {row['importance']:+.4f} (± {row['std']:.4f})")
    ctx.emit(result, "\n".join(lines))
    return 0

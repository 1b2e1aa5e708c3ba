"""`mlcycle import mlflow URI` and `mlcycle import reference MODELREF --data REF|FILE`: history from MLflow.

Why this exists: people who switch to mlcycle bring an `mlflow.db` or an `mlruns/` folder, and
models they logged with MLflow. `import mlflow` brings the store's experiments, runs, metric
histories and scikit-learn models into the workspace (idempotent; what it skips it lists with the
reason); `import reference` gives a model that was trained outside mlcycle the training data its
drift checks compare with. This front door parses the options and prints the report; the work is
`experiments/mlflow_import.py` and `Registry.attach_training_data`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlcycle_tui.commands.base import CliContext


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    imp = sub.add_parser("import", parents=[common], help="bring in MLflow history and models")
    isub = imp.add_subparsers(dest="import_command", metavar="SOURCE", required=True)

    p = isub.add_parser("mlflow", parents=[common],
                        help="experiments, runs, metric histories and scikit-learn models of an MLflow store")
    p.add_argument("uri", metavar="URI", help="sqlite:///path/to/mlflow.db, or the path of an mlruns/ folder")
    p.add_argument("--artifacts", metavar="DIR",
                   help="where the store's artifacts are, if they moved (or a tracking server's "
                        "--artifacts-destination, for mlflow-artifacts:/ URIs)")
    p.set_defaults(handler=cmd_mlflow)

    p = isub.add_parser("reference", parents=[common],
                        help="the training data of a model logged with MLflow, for its drift checks")
    p.add_argument("model", metavar="MODELREF", help="NAME (production, else latest), NAME@VERSION or NAME@ALIAS")
    p.add_argument("--data", required=True, metavar="REF|FILE",
                   help="a dataset reference, or a file to ingest first (CSV, Parquet, JSONL)")
    p.add_argument("--target", metavar="COL", help="the target column (default: the dataset's, or the model's)")
    p.add_argument("--name", metavar="NAME", help="the dataset name when --data is a file (default: the model's)")
    p.set_defaults(handler=cmd_reference)


def cmd_mlflow(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.experiments.mlflow_compat import MlflowTracking
    from mlcycle_tui.experiments.mlflow_import import MlflowImport

    ws = ctx.ws()
    api = MlflowTracking(db=ws.db, artifacts=ws.artifacts, events=ws.events, runs=ws.runs, registry=ws.registry,
                         data=ws.data)
    importer = MlflowImport(db=ws.db, runs=ws.runs, registry=ws.registry, tracking_api=api)
    report = importer.run(args.uri, artifacts_dir=args.artifacts, progress=ctx.progress("importing"))
    ctx.emit(report, _human(report))
    return 0


def _human(r: dict[str, Any]) -> str:
    again = r["already_imported"]
    lines = [f"imported from {r['source']}: {r['experiments']} new experiments, {r['runs']} runs "
             f"({r['metric_values']} metric values, {r['params']} params, {r['tags']} tags), {r['models']} model "
             "versions" + (f", {len(r['aliases'])} aliases" if r["aliases"] else "")]
    if again["runs"] or again["models"]:
        lines.append(f"already in the workspace (left as they are): {again['runs']} runs, {again['models']} "
                     "model versions")
    for v in r["versions"]:
        lines.append(f"  model {v['mlflow']} -> {v['mlcycle']}")
    for a in r["aliases"]:
        lines.append(f"  alias {a['model']}@{a['alias']} -> version {a['version']}")
    for item in r["renamed"]:
        lines.append(f"renamed {item['what']} {item['from']!r} -> {item['to']!r} ({item['reason']})")
    if r["skipped"]:
        lines.append(f"skipped {len(r['skipped'])}:")
        lines += [f"  {s['what']} {s['id']}: {s['reason']}" for s in r["skipped"]]
    if r["runs"] or r["models"]:
        lines.append("next: `mlcycle runs list`; promote a model with `mlcycle models promote NAME VERSION`; give it "
                     "its training data for drift checks with `mlcycle import reference NAME@VERSION --data FILE`")
    return "\n".join(lines)


def cmd_reference(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    mv = ws.registry.model_version(args.model)
    data: Any = args.data
    ingested = None
    if Path(args.data).expanduser().is_file():
        ds = ws.data.ingest(Path(args.data).expanduser(), name=args.name or mv.name,
                            target=args.target or mv.recipe.get("target"))
        data, ingested = ds.ref, ds.ref
    mv = ws.registry.attach_training_data(mv, data, target=args.target)
    reference = ws.monitoring.drift_reference(mv)[1]
    doc = {"model": mv.name, "version": mv.version, "dataset": mv.recipe.get("dataset"), "split_id": mv.split_id,
           "target": mv.recipe.get("target"), "ingested": ingested, "reference_rows": getattr(reference, "rows", None)}
    ctx.emit(doc, f"{mv.ref} now has its training data {doc['dataset']} (split {mv.split_id}, target "
                  f"{doc['target']}): its drift checks compare with it; next: `mlcycle monitor check {mv.ref}`")
    return 0

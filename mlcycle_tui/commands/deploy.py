"""`mlcycle predict` (batch scoring) and `mlcycle export` (bundle or MLflow format)."""

from __future__ import annotations

import argparse
from typing import Any

from mlcycle_tui.commands.base import CliContext


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("predict", parents=[common], help="batch predictions for a CSV, Parquet or JSON-lines file")
    p.add_argument("model", help="model NAME[@VERSION|@ALIAS] (default: production)")
    p.add_argument("--input", "-i", required=True, help="input file (.csv, .parquet, .jsonl)")
    p.add_argument("--output", "-o", required=True, help="output file; format from its extension")
    p.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk (memory bound)")
    p.add_argument("--engine", choices=["auto", "scikit-learn"], default="auto",
                   help="auto: a compiled model (numeric-input forests) scores CSV/Parquet without "
                        "importing scikit-learn; scikit-learn: always the fitted pipeline")
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("export", parents=[common], help="write a deployable bundle or an MLflow model")
    p.add_argument("model", help="model NAME[@VERSION|@ALIAS]")
    p.add_argument("--to", required=True, metavar="DIR", help="a new (or empty) folder")
    p.add_argument("--format", choices=["bundle", "mlflow"], default="bundle",
                   help="bundle: model, serve.py and a Dockerfile; mlflow: an MLflow model directory")
    p.set_defaults(handler=cmd_export)


def cmd_predict(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.chunk_rows < 1:
        from mlcycle_tui.common.errors import UserError

        raise UserError("--chunk-rows must be at least 1")
    result = ctx.ws().batch.predict_file(
        args.model, args.input, args.output, chunk_rows=args.chunk_rows, progress=ctx.progress("predict"),
        compiled=args.engine == "auto",
    )
    ctx.emit(result, f"wrote {result['rows']:,} predictions of {result['model']}@{result['version']} "
                     f"to {result['output']} in {result['seconds']:.2f}s ({result['engine']})")
    return 0


def cmd_export(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().exports.export(args.model, args.to, args.format)
    hint = ("build it: docker build -t model " + result["path"]) if args.format == "bundle" else (
        "load it: mlflow.pyfunc.load_model('" + result["path"] + "')")
    ctx.emit(result, f"exported {result['name']}@{result['version']} as {result['format']} to {result['path']}; {hint}")
    return 0

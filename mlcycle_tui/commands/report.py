"""`mlcycle report drift|evaluation|model ... --out FILE.html`: self-contained HTML reports to open and send.

Why this exists: a report is what a person reads in a browser and forwards to a
colleague; this front door only parses the options and calls `ws.reports`
(`monitoring/reports.py`), which renders one HTML file with no scripts and no
network requests.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlcycle_tui.commands.base import CliContext, drift_method, model_and_current


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser("report", parents=[common],
                            help="self-contained HTML reports: drift, evaluation, model card")
    rsub = report.add_subparsers(dest="report_command", metavar="KIND", required=True)

    p = rsub.add_parser("drift", parents=[common],
                        help="check a model's current data now (recorded, nothing queued) and write the drift report")
    model_and_current(p)
    drift_method(p)
    p.add_argument("--estimate", action="store_true",
                   help="add the estimated performance per chunk of the same rows (CBPE / DLE, with its band)")
    p.add_argument("--chunk", metavar="N", type=int, default=None,
                   help="rows per chunk for --estimate (default 1000, fewer for less traffic)")
    _out(p)
    p.set_defaults(handler=cmd_drift)

    p = rsub.add_parser("evaluation", parents=[common],
                        help="metrics against the baseline, confusion matrix, ROC and PR curves, slices, fairness")
    p.add_argument("source", metavar="MODELREF|RUN", help="model NAME[@VERSION|@ALIAS] or run id")
    p.add_argument("--data", metavar="REF", help="dataset reference (default: the run's test split)")
    _slices(p)
    _out(p)
    p.set_defaults(handler=cmd_evaluation)

    p = rsub.add_parser("model", parents=[common],
                        help="the model card: data, recipe, metrics, slices, fairness, gates, lineage")
    p.add_argument("model", metavar="MODELREF", help="NAME (production), NAME@VERSION or NAME@ALIAS")
    _slices(p)
    _out(p)
    p.set_defaults(handler=cmd_model)


def _slices(p: argparse.ArgumentParser) -> None:
    p.add_argument("--slice", dest="slice_column", metavar="COL", help="metrics per value of this column")
    p.add_argument("--sensitive", metavar="COL", help="fairness gaps between the groups of this column")
    p.add_argument("--positive", metavar="LABEL",
                   help="the positive class for the fairness figures (needed with more than two classes)")


def _out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="FILE.html", help="where to write the report")


def cmd_drift(args: argparse.Namespace, ctx: CliContext) -> int:
    rep = ctx.ws().reports.drift_check(args.model, args.current, window=args.window, last=args.last,
                                       method=args.method, out=args.out, estimate=args.estimate, chunk=args.chunk)
    _emit(rep, ctx)
    return 0


def cmd_evaluation(args: argparse.Namespace, ctx: CliContext) -> int:
    rep = ctx.ws().reports.evaluation(args.source, data=args.data, slice_column=args.slice_column,
                                      sensitive=args.sensitive, positive_label=args.positive, out=args.out)
    _emit(rep, ctx)
    return 0


def cmd_model(args: argparse.Namespace, ctx: CliContext) -> int:
    rep = ctx.ws().reports.model(args.model, slice_column=args.slice_column, sensitive=args.sensitive,
                                 positive_label=args.positive, out=args.out)
    _emit(rep, ctx)
    return 0


def _emit(rep: Any, ctx: CliContext) -> None:
    lines = [rep.message, *(f"note: {n}" for n in rep.notes)]
    ctx.emit(rep.summary(), "\n".join(lines))

"""`mlcycle data source ...`: watched folders, SQLite queries and JSON-lines streams that feed a dataset.

Registered by `commands/data.py` (one line: `register_source(dsub, common)`);
every action calls the Workspace (`data/sources.py`). Sources run while
`mlcycle daemon` or the TUI is open, or at once with `data source run ID`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from mlcycle_tui.commands.base import CliContext, CliExit, table


def register_source(dsub: Any, common: argparse.ArgumentParser) -> None:
    source = dsub.add_parser("source", parents=[common], help="watched sources that append new data on a schedule")
    ssub = source.add_subparsers(dest="source_command", metavar="ACTION", required=True)

    p = ssub.add_parser("add", parents=[common], help="watch a folder, a SQLite query or a growing JSON-lines file")
    p.add_argument("name", metavar="NAME", help="the dataset the source appends to")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--folder", metavar="DIR", help="ingest every new CSV, Parquet or JSON-lines file in DIR")
    where.add_argument("--sqlite", metavar="DB", help="a SQLite file; needs --query and --key")
    where.add_argument("--jsonl", metavar="FILE", help="a JSON-lines file that keeps growing (complete lines only)")
    p.add_argument("--query", metavar="SQL", help="SELECT of a --sqlite source")
    p.add_argument("--key", metavar="COL", help="increasing id or timestamp column: rows past the last one seen")
    p.add_argument("--target", help="the column to predict (default: the dataset's)")
    p.add_argument("--time-column", help="a date/time column (default: the dataset's)")
    p.add_argument("--every", required=True, metavar="DURATION", help="30s, 10m, 1h, 7d")
    p.add_argument("--settle", default="2s", metavar="DURATION",
                   help="a file must be unchanged this long before it is read (default 2s)")
    p.set_defaults(handler=cmd_add)

    p = ssub.add_parser("list", parents=[common], help="sources with next run and last result")
    p.set_defaults(handler=cmd_list)

    p = ssub.add_parser("show", parents=[common], help="one source with its recent runs and files")
    p.add_argument("id", metavar="ID", help="its id (see the list command)")
    p.set_defaults(handler=cmd_show)

    for name, helptext, handler in (
        ("remove", "stop watching (dataset versions stay)", cmd_remove),
        ("run", "run a source now (ingests what is new)", cmd_run),
        ("pause", "stop running it on schedule until resumed", cmd_pause),
        ("resume", "run it on schedule again", cmd_resume),
    ):
        p = ssub.add_parser(name, parents=[common], help=helptext)
        p.add_argument("id", metavar="ID", help="its id (see the list command)")
        p.set_defaults(handler=handler)

    p = ssub.add_parser("check", parents=[common], help="drift check of a model on the rows of the source's last run")
    p.add_argument("id", metavar="ID", help="its id (see the list command)")
    p.add_argument("model", metavar="MODELREF", help="the model whose inputs the new rows are")
    p.add_argument("--action", default="alert", choices=["retrain", "alert"],
                   help="alert (default): only record; retrain: queue a job when the policy says so")
    p.add_argument("--fail-on-drift", action="store_true",
                   help="exit 1 when drift or decay is found, 3 when the check cannot judge")
    p.set_defaults(handler=cmd_check)


def when(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def cmd_add(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().sources.add(args.name, folder=args.folder, sqlite=args.sqlite, query=args.query, key=args.key,
                              jsonl=args.jsonl, target=args.target, time_column=args.time_column,
                              every=args.every, settle=args.settle)
    ctx.emit(doc, f"source {doc['source_id']}: {doc['kind']} {doc['location']} -> dataset {doc['dataset']} every "
                  f"{doc['every']}; it runs while `mlcycle daemon` or the TUI is open "
                  f"(now: `mlcycle data source run {doc['source_id']}`)")
    return 0


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    docs = ctx.ws().sources.list()
    rows = [d | {"id": d["source_id"], "next": "paused" if d["paused"] else when(d["next_due"]),
                 "last": when(d["last_run"]), "result": d["last_error"] or d["last_status"]} for d in docs]
    ctx.emit(docs, table(rows, ["id", "dataset", "kind", "location", "every", "next", "last", "result"],
                         empty="no sources: add one with `mlcycle data source add NAME --folder DIR --every 10m`"))
    return 0


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    doc = ws.sources.get(args.id) | {"runs_recent": ws.sources.runs(args.id, 10),
                                     "files": ws.sources.files(args.id, 50)}
    files = [f | {"file": f["path"], "result": f["status"] + (f": {f['reason']}" if f["reason"] else "")}
             for f in doc["files"]]
    human = (f"source {doc['source_id']}: {doc['kind']} {doc['location']} -> {doc['dataset']} every {doc['every']}"
             f"{' (paused)' if doc['paused'] else ''}\nlast: {doc['last_error'] or doc['last_status'] or '-'}\n\n"
             + table(files, ["file", "dataset_version", "rows", "result"], empty="no files processed yet"))
    ctx.emit(doc, human)
    return 0


def cmd_remove(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().sources.remove(args.id)
    ctx.emit(doc, f"removed source {doc['source_id']} ({doc['kind']} {doc['location']}); dataset versions stay")
    return 0


def cmd_run(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().sources.run(args.id)
    human = f"source {result['source_id']}: {result['status']}"
    for q in result["quarantined"]:
        human += f"\n  quarantined {q['file']} -> {q['path']}: {q['reason']}"
    ctx.emit(result, human)
    if result["error"] or result["status"] == "busy":
        raise CliExit(1)
    return 0


def cmd_pause(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().schedules.pause("source", args.id)
    ctx.emit(doc, f"source {doc['id']} paused")
    return 0


def cmd_resume(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().schedules.resume("source", args.id)
    ctx.emit(doc, f"source {doc['id']} resumed")
    return 0


def cmd_check(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.commands.monitor import _human_report, exit_for

    report = ctx.ws().sources.check_arrivals(args.id, args.model, action=args.action)
    ctx.emit(report, _human_report(report))
    return exit_for(report, args.fail_on_drift, ctx)

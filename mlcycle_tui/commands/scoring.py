"""`mlcycle scoring ...` (scheduled batch scoring of new files) and `mlcycle schedules ...` (every schedule).

Why a `scoring` group rather than `predict schedule`: `mlcycle predict` takes
a positional MODELREF, so `predict schedule ...` would be ambiguous with a
model called "schedule"; a group of its own keeps argparse plain and reads
like `data source`:

    mlcycle scoring add MODELREF --input-dir IN --output-dir OUT --every 1h
    mlcycle scoring list | files ID | run ID | pause ID | resume ID | remove ID
    mlcycle schedules [list] | pause KIND ID | resume KIND ID | run KIND ID | remove KIND ID
"""

from __future__ import annotations

import argparse
from typing import Any

from mlcycle_tui.commands.base import CliContext, CliExit, table
from mlcycle_tui.commands.sources import when
from mlcycle_tui.schedules.periodic import KINDS


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    scoring = sub.add_parser("scoring", parents=[common], help="scheduled batch scoring of new files in a folder")
    ssub = scoring.add_subparsers(dest="scoring_command", metavar="ACTION", required=True)
    p = ssub.add_parser("add", aliases=["schedule"], parents=[common],
                        help="score every new file of --input-dir with MODELREF on a schedule")
    p.add_argument("model", metavar="MODELREF", help="NAME (follows production), NAME@VERSION or NAME@ALIAS")
    p.add_argument("--input-dir", required=True, metavar="DIR", help="new .csv/.parquet/.jsonl files here are scored")
    p.add_argument("--output-dir", required=True, metavar="DIR", help="<stem>.predictions.<ext> files go here")
    p.add_argument("--every", required=True, metavar="DURATION", help="30s, 15m, 1h, 7d")
    p.add_argument("--settle", default="2s", metavar="DURATION",
                   help="a file must be unchanged this long before it is scored (default 2s)")
    p.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk (memory bound)")
    p.set_defaults(handler=cmd_add)
    p = ssub.add_parser("list", parents=[common], help="scoring schedules with next run and last result")
    p.set_defaults(handler=cmd_list)
    for name, helptext, handler in (
        ("files", "what a schedule scored (or rejected), newest first", cmd_files),
        ("run", "score the new files now", cmd_run),
        ("pause", "stop running it on schedule until resumed", cmd_pause),
        ("resume", "run it on schedule again", cmd_resume),
        ("remove", "remove the schedule (outputs stay)", cmd_remove),
    ):
        p = ssub.add_parser(name, parents=[common], help=helptext)
        p.add_argument("id", metavar="ID", help="its id (see the list command)")
        p.set_defaults(handler=handler)

    board = sub.add_parser("schedules", parents=[common], help="every schedule: drift checks, sources, scoring")
    bsub = board.add_subparsers(dest="schedules_command", metavar="ACTION")
    board.set_defaults(handler=cmd_board)
    p = bsub.add_parser("list", parents=[common], help="every schedule with next run and last result")
    p.set_defaults(handler=cmd_board)
    for name, helptext, handler in (
        ("pause", "stop running a schedule until resumed", cmd_board_pause),
        ("resume", "resume a paused schedule", cmd_board_resume),
        ("run", "run a schedule now", cmd_board_run),
        ("remove", "remove a schedule", cmd_board_remove),
    ):
        p = bsub.add_parser(name, parents=[common], help=helptext)
        p.add_argument("kind", choices=KINDS, help="drift, source or scoring")
        p.add_argument("id", metavar="ID", help="its id (see the list command)")
        p.set_defaults(handler=handler)


# -- scoring -----------------------------------------------------------------------------
def cmd_add(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().scoring.add(args.model, args.input_dir, args.output_dir, every=args.every,
                                    settle=args.settle, chunk_rows=args.chunk_rows)
    ctx.emit(doc, f"scoring schedule {doc['schedule_id']}: {doc['model']} on new files of {doc['input_dir']} -> "
                  f"{doc['output_dir']} every {doc['every']}; it runs while `mlcycle daemon` or the TUI is open "
                  f"(now: `mlcycle scoring run {doc['schedule_id']}`)")
    return 0


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    docs = ctx.ws().scoring.list()
    rows = [d | {"id": d["schedule_id"], "next": "paused" if d["paused"] else when(d["next_due"]),
                 "last": when(d["last_run"]), "result": d["last_status"]} for d in docs]
    ctx.emit(docs, table(rows, ["id", "model", "input_dir", "output_dir", "every", "next", "last", "result"],
                         empty="no scoring schedules: add one with `mlcycle scoring add MODEL --input-dir IN "
                               "--output-dir OUT --every 1h`"))
    return 0


def cmd_files(args: argparse.Namespace, ctx: CliContext) -> int:
    rows = ctx.ws().scoring.files(args.id)
    ctx.emit(rows, table(rows, ["path", "status", "output", "version", "rows", "error"], empty="nothing scored yet"))
    return 0


def cmd_run(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().scoring.run(args.id)
    human = f"scoring {result['schedule_id']}: {result['status']}"
    for s in result["scored"]:
        human += f"\n  {s['file']} -> {s['output']} ({s['rows']:,} rows, {s['model']}@{s['version']})"
    for x in result["failed"] + result["rejected"]:
        human += f"\n  {x['file']}: {x['error']}"
    ctx.emit(result, human)
    if result["error"] or result["status"] == "busy":
        raise CliExit(1)
    return 0


def cmd_pause(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().schedules.pause("scoring", args.id)
    ctx.emit(doc, f"scoring schedule {doc['id']} paused")
    return 0


def cmd_resume(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().schedules.resume("scoring", args.id)
    ctx.emit(doc, f"scoring schedule {doc['id']} resumed")
    return 0


def cmd_remove(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().scoring.remove(args.id)
    ctx.emit(doc, f"removed scoring schedule {doc['schedule_id']}; outputs stay in {doc['output_dir']}")
    return 0


# -- every schedule --------------------------------------------------------------------
def cmd_board(args: argparse.Namespace, ctx: CliContext) -> int:
    docs = ctx.ws().schedules.all()
    rows = [d | {"next": "paused" if d["paused"] else when(d["next_due"]), "last": when(d["last_run"]),
                 "result": d["last_error"] or d["last_status"]} for d in docs]
    ctx.emit(docs, table(rows, ["kind", "id", "target", "every", "next", "last", "result"],
                         empty="no schedules: see `mlcycle monitor schedule`, `mlcycle data source add`, "
                               "`mlcycle scoring add`"))
    return 0


def cmd_board_pause(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().schedules.pause(args.kind, args.id)
    ctx.emit(doc, f"{doc['kind']} schedule {doc['id']} paused")
    return 0


def cmd_board_resume(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().schedules.resume(args.kind, args.id)
    ctx.emit(doc, f"{doc['kind']} schedule {doc['id']} resumed")
    return 0


def cmd_board_run(args: argparse.Namespace, ctx: CliContext) -> int:
    result = ctx.ws().schedules.run_now(args.kind, args.id)
    ctx.emit(result, f"{args.kind} schedule {args.id}: {result['status']}")
    if result.get("error") or result["status"] == "busy":
        raise CliExit(1)
    return 0


def cmd_board_remove(args: argparse.Namespace, ctx: CliContext) -> int:
    ctx.ws().schedules.remove(args.kind, args.id)
    ctx.emit({"kind": args.kind, "id": int(args.id), "removed": True}, f"removed {args.kind} schedule {args.id}")
    return 0

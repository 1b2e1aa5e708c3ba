"""`mlcycle init`, `doctor`, `backup` and `restore`: create, check and copy a workspace."""

from __future__ import annotations

import argparse
from typing import Any

from mlcycle_tui.commands.base import CliContext, CliExit


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="create the workspace")
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser(
        "doctor", parents=[common],
        help="check the workspace: missing or corrupted artifacts, orphan files",
    )
    p.add_argument("--fix", action="store_true",
                   help="remove orphan files and unfinished temporary files (*.part) older than an hour")
    p.set_defaults(handler=cmd_doctor)
    p = sub.add_parser(
        "backup", parents=[common],
        help="copy the workspace (database and artifacts) to a new folder; safe while serving",
    )
    p.add_argument("dest", help="a new (or empty) folder for the backup")
    p.set_defaults(handler=cmd_backup)
    p = sub.add_parser("restore", parents=[common], help="make a new workspace from a backup")
    p.add_argument("source", help="the folder `mlcycle backup` wrote")
    p.add_argument("--to", required=True, metavar="DIR", help="the new workspace folder (must not exist or be empty)")
    p.set_defaults(handler=cmd_restore)


def cmd_init(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    ctx.emit({"workspace": str(ws.home)}, f"workspace ready at {ws.home}")
    return 0


def cmd_doctor(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.workspace import Workspace

    report = Workspace.doctor_at(ctx.workspace, fix=args.fix)  # also when the database cannot be opened
    database = report["database"]
    lines = [f"database {database['path']}: " + ("ok (PRAGMA quick_check)" if database["ok"] else "DAMAGED")]
    lines += [f"  {d}" for d in database.get("details", [])[:5]]
    lines.append(f"checked {report['checked']} artifacts")
    for p in report["problems"]:
        lines.append(f"PROBLEM {p['owner']}: {p['problem']}")
    for w in report["warnings"]:
        lines.append(f"WARNING {w}")
    partial = report["partial_files"]
    if partial:
        lines.append(f"found {len(partial)} unfinished temporary files left by interrupted writers:")
        for f in partial:
            state = "removed" if f.get("removed") else f"{f['age_s'] / 60:.0f} min old"
            lines.append(f"  {f['path']} ({f['kind']}, {f['size']:,} bytes, {state})")
        kept = sum(not f.get("removed") for f in partial)
        if kept:
            lines.append(f"  {kept} kept: `--fix` removes those older than an hour (a younger one may belong "
                         "to a writer still at work)" if args.fix else "  remove those older than an hour with --fix")
    if report["orphans"] and report.get("orphans_protected"):
        pass  # the warning above says why none is removed
    elif report["orphans"] and args.fix:
        kept = len(report["orphans"]) - report["removed_orphans"]
        lines.append(f"removed {report['removed_orphans']} orphan files"
                     + (f"; kept {kept} written in the last 5 minutes (maybe still being recorded)" if kept else ""))
    elif report["orphans"]:
        lines.append(f"found {len(report['orphans'])} orphan files (remove with --fix)")
    lines.append("workspace is healthy" if report["ok"] else "workspace has problems (see above)")
    ctx.emit(report, "\n".join(lines))
    if not report["ok"]:
        raise CliExit(1)
    return 0


def cmd_backup(args: argparse.Namespace, ctx: CliContext) -> int:
    report = ctx.ws().backup(args.dest)
    lines = [f"backed up {ctx.ws().home} to {report['path']}: the database and {report['artifacts']} artifacts "
             f"({report['bytes'] / 1e6:.1f} MB), each checked against its sha256"]
    for p in report["problems"]:
        lines.append(f"NOT COPIED {p['artifact']}: {p['problem']}")
    if report["problems"]:
        lines.append("the workspace has damaged artifacts (see above; `mlcycle doctor` lists them): the backup "
                     "lacks them")
    else:
        lines.append(f"restore with `mlcycle restore {report['path']} --to DIR`")
    ctx.emit(report, "\n".join(lines))
    if report["problems"]:
        raise CliExit(1)
    return 0


def cmd_restore(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.workspace import Workspace

    report = Workspace.restore(args.source, args.to)
    lines = [f"restored {report['restored_from']} to {report['path']}: the database and {report['artifacts']} "
             "artifacts, each checked against its sha256"]
    for p in report["problems"]:
        lines.append(f"NOT RESTORED {p['artifact']}: {p['problem']}")
    lines.append(f"use it with `--workspace {report['path']}` (or MLCYCLE_HOME); stop the server and the daemon "
                 "before swapping it in for the old folder")
    ctx.emit(report, "\n".join(lines))
    if report["problems"]:
        raise CliExit(1)
    return 0

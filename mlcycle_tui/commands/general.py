"""`mlcycle init` and `mlcycle doctor`: create and check a workspace."""

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
    p.add_argument("--fix", action="store_true", help="remove orphan files and stale temporary files")
    p.set_defaults(handler=cmd_doctor)


def cmd_init(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    ctx.emit({"workspace": str(ws.home)}, f"workspace ready at {ws.home}")
    return 0


def cmd_doctor(args: argparse.Namespace, ctx: CliContext) -> int:
    report = ctx.ws().doctor(fix=args.fix)
    lines = [f"checked {report['checked']} artifacts"]
    for p in report["problems"]:
        lines.append(f"PROBLEM {p['owner']}: {p['problem']}")
    if report["orphans"] and args.fix:
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

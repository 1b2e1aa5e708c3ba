"""`mlcycle demo`: build a sample workspace by running the whole lifecycle, then open the TUI."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from mlcycle_tui.commands.base import CliContext

DEFAULT_DIR = "mlcycle-demo"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="run the whole lifecycle on sample data in a new workspace, then open the TUI")
    p.add_argument("--no-tui", action="store_true", help="stop after the lifecycle (do not open the TUI)")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.demo import Demo

    home = Path(ctx.workspace) if ctx.workspace else Path.cwd() / DEFAULT_DIR
    start = time.perf_counter()

    def on_step(step: dict[str, Any]) -> None:
        line = f"[{step['seconds']:5.1f}s] {step['step']:<9} {step['summary']}"
        # with --json, stdout carries only the final document
        (sys.stderr if ctx.json else sys.stdout).write(line + "\n")
        (sys.stderr if ctx.json else sys.stdout).flush()

    if not ctx.json:
        print(f"building a demo workspace in {home}")
    result = Demo(home, on_step).run()
    result["seconds"] = round(time.perf_counter() - start, 1)
    ctx.emit(result, f"done in {result['seconds']}s; open it any time with: mlcycle --workspace {home}"
             if not args.no_tui else f"done in {result['seconds']}s; open it with: mlcycle --workspace {home}")
    if args.no_tui:
        return 0
    ctx.workspace = str(home)
    from mlcycle_tui.commands.tui import run_tui

    return run_tui(args, ctx)

"""`mlcycle tui` (and plain `mlcycle`): open the terminal UI on the workspace."""

from __future__ import annotations

import argparse
from typing import Any

from mlcycle_tui.commands.base import CliContext


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tui", parents=[common], help="open the terminal UI (the default)")
    p.set_defaults(handler=run_tui)


def run_tui(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.tui.app import MlcycleApp

    ws = ctx.ws()
    MlcycleApp(ws).run()
    ws.close()
    return 0

"""`mlcycle daemon`: headless server + scheduler + job worker until SIGTERM or Ctrl+C.

For a machine without a terminal UI open: it serves the production models,
runs the scheduled drift checks and works the retraining queue, exactly as the
TUI does in its background threads, and stops cleanly (prediction log flushed,
running job finished or requeued on the next start).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from mlcycle_tui.commands.base import CliContext


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("daemon", parents=[common], help="headless: server + scheduler + job worker (blocks)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; others need a token)")
    p.add_argument("--port", type=int, default=None, help="port (default 5005; 0 picks a free one)")
    p.add_argument("--token", default=None, help="require `Authorization: Bearer TOKEN` (default $MLCYCLE_TOKEN)")
    p.add_argument("--no-server", action="store_true", help="only the scheduler and the job worker")
    p.add_argument("--no-worker", action="store_true", help="do not run retraining jobs in this process")
    p.set_defaults(handler=cmd_daemon)


def cmd_daemon(args: argparse.Namespace, ctx: CliContext) -> int:
    from mlcycle_tui.scheduler.runner import SchedulerRunner
    from mlcycle_tui.server.runner import ServerRunner
    from mlcycle_tui.server.state import ENV_TOKEN

    ws = ctx.ws()
    settings = ws.settings.get("server", {})
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server = None
    scheduler = SchedulerRunner(ws.home, worker=not args.no_worker,
                                on_event=lambda kind, message: ctx.info(f"[{kind}] {message}"))
    try:
        if not args.no_server:
            host = args.host or settings.get("host", "127.0.0.1")
            port = args.port if args.port is not None else int(settings.get("port", 5005))
            token = args.token or os.environ.get(ENV_TOKEN) or None
            server = ServerRunner(ws.home, host, port, token=token).start()
        scheduler.start()
        doc = {"workspace": str(ws.home), "url": server.url if server else None,
               "schedules": len(ws.drift_schedules.list())}
        where = f"serving on {server.url}, " if server else ""
        ctx.emit(doc, f"mlcycle daemon: {where}scheduler and job worker running on {ws.home}")
        ctx.info("SIGTERM or Ctrl+C stops it cleanly")
        while not done.wait(0.5):
            if server is not None and not server.running:
                ctx.info("the server stopped unexpectedly; shutting down")
                return 1
        return 0
    finally:
        scheduler.stop()
        if server is not None:
            server.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        ctx.info("daemon stopped; prediction log flushed")

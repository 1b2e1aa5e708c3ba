"""`mlcycle serve`: the prediction server in the foreground until Ctrl+C or SIGTERM.

One process serves with `--threads` worker threads (waitress). (A `--workers`
option that ran several processes under gunicorn was removed: gunicorn was no
dependency and it had never been tested; every answered prediction's log
guarantee is tested for the one-process server.)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from mlcycle_tui.commands.base import CliContext


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from mlcycle_tui.config import DEFAULT_MAX_BODY_MB  # a few constants: cheap for `--help`

    p = sub.add_parser("serve", parents=[common], help="serve production models over HTTP (blocks)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; others need a token)")
    p.add_argument("--port", type=int, default=None, help="port (default 5005; 0 picks a free one)")
    p.add_argument("--threads", type=int, default=8, help="request threads per process (default 8)")
    p.add_argument("--token", default=None, help="require `Authorization: Bearer TOKEN` (default $MLCYCLE_TOKEN)")
    p.add_argument("--no-batching", action="store_true", help="score every request alone")
    p.add_argument("--max-body-mb", type=float, default=None, metavar="MiB",
                   help="refuse request bodies larger than this with 413 (default: [server] max_body_mb in "
                        f"config.toml, else {DEFAULT_MAX_BODY_MB:g})")
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, ctx: CliContext) -> int:
    """Serve in the foreground, with the garbage collector paused while starting.

    Start-up is mostly importing scikit-learn, SciPy and pandas and unpickling the
    model: hundreds of thousands of allocations that the collector would scan again
    and again for nothing (~8% of the cold start). Once the server listens, what
    start-up made is frozen, so the collections that run between requests skip it.
    """
    import gc

    gc.disable()
    try:
        return _serve(args, ctx)
    finally:
        gc.enable()


def _serve(args: argparse.Namespace, ctx: CliContext) -> int:
    import gc

    from mlcycle_tui.common.errors import UserError
    from mlcycle_tui.server.runner import ServerRunner
    from mlcycle_tui.server.state import ENV_TOKEN

    ws = ctx.ws()
    settings = ws.settings.get("server", {})
    host = args.host or settings.get("host", "127.0.0.1")
    port = args.port if args.port is not None else int(settings.get("port", 5005))
    token = args.token or os.environ.get(ENV_TOKEN) or None
    config: dict[str, Any] = {"batching": False} if args.no_batching else {}
    if args.threads < 1:
        raise UserError("--threads must be at least 1")
    if args.max_body_mb is not None:
        if not args.max_body_mb > 0:
            raise UserError("--max-body-mb must be greater than 0 (a size in MiB, e.g. 64)")
        config["max_body_mb"] = args.max_body_mb
    runner = ServerRunner(ws, host, port, token=token, threads=args.threads, config=config).start()
    gc.enable()
    gc.freeze()
    models = [f"{m['name']}@{m['version']}" for m in runner.stats()["models"]]
    ctx.emit({"url": runner.url, "port": runner.port, "models": models},
             f"serving {len(models)} model(s) ({', '.join(models) or 'none in production yet'}) on {runner.url}\n"
             f"MLflow tracking URI: {runner.url} (MLFLOW_TRACKING_URI={runner.url} python train.py logs here)")
    ctx.info("Ctrl+C to stop; promotions are picked up while running")
    sys.stdout.flush()
    runner.serve_forever()
    ctx.info("stopped; prediction log flushed")
    return 0

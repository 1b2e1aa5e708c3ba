"""`mlcycle serve --workers N`: N processes under gunicorn, each with its own app.

Why this exists: one Python process is bound by the GIL; more processes give
more throughput. gunicorn forks workers that each build the app after the fork
(own models, own log writer thread, own SQLite connection; SQLite's WAL lets
them write the one log). gunicorn is optional: without it `--workers` > 1 is
refused with the way out, rather than silently serving with one process.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.server.state import check_bind


def serve_with_gunicorn(home: Path, host: str, port: int, workers: int, threads: int, token: str | None,
                        config: dict[str, Any], ctx: Any) -> int:
    if importlib.util.find_spec("gunicorn") is None:
        raise UserError(
            f"--workers {workers} needs gunicorn, which is not installed (pip install gunicorn); "
            "or run one process with more --threads"
        )
    check_bind(host, token)
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("graceful_timeout", 30)

        def load(self) -> Any:
            from mlcycle_tui.server.app import create_app
            from mlcycle_tui.workspace import Workspace

            app = create_app(Workspace.open(home), {**config, "host": host, "token": token})
            import atexit

            atexit.register(app.extensions["mlcycle"].close)  # worker exit: flush the log
            return app

    ctx.info(f"serving with {workers} gunicorn workers on {host}:{port}")
    _App().run()
    return 0

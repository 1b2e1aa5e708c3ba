"""The embedded server: waitress in a background thread, with start(), stop() and stats().

Why this exists: `mlcycle serve`, the TUI's Serve screen and the daemon all run
the same server inside their own process. `start()` returns once the socket
listens (port 0 picks a free port, read it from `.port`); `stop()` stops
accepting, lets in-flight requests finish (up to `drain_timeout`), closes the
connections and flushes the prediction log, so nothing answered is lost.
`serve_forever()` adds SIGTERM/SIGINT handling for the command line.

Usage from the TUI::

    runner = ServerRunner(ws, host="127.0.0.1", port=5005).start()
    runner.url, runner.stats()   # requests_per_s, p50_ms, p95_ms, errors, recent, models, log
    runner.stop()
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import OperationError
from mlcycle_tui.server.state import ENV_TOKEN, check_bind

if TYPE_CHECKING:
    from flask import Flask

    from mlcycle_tui.server.state import ServingState
    from mlcycle_tui.workspace import Workspace

log = logging.getLogger("mlcycle.server")
IN_MEMORY_BODY = 4 * 2**20  # larger request bodies are spooled to a temporary file by waitress


class ServerRunner:
    """One prediction server on `host:port` over a workspace (object or path)."""

    def __init__(self, workspace: Workspace | str | Path | None = None, host: str = "127.0.0.1", port: int = 5005,
                 *, token: str | None = None, threads: int = 8, config: dict[str, Any] | None = None,
                 drain_timeout: float = 5.0) -> None:
        self._ws_arg = workspace
        self.host = host
        self.requested_port = port
        self.token = token if token is not None else (os.environ.get(ENV_TOKEN) or None)
        self.threads = threads
        self.config = dict(config or {})
        self.drain_timeout = drain_timeout
        self.stop_watchdog = drain_timeout + 20.0  # serve_forever prints every stack if stopping takes longer
        self.ws: Workspace | None = None
        self.app: Flask | None = None
        self._owns_ws = False
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> ServerRunner:
        """Load the models, bind and listen; returns when requests can be sent."""
        if self._thread is not None:
            return self
        check_bind(self.host, self.token)
        from waitress import create_server

        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" on every burst

        from mlcycle_tui.server.app import create_app
        from mlcycle_tui.workspace import Workspace

        if self._ws_arg is None or isinstance(self._ws_arg, str | Path):
            self.ws = Workspace.open(self._ws_arg)
            self._owns_ws = True
        else:
            self.ws = self._ws_arg
        try:
            self.app = create_app(self.ws, {**self.config, "host": self.host, "token": self.token})
            try:
                body_limit = int(self.app.config["MAX_CONTENT_LENGTH"])
                # Bodies up to IN_MEMORY_BODY stay in memory (waitress spools anything over 512 KB to a
                # temporary file by default) and are read 256 KB at a time, not 8 KB; larger ones go to a
                # temporary file, so that reading one (server.bodies) holds it once, not twice. Waitress
                # refuses bodies over its own limit with a text answer before the app sees them: that
                # limit sits above the app's, whose 413 is JSON.
                self._server = create_server(self.app, host=self.host, port=self.requested_port,
                                             threads=self.threads, ident="mlcycle", connection_limit=1000,
                                             channel_timeout=30, asyncore_use_poll=True,
                                             recv_bytes=262_144,
                                             inbuf_overflow=min(body_limit, IN_MEMORY_BODY),
                                             outbuf_overflow=4 * body_limit,
                                             max_request_body_size=max(2**30, 2 * body_limit))
            except OSError as exc:
                raise OperationError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc}"
                                     " (is another server using that port? try --port 0)") from None
        except BaseException:
            self._close_state()
            raise
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._loop, name="mlcycle-http", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stopped.is_set()

    @property
    def state(self) -> ServingState:
        assert self.app is not None, "start() first"
        return self.app.extensions["mlcycle"]

    def stats(self) -> dict[str, Any]:
        """Live figures for a dashboard (see Telemetry.stats), plus url and served models."""
        if self.app is None:
            return {"running": False}
        return {"running": self.running, "url": self.url, **self.state.stats()}

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, drain in-flight requests, close, flush the prediction log."""
        if self._thread is None:
            return
        self._stopping.set()
        try:
            self._server.pull_trigger()  # wake the loop now (it also wakes every 0.2 s)
        except OSError:
            pass
        self._thread.join(timeout)
        self._thread = None
        self._close_state()

    def _close_state(self) -> None:
        if self.app is not None:
            self.state.close()
        if self._owns_ws and self.ws is not None:
            self.ws.close()
            self._owns_ws = False

    def __enter__(self) -> ServerRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Start (if needed) and block until SIGTERM/SIGINT, then stop cleanly."""
        self.start()
        done = threading.Event()

        def _on_signal(signum: int, frame: Any) -> None:
            if done.is_set():  # a second Ctrl+C/SIGTERM while stopping: stop now. Nothing answered is lost:
                os._exit(128 + signum)  # an answer is sent only once its prediction's row is committed
            done.set()

        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not done.wait(0.5) and self.running:
                pass
        finally:
            watchdog = _arm_stop_watchdog(self.stop_watchdog)
            try:
                self.stop()
            finally:
                if watchdog:
                    faulthandler.cancel_dump_traceback_later()
            for s, handler in previous.items():
                signal.signal(s, handler)

    # -- the loop thread -------------------------------------------------------
    def _loop(self) -> None:
        from waitress import wasyncore

        server = self._server
        socket_map = server._map
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=0.2, map=socket_map, use_poll=True, count=1)
            # stop accepting (keep the trigger so finished responses still wake this loop)
            wasyncore.dispatcher.close(server)
            deadline = time.monotonic() + self.drain_timeout
            while time.monotonic() < deadline and (self.state.inflight > 0 or _busy_channels(socket_map, server)):
                wasyncore.loop(timeout=0.05, map=socket_map, use_poll=True, count=1)
        except Exception:
            log.exception("the HTTP loop failed")
        finally:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)  # no worker touches a socket after
            for obj in list(socket_map.values()):
                try:
                    obj.close()
                except Exception:
                    pass
            self._stopped.set()


def _arm_stop_watchdog(seconds: float) -> bool:
    """If stopping takes longer than `seconds`, print every thread's stack to stderr (where it hangs)."""
    try:
        faulthandler.dump_traceback_later(seconds, exit=False, file=sys.stderr)
        return True
    except (AttributeError, OSError, ValueError):  # stderr without a file descriptor (a TUI, a test)
        return False


def _busy_channels(socket_map: dict[int, Any], server: Any) -> bool:
    """Whether a connection still has a request being served or output to send."""
    for obj in socket_map.values():
        if obj is server or obj is server.trigger:
            continue
        if getattr(obj, "requests", None) or getattr(obj, "total_outbufs_len", 0):
            return True
    return False

"""The app's background services: the prediction server and the scheduler, owned once per app.

Why this exists: the Serve and Monitor screens start and stop them, the
Dashboard shows their state, and leaving the app must stop both cleanly (the
prediction log flushed, a running check finished) whatever screen is in
front. Screens come and go; these outlive them, so the app holds one
`Services`. Starting and stopping block (loading models, draining requests,
waiting for a running check), so callers run them in thread workers.

Scheduler events (drift found, job finished, check skipped) reach the UI as
`ServiceEvent` messages posted to the app: `post_message` is thread-safe and
never waits, so a scheduler thread cannot deadlock with a UI thread that is
waiting in `stop()`.

Process workers: while the app runs, Textual replaces `sys.stdout` and
`sys.stderr` with capture objects whose `fileno()` is -1. joblib's process
backend (loky), which every hyper-parameter search uses, starts two helper
processes on first use, its own resource tracker and multiprocessing's, and
hands each `sys.stderr.fileno()` to keep open: -1 makes `fork_exec` refuse
with "bad value(s) in fds_to_keep", so no search could start from inside the
app. Both trackers are one per process and live as long as it, so `Services`
starts them when the app is built, before Textual swaps the streams; every
later search (Train dialog, reproduce, a retraining job of the in-app
scheduler) finds them running and starts its workers normally.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from textual.app import App

    from mlcycle_tui.scheduler.runner import SchedulerRunner
    from mlcycle_tui.server.runner import ServerRunner
    from mlcycle_tui.workspace import Workspace

EVENTS_KEPT = 50


class ServiceEvent(Message):
    """Something the scheduler did that a user should hear about."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__()
        self.kind = kind
        self.message = message


def start_process_trackers() -> None:
    """Start the helper processes joblib's process workers need, while `sys.stderr` is a real file.

    Call it before the app runs (it does nothing once Textual has swapped the
    streams, and leaves running trackers as they are). Never fatal: if a
    tracker cannot start, a search reports that itself.
    """
    try:
        if sys.stderr is not None and sys.stderr.fileno() < 0:
            return  # inside a running app: no descriptor to hand over
    except (AttributeError, OSError, ValueError):
        pass  # no descriptor at all: the trackers start without one
    try:
        from joblib.externals.loky.backend import resource_tracker as loky_tracker

        loky_tracker.ensure_running()
        if os.name == "posix":  # loky starts multiprocessing's tracker too, for shared memory
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
    except Exception:
        return


class Services:
    """The server and the scheduler of one app; every method may be called from any thread."""

    def __init__(self, app: App[Any], workspace: Workspace) -> None:
        self.app = app
        self.workspace = workspace
        self.server: ServerRunner | None = None
        self.scheduler: SchedulerRunner | None = None
        self.last_stats: dict[str, Any] = {}
        """The server's figures when it was last read (kept after it stops)."""
        self.events: deque[tuple[float, str, str]] = deque(maxlen=EVENTS_KEPT)
        self._lock = threading.RLock()
        self.closed = False
        """Set by `stop_all`: nothing starts afterwards (a start worker may finish after the app ended)."""
        start_process_trackers()

    # -- settings ----------------------------------------------------------------
    def server_defaults(self) -> tuple[str, int]:
        """Host and port from `[server]` in the workspace's config.toml."""
        settings = self.workspace.settings.get("server", {})
        return str(settings.get("host", "127.0.0.1")), int(settings.get("port", 5005))

    def default_token(self) -> str | None:
        from mlcycle_tui.server.state import ENV_TOKEN

        return os.environ.get(ENV_TOKEN) or self.workspace.settings.get("server", {}).get("token") or None

    def scheduler_in_tui(self) -> bool:
        """`[scheduler] in_tui` (default true): start the scheduler when the app starts."""
        value = self.workspace.settings.get("scheduler", {}).get("in_tui", True)
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")

    # -- server ------------------------------------------------------------------
    @property
    def server_running(self) -> bool:
        return self.server is not None and self.server.running

    def start_server(self, host: str, port: int, token: str | None = None) -> ServerRunner:
        """Load the production models and listen; raises MlcycleError (port in use, token needed)."""
        from mlcycle_tui.server.runner import ServerRunner

        with self._lock:
            if self.closed:
                raise RuntimeError("the app is closing")
            if self.server is not None and self.server.running:
                return self.server
            runner = ServerRunner(self.workspace, host, port, token=token or self.default_token())
            runner.start()
            self.server = runner
            self.last_stats = {}
            return runner

    def stop_server(self) -> None:
        """Stop accepting, drain, close, flush the prediction log (blocks up to a few seconds)."""
        with self._lock:
            runner = self.server
            if runner is None:
                return
            if runner.running:
                self.last_stats = runner.stats()
            runner.stop()
            self.last_stats["running"] = False

    def server_stats(self) -> dict[str, Any]:
        """Live figures of the running server, or the last ones read with running False."""
        runner = self.server
        if runner is not None and runner.running:
            self.last_stats = runner.stats()
            return self.last_stats
        return {**self.last_stats, "running": False}

    # -- scheduler ---------------------------------------------------------------
    @property
    def scheduler_running(self) -> bool:
        return self.scheduler is not None and self.scheduler.running

    def start_scheduler(self, *, worker_interval: float | None = None,
                        sync_interval: float | None = None) -> SchedulerRunner | None:
        """Run the scheduled drift checks and the job worker in background threads (None once closed)."""
        from mlcycle_tui.scheduler.runner import SchedulerRunner

        settings = self.workspace.settings.get("scheduler", {})
        with self._lock:
            if self.closed:
                return None
            if self.scheduler is not None and self.scheduler.running:
                return self.scheduler
            runner = SchedulerRunner(
                self.workspace, worker=True,
                worker_interval=float(worker_interval or settings.get("worker_interval", 2.0)),
                sync_interval=float(sync_interval or settings.get("sync_interval", 10.0)),
                on_event=self._on_event,
            )
            runner.start()
            self.scheduler = runner
            return runner

    def stop_scheduler(self) -> None:
        """Stop the threads, waiting for a check or job that is running now."""
        with self._lock:
            runner, self.scheduler = self.scheduler, None
        if runner is not None:
            runner.stop(wait=True)

    def sync_schedules(self) -> None:
        """Pick up a schedule added or removed in this app now, not at the next periodic sync."""
        runner = self.scheduler
        if runner is not None and runner.running:
            runner.sync()

    def running_job(self) -> int | None:
        """The id of a retraining job this process is running now, if any."""
        if not self.scheduler_running:
            return None
        try:
            jobs = self.workspace.jobs.list(status="running")
        except Exception:
            return None
        mine = [j["id"] for j in jobs if j.get("pid") == os.getpid()]
        return mine[0] if mine else None

    # -- both --------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.server_running or self.scheduler_running

    def stop_all(self) -> None:
        """Stop the server (log flushed) and the scheduler for good; safe to call twice."""
        with self._lock:
            self.closed = True
        try:
            self.stop_server()
        finally:
            self.stop_scheduler()

    def _on_event(self, kind: str, message: str) -> None:
        self.events.appendleft((time.time(), kind, message))
        self.app.post_message(ServiceEvent(kind, message))

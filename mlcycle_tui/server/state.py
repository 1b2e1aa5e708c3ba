"""What one running app holds: the workspace, served models, the log writer, telemetry.

Why this exists: the views, the runner and the TUI need the same objects, and
they must be started and stopped in the right order (models loaded before the
first request; the log flushed after the last one). `ServingState` owns that
order; `create_app` keeps it in `app.extensions["mlcycle"]`.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.config import DEFAULT_MAX_BODY_MB
from mlcycle_tui.server.logwriter import PredictionLogWriter
from mlcycle_tui.server.models import ModelCache
from mlcycle_tui.server.telemetry import Telemetry

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace

ENV_TOKEN = "MLCYCLE_TOKEN"


@dataclass
class ServerConfig:
    """Settings of one server; defaults come from the workspace's `[server]` settings."""

    host: str = "127.0.0.1"
    token: str | None = None
    max_body_mb: float = DEFAULT_MAX_BODY_MB  # 413 above it; JSON, CSV and Parquet bodies parse in ~3x of it
    batching: bool = True
    batch_window_ms: float = 2.0
    poll_interval: float = 1.0
    log_queue_size: int = 10_000
    log_flush_interval: float = 0.1  # how often an idle log writer looks at its queue
    log_put_timeout: float = 5.0
    log_max_defer: float = 0.5  # accepted, unused since replies wait for their commit (group commit)
    log_predictions: bool = True  # False only to measure what logging costs (bench/bench_serve.py)
    compiled: bool = True  # serve a version's compiled form (registry/compiled.py) when it has one

    @classmethod
    def build(cls, settings: dict[str, Any], overrides: dict[str, Any] | None = None) -> ServerConfig:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in dict(settings.get("server", {})).items() if k in known}
        for k, v in (overrides or {}).items():
            if k not in known:
                raise UserError(f"unknown server setting {k!r}; known: {', '.join(sorted(known))}")
            if v is not None:
                values[k] = v
        return cls(**values)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise UserError(
            f"refusing to serve on {host} without a token: anyone who can reach it could use your models. "
            f"Pass --token SECRET or set {ENV_TOKEN} (clients then send `Authorization: Bearer SECRET`), "
            "or bind 127.0.0.1"
        )


@dataclass
class ServingState:
    ws: Workspace
    config: ServerConfig
    telemetry: Telemetry = field(default_factory=Telemetry)
    models: ModelCache = field(init=False)
    writer: PredictionLogWriter = field(init=False)
    inflight: int = 0
    last_answer: float = 0.0  # time.monotonic() when a request last ended
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _idle: threading.Condition = field(init=False)
    closed: bool = False

    def __post_init__(self) -> None:
        self._idle = threading.Condition(self._lock)
        self.models = ModelCache(self.ws, batching=self.config.batching,
                                 window_s=self.config.batch_window_ms / 1000.0, on_swap=self._swapped,
                                 compiled=self.config.compiled)
        self.writer = PredictionLogWriter(self.ws, maxsize=self.config.log_queue_size,
                                          flush_interval=self.config.log_flush_interval,
                                          put_timeout=self.config.log_put_timeout,
                                          wait_idle=self.wait_quiet, max_defer=self.config.log_max_defer)

    def start(self) -> None:
        self.models.refresh()
        self.telemetry.served.set(len(self.models.served()))
        self.writer.start()
        self.models.start_polling(self.config.poll_interval)

    def _swapped(self, name: str, old: int | None, new: int | None) -> None:
        self.telemetry.swaps.labels(name).inc()
        self.telemetry.served.set(len(self.models.served()))

    def enter(self) -> None:
        with self._lock:
            self.inflight += 1

    def leave(self) -> None:
        with self._lock:
            self.inflight -= 1
            self.last_answer = time.monotonic()
            if self.inflight <= 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: self.inflight <= 0, timeout)

    def wait_quiet(self, timeout: float, quiet: float = 0.01) -> bool:
        """Whether, within `timeout`, no request has been in flight for `quiet` seconds.

        The log writer works at such moments: a client sending large requests back to back
        leaves gaps of a few milliseconds (while the next body arrives) that are not quiet.
        It looks every `quiet` seconds rather than being woken by each answer: under steady
        traffic, waking the writer hundreds of times a second cost throughput (the GIL).
        """
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            with self._lock:
                inflight, calm = self.inflight, now - self.last_answer
            if inflight <= 0 and calm >= quiet:
                return True
            left = deadline - now
            if left <= 0:
                return False
            time.sleep(min(left, quiet if inflight > 0 else quiet - calm))

    def close(self) -> None:
        """Stop the poller and write every queued prediction (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.models.stop()
        self.writer.close()

    def stats(self) -> dict[str, Any]:
        out = self.telemetry.stats()
        out["models"] = [{"name": m.name, "version": m.version, "task": m.mv.task} for m in self.models.served()]
        out["log"] = {"pending": self.writer.pending, "written": self.writer.written,
                      "failures": self.writer.failures, "last_error": self.writer.last_error}
        out["inflight"] = self.inflight
        out["model_error"] = self.models.last_error
        out["model_problems"] = self.models.problems()  # production versions that cannot be served as they should
        return out

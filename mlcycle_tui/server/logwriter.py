"""The prediction log writer: a bounded queue and one thread that inserts in batches.

Why this exists: every served prediction must be logged (monitoring and
retraining read the log) without making requests wait on SQLite. Request
threads put one entry per request on a bounded queue; one writer thread, with
its own connection, drains it every `flush_interval` (<= 0.2 s) and inserts
everything it took in one transaction (`Workspace.log_predictions`). When the
queue is full, `submit` blocks up to `put_timeout` (back-pressure) and then
raises `LogBackpressure`, which the server answers with 503 before replying,
so an answered prediction is always a logged one. `close()` drains the queue
before returning: stop(), SIGTERM and SIGINT all go through it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd

from mlcycle_tui.core.predlog import prediction_row

if TYPE_CHECKING:
    from mlcycle_tui.core.workspace import Workspace

log = logging.getLogger("mlcycle.server")
MAX_ENTRIES_PER_TRANSACTION = 5_000


class LogBackpressure(Exception):
    """The log queue stayed full for `put_timeout` seconds."""


@dataclass
class LogEntry:
    """The predictions of one request (rows are built on the writer thread)."""

    model: str
    version: int
    ids: list[str]
    inputs: pd.DataFrame
    outputs: list[Any]
    probabilities: list[list[float]] | None
    latency_ms: float
    at: float
    source: str = "http"
    request_id: str | None = None

    def rows(self) -> list[tuple[Any, ...]]:
        """Rows for `Workspace.log_predictions` (the layout of `core.predlog.prediction_row`).

        Runs on the writer thread. Values are encoded by orjson (NaN and infinity -> null,
        floats in their shortest exact form, dates as ISO text) one row at a time, so the
        writer gives the GIL back to request threads between rows; a value orjson cannot
        encode sends the entry down the careful, slower path of `prediction_row`.
        """
        try:
            inputs = _encode_records(self.inputs)
            outputs = [_dumps(v) for v in self.outputs]
            proba = None if self.probabilities is None else [_dumps(p) for p in self.probabilities]
        except (TypeError, ValueError, OverflowError):
            inputs = []
        if len(inputs) != len(self.ids):
            return [prediction_row(pid, self.model, self.version, rec, self.outputs[i],
                                   None if self.probabilities is None else self.probabilities[i],
                                   latency_ms=self.latency_ms, source=self.source, request_id=self.request_id,
                                   at=self.at)
                    for i, (pid, rec) in enumerate(zip(self.ids, self.inputs.to_dict("records"), strict=True))]
        head = (self.model, self.version, self.at, self.latency_ms, self.source, self.request_id)
        if proba is None:
            return [(pid, *head, inputs[i], outputs[i], None) for i, pid in enumerate(self.ids)]
        return [(pid, *head, inputs[i], outputs[i], proba[i]) for i, pid in enumerate(self.ids)]


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """What orjson cannot encode by itself: NaT/NA (null), numpy and pandas scalars."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot log a {type(value).__name__}")


def _encode_records(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row of `frame` ({column: value}; NaN, NaT and infinity -> null)."""
    columns = [str(c) for c in frame.columns]
    dumps, options = orjson.dumps, _OPTIONS
    return [dumps(dict(zip(columns, row, strict=True)), default=_default, option=options).decode()
            for row in frame.to_numpy(dtype=object).tolist()]


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_default, option=_OPTIONS).decode()


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


class PredictionLogWriter:
    """Owns the queue and the writer thread (see the module doc)."""

    def __init__(self, ws: Workspace, *, maxsize: int = 10_000, flush_interval: float = 0.1,
                 put_timeout: float = 5.0) -> None:
        self.ws = ws
        self.flush_interval = min(flush_interval, 0.2)
        self.put_timeout = put_timeout
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._thread: threading.Thread | None = None
        self._closed = False
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mlcycle-log-writer", daemon=True)
            self._thread.start()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def submit(self, entry: LogEntry) -> None:
        if self._closed:
            raise LogBackpressure("the server is shutting down")
        try:
            self._queue.put(entry, timeout=self.put_timeout)
        except queue.Full:
            raise LogBackpressure(f"the prediction log is {self._queue.maxsize} requests behind") from None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted before this call is in the database."""
        if self._thread is None:
            return self._queue.empty()
        marker = _Flush()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Write everything queued, then stop the thread."""
        self._closed = True
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    # -- the writer thread ---------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                continue
            taken = [first]
            if isinstance(first, LogEntry) and self._queue.qsize() < self._queue.maxsize // 2:
                time.sleep(self.flush_interval / 2)  # let a batch gather: fewer, larger transactions
            while len(taken) < MAX_ENTRIES_PER_TRANSACTION:  # everything queued now, in one transaction
                try:
                    taken.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for e in taken if isinstance(e, LogEntry)]
            stop = any(e is None for e in taken)
            self._write(entries)
            for marker in taken:
                if isinstance(marker, _Flush):
                    marker.done.set()
        # anything put after the sentinel (should not happen) is written too
        rest = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, LogEntry):
                rest.append(item)
            elif isinstance(item, _Flush):
                item.done.set()
        self._write(rest)

    def _write(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        rows = [row for e in entries for row in e.rows()]
        delay = 0.05
        while True:
            try:
                self.written += self.ws.log_predictions(rows)
                return
            except Exception as exc:  # locked for longer than busy_timeout, disk full...: retry, never drop
                self.failures += 1
                self.last_error = f"writing the prediction log failed: {exc}"
                log.error("%s (retrying in %.1fs)", self.last_error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

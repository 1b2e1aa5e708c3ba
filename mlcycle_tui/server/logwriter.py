"""The prediction log writer: a bounded queue and one thread that inserts in batches.

Why this exists: every served prediction must be logged (monitoring and
retraining read the log) without making requests wait on SQLite. Request
threads put one entry per request on a bounded queue; one writer thread, with
its own connection, drains it every `flush_interval` (<= 0.2 s) and inserts
what it took in transactions of about `SLICE_ROWS` rows (`Workspace.log_predictions`). When the
queue is full, `submit` blocks up to `put_timeout` (back-pressure) and then
raises `LogBackpressure`, which the server answers with 503 before replying,
so an answered prediction is always a logged one. `close()` drains the queue
before returning: stop(), SIGTERM and SIGINT all go through it.

The writer yields to large requests: when what it took holds a request of at
least `SLICE_ROWS` rows and it was given `wait_idle` (the server's wait for a
quiet moment, `ServingState.wait_quiet`: no request in flight for 10 ms), it
encodes and inserts in slices of `SLICE_ROWS` rows and waits for quiet before each slice,
but never longer than `max_defer` seconds after it took the batch, and not at
all when a flush is asked for, when the server closes or when the queue is half
full. Logging 10,000 rows costs ~40 ms of Python (the GIL) plus the inserts;
done between requests instead of during the next one, it stays off the answer
times of large requests. Under continuous traffic the deadline keeps the log
at most `max_defer` behind. One-row requests are logged at once: deferring them
under steady traffic cost more throughput than it saved.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd

from mlcycle_tui.predictions.log import prediction_row

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace

log = logging.getLogger("mlcycle.server")
MAX_ENTRIES_PER_TRANSACTION = 5_000
SLICE_ROWS = 1_000  # rows encoded between two looks at whether requests are waiting


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

    def slices(self, size: int) -> list[LogEntry]:
        """This entry cut into entries of at most `size` rows (itself when it is small)."""
        n = len(self.ids)
        if n <= size:
            return [self]
        return [LogEntry(self.model, self.version, self.ids[a:a + size], self.inputs.iloc[a:a + size],
                         self.outputs[a:a + size],
                         None if self.probabilities is None else self.probabilities[a:a + size],
                         self.latency_ms, self.at, self.source, self.request_id)
                for a in range(0, n, size)]

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
    columns = [str(c) for c in frame.columns.tolist()]  # iterating the Index itself costs ~15 us
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
                 put_timeout: float = 5.0, wait_idle: Callable[[float], bool] | None = None,
                 max_defer: float = 0.5) -> None:
        self.ws = ws
        self.flush_interval = min(flush_interval, 0.2)
        self.put_timeout = put_timeout
        self.wait_idle = wait_idle
        self.max_defer = max_defer
        self._urgent = threading.Event()  # a flush or close is waiting: no more deferring
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
        self._urgent.set()
        try:
            self._queue.put(marker, timeout=timeout)
        except queue.Full:
            return False
        return marker.done.wait(timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Write everything queued, then stop the thread."""
        self._closed = True
        self._urgent.set()
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
            if len(entries) < len(taken):
                self._urgent.set()
            large = any(len(e.ids) >= SLICE_ROWS for e in entries)  # small ones are cheap: no waiting
            self._write(entries, time.monotonic() + self.max_defer if large else None)
            if self._queue.empty():
                self._urgent.clear()
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

    def _yield_to_requests(self, deadline: float) -> None:
        """Wait (up to `deadline`) until no request is being answered, unless the log is needed now."""
        if self.wait_idle is None:
            return
        while not self._urgent.is_set() and self._queue.qsize() < self._queue.maxsize // 2:
            left = deadline - time.monotonic()
            if left <= 0 or self.wait_idle(min(left, 0.05)):
                return

    def _write(self, entries: list[LogEntry], deadline: float | None = None) -> None:
        """Encode and insert `entries`, about `SLICE_ROWS` rows per transaction."""
        pending: list[tuple[Any, ...]] = []
        for entry in entries:
            for part in entry.slices(SLICE_ROWS):
                if deadline is not None:
                    self._yield_to_requests(deadline)
                pending += part.rows()
                if len(pending) >= SLICE_ROWS:
                    if deadline is not None:
                        self._yield_to_requests(deadline)
                    self._insert(pending)
                    pending = []
        if pending:
            if deadline is not None:
                self._yield_to_requests(deadline)
            self._insert(pending)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        delay = 0.05
        while True:
            try:
                self.written += self.ws.predictions.log(rows)
                return
            except Exception as exc:  # locked for longer than busy_timeout, disk full...: retry, never drop
                self.failures += 1
                self.last_error = f"writing the prediction log failed: {exc}"
                log.error("%s (retrying in %.1fs)", self.last_error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

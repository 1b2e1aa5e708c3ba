"""The prediction log writer: group commit, so that an answered prediction is always a logged one.

Why this exists: every served prediction must be logged (monitoring and
retraining read the log), and the log must not lose a prediction the server has
answered, even when the process is killed (SIGKILL, OOM killer, a crash) a
moment after the answer. Request threads hand one entry per request to one
writer thread (a bounded queue) and wait: `commit(entry)` returns only once the
transaction holding the entry's rows has been committed, and the server answers
after that. The database is in WAL mode with `synchronous = NORMAL`
(`storage/db.py`): a commit appends the transaction to the WAL file without an
fsync, which survives a kill of the process (the operating system holds the
written pages); only a power cut or an OS crash can lose the latest commits
(`synchronous = FULL` would fsync every commit; the checkpoints are fsynced either way).

Group commit keeps that cheap: the writer starts a transaction as soon as an
entry arrives and puts into it everything that arrived while the previous one
was being written, so under load one commit answers many requests, and a lone
request waits for one small transaction (a fraction of a millisecond) instead
of a flush interval.

Back-pressure: `commit` waits at most `put_timeout` for room in the queue and
for the commit together (a large request's wait starts again each time one of its
slices commits: the log is keeping up, only slowly); after that it withdraws the entry and raises
`LogBackpressure`, which the server answers with 503, so a 503 is not logged
and a 200 always is. An entry whose transaction is under way cannot be
withdrawn: its request waits for that transaction to commit (then it is a 200)
or fail (then a 503); when another process holds the database's write lock,
that is up to SQLite's busy timeout (30 s). A large request answered 503 keeps
the slices already committed. `close()` writes everything queued before it
returns: stop(), SIGTERM and SIGINT all go through it.

Large requests: a request of at least `SLICE_ROWS` rows is encoded and inserted
in slices of `SLICE_ROWS` rows, one slice per transaction, and every transaction
also takes the small entries waiting at that moment: a one-row request that
arrives while 10,000 rows are being logged waits for one slice, not for all of
them. The writer used to defer large requests to a quiet moment (no request in
flight), up to `max_defer` late; with the answer waiting for the commit that
cannot hold (the large request is itself in flight until its rows are written),
so its logging (~4 ms of encoding and a few ms of inserting per 1,000 rows) is
now part of its own answer time. `wait_idle` and `max_defer` are accepted and unused.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from mlcycle_tui.predictions.log import prediction_row
from mlcycle_tui.server.light import LightRows

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace

log = logging.getLogger("mlcycle.server")
MAX_ENTRIES_PER_TRANSACTION = 5_000
SLICE_ROWS = 1_000  # a request this large is written one slice of this many rows per transaction
FLOAT_PATH_ROWS = 32  # from this many rows, a frame of float64 columns is encoded column-wise


class LogBackpressure(Exception):
    """The prediction log could not take or write an entry within `put_timeout` seconds (a 503)."""


@dataclass(eq=False)
class LogEntry:
    """The predictions of one request (rows are built on the writer thread).

    The fields after `request_id` are the writer's bookkeeping, read and changed under its lock.
    """

    model: str
    version: int
    ids: list[str]
    inputs: pd.DataFrame | LightRows  # the checked rows (server/inputs.conform or server/light.py)
    outputs: list[Any]
    probabilities: list[list[float]] | None
    latency_ms: float
    at: float
    source: str = "http"
    request_id: str | None = None
    committed: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    parts_left: int = field(default=0, init=False, repr=False)  # slices not committed yet
    parts_done: int = field(default=0, init=False, repr=False)  # slices committed (a large entry's progress)
    writing: bool = field(default=False, init=False, repr=False)  # in a transaction that holds the write lock
    withdrawn: bool = field(default=False, init=False, repr=False)  # given up by its request: never written
    error: str | None = field(default=None, init=False, repr=False)  # could not be encoded (never expected)

    def slices(self, size: int) -> list[LogEntry]:
        """This entry cut into entries of at most `size` rows (itself when it is small)."""
        n = len(self.ids)
        if n <= size:
            return [self]
        inputs = self._frame()
        return [LogEntry(self.model, self.version, self.ids[a:a + size], inputs.iloc[a:a + size],
                         self.outputs[a:a + size],
                         None if self.probabilities is None else self.probabilities[a:a + size],
                         self.latency_ms, self.at, self.source, self.request_id)
                for a in range(0, n, size)]

    def _frame(self) -> pd.DataFrame:
        return self.inputs.frame() if isinstance(self.inputs, LightRows) else self.inputs

    def rows(self) -> list[tuple[Any, ...]]:
        """Rows for `Workspace.log_predictions` (the layout of `core.predlog.prediction_row`).

        Runs on the writer thread. Values are encoded by orjson (NaN and infinity -> null,
        floats in their shortest exact form, dates as ISO text) one row at a time, so the
        writer gives the GIL back to request threads between rows; a value orjson cannot
        encode sends the entry down the careful, slower path of `prediction_row`.
        """
        try:
            inputs = self.inputs.records_json() if isinstance(self.inputs, LightRows) else _encode_records(self.inputs)
            outputs = [_dumps(v) for v in self.outputs]
            proba = None if self.probabilities is None else [_dumps(p) for p in self.probabilities]
        except (TypeError, ValueError, OverflowError):
            inputs = []
        if len(inputs) != len(self.ids):
            return [prediction_row(pid, self.model, self.version, rec, self.outputs[i],
                                   None if self.probabilities is None else self.probabilities[i],
                                   latency_ms=self.latency_ms, source=self.source, request_id=self.request_id,
                                   at=self.at)
                    for i, (pid, rec) in enumerate(zip(self.ids, self._frame().to_dict("records"), strict=True))]
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
    if len(frame) >= FLOAT_PATH_ROWS and len(set(columns)) == len(columns) and all(
            dtype == np.float64 for dtype in frame.dtypes):
        return _encode_float_records(frame, columns)
    dumps, options = orjson.dumps, _OPTIONS
    return [dumps(dict(zip(columns, row, strict=True)), default=_default, option=options).decode()
            for row in frame.to_numpy(dtype=object).tolist()]


def _encode_float_records(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """`_encode_records` for a frame of float64 columns only, the same text in about half the time.

    orjson writes the whole array at once (the same shortest form of each float as for a Python
    float; NaN and infinity -> null); the text is cut into rows and values (numbers hold no
    brackets or commas) and each row is formatted into `{"column": value, ...}`.
    """
    template = "{" + ",".join(orjson.dumps(c).decode().replace("%", "%%") + ":%s" for c in columns) + "}"
    text = orjson.dumps(np.ascontiguousarray(frame.to_numpy(dtype=np.float64)),
                        option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return [template % tuple(row.split(",")) for row in text[2:-2].split("],[")]


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_default, option=_OPTIONS).decode()


_NOTHING = object()


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.after: list[LogEntry] = []  # what was queued before it and not yet committed


class _Part:
    """One slice of an entry, written in one transaction."""

    __slots__ = ("entry", "piece")

    def __init__(self, entry: LogEntry, piece: LogEntry) -> None:
        self.entry, self.piece = entry, piece


def _finished(entry: LogEntry) -> bool:
    return entry.committed.is_set() or entry.withdrawn


class PredictionLogWriter:
    """Owns the queue and the writer thread (see the module doc).

    `flush_interval` is only how often an idle writer looks up from its queue (nothing waits on
    it); `wait_idle` and `max_defer` are accepted for compatibility and unused.
    """

    def __init__(self, ws: Workspace, *, maxsize: int = 10_000, flush_interval: float = 0.1,
                 put_timeout: float = 5.0, wait_idle: Callable[[float], bool] | None = None,
                 max_defer: float = 0.5) -> None:
        self.ws = ws
        self.flush_interval = min(flush_interval, 0.2)
        self.put_timeout = put_timeout
        self.wait_idle = wait_idle
        self.max_defer = max_defer
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._lock = threading.Lock()  # the entries' writing / withdrawn / parts_left / committed
        self._thread: threading.Thread | None = None
        self._closed = False
        self._backlog = 0  # entries taken from the queue and not written yet
        self.written = 0
        self.commits = 0
        self.failures = 0
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mlcycle-log-writer", daemon=True)
            self._thread.start()

    @property
    def pending(self) -> int:
        return self._queue.qsize() + self._backlog

    def submit(self, entry: LogEntry) -> None:
        """Queue `entry` without waiting for it to be written (`commit` waits)."""
        if self._closed:
            raise LogBackpressure("the server is shutting down")
        try:
            self._queue.put(entry, timeout=self.put_timeout)
        except queue.Full:
            raise LogBackpressure(f"the prediction log is {self._queue.maxsize} requests behind") from None

    def commit(self, entry: LogEntry) -> None:
        """Queue `entry` and return once its rows are committed: answer the request after this.

        Raises `LogBackpressure` when that did not happen within `put_timeout` seconds (waiting for
        room in the queue included; restarted whenever one of its slices commits); the entry is then
        withdrawn: not written (a large one keeps the slices already committed). An entry whose
        transaction is under way is waited for.
        """
        deadline = time.monotonic() + self.put_timeout
        self.submit(entry)
        done = 0
        while not entry.committed.wait(max(0.0, deadline - time.monotonic())):
            if entry.parts_done > done:  # slices of it were committed meanwhile: the log moves, wait on
                done = entry.parts_done
                deadline = time.monotonic() + self.put_timeout
                continue
            if self._withdraw(entry):
                raise LogBackpressure(f"the prediction log could not be written within {self.put_timeout:g} s")
            deadline = time.monotonic() + 0.01  # its transaction is under way: wait until it commits or fails
        if entry.error is not None:
            raise LogBackpressure(entry.error)

    def _withdraw(self, entry: LogEntry) -> bool:
        with self._lock:
            if entry.writing or entry.committed.is_set():
                return False
            entry.withdrawn = True
            return True

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
        small: list[_Part] = []  # whole entries of fewer than SLICE_ROWS rows
        large: deque[_Part] = deque()  # slices of the larger ones, oldest first
        outstanding: list[LogEntry] = []  # taken, not finished: what a flush marker waits for
        flushes: list[_Flush] = []
        stop = False
        while True:
            busy = bool(small or large)
            try:  # closing (stop): what is still queued is written, without waiting for more
                item = self._queue.get_nowait() if busy or stop else self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                if not busy:
                    if stop:
                        break
                    continue
                item = _NOTHING
            taken = 0
            while item is not _NOTHING:  # everything queued now goes into the next transaction
                if item is None:
                    stop = True
                elif isinstance(item, _Flush):
                    item.after = [e for e in outstanding if not _finished(e)]
                    flushes.append(item)
                else:
                    pieces = item.slices(SLICE_ROWS)
                    item.parts_left = len(pieces)
                    (large if len(item.ids) >= SLICE_ROWS else small).extend(_Part(item, p) for p in pieces)
                    outstanding.append(item)
                taken += 1
                if taken >= MAX_ENTRIES_PER_TRANSACTION:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            while large and large[0].entry.withdrawn:
                large.popleft()
            parts, small = small + ([large.popleft()] if large else []), []  # small ones never wait long
            self._backlog = len({id(p.entry) for p in large})
            self._write(parts)
            outstanding = [e for e in outstanding if not _finished(e)]
            if flushes:
                for marker in flushes:
                    if all(_finished(e) for e in marker.after):
                        marker.done.set()
                flushes = [m for m in flushes if not m.done.is_set()]
        self._backlog = 0
        for marker in flushes:
            marker.done.set()

    def _write(self, parts: list[_Part]) -> None:
        """Encode `parts` and insert them in one transaction (retried until it commits)."""
        encoded: list[tuple[_Part, list[tuple[Any, ...]]]] = []
        for part in parts:
            if part.entry.withdrawn:
                continue
            try:
                encoded.append((part, part.piece.rows()))
            except Exception as exc:  # prediction_row handles anything JSON can hold: not expected
                log.exception("a prediction could not be encoded for the log")
                with self._lock:
                    part.entry.error = f"the prediction could not be logged: {exc}"
                    part.entry.committed.set()
        if not encoded:
            return
        delay = 0.05
        while True:
            with self._lock:  # from here until it fails or commits, a waiting request cannot withdraw
                live = [(p, rows) for p, rows in encoded if not p.entry.withdrawn]
                for p, _ in live:
                    p.entry.writing = True
            if not live:
                return
            try:
                n = self.ws.predictions.log([row for _, rows in live for row in rows])  # one transaction
            except Exception as exc:  # locked for longer than busy_timeout, disk full...: retry, never drop
                with self._lock:
                    for p, _ in live:
                        p.entry.writing = False
                self.failures += 1
                self.last_error = f"writing the prediction log failed: {exc}"
                log.error("%s (retrying in %.1fs)", self.last_error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            with self._lock:
                for p, _ in live:
                    entry = p.entry
                    entry.writing = False
                    entry.parts_left -= 1
                    entry.parts_done += 1
                    if entry.parts_left <= 0:
                        entry.committed.set()
            self.written += n
            self.commits += 1
            return

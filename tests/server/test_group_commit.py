"""Group commit in the prediction log writer: a request is answered only once its rows are committed.

Real SQLite files (copies of the trained workspace), a real writer thread, a real server on
127.0.0.1 with port 0. What a commit means is checked from a second connection, as another
process (or the next server, after a kill) would see it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.server import logwriter
from mlcycle_tui.server.logwriter import LogBackpressure, LogEntry, PredictionLogWriter
from mlcycle_tui.server.runner import ServerRunner
from mlcycle_tui.workspace import Workspace

from .helpers import ROW, Client

PREDICT = "/v1/models/penguins/predict"


def _entry(pid: str, rows: int = 1) -> LogEntry:
    frame = pd.DataFrame({"x": [float(i) for i in range(rows)]})
    ids = [pid] if rows == 1 else [f"{pid}-{i}" for i in range(rows)]
    return LogEntry("m", 1, ids, frame, [1] * rows, None, 0.5, time.time())


def _logged(home: Path) -> set[str]:
    """The ids in the log, read through a connection of its own (what another process sees)."""
    conn = sqlite3.connect(home / "mlcycle.db", timeout=30)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM predictions")}
    finally:
        conn.close()


@pytest.fixture
def writer(ws: Workspace) -> Iterator[PredictionLogWriter]:
    w = PredictionLogWriter(ws, flush_interval=1.0, put_timeout=5.0)
    w.start()
    yield w
    w.close()


def test_commit_returns_once_the_row_is_committed_without_waiting_an_interval(ws, writer) -> None:
    started = time.monotonic()
    writer.commit(_entry("first"))
    took = time.monotonic() - started
    assert "first" in _logged(ws.home)  # committed: visible to any other connection
    assert took < 0.5  # no fixed wait (flush_interval is 1 s here): the writer starts at once
    times = []
    for i in range(20):
        t = time.perf_counter()
        writer.commit(_entry(f"seq{i}"))
        times.append(time.perf_counter() - t)
    assert sorted(times)[10] < 0.05, times  # one small transaction each
    assert {f"seq{i}" for i in range(20)} <= _logged(ws.home)


def test_concurrent_requests_share_commits(ws, writer) -> None:
    threads, per_thread = 8, 40
    errors: list[BaseException] = []

    def send(t: int) -> None:
        try:
            for i in range(per_thread):
                writer.commit(_entry(f"t{t}-{i}"))
                assert f"t{t}-{i}" in _logged(ws.home)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=send, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert not errors, errors[0]
    total = threads * per_thread
    assert len(_logged(ws.home)) == total
    assert writer.written == total
    assert writer.commits < total  # entries that arrived during a commit went into the next one together


def test_a_request_whose_rows_cannot_be_written_in_time_gets_503_and_is_never_logged(ws) -> None:
    writer = PredictionLogWriter(ws, put_timeout=0.2)  # its thread not started yet: nothing is written
    started = time.monotonic()
    with pytest.raises(LogBackpressure, match="could not be written within"):
        writer.commit(_entry("refused"))
    assert 0.15 < time.monotonic() - started < 2.0
    full = PredictionLogWriter(ws, maxsize=1, put_timeout=0.1)
    full.submit(_entry("queued"))
    with pytest.raises(LogBackpressure, match="requests behind"):  # the queue stayed full
        full.commit(_entry("no room"))
    writer.start()
    full.start()
    try:
        writer.commit(_entry("later"))
        assert writer.flush(5) and full.flush(5)
        logged = _logged(ws.home)
        assert {"later", "queued"} <= logged
        assert not {"refused", "no room"} & logged  # a 503 is not in the log, a 200 is
    finally:
        writer.close()
        full.close()


def test_a_request_waits_for_its_transaction_through_another_process_write(ws, writer) -> None:
    writer.put_timeout = 0.2
    blocker = sqlite3.connect(ws.home / "mlcycle.db", timeout=30, isolation_level=None, check_same_thread=False)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock for 0.6 s
        threading.Timer(0.6, blocker.execute, args=("COMMIT",)).start()
        started = time.monotonic()
        writer.commit(_entry("patient"))  # its transaction was under way at the deadline: no 503
        assert time.monotonic() - started >= 0.55
        assert "patient" in _logged(ws.home)
    finally:
        time.sleep(0.1)
        blocker.close()


def test_small_requests_are_not_held_up_by_a_large_one(ws, writer, monkeypatch) -> None:
    monkeypatch.setattr(logwriter, "SLICE_ROWS", 50)
    large = _entry("large", rows=3_000)  # 60 slices, one transaction each
    writer.submit(large)
    writer.commit(_entry("small"))
    assert not large.committed.is_set()  # the small one went into one of the first transactions
    assert writer.flush(10)  # a flush waits for the large one too
    assert large.committed.is_set()
    logged = _logged(ws.home)
    assert "small" in logged and sum(1 for i in logged if i.startswith("large-")) == 3_000


def test_close_writes_what_is_queued_and_then_refuses(ws) -> None:
    writer = PredictionLogWriter(ws)
    writer.start()
    done: list[str] = []

    def send(i: int) -> None:
        writer.commit(_entry(f"c{i}"))
        done.append(f"c{i}")

    pool = [threading.Thread(target=send, args=(i,)) for i in range(16)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    for i in range(100):
        writer.submit(_entry(f"q{i}"))
    writer.close()
    logged = _logged(ws.home)
    assert set(done) <= logged and len(done) == 16
    assert {f"q{i}" for i in range(100)} <= logged
    with pytest.raises(LogBackpressure):
        writer.commit(_entry("after"))


def test_an_answered_prediction_is_in_the_log_when_the_answer_arrives(ws) -> None:
    with ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0}) as runner:
        client = Client(runner.port)  # type: ignore[arg-type]
        try:
            for n in (1, 3, 1):
                status, out = client.post(PREDICT, {"instances": [ROW] * n})
                assert status == 200
                assert set(out["prediction_ids"]) <= _logged(ws.home)  # no flush, no wait
        finally:
            client.close()

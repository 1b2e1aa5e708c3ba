"""The prediction log entries: every row encoded, the fast path taken, odd values still logged."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.server import logwriter
from mlcycle_tui.server.logwriter import LogEntry


def _entry(frame: pd.DataFrame, outputs: list, proba: list | None) -> LogEntry:
    ids = [f"id{i}" for i in range(len(frame))]
    return LogEntry("m", 3, ids, frame, outputs, proba, 1.5, 1000.0, source="http", request_id="r1")


def test_rows_take_the_fast_path_and_decode_to_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    careful = []
    monkeypatch.setattr(logwriter, "prediction_row", lambda *a, **k: careful.append(a))
    n = 2_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=n), "k": rng.integers(0, 5, n),
                          "c": rng.choice(["a", "b", None], n), "flag": rng.random(n) > 0.5})
    frame.loc[::7, "x"] = np.nan
    proba = rng.random((n, 2)).tolist()
    rows = _entry(frame, ["yes"] * n, proba).rows()
    assert careful == []  # a trailing newline once sent every entry down the slow path
    assert len(rows) == n
    for i in (0, 1, 7, n - 1):
        pid, model, version, at, latency, source, request_id, inputs, output, p = rows[i]
        assert (pid, model, version, at, latency, source, request_id) == (f"id{i}", "m", 3, 1000.0, 1.5, "http", "r1")
        decoded = json.loads(inputs)
        expected = frame.iloc[i].to_dict()
        assert decoded["k"] == expected["k"] and decoded["flag"] == expected["flag"]
        assert decoded["c"] == (None if pd.isna(expected["c"]) else expected["c"])
        assert decoded["x"] is None if math.isnan(expected["x"]) else decoded["x"] == expected["x"]
        assert json.loads(output) == "yes"
        assert json.loads(p) == proba[i]


def test_dates_infinity_and_missing_values_are_null_or_iso() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-03-05 14:30", None]), "v": [np.inf, 1.0]})
    rows = _entry(frame, [float("nan"), 2.5], None).rows()
    first, second = (json.loads(r[7]) for r in rows)
    assert first == {"t": "2024-03-05T14:30:00", "v": None}
    assert second == {"t": None, "v": 1.0}
    assert [json.loads(r[8]) for r in rows] == [None, 2.5]
    assert rows[0][9] is None


def test_values_orjson_cannot_encode_are_still_logged() -> None:
    frame = pd.DataFrame({"big": [2**70, 1]}, dtype=object)
    rows = _entry(frame, [1, 2], None).rows()
    assert [json.loads(r[7])["big"] for r in rows] == [2**70, 1]


def test_writer_no_longer_defers_large_requests(trained_home, tmp_path, monkeypatch) -> None:
    """The answer waits for the commit (group commit), so a large request is written at once, in
    slices, even while requests are in flight: deferring it would delay its own answer."""
    import shutil
    import time

    from mlcycle_tui.server.logwriter import PredictionLogWriter
    from mlcycle_tui.workspace import Workspace

    home = tmp_path / "ws"
    shutil.copytree(trained_home, home)
    ws = Workspace.open(home)
    asked = []

    def wait_idle(timeout: float) -> bool:  # a server that is always answering requests
        asked.append(timeout)
        time.sleep(timeout)
        return False

    monkeypatch.setattr(logwriter, "SLICE_ROWS", 2)  # two-row entries count as large ones here
    writer = PredictionLogWriter(ws, flush_interval=0.02, wait_idle=wait_idle, max_defer=0.6)
    writer.start()
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    try:
        started = time.monotonic()
        writer.commit(_entry(frame, [1, 2, 3, 4, 5], None))  # three slices, three transactions
        assert time.monotonic() - started < 0.5  # not deferred by max_defer (0.6 s)
        assert ws.predictions.count("m") == 5 and writer.commits == 3
        assert asked == []  # nobody waited for a quiet moment
    finally:
        writer.close()
        ws.close()


def test_wait_quiet_needs_a_pause_without_requests(ws) -> None:
    import threading
    import time

    from mlcycle_tui.server.state import ServerConfig, ServingState

    state = ServingState(ws, ServerConfig(poll_interval=0))
    try:
        assert state.wait_quiet(0.05)  # nothing ever answered: quiet
        state.enter()
        assert not state.wait_quiet(0.05)  # a request in flight
        state.leave()
        assert not state.wait_quiet(0.0, quiet=0.2)  # answered a moment ago
        started = time.monotonic()
        assert state.wait_quiet(1.0, quiet=0.1)
        assert time.monotonic() - started >= 0.09
        state.enter()
        threading.Timer(0.1, state.leave).start()
        started = time.monotonic()
        assert state.wait_quiet(2.0, quiet=0.05)  # wakes when the request ends, then waits for quiet
        assert 0.14 <= time.monotonic() - started < 1.0
    finally:
        state.close()


def test_float_frames_are_encoded_column_wise_into_the_same_text(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    n = 500
    values = np.concatenate([rng.normal(size=n // 2), rng.normal(size=n // 2) * 1e-12])
    values[::37], values[::41], values[::43] = np.nan, np.inf, -np.inf
    values[1], values[2], values[3] = -0.0, 5e-324, 1.7976931348623157e308
    frame = pd.DataFrame({"a": values, 'we"ird %s\\name': rng.permutation(values), "é": values[::-1]})
    fast = logwriter._encode_records(frame)
    monkeypatch.setattr(logwriter, "FLOAT_PATH_ROWS", 10**9)  # the per-row path
    assert fast == logwriter._encode_records(frame)
    assert json.loads(fast[1])["a"] == 0.0 and json.loads(fast[0])["a"] is None  # NaN -> null
    rows = _entry(frame, [1] * n, None).rows()
    assert [json.loads(r[7]) for r in rows[:5]] == [json.loads(t) for t in fast[:5]]


def test_frames_the_column_wise_path_cannot_encode_alike_take_the_per_row_one() -> None:
    dup = pd.DataFrame(np.ones((40, 2)), columns=["x", "x"])  # duplicate names: one key, as before
    assert json.loads(logwriter._encode_records(dup)[0]) == {"x": 1.0}
    ints = pd.DataFrame({"k": np.arange(40)})  # integers stay integers
    assert logwriter._encode_records(ints)[3] == '{"k":3}'

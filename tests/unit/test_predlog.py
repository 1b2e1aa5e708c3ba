"""The prediction log and feedback: batches in, windows and labels out."""

from __future__ import annotations

import time

import pytest

from mlcycle_tui.core.errors import UserError
from mlcycle_tui.core.predlog import new_prediction_id, prediction_row
from mlcycle_tui.core.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    yield w
    w.close()


def test_log_window_and_feedback(ws):
    now = time.time()
    ids = [new_prediction_id() for _ in range(5)]
    rows = [
        prediction_row(pid, "m", 1, {"x": float(i), "c": "a"}, i % 2, [0.5, 0.5], latency_ms=1.0 + i, at=now + i)
        for i, pid in enumerate(ids)
    ]
    assert ws.log_predictions(rows) == 5
    assert ws.log_predictions(rows) == 5  # same ids again are ignored, not duplicated
    assert ws.count_predictions("m") == 5
    frame = ws.prediction_frame("m")
    assert list(frame["x"]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert list(frame["_prediction"]) == [0, 1, 0, 1, 0]
    assert list(ws.prediction_frame("m", last=2)["x"]) == [3.0, 4.0]
    assert list(ws.prediction_frame("m", since=now + 3)["x"]) == [3.0, 4.0]
    result = ws.add_feedback("m", [{"prediction_id": ids[0], "label": 1}, {"prediction_id": "nope", "label": 0}])
    assert result == {"accepted": 1, "unknown_ids": ["nope"]}
    labelled = ws.prediction_frame("m", with_feedback=True)
    assert list(labelled["_label"]) == [1]
    stats = ws.operational_stats("m")
    assert stats["predictions"] == 5 and stats["p50_ms"] == pytest.approx(3.0)
    with pytest.raises(UserError):
        ws.add_feedback("m", [{"label": 1}])
    with pytest.raises(UserError):
        ws.prediction_frame("m", last=0)

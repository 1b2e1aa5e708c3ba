"""The prediction log and feedback: batches in, windows and labels out."""

from __future__ import annotations

import time

import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.workspace import Workspace


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
    assert ws.predictions.log(rows) == 5
    assert ws.predictions.log(rows) == 5  # same ids again are ignored, not duplicated
    assert ws.predictions.count("m") == 5
    frame = ws.predictions.frame("m")
    assert list(frame["x"]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert list(frame["_prediction"]) == [0, 1, 0, 1, 0]
    assert list(ws.predictions.frame("m", last=2)["x"]) == [3.0, 4.0]
    assert list(ws.predictions.frame("m", since=now + 3)["x"]) == [3.0, 4.0]
    result = ws.predictions.add_feedback("m", [{"prediction_id": ids[0], "label": 1},
                                               {"prediction_id": "nope", "label": 0}])
    assert result == {"accepted": 1, "unknown_ids": ["nope"]}
    labelled = ws.predictions.frame("m", with_feedback=True)
    assert list(labelled["_label"]) == [1]
    stats = ws.predictions.operational_stats("m")
    assert stats["predictions"] == 5 and stats["p50_ms"] == pytest.approx(3.0)
    with pytest.raises(UserError):
        ws.predictions.add_feedback("m", [{"label": 1}])
    with pytest.raises(UserError):
        ws.predictions.frame("m", last=0)

"""Feedback rows never leak into the holdout they are scored on.

The retraining worker adds labelled feedback (logged predictions whose true label came back)
to the challenger's training rows. With a random split of the newest data, some feedback rows
have the same inputs as rows of the new holdout; trained on them, the challenger would be
scored on rows it has seen. The split is made first and such feedback rows are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.experiments import overlap
from mlcycle_tui.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    yield w
    w.close()


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({"a": rng.integers(0, 40, n), "b": rng.choice(list("xyz"), n)})
    out["y"] = np.where((out.a > 20) ^ (rng.random(n) < 0.2), "yes", "no")
    return out


def test_feedback_rows_with_holdout_inputs_are_left_out_of_training(ws):
    data = frame(300, seed=1)  # 120 possible input rows: duplicates across train, test and feedback
    ds = ws.data.ingest(data, name="d", target="y")
    split = ws.splits.create(ds, test_size=0.25, seed=4)  # a random split
    feedback = frame(200, seed=2)
    run = ws.training.train(ds.ref, "logistic", split=split.split_id, extra_train=feedback)

    train, test = ws.splits.frames(split.split_id)
    held = np.isin(overlap.row_keys(feedback, ["a", "b"]), overlap.row_keys(test, ["a", "b"]))
    assert 0 < held.sum() < len(feedback)  # the case the rule is for, and rows that stay
    assert run["feedback_left_out"] == int(held.sum())
    assert ws.runs.recipe(run["run_id"])["feedback_left_out"] == int(held.sum())
    # what the model trained on: the train part plus only the feedback rows unseen in the holdout
    row = ws.db.query_one("SELECT artifact_sha256, artifact_path FROM run_artifacts WHERE run_id = ? AND name = ?",
                          (run["run_id"], overlap.TRAIN_ROWS_ARTIFACT))
    _, keys = overlap.unpack(ws.artifacts.load_bytes(row["artifact_sha256"], row["artifact_path"]))
    assert len(keys) == len(train) + int((~held).sum())
    trained = pd.concat([train, feedback[~held]], ignore_index=True)
    assert np.array_equal(np.sort(keys), np.sort(overlap.row_keys(trained, trained.columns)))

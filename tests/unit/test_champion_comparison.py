"""The champion is compared with a challenger only on rows neither of them trained on.

An overfitting champion (a deep forest on noisy labels) scores almost perfectly on its
own training rows. A newer dataset version that holds all the older rows puts many of
them into the challenger's test split; scored there, the champion looks far better than
it is and blocks better models. These tests pin that the gate and the retraining job
leave those rows out, say how many rows they used, and refuse to judge on too few.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from mlcycle_tui.experiments import overlap
from mlcycle_tui.workspace import Workspace

FEATURES = ["x1", "x2", "x3", "grade"]


def noisy(n: int, seed: int) -> pd.DataFrame:
    """A binary target that follows x1 with 30% of the labels flipped: a deep forest memorises it."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x1": rng.normal(size=n).round(4),
        "x2": rng.normal(size=n).round(4),
        "x3": rng.integers(0, 50, size=n),
        "grade": rng.choice(list("abcd"), size=n),
    })
    label = frame.x1 > 0
    flip = rng.random(n) < 0.3
    frame["y"] = np.where(label ^ flip, "yes", "no")
    return frame


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    yield w
    w.close()


def champion_on(ws: Workspace, frame: pd.DataFrame) -> tuple:
    ds = ws.data.ingest(frame, name="noisy", target="y")
    run = ws.training.train(ds.ref, "rf", params={"n_estimators": 60, "max_depth": None, "min_samples_leaf": 1},
                   split=ws.splits.create(ds, test_size=0.25, seed=3).split_id, seed=3)
    mv = ws.registry.register(run["run_id"], "noisy")
    ws.registry.promote("noisy", mv.version)
    return ds, mv


def test_gate_scores_the_champion_only_on_rows_it_did_not_train_on(ws):
    first = noisy(400, seed=1)
    _, champion = champion_on(ws, first)
    superset = pd.concat([first, noisy(400, seed=2)], ignore_index=True)
    ds2 = ws.data.ingest(superset, name="noisy", target="y")
    run = ws.training.train(ds2.ref, "logreg", split=ws.splits.create(ds2, test_size=0.25, seed=11).split_id, seed=3)
    challenger = ws.registry.register(run["run_id"], "noisy")

    verdict = ws.registry.gate_check(challenger)
    comparison = verdict["comparison"]
    assert comparison["judged"]

    # Independently: the challenger's test rows that are in neither model's training rows.
    champ_train, _ = ws.splits.frames(champion.split_id)
    chall_train, chall_test = ws.splits.frames(challenger.split_id)
    seen = pd.concat([champ_train, chall_train])[[*FEATURES, "y"]].drop_duplicates()
    merged = chall_test.merge(seen, on=[*FEATURES, "y"], how="left", indicator=True)
    fresh = chall_test[(merged["_merge"] == "left_only").to_numpy()]
    assert 0 < len(fresh) < len(chall_test)  # the superset really did leak champion rows into the test split
    assert comparison["rows"] == len(fresh)
    assert comparison["left_out"] == len(chall_test) - len(fresh)

    _, champ_model = ws.registry.load_model(champion)
    honest = f1_score(fresh.y, champ_model.predict(fresh[FEATURES]), pos_label="yes")
    leaky = f1_score(chall_test.y, champ_model.predict(chall_test[FEATURES]), pos_label="yes")
    assert comparison["champion"]["f1"] == pytest.approx(honest)
    assert leaky > honest + 0.05  # what the gate used to see
    _, chall_model = ws.registry.load_model(challenger)
    assert comparison["challenger"]["f1"] == pytest.approx(
        f1_score(fresh.y, chall_model.predict(fresh[FEATURES]), pos_label="yes"))
    check = verdict["checks"][-1]
    assert check["rule"] == "max_regression" and check["rows"] == len(fresh)
    assert f"{len(fresh)} of the {len(chall_test)} test rows" in check["reason"]


def test_too_few_unseen_rows_is_a_refusal_not_a_pass(ws):
    first = noisy(400, seed=1)
    champion_on(ws, first)
    # the newer version adds only 12 rows: almost every test row is a champion training row
    ds2 = ws.data.ingest(pd.concat([first, noisy(12, seed=5)], ignore_index=True), name="noisy", target="y")
    run = ws.training.train(ds2.ref, "logreg", split=ws.splits.create(ds2, test_size=0.25, seed=11).split_id, seed=3)
    challenger = ws.registry.register(run["run_id"], "noisy")
    verdict = ws.registry.gate_check(challenger)
    assert not verdict["passed"]
    assert not verdict["comparison"]["judged"]
    assert verdict["comparison"]["rows"] < 30
    reason = verdict["checks"][-1]["reason"]
    assert reason.startswith("cannot compare with the champion: only ")
    assert "(needs 30)" in reason
    ws.settings["gates"]["min_unseen_rows"] = 1
    assert ws.registry.gate_check(challenger)["comparison"]["judged"]


def test_training_row_keys_include_feedback_rows_and_survive_dtype_changes():
    frame = pd.DataFrame({"a": [1, 2, None], "b": ["x", None, "z"],
                          "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"])})
    as_float = frame.assign(a=frame.a.astype(float))
    reordered = as_float[["t", "b", "a"]]
    assert np.array_equal(overlap.row_keys(frame, frame.columns), overlap.row_keys(reordered, frame.columns))
    columns, keys = overlap.unpack(overlap.pack(frame))
    assert columns == ["a", "b", "t"] and len(keys) == 3
    other = pd.DataFrame({"a": [1.0, 9.0], "b": ["x", "x"], "t": pd.to_datetime(["2024-01-01", "2024-01-01"])})
    assert overlap.unseen(other, [(columns, keys)]).tolist() == [False, True]


def test_retraining_job_compares_on_the_same_unseen_rows(ws):
    first = noisy(400, seed=1)
    _, champion = champion_on(ws, first)
    ws.data.ingest(pd.concat([first, noisy(400, seed=2)], ignore_index=True), name="noisy", target="y")
    ws.jobs.enqueue_retrain("noisy", "test")
    job = ws.jobs.run_next()
    result = job["result"]
    holdout = result["holdout"]
    assert job["status"] in ("done", "awaiting_approval"), job
    assert holdout["same_for_both"] and 0 < holdout["rows"] < holdout["test_rows"]
    assert holdout["left_out"] == holdout["test_rows"] - holdout["rows"]

    challenger = ws.registry.model_version(f"noisy@{result['challenger']['version']}")
    _, test = ws.splits.frames(challenger.split_id)
    keep = overlap.unseen(test, [ws.registry.training_keys(mv, test) for mv in (champion, challenger)])
    fresh = test[keep]
    _, champ_model = ws.registry.load_model(champion)
    honest = f1_score(fresh.y, champ_model.predict(fresh[FEATURES]), pos_label="yes")
    assert result["champion"]["metrics"]["f1"] == pytest.approx(honest)
    assert f"{holdout['rows']} of the {holdout['test_rows']} test rows" in result["comparison"]["reason"]

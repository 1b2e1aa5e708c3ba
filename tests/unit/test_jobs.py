"""The retraining queue: one open job per model, the worker, approval, dead workers.

The worker trains for real on the Seattle weather sample: the champion saw
January-June 2012; the newest dataset version runs to August and September's
predictions come back with labels (feedback).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments.tracking import hostname
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "seattle_weather.csv")


@pytest.fixture
def ws(tmp_path, weather):
    """Production weather@1 (Jan-Jun 2012), predictions and labels for September logged."""
    w = Workspace.open(tmp_path / "ws")
    ds = w.data.ingest(weather[weather.date < "2012-07-01"], name="weather", target="weather", time_column="date")
    run = w.training.train(ds.ref, "rf", params={"n_estimators": 40}, seed=1)
    w.registry.promote("weather", w.registry.register(run["run_id"], "weather").version)
    yield w
    w.close()


def serve_with_feedback(ws: Workspace, rows: pd.DataFrame) -> None:
    mv, pipeline = ws.registry.load_model("weather")
    inputs = rows.drop(columns=["weather"]).reset_index(drop=True)
    predictions = pipeline.predict(inputs)
    ids = [new_prediction_id() for _ in range(len(inputs))]
    now = time.time() - len(ids)
    ws.predictions.log(prediction_row(ids[i], "weather", mv.version, inputs.iloc[i].to_dict(), predictions[i],
                                      at=now + i) for i in range(len(ids)))
    ws.predictions.add_feedback("weather", [{"prediction_id": i, "label": y}
                                            for i, y in zip(ids, rows.weather, strict=True)])


def newer_data(ws: Workspace, weather: pd.DataFrame) -> None:
    ws.data.ingest(weather[weather.date < "2012-09-01"], name="weather", target="weather", time_column="date")
    serve_with_feedback(ws, weather[(weather.date >= "2012-09-01") & (weather.date < "2012-10-01")])


def accept_any_better_than_dummy(ws: Workspace) -> None:
    """Make the challenger's win deterministic: these tests are about the mechanics, not the forest."""
    ws.settings["policy"]["win_margin"] = -1.0
    ws.settings["gates"]["max_regression"] = 1.0


def test_worker_retrains_on_newest_data_and_feedback_then_promotes(ws, weather):
    newer_data(ws, weather)
    accept_any_better_than_dummy(ws)
    queued = ws.jobs.enqueue_retrain("weather", "test: drift")
    assert queued["queued"] and queued["status"] == "queued"

    steps: list[str] = []
    job = ws.jobs.run_next(progress=steps.append)
    assert job["status"] == "done", job["log"]
    result = job["result"]
    assert result["outcome"] == "promoted" and result["promoted"]
    assert result["trained_on"] == {"dataset": "weather@2", "rows": 244, "feedback_rows": 30}
    assert result["challenger"]["version"] == 2 and result["champion"]["version"] == 1
    assert result["holdout"]["same_for_both"] and result["holdout"]["dataset"] == "weather@2"
    assert ws.registry.model_version("weather").version == 2
    assert ws.registry.alias_history("weather")[0]["actor"] == "retrain-job"
    run = ws.runs.get(result["challenger"]["run_id"])
    assert run["tags"]["retrain_of"] == "weather@1" and run["tags"]["job"] == str(job["id"])
    recipe = ws.runs.recipe(run["run_id"])
    assert recipe["dataset"] == "weather@2" and recipe["model"] == "rf" and recipe["params"] == {"n_estimators": 40}
    assert any("30 labelled feedback rows" in s for s in steps) and job["attempts"] == 1
    assert ws.jobs.run_next() is None
    assert any("promoted" in e["message"] for e in ws.events.recent(10) if e["kind"] == "job")

    # the new version is checked only on traffic it served itself (it was trained on September)
    with pytest.raises(UserError, match=r"no logged predictions for weather@2 in the last 24h \(30 for other"):
        ws.monitoring.check_drift("weather")
    # and another job finds nothing new: same data version, no new labels
    ws.jobs.enqueue_retrain("weather", "test: again")
    assert ws.jobs.run_next()["result"]["outcome"] == "nothing_new"


def test_approval_policy_waits_then_approve_promotes(ws, weather):
    newer_data(ws, weather)
    accept_any_better_than_dummy(ws)
    ws.settings["policy"]["promotion"] = "approval"
    assert ws.jobs.run_next() is None  # nothing queued yet
    ws.jobs.enqueue_retrain("weather", "test")
    job = ws.jobs.run_next()
    assert job["status"] == "awaiting_approval"
    assert job["result"]["comparison"]["challenger_wins"] and not job["result"]["promoted"]
    assert ws.registry.model_version("weather").version == 1
    assert not ws.jobs.enqueue_retrain("weather", "again")["queued"]  # awaiting approval counts as open

    approved = ws.jobs.approve(job["id"])
    assert approved["status"] == "done" and approved["result"]["promoted"]
    assert ws.registry.model_version("weather").version == 2
    with pytest.raises(UserError, match="only jobs awaiting approval"):
        ws.jobs.approve(job["id"])


def test_challenger_that_does_not_win_is_registered_not_promoted(ws, weather):
    newer_data(ws, weather)
    ws.settings["policy"]["win_margin"] = 1.0  # impossible for f1
    ws.jobs.enqueue_retrain("weather", "test")
    job = ws.jobs.run_next()
    assert job["status"] == "done" and job["result"]["outcome"] == "champion_kept"
    assert "champion stays" in job["result"]["summary"]
    assert ws.registry.model_version("weather").version == 1 and ws.registry.model_version("weather@2").version == 2


def test_nothing_new_to_train_on(ws):
    ws.jobs.enqueue_retrain("weather", "test")
    job = ws.jobs.run_next()
    assert job["status"] == "done" and job["result"]["outcome"] == "nothing_new"
    assert [v.version for v in ws.registry.model_versions("weather")] == [1]


def test_one_open_job_per_model_cancel_and_retry(ws):
    first = ws.jobs.enqueue_retrain("weather", "a")
    second = ws.jobs.enqueue_retrain("weather", "b")
    assert second["id"] == first["id"] and not second["queued"]
    assert ws.jobs.cancel(first["id"])["status"] == "cancelled"
    third = ws.jobs.enqueue_retrain("weather", "c")
    assert third["queued"] and third["id"] != first["id"]
    with pytest.raises(UserError, match="already has an open retraining job"):
        ws.jobs.retry(first["id"])
    ws.jobs.cancel(third["id"])
    assert ws.jobs.retry(first["id"])["status"] == "queued"
    with pytest.raises(UserError, match="only failed, cancelled or rejected"):
        ws.jobs.retry(first["id"])
    assert [j["status"] for j in ws.jobs.list()] == ["cancelled", "queued"]
    assert "queued again" in ws.jobs.get(first["id"])["log"]
    with pytest.raises(UserError, match="whole numbers"):
        ws.jobs.get("abc")


def test_job_of_a_dead_process_is_requeued(ws):
    job = ws.jobs.enqueue_retrain("weather", "test")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    ws.db.execute("UPDATE jobs SET status = 'running', pid = ?, host = ?, attempts = 1 WHERE id = ?",
                  (gone.pid, hostname(), job["id"]))
    assert ws.jobs.reap() == [job["id"]]
    again = ws.jobs.get(job["id"])
    assert again["status"] == "queued" and "requeued" in again["log"]
    # a job that keeps dying gives up after MAX_ATTEMPTS
    ws.db.execute("UPDATE jobs SET status = 'running', pid = ?, host = ?, attempts = 3 WHERE id = ?",
                  (gone.pid, hostname(), job["id"]))
    ws.jobs.reap()
    assert ws.jobs.get(job["id"])["status"] == "failed"

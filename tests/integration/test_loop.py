"""The closed loop end to end: scheduled checks in background schedulers and the CLI.

Real APScheduler ticks (1-second schedules), two runners on one workspace as
two processes would be, and the `mlcycle` entry point in subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.experiments.tracking import hostname
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.scheduler.runner import SchedulerRunner
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "seattle_weather.csv")


@pytest.fixture
def home(tmp_path, weather) -> Path:
    """A workspace with weather@1 in production and July-September 2012 predictions logged."""
    path = tmp_path / "ws"
    with Workspace.open(path) as ws:
        ds = ws.data.ingest(weather[weather.date < "2012-07-01"], name="weather", target="weather", time_column="date")
        run = ws.training.train(ds.ref, "rf", params={"n_estimators": 40}, seed=1)
        ws.registry.promote("weather", ws.registry.register(run["run_id"], "weather").version)
        summer = weather[(weather.date >= "2012-07-01") & (weather.date < "2012-10-01")]
        inputs = summer.drop(columns=["weather"]).reset_index(drop=True)
        _, pipeline = ws.registry.load_model("weather")
        predictions = pipeline.predict(inputs)
        start = time.time() - len(inputs)
        ws.predictions.log(prediction_row(new_prediction_id(), "weather", 1, inputs.iloc[i].to_dict(),
                                          predictions[i], at=start + i) for i in range(len(inputs)))
    return path


def test_two_runners_run_each_tick_once_and_pick_up_schedules(home):
    with Workspace.open(home) as ws:
        first = ws.drift_schedules.add("weather", every="1s", action="alert")
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def on_event(kind: str, message: str) -> None:
        with lock:
            events.append((kind, message))

    runners = [SchedulerRunner(home, worker=False, sync_interval=0.5, on_event=on_event) for _ in range(2)]
    started = time.time()
    for r in runners:
        r.start()
    try:
        with Workspace.open(home) as ws:
            second = ws.drift_schedules.add("weather", every="1s", action="alert")  # made while they run
            time.sleep(4.2)
    finally:
        for r in runners:
            r.stop()
    elapsed = time.time() - started

    with Workspace.open(home) as ws:
        reports = [ws.monitoring.drift_report(r["report_id"])
                   for r in ws.monitoring.drift_reports("weather", limit=100)]
        assert all(r["drift"] and r["job_id"] is None for r in reports)  # "alert" never queues
        for sched in (first, second):
            ticks = [r["schedule"]["tick"] for r in reports if r["schedule"]["id"] == sched["schedule_id"]]
            assert len(ticks) == len(set(ticks)), "a tick ran twice"
            assert 2 <= len(ticks) <= elapsed + 1
        owners = {r["schedule"]["owner"] for r in reports}
        assert owners <= {r.owner for r in runners}
        assert ws.drift_schedules.get(first["schedule_id"])["runs"] == len(
            [r for r in reports if r["schedule"]["id"] == first["schedule_id"]])
        assert ws.drift_schedules.get(first["schedule_id"])["leased_by"] is None
    assert any(kind == "drift" for kind, _ in events)


def test_runner_requeues_a_dead_job_and_its_worker_runs_it(home, weather):
    with Workspace.open(home) as ws:
        ws.data.ingest(weather[weather.date < "2012-09-01"], name="weather", target="weather", time_column="date")
        job = ws.jobs.enqueue_retrain("weather", "drift seen earlier")
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        ws.db.execute("UPDATE jobs SET status = 'running', pid = ?, host = ?, attempts = 1 WHERE id = ?",
                      (gone.pid, hostname(), job["id"]))
    events: list[tuple[str, str]] = []
    runner = SchedulerRunner(home, worker_interval=0.5, on_event=lambda k, m: events.append((k, m)))
    runner.start()
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not any("done" in m or "failed" in m for k, m in events if k == "job"):
            time.sleep(0.2)
    finally:
        runner.stop()
    assert events[0][0] == "job" and "requeued" in events[0][1]
    with Workspace.open(home) as ws:
        done = ws.jobs.get(job["id"])
        assert done["status"] == "done", done["log"]
        assert done["attempts"] == 2 and "requeued" in done["log"]
        assert done["result"]["trained_on"]["dataset"] == "weather@2"


def test_cli_monitor_and_jobs_json(home):
    r = mlcycle(home, "monitor", "check", "weather", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert {"report_id", "model", "version", "drift", "share_drifted", "columns", "job_id"} <= report.keys()
    assert report["drift"] and report["job_id"] == 1 and report["job_queued"]

    r = mlcycle(home, "monitor", "check", "weather", "--last", "40", "--fail-on-drift")
    assert r.returncode == 1 and "DRIFT" in r.stdout and "already open" in r.stdout

    r = mlcycle(home, "monitor", "check", "weather", "--window", "1s", "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout) == {"error": {"code": "bad_input", "message": (
        "no logged predictions for model weather in the last 1s; send traffic or use --current")}}
    assert r.stderr.strip().splitlines() == [
        "mlcycle: error: no logged predictions for model weather in the last 1s; send traffic or use --current"]

    r = mlcycle(home, "monitor", "reports", "weather", "--json")
    assert [d["report_id"] for d in json.loads(r.stdout)] == [2, 1]

    r = mlcycle(home, "monitor", "schedule", "weather", "--every", "15m", "--action", "alert", "--json")
    expected = {"schedule_id": 1, "model": "weather", "every": "15m", "action": "alert"}
    assert json.loads(r.stdout).items() >= expected.items()
    r = mlcycle(home, "monitor", "schedules")
    assert "15m" in r.stdout and "alert" in r.stdout
    r = mlcycle(home, "monitor", "unschedule", "1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["schedule_id"] == 1

    r = mlcycle(home, "jobs", "list", "--json")
    jobs = json.loads(r.stdout)
    assert [(j["id"], j["kind"], j["status"], j["model"]) for j in jobs] == [(1, "retrain", "queued", "weather")]
    assert {"id", "kind", "status", "model", "reason", "created", "result"} <= jobs[0].keys()

    r = mlcycle(home, "jobs", "cancel", "1", "--json")
    assert json.loads(r.stdout)["status"] == "cancelled"
    r = mlcycle(home, "jobs", "run", "--once", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = mlcycle(home, "jobs", "retry", "1")
    assert r.returncode == 0 and "queued again" in r.stdout
    r = mlcycle(home, "jobs", "approve", "1")
    assert r.returncode == 2 and "only jobs awaiting approval" in r.stderr
    r = mlcycle(home, "jobs", "show", "1")
    assert "job 1 (retrain weather): queued" in r.stdout and "cancelled" in r.stdout

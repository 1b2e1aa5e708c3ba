"""`mlcycle demo --no-tui --json`: the whole lifecycle end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlcycle_tui.workspace import Workspace

STEPS = ["ingest", "validate", "split", "train", "promote", "serve", "traffic", "monitor", "new data", "retrain",
         "after", "estimate"]


@pytest.mark.slow
def test_demo_runs_the_whole_cycle(tmp_path):
    home = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "demo", "--no-tui", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["workspace"] == str(home)
    assert [s["step"] for s in doc["steps"]] == STEPS
    ws = Workspace.open(home)
    # every stage left something real behind
    assert {d.name for d in ws.data.datasets()} == {"weather", "penguins", "bikeshare"}
    assert ws.data.dataset("weather").version == 2
    assert ws.runs.count() >= 4
    assert ws.registry.model_version("weather").version == 2          # the challenger won
    assert ws.registry.alias_history("weather", "production")[0]["actor"] == "retrain-job"
    # 92 summer days with labels, then 2015's 365 days of which January-April's 120 got labels
    assert ws.predictions.count("weather") == 92 + 365 and ws.predictions.count_feedback("weather") == 92 + 120
    estimate = doc["steps"][-1]
    assert estimate["judged"] and estimate["chunks"] == 4 and estimate["metric"] == "accuracy", estimate
    assert "estimated accuracy per chunk of 100 requests" in estimate["summary"] and "realized" in estimate["summary"]
    report = ws.monitoring.drift_reports("weather")[0]
    assert report["drift"]
    assert ws.jobs.list(model="weather")[0]["status"] == "done"
    # a second demo into the same folder is refused, not merged
    again = subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "demo", "--no-tui"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "already holds a workspace" in again.stderr

"""`mlcycle daemon` as a real process: serves, runs a schedule, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.mark.slow
def test_daemon_serves_checks_and_stops_cleanly(tmp_path):
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    run = ws.training.train("penguins", "rf", params=["n_estimators=10"])
    ws.registry.register(run["run_id"], "penguins")
    ws.registry.promote("penguins", 1)
    ws.drift_schedules.add("penguins", every="1s", action="alert")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "daemon", "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        doc = json.loads(proc.stdout.readline())
        rows = [{"island": "Dream", "bill_length_mm": 45.0, "bill_depth_mm": 17.0, "flipper_length_mm": 190.0,
                 "body_mass_g": 3800.0, "sex": "male", "year": 2008}] * 5
        req = urllib.request.Request(f"{doc['url']}/v1/models/penguins/predict",
                                     data=json.dumps({"instances": rows}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert len(answer["prediction_ids"]) == 5
        deadline = time.time() + 20
        while time.time() < deadline and not ws.monitoring.drift_reports("penguins"):
            time.sleep(0.5)
        assert ws.monitoring.drift_reports("penguins"), "the scheduled check never ran"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "daemon stopped" in err
    logged = set(ws.predictions.frame("penguins")["_id"])
    assert set(answer["prediction_ids"]) <= logged

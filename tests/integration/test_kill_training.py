"""SIGKILL during `mlcycle train` leaves nothing half-written: the run reads `killed`, doctor finds no damage."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.workspace import Workspace

pytestmark = pytest.mark.slow


def test_sigkill_during_training_leaves_a_killed_run_and_no_damage(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    data = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(list("pqrs"), n)})
    data["y"] = np.where(data.a + rng.normal(size=n) > 0, "yes", "no")
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(data, name="d", target="y")
    ws.close()
    proc = subprocess.Popen([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "train", "d",
                             "--model", "rf", "--param", "n_estimators=400"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            conn = sqlite3.connect(home / "mlcycle.db", timeout=10)
            running = conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
            conn.close()
            if running:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the training run never started")
        time.sleep(0.5)  # inside the fit
        assert proc.poll() is None, "training finished before it could be killed; make it longer"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    ws = Workspace.open(home)
    try:
        [run] = ws.runs.search()
        assert run["status"] == "killed"  # reaped: its process is gone
        assert ws.registry.models() == []
        health = ws.doctor()
        assert health["ok"] and health["problems"] == []  # no recorded artifact is missing or damaged
    finally:
        ws.close()

"""A retraining job whose daemon is SIGKILLed mid-work is run again by the next daemon, once, to the end.

Real `mlcycle daemon` processes. The first daemon claims the job and is killed while the job runs;
the second one finds the job `running` under a process that no longer exists, requeues it (its
second attempt) and runs it to the end. No job stays `running` forever.
"""

from __future__ import annotations

import os
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


def _daemon(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "daemon", "--no-server"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )


def _job(home: Path) -> dict:
    conn = sqlite3.connect(home / "mlcycle.db", timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM jobs WHERE id = 1").fetchone())
    finally:
        conn.close()


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_killed_daemons_retraining_job_is_taken_over(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 12_000
    data = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(list("pqrs"), n)})
    data["y"] = np.where(data.a + rng.normal(size=n) > 0, "yes", "no")
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    ds = ws.data.ingest(data.iloc[:8_000], name="m", target="y")
    run = ws.training.train(ds.ref, "rf", params={"n_estimators": 60}, seed=1)
    ws.registry.promote("m", ws.registry.register(run["run_id"], "m").version)
    ws.data.ingest(data, name="m", target="y")  # newer data: the job has something to train on
    ws.jobs.enqueue_retrain("m", "test: newer data")
    ws.close()

    first = _daemon(home)
    second = None
    try:
        running = _wait(lambda: (j := _job(home))["status"] == "running" and j, 60, "the first daemon to start the job")
        assert running["pid"] == first.pid and running["attempts"] == 1
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        assert _job(home)["status"] == "running"  # what a kill leaves behind
        second = _daemon(home)
        done = _wait(lambda: (j := _job(home))["status"] not in ("running", "queued") and j, 180,
                     "the second daemon to finish the job")
        assert done["status"] in ("done", "awaiting_approval"), done
        assert done["attempts"] == 2
        assert f"requeued: its process (pid {first.pid}" in done["log"]
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
    ws = Workspace.open(home)
    try:
        job = ws.jobs.get(1)
        assert job["result"]["challenger"]["version"] in [v.version for v in ws.registry.model_versions("m")]
        assert not [j for j in ws.jobs.list() if j["status"] == "running"]
    finally:
        ws.close()

"""A small workspace that has been around the cycle once, built once per session, for snapshots and screen tests.

Like `mlcycle demo`, but cheap (a 5-tree forest and a logistic regression on
penguins, 40 logged predictions) and the same on every machine, so snapshots
of screens *with data* are stable:

- ids are pinned: while it is built, the run, split and prediction ids come
  from seeded generators (one per core module), library versions and the git
  commit a run records are fixed, and runs take 0.0 s (the tracker's clock);
- times are pinned: `PINNED_NOW` is the moment every relative time on screen
  is measured from (`tui.format.PINNED_NOW`, set by the `demo` fixture); what
  the build does happens in the minute before it ("just now"), the logged
  traffic at fixed offsets before it ("10 min ago" ... "4 min ago").

It is built once per session in a child process with a fixed hash seed (some
of the core lists columns in `set` order, which differs between processes),
and each test gets its own copy of the folder (`demo` fixture), so tests never
share state and the build is paid once.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.data import splits
from mlcycle_tui.experiments import tracking
from mlcycle_tui.predictions import log as prediction_log
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.tui import format as tui_format
from mlcycle_tui.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_data"
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]
BUILD_BUDGET_S = 55.0
"""`PINNED_NOW` is this long after the build starts: everything the build does is "just now"."""
TRAFFIC = 40


def _seeded_uuid(seed: int) -> types.SimpleNamespace:
    """A stand-in for the `uuid` module of one core module: uuid4 draws from its own seeded generator, so
    the ids it makes do not depend on how many ids anything else (joblib, another thread) drew."""
    rng = random.Random(seed)
    return types.SimpleNamespace(uuid4=lambda: uuid.UUID(int=rng.getrandbits(128), version=4), UUID=uuid.UUID)


def _log_traffic(ws: Workspace, version: int, now: float) -> list[str]:
    """40 predictions of penguins@`version`, one every 10 s until 4 min before `now`; the later half with
    much longer bills than in training (drift). Returns the prediction ids."""
    frame = pd.read_csv(SAMPLES / "penguins.csv").dropna().head(TRAFFIC).reset_index(drop=True)
    rows, ids = [], []
    for i, rec in enumerate(frame[FEATURES].to_dict(orient="records")):
        if i >= TRAFFIC // 2:
            rec = dict(rec, bill_length_mm=float(rec["bill_length_mm"]) + 25.0)
        pid = new_prediction_id()
        ids.append(pid)
        rows.append(prediction_row(pid, "penguins", version, rec, str(frame.loc[i, "species"]), None,
                                   latency_ms=2.0 + (i % 4), at=now - 630 + 10 * i))
    ws.predictions.log(rows)
    return ids


def build_demo(home: Path) -> float:
    """Build the workspace in `home`; returns the pinned "now" of its screens."""
    start = time.time()
    pinned_now = start + BUILD_BUDGET_S
    fixed_clock = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    fixed_clock.monotonic = lambda: 0.0  # every run takes 0.0 s
    with pytest.MonkeyPatch.context() as mp:
        for seed, module in enumerate((tracking, splits, prediction_log)):  # run, split and prediction ids
            mp.setattr(module, "uuid", _seeded_uuid(18 + seed))
        mp.setattr(tracking, "library_versions", lambda: {"python": "3.x", "mlcycle": "0.x"})
        mp.setattr(tracking, "git_commit", lambda *_a, **_k: None)
        mp.setattr(tracking, "time", fixed_clock)
        ws = Workspace.open(home)
        try:
            ws.data.ingest(SAMPLES / "penguins.csv", "penguins", target="species")
            forest = ws.training.train("penguins", "rf", params=["n_estimators=5"], experiment="penguins")
            ws.registry.register(forest["run_id"], "penguins")
            ws.registry.promote("penguins", 1)
            logistic = ws.training.train("penguins", "logistic", experiment="penguins")
            ws.registry.register(logistic["run_id"], "penguins")
            ws.registry.promote("penguins", 2, force=True)
            ids = _log_traffic(ws, 2, pinned_now)
            labels = pd.read_csv(SAMPLES / "penguins.csv").dropna().head(TRAFFIC)["species"].tolist()
            ws.predictions.add_feedback("penguins", [{"prediction_id": pid, "label": label}
                                                     for pid, label in zip(ids[:20], labels[:20], strict=True)])
            ws.monitoring.check_drift("penguins")  # drift: a retraining job is queued
            ws.jobs.run_next()
            ws.drift_schedules.add("penguins", "1h", "alert")
            paused = ws.drift_schedules.add("penguins", "1d", "retrain")
            ws.schedules.pause("drift", paused["schedule_id"])
        finally:
            ws.close()
    took = time.time() - start
    if took > BUILD_BUDGET_S:  # relative times on screen would drift: say so rather than fail a snapshot
        print(f"demo workspace took {took:.0f}s to build (> {BUILD_BUDGET_S:.0f}s): snapshot times may differ",
              file=sys.stderr)
    return pinned_now


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """Built in a child process with a fixed hash seed: parts of the core list columns in set order,
    which would otherwise differ from one run of the suite to the next."""
    home = tmp_path_factory.mktemp("demo") / "ws"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; from tests.tui.demo_data import build_demo; "
         "print(build_demo(Path(sys.argv[1])))", str(home)],
        cwd=REPO, env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the demo workspace failed:\n{done.stderr[-3000:]}")
    return home, float(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def demo(demo_build: tuple[Path, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A copy of the demo-like workspace, with the screens' clock pinned to its build."""
    built, pinned_now = demo_build
    home = tmp_path / "ws"
    shutil.copytree(built, home)
    monkeypatch.setattr(tui_format, "PINNED_NOW", pinned_now, raising=False)
    ws = Workspace.open(home)
    yield ws
    ws.close()

"""Helpers for the operations screens' tests: a trained, promoted penguins workspace and small waits.

The workspace is built once per session (train, register, promote take a few
seconds) and copied for each test, so tests never share state.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlcycle_tui.tui.app import MlcycleApp
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
ROW = {"island": "Dream", "bill_length_mm": 45.1, "bill_depth_mm": 17.0, "flipper_length_mm": 190,
       "body_mass_g": 3800, "sex": "male", "year": 2008}


def build_trained(home: Path) -> Path:
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", "penguins", target="species")
    run = ws.training.train("penguins", "rf", params=["n_estimators=10"])
    ws.registry.register(run["run_id"], "penguins")
    ws.registry.promote("penguins", 1)
    ws.close()
    return home


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_trained(tmp_path_factory.mktemp("trained") / "ws")


@pytest.fixture
def trained(trained_home: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A copy of the trained workspace: penguins@1 in production."""
    home = tmp_path / "ws"
    shutil.copytree(trained_home, home)
    ws = Workspace.open(home)
    yield ws
    ws.close()


def make_ops_app(ws: Workspace) -> MlcycleApp:
    """The app without the scheduler at launch (tests start it when they need it)."""
    ws.settings.setdefault("scheduler", {})["in_tui"] = False
    return MlcycleApp(ws, workspace_label="<workspace>")


def post(url: str, body: Any, timeout: float = 10) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until `condition()` holds (workers, timers, other threads)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)

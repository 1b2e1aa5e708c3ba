"""Fixtures for the server tests: a trained workspace (built once, copied per test) and a real server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlcycle_tui.server.runner import ServerRunner
from mlcycle_tui.workspace import Workspace

from .helpers import Client

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"

@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """penguins v1 (production) and v2 (registered), bike v1 (regression, not in production)."""
    home = tmp_path_factory.mktemp("trained") / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    r1 = ws.training.train("penguins", "rf", params=["n_estimators=20"])
    ws.registry.register(r1["run_id"], "penguins")
    ws.registry.promote("penguins", 1)
    r2 = ws.training.train("penguins", "logistic")
    ws.registry.register(r2["run_id"], "penguins")
    ws.data.ingest(SAMPLES / "bikeshare.csv", name="bike", target="bikers", time_column="timestamp")
    r3 = ws.training.train("bike", "ridge", drop=["casual", "registered"])
    ws.registry.register(r3["run_id"], "bike")
    ws.close()
    return home


@pytest.fixture
def ws(trained_home: Path, tmp_path: Path) -> Iterator[Workspace]:
    home = tmp_path / "ws"
    shutil.copytree(trained_home, home)
    w = Workspace.open(home)
    yield w
    w.close()


@pytest.fixture
def server(ws: Workspace) -> Iterator[ServerRunner]:
    runner = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0.2}).start()
    yield runner
    runner.stop()


@pytest.fixture
def client(server: ServerRunner) -> Iterator[Client]:
    c = Client(server.port)  # type: ignore[arg-type]
    yield c
    c.close()

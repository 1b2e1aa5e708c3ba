"""Snapshot tests of the Experiments and Models screens: empty, and with content at 80x24 and 120x40.

Run ids are random, so they are masked (`run_panels.short_id`); library
versions and the git commit a run records are fixed; times are relative
("just now") and the hand-made runs take no time. Models come from real
(seeded, small) training, whose metrics are deterministic. Update with
`pytest tests/tui --snapshot-update` after an intended change, and look at them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlcycle_tui.experiments import tracking
from mlcycle_tui.tui.widgets import run_panels
from mlcycle_tui.workspace import Workspace

from .helpers import make_app

SIZES = [(80, 24), (120, 40)]


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.fixture
def fixed_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs that look the same on every machine: masked ids, fixed versions, no git commit."""
    monkeypatch.setattr(run_panels, "short_id", lambda _run_id: "········")
    monkeypatch.setattr(tracking, "library_versions", lambda: {"python": "3.x", "mlcycle": "0.x"})
    monkeypatch.setattr(tracking, "git_commit", lambda *_a, **_k: None)


def test_empty_experiments_screen(snap_compare, workspace: Workspace) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(workspace), press=["e"], terminal_size=(80, 24))


def test_empty_models_screen(snap_compare, workspace: Workspace) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(workspace), press=["m"], terminal_size=(80, 24))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_experiments_with_runs(  # type: ignore[no-untyped-def]
    snap_compare, workspace: Workspace, fixed_runs: None, size: tuple[int, int]
) -> None:
    for i, (model, f1, accuracy) in enumerate(
        [("rf", 0.91, 0.93), ("logistic", 0.84, 0.88), ("hgb", 0.95, 0.96), ("knn", 0.78, 0.81)]
    ):
        with workspace.runs.start("penguins-sweep") as run:
            run.set_info(model=model, task="classification", seed=42 + i)
            run.log_params({"model": model, "fold": i})
            run.log_metrics({"f1": f1, "accuracy": accuracy})
            run.set_tag("owner", "snapshots")
        time.sleep(0.005)  # distinct creation times: a stable newest-first order
    assert snap_compare(make_app(workspace), press=["e"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_models_with_versions(  # type: ignore[no-untyped-def]
    snap_compare, workspace: Workspace, sample_data: Path, size: tuple[int, int]
) -> None:
    workspace.data.ingest(sample_data / "penguins.csv", "penguins", target="species")
    weak = workspace.training.train("penguins", "dummy")["run_id"]
    strong = workspace.training.train("penguins", "rf", params=["n_estimators=10"])["run_id"]
    workspace.registry.register(weak, "penguins")
    workspace.registry.register(strong, "penguins")
    workspace.registry.promote("penguins", 2)

    async def open_models(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("m")
        await _settle(pilot)

    assert snap_compare(make_app(workspace), run_before=open_models, terminal_size=size)

"""The TUI's metric cells and sorts follow the core's rules (evaluation.primary_metric_of, higher_is_better)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mlcycle_tui.tui.screens.experiments import columns
from mlcycle_tui.tui.screens.models import version_metric
from mlcycle_tui.tui.widgets.run_panels import run_metric


def test_metric_columns_sort_best_first_by_the_core_direction() -> None:
    sorts = {key: (header, keys) for key, header, keys in columns()}
    # f1 and accuracy: higher is better, so best first is descending; rmse: lower is better
    assert sorts["m0"] == ("f1|rmse", ["-metrics.f1", "metrics.f1", "metrics.rmse", "-metrics.rmse"])
    assert sorts["m1"] == ("acc|r2", ["-metrics.accuracy", "metrics.accuracy", "-metrics.r2", "metrics.r2"])


def test_run_cells_show_the_primary_metric_of_the_run() -> None:
    def run(task: str | None, **metrics: float) -> dict[str, Any]:
        return {"task": task, "metrics": metrics}

    assert run_metric(run("regression", rmse=2.0, r2=0.5, f1=0.1), 0) == "2.000"
    assert run_metric(run("regression", rmse=2.0, r2=0.5), 1) == "0.500"
    assert run_metric(run("classification", f1=0.8, accuracy=0.9), 0) == "0.800"
    assert run_metric(run("classification", f1=0.8, accuracy=0.9), 1) == "0.900"
    assert run_metric(run(None, rmse=1.5), 0) == "1.500"  # logged by hand: the metrics tell the task
    assert run_metric(run(None), 0) == "-"
    mv = SimpleNamespace(task="regression", metrics={"rmse": 4.0, "f1": 0.2})
    assert version_metric(mv) == "rmse 4.000"  # type: ignore[arg-type]

"""The Dashboard's runs tile shows the core's best recent run (`ws.runs.best_recent`), not a rule of its own.

Regression runs logged by hand: the best is the lowest rmse (a tile that took
the highest, or treated rmse like f1, would name another model); a newer
failed run with a better value and a run without the metric do not count.
"""

from __future__ import annotations

from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import make_ops_app, wait_until


def _log(ws: Workspace, model: str, status: str = "finished", **metrics: float) -> None:
    run = ws.runs.start("bikes", model=model, task="regression")
    run.log_metrics(metrics)
    run.end(status)


async def test_runs_tile_shows_the_lowest_rmse(workspace: Workspace) -> None:
    _log(workspace, "ridge", rmse=3.0, r2=0.9)
    _log(workspace, "gbm", rmse=1.25, r2=0.1)
    _log(workspace, "knn", rmse=2.0, r2=0.5)
    _log(workspace, "lasso", mae=0.01)  # finished without its primary metric
    _log(workspace, "tree", status="failed", rmse=0.5)
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "5 runs" in text_of(app, "#tile-runs"))
        tile = text_of(app, "#tile-runs")
        assert "best gbm rmse 1.250" in tile, tile
        assert workspace.runs.best_recent()["model"] == "gbm"  # the same answer as the core's

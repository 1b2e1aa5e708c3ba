"""A random search from the Train dialog runs on process workers (issue 17, item 2), ranked by the
metric and with the folds chosen in the dialog (issue 18, item 1).

Inside a running Textual app `sys.stderr.fileno()` is -1, and joblib's process
backend used to fail at once with "bad value(s) in fds_to_keep" when it started
its resource trackers there. The trackers are one per process, so once any
search in this pytest process has started them the bug hides: the app is
driven under `run_test()` in a fresh interpreter (`python -m` this module).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from textual.widgets import Input, Select

from mlcycle_tui.tui.dialogs.train import TrainDialog
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, make_app, text_of

REPO = Path(__file__).resolve().parents[2]


def _yes_no_frame(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=n), rng.normal(size=n)
    churn = np.where(a + 0.5 * b + rng.normal(scale=0.7, size=n) > 0.3, "yes", "no")
    return pd.DataFrame({"a": a, "b": b, "plan": rng.choice(["basic", "pro"], n),
                         "customer": rng.integers(0, 10, n), "churn": churn})


async def drive(home: Path) -> dict:
    """Train through the dialog: logistic, random search, 2 trials, roc_auc over 2 group folds, all cores."""
    ws = Workspace.open(home)
    ws.data.ingest(_yes_no_frame(), "churn", target="churn")
    app = make_app(ws)
    out: dict = {}
    async with app.run_test(size=SIZE) as pilot:
        out["stderr_fileno"] = sys.stderr.fileno()  # what loky sees while the app runs
        await pilot.press("e", "t")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TrainDialog)
        dialog.query_one("#train-model", Select).value = "logistic"
        dialog.query_one("#train-search", Select).value = "random"
        dialog.query_one("#train-trials", Input).value = "2"
        await pilot.pause()
        dialog.query_one("#train-metric", Select).value = "roc_auc"  # offered once the task is known
        dialog.query_one("#train-cv", Input).value = "group:customer:2"
        dialog.query_one("#train-drop", Input).value = "plan"
        await pilot.pause()
        await pilot.click("#train-ok")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        out["dialog_open"] = isinstance(app.screen, TrainDialog)
        out["dialog_error"] = text_of(app, "#train-error") if out["dialog_open"] else ""
        out["workers"] = [p.name for p in multiprocessing.active_children()]
    out["runs"] = [ws.runs.get(r["run_id"]) for r in ws.runs.search()]
    out["recipes"] = [ws.runs.recipe(r["run_id"]) for r in out["runs"]]
    ws.close()
    return out


def test_random_search_from_the_train_dialog(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "tests.tui.test_train_search", str(tmp_path / "ws")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["stderr_fileno"] == -1  # the condition that broke the search
    assert not out["dialog_open"], out["dialog_error"]
    (run,) = out["runs"]
    assert run["status"] == "finished" and run["error"] is None
    assert run["tags"]["search"] == "random" and run["model"] == "logistic"
    assert 0.0 <= run["metrics"]["cv_best_score"] <= 1.0
    assert run["tags"]["primary_metric"] == "roc_auc" and run["tags"]["positive_class"] == "yes"
    (recipe,) = out["recipes"]
    assert (recipe["cv"], recipe["drop"], recipe["metric"]) == ("group:customer:2", ["plan"], "roc_auc")
    assert 0.0 <= run["metrics"]["f1"] <= 1.0 and "accuracy" in run["metrics"]
    assert any("Loky" in name for name in out["workers"]), out["workers"]  # it ran on process workers


if __name__ == "__main__":
    print(json.dumps(asyncio.run(drive(Path(sys.argv[1]))), default=str))

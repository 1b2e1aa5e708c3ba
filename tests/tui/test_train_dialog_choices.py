"""The Train dialog offers the training choices of `mlcycle train` (issue 18, item 1): another target
column, the metrics of its task, a class by import path, include and drop columns, and the folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from textual.widgets import Input, Select

from mlcycle_tui.tui.dialogs.train import OTHER_MODEL, TrainDialog
from mlcycle_tui.workspace import Workspace

from .helpers import make_app, text_of


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": rng.normal(size=n), "note": [f"n{i}" for i in range(n)],
                         "spend": (a * 3 + rng.normal(size=n)).round(2),
                         "churn": np.where(a > 0.2, "yes", "no")})


async def test_another_target_an_import_path_and_columns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace.open(tmp_path / "ws")
    ws.data.ingest(_frame(), "users", target="churn")
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e", "t")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TrainDialog)
        metric = dialog.query_one("#train-metric", Select)
        assert "roc_auc" in [v for _, v in metric._options]  # churn is a classification target
        dialog.query_one("#train-target", Select).value = "spend"
        await pilot.pause()
        offered = [v for _, v in metric._options]
        assert "mae" in offered and "roc_auc" not in offered  # the metrics follow the chosen target's task
        metric.value = "mae"
        dialog.query_one("#train-model", Select).value = OTHER_MODEL
        await pilot.pause()
        assert dialog.query_one("#train-import", Input).display
        dialog.query_one("#train-import", Input).value = "sklearn.linear_model:Lasso"
        dialog.query_one("#train-params", Input).value = "alpha=0.05"
        dialog.query_one("#train-drop", Input).value = "churn"
        dialog.query_one("#train-include", Input).value = "note"
        await pilot.click("#train-ok")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        error = text_of(app, "#train-error") if isinstance(app.screen, TrainDialog) else ""
        assert not isinstance(app.screen, TrainDialog), error
    (run,) = ws.runs.search()
    recipe = ws.runs.recipe(run["run_id"])
    assert (recipe["model"], recipe["target"], recipe["metric"]) == ("sklearn.linear_model:Lasso", "spend", "mae")
    assert (recipe["drop"], recipe["include"], recipe["params"]) == (["churn"], ["note"], {"alpha": 0.05})
    ws.close()


async def test_a_bad_import_path_stays_in_the_dialog(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace.open(tmp_path / "ws")
    ws.data.ingest(_frame(), "users", target="churn")
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e", "t")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#train-model", Select).value = OTHER_MODEL
        await pilot.pause()
        dialog.query_one("#train-import", Input).value = "SVC"
        await pilot.click("#train-ok")
        await pilot.pause()
        assert "module:Class" in text_of(app, "#train-error")
        dialog.query_one("#train-import", Input).value = "nosuchlib:Model"
        dialog.query_one("#train-cv", Input).value = "group:nope"
        dialog.query_one("#train-cv", Input).focus()
        await pilot.press("enter")  # Enter in a field trains, as the OK button does
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert isinstance(app.screen, TrainDialog)
        assert "pip install nosuchlib" in text_of(app, "#train-error")
    assert ws.runs.count() == 0
    ws.close()

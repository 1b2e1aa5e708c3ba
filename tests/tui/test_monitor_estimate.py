"""The Monitor screen estimates performance without labels (p) and writes the drift report as HTML (w)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.tui.widgets.line_plot import LinePlot
from mlcycle_tui.workspace import Workspace

from .helpers import make_app, text_of


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(shift, 1.0, n), rng.normal(0.0, 1.0, n)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-(1.5 * x1 - x2)))
    return pd.DataFrame({"x1": x1, "x2": x2, "y": np.where(y, "yes", "no")})


async def test_estimate_tab_plots_the_chunks_and_w_writes_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace.open(tmp_path / "ws")
    ds = ws.data.ingest(_frame(600, seed=1), name="clf", target="y")
    split = ws.splits.create(ds, test_size=0.5, seed=1)
    run = ws.training.train(ds.ref, "logistic", split=split.split_id)
    mv = ws.registry.register(run["run_id"], "clf")
    ws.registry.promote("clf", mv.version)
    current = _frame(400, seed=2, shift=0.4).drop(columns=["y"])
    _, pipeline = ws.registry.load_model("clf")
    pred = pipeline.predict(current)
    start = time.time() - len(current)
    ws.predictions.log(prediction_row(new_prediction_id(), "clf", 1, current.iloc[i].to_dict(), pred[i],
                                      at=start + i) for i in range(len(current)))
    ws.monitoring.check_drift("clf", action="alert")
    ws.settings["gates"] = {**ws.settings["gates"], "min": {"f1": 0.99}}  # every chunk falls below it
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("p")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        text = text_of(app, "#mon-estimate-text")
        assert "CBPE" in text and "alert in" in text and "P(y|x)" in text, text
        plot = app.screen.query_one("#mon-estimate-plot", LinePlot)
        assert plot.labels[:3] == ["estimated", "lower", "upper"] and "threshold" in plot.labels
        await pilot.press("w")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
    written = list((ws.home / "reports").glob("*.html"))
    assert len(written) == 1 and "<svg" in written[0].read_text()
    ws.close()

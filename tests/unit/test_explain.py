"""Why a model decides (issue 16, item 2): permutation importance and partial dependence of every run,
and drift findings ranked by what the model relies on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.workspace import Workspace


def frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """y depends on `signal` (strongly, upwards) and `weak` (a little); `noise` and `colour` not at all."""
    rng = np.random.default_rng(seed)
    signal, weak, noise = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    logit = 3 * signal + 0.5 * weak
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"signal": signal, "weak": weak, "noise": noise,
                         "colour": rng.choice(["red", "blue"], n), "churn": y})


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    w = Workspace.open(tmp_path_factory.mktemp("explain") / "ws")
    w.data.ingest(frame(), name="c", target="churn")
    yield w
    w.close()


def test_every_run_measures_what_its_model_relies_on(ws) -> None:
    result = ws.training.train("c", "logistic", metric="roc_auc")
    ranked = [r["feature"] for r in result["importances"]]
    assert ranked[0] == "signal" and ranked.index("weak") < ranked.index("noise")
    doc = ws.evaluation.explanation(result["run_id"])
    assert doc["stored"] and doc["metric"] == "roc_auc"  # the drop of the run's own metric
    imp = {r["feature"]: r["importance"] for r in doc["importances"]}
    assert imp["signal"] > 0.2 and abs(imp["noise"]) < 0.05
    pdp = doc["partial_dependence"]["signal"]
    assert pdp["kind"] == "numeric" and pdp["of"] == "P(yes)"
    assert np.all(np.diff(pdp["average"]) > 0)  # more signal, more churn: the direction the data was made with
    assert pdp["average"][0] < 0.2 < 0.8 < pdp["average"][-1]


def test_explanation_can_be_switched_off_and_is_measured_on_demand(ws) -> None:
    ws.training.settings["training"] = {"explain": False}
    try:
        result = ws.training.train("c", "ridge", target="signal", drop=["churn"])
    finally:
        ws.training.settings.pop("training")
    assert result["importances"] == []
    assert "importances.json" not in {a["name"] for a in ws.runs.list_artifacts(result["run_id"])}
    doc = ws.evaluation.explanation(result["run_id"])  # an older run: measured now, not stored
    assert not doc["stored"] and doc["metric"] == "rmse"
    # signal is the target here: weak, noise and colour do not predict it, so no importance is large
    assert {r["feature"] for r in doc["importances"]} == {"weak", "noise", "colour"}
    assert all(abs(r["importance"]) < 0.1 for r in doc["importances"])


def test_drifted_columns_are_ranked_by_importance(ws) -> None:
    run = ws.training.train("c", "logistic")
    mv = ws.registry.register(run["run_id"], "c")
    current = frame(300, seed=9).drop(columns=["churn"])
    current["noise"] += 3  # the column the model ignores drifts more...
    current["signal"] += 1.5  # ...than the one it relies on
    report = ws.monitoring.check_drift(mv.ref, current, action="alert")
    stats = {c["column"]: c for c in report["columns"]}
    assert stats["noise"]["drifted"] and stats["signal"]["drifted"]
    assert stats["noise"]["statistic"] > stats["signal"]["statistic"]
    assert report["drifted_columns"][:2] == ["signal", "noise"]  # the model relies on signal
    assert stats["signal"]["importance"] > stats["noise"]["importance"]

"""`mlcycle monitor estimate` through the real entry point: JSON shape, the text, cannot-judge, the trigger.

Subprocesses on one workspace: a logistic classifier in production on
generated data (a 1,000-row reference holdout), 600 predictions logged for it
with feedback for half of them; the penguins model, whose 69-row test split is
too small a reference to calibrate on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
DOC_KEYS = {"model", "version", "metric", "chunks", "judged", "reason", "caveat", "thresholds", "alert", "job_id"}
CHUNK_KEYS = {"start", "end", "rows", "estimated", "lower", "upper", "realized", "alert"}


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(shift, 1.0, n), rng.normal(0.0, 1.0, n)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-(1.5 * x1 - x2)))
    return pd.DataFrame({"x1": x1, "x2": x2, "y": np.where(y, "yes", "no")})


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-estimate") / "ws"
    with Workspace.open(path) as ws:
        ds = ws.data.ingest(frame(2000, seed=1), name="syn", target="y")
        split = ws.splits.create(ds, test_size=0.5, seed=1)
        run = ws.training.train(ds.ref, "logistic", split=split.split_id, seed=1)
        ws.registry.register(run["run_id"], "syn")
        ws.registry.promote("syn", 1)
        current = frame(600, seed=2, shift=0.5)
        _, pipeline = ws.registry.load_model("syn")
        inputs = current.drop(columns=["y"])
        predictions = pipeline.predict(inputs)
        ids = [new_prediction_id() for _ in range(len(inputs))]
        start = time.time() - len(inputs)
        ws.predictions.log(prediction_row(ids[i], "syn", 1, inputs.iloc[i].to_dict(), predictions[i], at=start + i)
                           for i in range(len(inputs)))
        ws.predictions.add_feedback("syn", [{"prediction_id": ids[i], "label": current.y[i]} for i in range(0, 600, 2)])

        ws.data.ingest(SAMPLES / "penguins.csv", "penguins", target="species")
        run = ws.training.train("penguins", "rf", params=["n_estimators=10"])
        ws.registry.register(run["run_id"], "penguins")
    frame(2500, seed=3, shift=-0.5).to_csv(path.parent / "current.csv", index=False)
    frame(40, seed=4).drop(columns=["y"]).to_csv(path.parent / "tiny.csv", index=False)
    return path


def test_json_and_text_per_chunk_with_realized_values_beside(home):
    r = mlcycle(home, "monitor", "estimate", "syn", "--current", str(home.parent / "current.csv"), "--chunk", "1000",
                "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc.keys() >= DOC_KEYS and doc["judged"] and doc["metric"] == "f1" and doc["method"] == "CBPE"
    assert [(c["start"], c["end"]) for c in doc["chunks"]] == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert all(c.keys() >= CHUNK_KEYS and c["lower"] <= c["estimated"] <= c["upper"] for c in doc["chunks"])
    assert all(c["realized"] is not None for c in doc["chunks"])  # the file has the target column
    assert "P(y|x)" in doc["caveat"]

    r = mlcycle(home, "monitor", "estimate", "syn", "--window", "1h", "--chunk", "300", "--metric", "accuracy")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == ("syn@1: CBPE estimate of accuracy on 600 rows (logged predictions, last 1h), "
                        "2 chunks of about 300 rows")
    header = next(line for line in lines if line.startswith("CHUNK"))
    assert header.split() == ["CHUNK", "ROWS", "FIRST", "LAST", "ESTIMATED", "BAND", "REALIZED", "LABELLED",
                              "ALERT"]
    rows = [line.split() for line in lines[lines.index(header) + 1:lines.index(header) + 3]]
    assert [row[1] for row in rows] == ["300", "300"] and [row[7] for row in rows] == ["150", "150"]
    assert any(line.startswith("assumption: the estimate assumes P(y|x) holds") for line in lines)


def test_cannot_estimate_exits_3_and_says_why(home):
    r = mlcycle(home, "monitor", "estimate", "penguins", "--current", str(SAMPLES / "penguins.csv"), "--json")
    assert r.returncode == 3, (r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["judged"] is False and doc["chunks"] == [] and doc["verdict"] == "cannot estimate"
    assert "reference holdout" in doc["reason"] and "needs 100" in doc["reason"] and "--test-size" in doc["reason"]

    r = mlcycle(home, "monitor", "estimate", "syn", "--current", str(home.parent / "tiny.csv"))
    assert r.returncode == 3
    first, why = r.stdout.splitlines()[:2]
    assert first == f"syn@1: CANNOT ESTIMATE f1 (CBPE) on 40 rows from file {home.parent / 'tiny.csv'}"
    assert why.startswith("why: 40 current rows; needs 100: give a longer --window")
    assert "within the threshold" not in r.stdout and "not a pass" in r.stderr

    r = mlcycle(home, "monitor", "estimate", "nosuch", "--json")
    assert r.returncode == 2 and set(json.loads(r.stdout)) == {"error"}


def test_queue_on_an_alert_names_the_trigger(home):
    (home / "config.toml").write_text("[gates]\nmin = { accuracy = 0.99 }\n", encoding="utf-8")
    try:
        r = mlcycle(home, "monitor", "estimate", "syn", "--window", "1h", "--metric", "accuracy", "--queue",
                    "--fail-on-alert", "--json")
        assert r.returncode == 1, r.stderr
        doc = json.loads(r.stdout)
        assert doc["alert"] and doc["job_queued"] and doc["thresholds"]["accuracy"]["source"] == "gates.min.accuracy"
        jobs = json.loads(mlcycle(home, "jobs", "list", "--json").stdout)
        assert [(j["id"], j["trigger"]) for j in jobs] == [(doc["job_id"], "estimated_performance")]
    finally:
        (home / "config.toml").unlink()

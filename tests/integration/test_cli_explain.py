"""`mlcycle explain` through the real entry point: rows from a file, from the log, and its errors.

A random forest (exact TreeSHAP: the contributions plus the base are the answered probability)
and a logistic regression (exact in log-odds) on penguins, one workspace, subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.predictions.log import prediction_rows_from_frame
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("explain") / "ws"
    with Workspace.open(home) as ws:
        ws.data.ingest(SAMPLES / "penguins.csv", "penguins", target="species")
        for kind in ("rf", "logistic"):
            run = ws.training.train("penguins", kind, params=[])["run_id"]
            ws.registry.register(run, "penguins")
        ws.registry.register(run, "quiet")  # a model nothing was ever logged for
        rows = pd.read_csv(SAMPLES / "penguins.csv").drop(columns=["species"]).iloc[10:14]
        ws.predictions.log(prediction_rows_from_frame("penguins", 2, rows, ["Adelie"] * 4))
    return home


def test_explain_rows_of_a_file_adds_up_to_the_probability(home: Path, tmp_path: Path) -> None:
    rows = pd.read_csv(SAMPLES / "penguins.csv").iloc[[0, 200, 300]]
    path = tmp_path / "three.csv"
    rows.to_csv(path, index=False)
    out = mlcycle(home, "explain", "penguins@1", "--input", str(path), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["method"] == "tree_shap" and doc["of"] == "P(predicted class)" and len(doc["rows"]) == 3
    with Workspace.open(home) as ws:
        _, pipeline = ws.registry.load_model("penguins@1")
        proba = pipeline.predict_proba(rows.drop(columns=["species"])).max(axis=1)
    for row, base, p in zip(doc["rows"], doc["base"], proba, strict=True):
        assert sum(row.values()) + base == pytest.approx(p, abs=1e-6)
    text = mlcycle(home, "explain", "penguins@1", "--input", str(path), "--rows", "2", "--top", "2")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.strip().splitlines()
    assert lines[0] == "penguins@1: exact (TreeSHAP) contributions to P(predicted class)"
    assert len(lines) == 3 and lines[1].startswith("row 1 -> ") and "from base" in lines[1] and "smaller)" in lines[1]


def test_explain_logged_requests_and_the_errors(home: Path) -> None:
    out = mlcycle(home, "explain", "penguins@2", "--logged", "--rows", "3", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["method"] == "linear" and doc["version"] == 2 and len(doc["rows"]) == 3
    # v1 explained on the requests v2 answered: the rows come from the model's log, whichever version
    older = mlcycle(home, "explain", "penguins@1", "--logged", "--rows", "2", "--json")
    assert older.returncode == 0, older.stderr
    assert json.loads(older.stdout)["method"] == "tree_shap" and len(json.loads(older.stdout)["rows"]) == 2
    none = mlcycle(home, "explain", "quiet", "--logged")
    assert none.returncode != 0 and "no predictions of quiet are logged yet" in none.stderr
    wrong = mlcycle(home, "explain", "penguins@1", "--input", str(SAMPLES / "bikeshare.csv"))
    assert wrong.returncode == 2 and "lack 7 of penguins@1's input columns" in wrong.stderr
    assert "Traceback" not in wrong.stderr + none.stderr

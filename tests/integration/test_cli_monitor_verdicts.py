"""`mlcycle monitor check` as a CI gate: it must not pass when it cannot judge.

The `mlcycle` entry point in subprocesses on a workspace with penguins@1 in
production: a notes file with none of the model's columns, and a window of
three logged predictions, each with `--fail-on-drift`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
ROW = {"island": "Dream", "bill_length_mm": 45.1, "bill_depth_mm": 17.0, "flipper_length_mm": 190,
       "body_mass_g": 3800, "sex": "male", "year": 2008}
COLUMNS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """penguins@1 in production and three predictions logged for it."""
    path = tmp_path_factory.mktemp("cli-verdicts") / "ws"
    with Workspace.open(path) as ws:
        ws.data.ingest(SAMPLES / "penguins.csv", "penguins", target="species")
        run = ws.training.train("penguins", "rf", params=["n_estimators=10"])
        ws.registry.register(run["run_id"], "penguins")
        ws.registry.promote("penguins", 1)
        now = time.time()
        ws.predictions.log([prediction_row(new_prediction_id(), "penguins", 1, dict(ROW), "Adelie", None,
                                           at=now - 3 + i) for i in range(3)])
    return path


def test_notes_file_is_a_schema_error_naming_the_missing_columns(home, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("".join(f"note number {i}\n" for i in range(40)), encoding="utf-8")
    before = json.loads(mlcycle(home, "monitor", "reports", "penguins", "--json").stdout)
    r = mlcycle(home, "monitor", "check", "penguins", "--current", str(notes), "--fail-on-drift")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert "no drift" not in r.stderr
    message = r.stderr.strip()
    assert message.startswith("mlcycle: error: the current data (file ") and "notes.txt) does not have" in message
    assert "missing " + ", ".join(COLUMNS) + ";" in message
    assert "leave out --current" in message  # what to do

    r = mlcycle(home, "monitor", "reports", "penguins", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == before  # no report was stored


def test_too_few_rows_fail_the_gate_and_say_not_enough_data(home):
    r = mlcycle(home, "monitor", "check", "penguins", "--fail-on-drift")
    assert r.returncode == 3, (r.stdout, r.stderr)
    first = r.stdout.splitlines()[0]
    assert first.startswith("penguins@1: NOT ENOUGH DATA (3 rows; needs 20) from logged predictions")
    assert "no drift in" not in r.stdout
    assert "could not judge" in r.stderr

    r = mlcycle(home, "monitor", "check", "penguins", "--fail-on-drift", "--json")
    assert r.returncode == 3
    report = json.loads(r.stdout)
    assert report["verdict"] == "not enough data" and report["judged"] is False
    assert report["verdict_text"] == "not enough data (3 rows; needs 20)"
    assert report["drift"] is False and report["share_drifted"] is None

    r = mlcycle(home, "monitor", "check", "penguins", "--json")  # without the gate: reported, exit 0
    assert r.returncode == 0 and json.loads(r.stdout)["verdict"] == "not enough data"

    r = mlcycle(home, "monitor", "reports", "penguins")
    assert r.returncode == 0
    assert "VERDICT" in r.stdout.splitlines()[0] and "not enough data" in r.stdout.splitlines()[1]

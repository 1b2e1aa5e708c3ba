"""train, evaluate, runs reproduce and the registry through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
CMD = [sys.executable, "-m", "mlcycle_tui"]


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, "--workspace", str(ws), *args], capture_output=True, text=True, timeout=180)


def ok(r: subprocess.CompletedProcess[str]) -> dict:
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_train_register_promote_evaluate_reproduce(tmp_path):
    ws = tmp_path / "ws"
    ok(mlcycle(ws, "data", "ingest", str(SAMPLES / "penguins.csv"), "--name", "penguins", "--target", "species",
               "--json"))
    catalog = ok(mlcycle(ws, "models", "catalog", "--json"))
    kinds = {(e["kind"], e["task"]) for e in catalog}
    for kind in ("dummy", "rf", "extra_trees", "hgb", "knn"):
        assert (kind, "classification") in kinds and (kind, "regression") in kinds
    assert ("logistic", "classification") in kinds and ("ridge", "regression") in kinds

    run = ok(mlcycle(ws, "train", "penguins", "--model", "rf", "--param", "n_estimators=10", "--json"))
    assert {"run_id", "experiment", "model", "task", "metrics", "params"} <= run.keys()
    assert run["metrics"]["f1"] > 0.8
    listed = ok(mlcycle(ws, "runs", "list", "--filter", 'metrics.f1 > 0.5 and params.model = "rf"', "--json"))
    assert [r["run_id"] for r in listed] == [run["run_id"]]

    mv = ok(mlcycle(ws, "models", "register", run["run_id"][:8], "--name", "penguins", "--json"))
    assert (mv["name"], mv["version"], mv["run_id"]) == ("penguins", 1, run["run_id"])
    promoted = ok(mlcycle(ws, "models", "promote", "penguins", "1", "--json"))
    assert promoted["alias"] == "production" and promoted["previous"] is None
    models = ok(mlcycle(ws, "models", "list", "--json"))
    assert models[0]["aliases"] == ["production"]

    ev = ok(mlcycle(ws, "evaluate", "penguins", "--slice", "island", "--json"))
    assert set(ev["slices"]) == {"Biscoe", "Dream", "Torgersen"}
    assert "confusion_matrix" in ev["metrics"]

    again = ok(mlcycle(ws, "runs", "reproduce", run["run_id"][:8], "--json"))
    assert again["same_metrics"] and again["same_predictions"]


def test_train_bad_input_exit_2(tmp_path):
    ws = tmp_path / "ws"
    ok(mlcycle(ws, "data", "ingest", str(SAMPLES / "penguins.csv"), "--name", "penguins", "--target", "species",
               "--json"))
    for args, needle in [
        (["--model", "nope"], "valid kinds"),
        (["--param", "n_estimators=abc"], "must be an integer"),
        (["--param", "colour=red"], "valid parameters"),
        (["--search", "grid", "--cv", "400"], "too few"),
    ]:
        r = mlcycle(ws, "train", "penguins", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr
    assert ok(mlcycle(ws, "runs", "list", "--filter", 'status = "running"', "--json")) == []


def test_gates_list_every_check_and_promote_says_none_before_the_first(tmp_path):
    ws = tmp_path / "ws"
    ok(mlcycle(ws, "data", "ingest", str(SAMPLES / "penguins.csv"), "--name", "penguins", "--target", "species",
               "--json"))
    for model in ("logistic", "dummy"):
        run = ok(mlcycle(ws, "train", "penguins", "--model", model, "--json"))
        ok(mlcycle(ws, "models", "register", run["run_id"], "--name", "penguins", "--json"))
    first = mlcycle(ws, "models", "promote", "penguins", "1")
    assert first.returncode == 0 and first.stdout.strip() == "penguins@production: (none) -> v1"
    gates = mlcycle(ws, "models", "gates", "penguins@2")
    lines = gates.stdout.strip().splitlines()
    assert gates.returncode == 1 and lines[0] == "FAIL  gates for penguins@2 against production v1"
    assert any(line.startswith(" ✘ f1 ") and "baseline" in line for line in lines[1:])  # the failed one
    assert any(line.startswith(" ✔ ") or line.startswith(" ✘ ") for line in lines[1:])
    verdict = json.loads(mlcycle(ws, "models", "gates", "penguins@2", "--json").stdout)
    assert len(lines) - 1 == len(verdict["checks"]) >= 2  # every check, passed or not, as in the TUI

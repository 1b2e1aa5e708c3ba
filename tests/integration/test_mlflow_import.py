"""`mlcycle import mlflow` on stores that real MLflow wrote (tests/fixtures/mlflow, see make_stores.py).

Both stores, the SQL backend (`mlflow.db`) and the file backend (`mlruns/`), are copied to a new
folder first, so the import has to find the artifacts of a store that moved. Every run, param, tag
and metric value (the full history, with steps and times) must arrive as MLflow itself reads them
back (`expected.json`); a second import adds nothing; what is skipped is listed with its reason;
the registered scikit-learn model predicts as it did in MLflow and keeps its alias.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.cli import main
from mlcycle_tui.experiments.mlflow_filter import ms_to_iso
from mlcycle_tui.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mlflow"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
HAVE_SKOPS = importlib.util.find_spec("skops") is not None


def _order(value: list) -> tuple:
    """Step, time, then value: the file store lists a history in the order it was written."""
    return value[0], value[2], value[1] is None, value[1] or 0.0


def _import(home: Path, uri: str, capsys: pytest.CaptureFixture[str]) -> dict:
    code = main(["--workspace", str(home), "import", "mlflow", uri, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("kind", ["sqlite", "mlruns"])
def test_an_mlflow_store_imports_whole_and_once(kind: str, tmp_path: Path, capsys) -> None:
    moved = tmp_path / "store"
    shutil.copytree(FIXTURES / kind, moved)
    uri = f"sqlite:///{moved / 'mlflow.db'}" if kind == "sqlite" else str(moved)
    expected = EXPECTED[kind]
    home = tmp_path / "ws"
    first = _import(home, uri, capsys)

    live = {rid: r for rid, r in expected["all_runs"].items()}
    assert first["runs"] == len(live) == 5 and first["experiments"] == 3
    assert first["metric_values"] == sum(len(h) for r in live.values() for h in r["metrics"].values())
    skipped = {(s["what"], s["id"]): s["reason"] for s in first["skipped"]}
    assert "deleted in MLflow" in skipped[("run", expected["deleted_run"])]
    if not HAVE_SKOPS:
        assert "skops" in skipped[("model version", "fixture-model version 2")]
    assert first["renamed"] == [{"what": "experiment", "from": "Team Forecasts", "to": "Team-Forecasts",
                                 "reason": "mlcycle names are 1-64 letters, digits, '_', '.' or '-'"}]

    ws = Workspace.open(home)
    try:
        for run_id, want in live.items():
            got = ws.runs.get(run_id)
            experiment = {"Default": "default", "Team Forecasts": "Team-Forecasts"}.get(want["experiment"],
                                                                                         want["experiment"])
            assert got["experiment"] == experiment, run_id
            assert got["status"] == want["status"].lower()
            assert got["params"] == want["params"]
            assert got["tags"] == want["tags"] | {"mlflow.runName": want["name"]}
            assert got["created"] == ms_to_iso(want["start_time"])
            assert got["ended"] == ms_to_iso(want["end_time"])
            assert set(got["metrics"]) == set(want["metrics"])
            for key, history in want["metrics"].items():
                rows = ws.runs.metric_history(run_id, key)
                got_history = [[r["step"], None if math.isnan(r["value"]) else r["value"],
                                round(r["timestamp"] * 1000)] for r in rows]
                assert sorted(got_history, key=_order) == sorted(history, key=_order), (run_id, key)
        assert ws.runs.count() == len(live)

        # the registered model: loads, predicts as in MLflow, keeps its alias
        mv = ws.registry.model_version("fixture-model@champion")
        assert mv.version == 1 and mv.run_id == expected["runs"]["alpha"] and mv.task == "classification"
        assert mv.recipe["mlflow_version"] == 1 and mv.recipe["mlflow_model_name"] == "fixture-model"
        _, model = ws.registry.load_model(mv)
        rows = pd.DataFrame(expected["rows"])
        assert model.predict(rows[[c["name"] for c in mv.signature["inputs"]]]).tolist() == expected["predictions"]
        assert len(ws.registry.model_versions("fixture-model")) == (2 if HAVE_SKOPS else 1)
    finally:
        ws.close()

    again = _import(home, uri, capsys)
    assert (again["runs"], again["models"], again["experiments"], again["metric_values"], again["aliases"]) == (
        0, 0, 0, 0, [])
    assert again["already_imported"] == {"runs": 5, "models": 2 if HAVE_SKOPS else 1}


def test_what_is_not_an_mlflow_store_is_refused_clearly(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    not_db = tmp_path / "notes.db"
    not_db.write_text("hello")
    for uri, words in ((str(tmp_path / "nowhere"), "no MLflow store"), (str(tmp_path / "empty"), "not an mlruns/"),
                       (f"sqlite:///{not_db}", "SQLite")):
        code = main(["--workspace", str(tmp_path / "ws"), "import", "mlflow", uri, "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 2 and words in out["error"]["message"], out


def test_an_imported_model_gets_its_training_data_for_drift_checks(tmp_path: Path, capsys) -> None:
    from sklearn.datasets import load_iris

    home = tmp_path / "ws"
    shutil.copytree(FIXTURES / "sqlite", tmp_path / "store")
    _import(home, f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", capsys)
    code = main(["--workspace", str(home), "monitor", "check", "fixture-model@1", "--json"])
    refused = json.loads(capsys.readouterr().out)
    assert code != 0 and "error" in refused  # no reference yet
    train = tmp_path / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(train, index=False)
    code = main(["--workspace", str(home), "import", "reference", "fixture-model@1", "--data", str(train),
                 "--target", "target", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["target"] == "target" and out["split_id"] and out["ingested"] == "fixture-model@1"
    code = main(["--workspace", str(home), "monitor", "check", "fixture-model@1", "--current", str(train), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["drift"] is False and report["version"] == 1, report

"""`mlcycle export --format mlflow` loads in real MLflow, in a process without mlcycle, and predicts as mlcycle does.

One workspace holds a classifier (penguins), a regressor with a datetime input (bike) and a classifier
whose columns are named with a quote, a colon and non-ASCII letters; all three are exported and then
loaded by one Python process that imports MLflow (slow to import) and cannot import mlcycle except from
the export's own `code/` folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
ODD = {"quote": "bill's length", "colon": "ratio: a/b", "unicode": "île", "dash": "naïve – “quoted”"}

LOAD_IN_MLFLOW = r"""
import json, sys
import pandas as pd
import mlflow, mlflow.models

out = {}
for name, folder, rows in json.loads(sys.stdin.read()):
    rows = json.loads(rows)
    frame = pd.DataFrame(rows["data"], columns=rows["columns"])
    if "timestamp" in frame:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])  # MLflow's `datetime` takes dates, not text
    signature = mlflow.models.Model.load(folder).signature  # MLflow's own parsing of MLmodel
    model = mlflow.pyfunc.load_model(folder)
    try:
        model.predict(frame.drop(columns=[frame.columns[0]]))
        missing = None
    except mlflow.exceptions.MlflowException as exc:
        missing = exc.message
    out[name] = {
        "inputs": [[c.name, str(c.type).rsplit(".", 1)[-1], c.required] for c in signature.inputs.inputs],
        "predictions": pd.Series(model.predict(frame)).tolist(),
        "missing": missing,
    }
import mlcycle_tui
out["mlcycle_from"] = mlcycle_tui.__file__
print(json.dumps(out))
"""


def _odd_frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        ODD["quote"]: rng.normal(40, 5, n).round(1),
        ODD["colon"]: rng.integers(1, 9, n),
        ODD["unicode"]: rng.choice(["Dream", "Biscoe", "Torgersen"], n),
        ODD["dash"]: rng.normal(0, 1, n),
    })
    frame["label"] = np.where(frame[ODD["quote"]] + 3 * (frame[ODD["unicode"]] == "Dream") > 41, "yes", "no")
    frame.loc[::17, ODD["quote"]] = np.nan  # the pipeline imputes these
    return frame


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow_export")
    odd_csv = root / "odd.csv"
    _odd_frame().to_csv(odd_csv, index=False)
    ws = Workspace.open(root / "ws")
    models = {}
    for name, source, target, kind, extra in [
        ("penguins", SAMPLES / "penguins.csv", "species", "rf", {"params": ["n_estimators=10"]}),
        ("bike", SAMPLES / "bikeshare.csv", "bikers", "ridge", {"drop": ["casual", "registered"]}),
        ("odd", odd_csv, "label", "rf", {"params": ["n_estimators=5"]}),
    ]:
        ws.data.ingest(source, name=name, target=target, **({"time_column": "timestamp"} if name == "bike" else {}))
        run = ws.training.train(name, kind, **extra)
        ws.registry.register(run["run_id"], name)
        folder = root / f"{name}-mlflow"
        ws.exports.export(f"{name}@1", folder, "mlflow")
        rows = pd.read_csv(source).drop(columns=[target]).head(25)
        _, pipeline = ws.registry.load_model(f"{name}@1")
        signature = ws.registry.model_version(f"{name}@1").signature
        models[name] = {"folder": folder, "rows": rows, "expected": pipeline.predict(rows).tolist(),
                        "columns": [c["name"] for c in signature["inputs"]]}
    ws.close()
    return models


def test_mlmodel_is_yaml_with_required_inputs_and_the_mlflow_version(exported):
    installed = next(v for v in (_version("mlflow"), _version("mlflow-skinny")) if v)
    for name, model in exported.items():
        doc = yaml.safe_load((model["folder"] / "MLmodel").read_text(encoding="utf-8"))
        assert doc["mlflow_version"] == installed != "3.0.0"
        inputs = json.loads(doc["signature"]["inputs"])
        assert [c["name"] for c in inputs] == model["columns"], name
        assert all(c["required"] is True for c in inputs), name
        assert doc["flavors"]["sklearn"]["pickled_model"] == "model.pkl"
    assert set(ODD.values()) <= set(exported["odd"]["columns"])


@pytest.mark.slow
def test_every_export_loads_and_predicts_in_mlflow_without_mlcycle(exported, tmp_path):
    jobs = [[name, str(m["folder"]), m["rows"].to_json(orient="split", index=False, date_format="iso")]
            for name, m in exported.items()]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", LOAD_IN_MLFLOW], input=json.dumps(jobs), capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # the pickled pipelines found mlcycle's classes in the export's code/ folder, not in an installed mlcycle
    assert "-mlflow/code/mlcycle_tui/" in out["mlcycle_from"], out["mlcycle_from"]
    for name, model in exported.items():
        got = out[name]
        assert [c[0] for c in got["inputs"]] == model["columns"] and all(c[2] for c in got["inputs"]), name
        if name == "bike":
            assert got["predictions"] == pytest.approx(model["expected"]), name
            assert dict((c[0], c[1]) for c in got["inputs"])["timestamp"] == "datetime"
        else:
            assert got["predictions"] == model["expected"], name
        # a column the pipeline needs is required: MLflow names it when it is missing
        assert got["missing"] and model["columns"][0] in got["missing"], (name, got["missing"])


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None

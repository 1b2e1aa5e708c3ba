"""Batch scoring and export through the real entry point, with a trained model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import pytest

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
CMD = [sys.executable, "-m", "mlcycle_tui"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    home = tmp_path_factory.mktemp("batch") / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    run = ws.training.train("penguins", "rf", params=["n_estimators=10"])
    ws.registry.register(run["run_id"], "penguins")
    ws.registry.promote("penguins", 1)
    ws.close()
    return home


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, "--workspace", str(ws), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("out_ext", [".csv", ".parquet", ".jsonl"])
def test_predict_file_all_formats_matches_model(trained, tmp_path, out_ext):
    src = tmp_path / "in.csv"
    pd.read_csv(SAMPLES / "penguins.csv").drop(columns=["species"]).to_csv(src, index=False)
    out = tmp_path / f"out{out_ext}"
    r = mlcycle(trained, "predict", "penguins", "--input", str(src), "--output", str(out), "--chunk-rows", "50",
                "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["rows"] == 344 and doc["version"] == 1 and doc["output"] == str(out)
    if out_ext == ".csv":
        result = pd.read_csv(out)
    elif out_ext == ".parquet":
        result = pd.read_parquet(out)
    else:
        result = pd.read_json(out, lines=True)
    assert len(result) == 344
    assert {"prediction", "proba_Adelie", "proba_Gentoo", "island"} <= set(result.columns)
    ws = Workspace.open(trained)
    _, model = ws.registry.load_model("penguins")
    expected = model.predict(pd.read_csv(src))
    assert list(result["prediction"]) == list(expected)
    assert ws.batch.batches("penguins")[0]["status"] == "done"
    assert ws.predictions.count("penguins") > 0
    assert not list(tmp_path.glob(".*.part"))


def test_predict_bad_input_keeps_no_output(trained, tmp_path):
    ws = Workspace.open(trained)
    src = tmp_path / "bad.csv"
    src.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="lacks columns the model needs: island"):
        ws.batch.predict_file("penguins", src, tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()
    assert not list(tmp_path.glob(".*.part"))
    assert ws.batch.batches("penguins")[0]["status"] == "failed"
    with pytest.raises(NotFoundError):
        ws.batch.predict_file("penguins", tmp_path / "missing.csv", tmp_path / "o.csv")
    with pytest.raises(UserError, match="extension"):
        ws.batch.predict_file("penguins", src, tmp_path / "o.xlsx")


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_predict_checks_the_columns_of_a_file_with_no_rows(trained, tmp_path, ext):
    """A header-only file with the wrong columns is refused, not 'wrote 0 predictions' with exit 0."""
    src = tmp_path / f"empty{ext}"
    empty = pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=float)})
    empty.to_csv(src, index=False) if ext == ".csv" else empty.to_parquet(src)
    r = mlcycle(trained, "predict", "penguins", "--input", str(src), "--output", str(tmp_path / "o.csv"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "lacks columns the model needs: island" in r.stderr and "0 predictions" not in r.stdout
    assert not (tmp_path / "o.csv").exists()
    good = tmp_path / f"good{ext}"
    header = pd.read_csv(SAMPLES / "penguins.csv", nrows=0).drop(columns=["species"])
    header.to_csv(good, index=False) if ext == ".csv" else header.astype(float).to_parquet(good)
    r = mlcycle(trained, "predict", "penguins", "--input", str(good), "--output", str(tmp_path / "o.csv"))
    assert r.returncode == 0, r.stderr  # the right columns and no rows: an empty result is correct


def test_export_bundle_runs_without_mlcycle(trained, tmp_path):
    dest = tmp_path / "bundle"
    r = mlcycle(trained, "export", "penguins", "--to", str(dest), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"path": str(dest), "format": "bundle", "name": "penguins", "version": 1}
    for name in ("model.joblib", "signature.json", "requirements.txt", "serve.py", "Dockerfile", "README.md"):
        assert (dest / name).exists(), name
    assert "scikit-learn==" in (dest / "requirements.txt").read_text()
    # the vendored code is what unpickles the pipeline, not the installed package
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1] + '/code'); import joblib, pandas as pd;"
        "m = joblib.load(sys.argv[1] + '/model.joblib'); import mlcycle_tui;"
        "assert mlcycle_tui.__file__.startswith(sys.argv[1]), mlcycle_tui.__file__;"
        "print(m.predict(pd.read_csv(sys.argv[2]).head(3))[0])"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(dest), str(SAMPLES / "penguins.csv")],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in {"Adelie", "Chinstrap", "Gentoo"}
    r = mlcycle(trained, "export", "penguins", "--to", str(dest))
    assert r.returncode == 2 and "not empty" in r.stderr


def test_export_mlflow_layout(trained, tmp_path):
    dest = tmp_path / "mlf"
    ws = Workspace.open(trained)
    result = ws.exports.export("penguins@1", dest, "mlflow")
    assert result["format"] == "mlflow"
    text = (dest / "MLmodel").read_text()
    assert "sklearn:" in text and "python_function:" in text and "pickled_model: model.pkl" in text
    model = joblib.load(dest / "model.pkl")
    assert hasattr(model, "predict")


def test_export_mlflow_loads_in_mlflow(trained, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    dest = tmp_path / "mlf"
    Workspace.open(trained).exports.export("penguins", dest, "mlflow")
    # pyfunc puts the export's code/ folder (a partial copy of mlcycle_tui) on sys.path; processes
    # spawned later in this pytest process (loky, Dask workers) would import that copy: put it back
    saved = list(sys.path)
    try:
        model = mlflow.pyfunc.load_model(str(dest))
        assert len(model.predict(pd.read_csv(SAMPLES / "penguins.csv").head(5))) == 5
    finally:
        sys.path[:] = saved


def test_bundle_serve_py_answers_over_http(trained, tmp_path):
    import socket
    import time
    import urllib.error
    import urllib.request

    dest = tmp_path / "bundle"
    Workspace.open(trained).exports.export("penguins", dest)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(dest / "serve.py")], cwd=dest,
                            env={**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "PYTHONPATH": ""},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    assert json.loads(resp.read())["status"] == "ok"
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.time() < deadline, "the bundle's server did not start"
                time.sleep(0.3)
        rows = pd.read_csv(SAMPLES / "penguins.csv").drop(columns=["species"]).head(3)
        body = json.dumps({"dataframe_records": json.loads(rows.to_json(orient="records"))}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert len(answer["predictions"]) == 3
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
            assert resp.status == 200  # MLflow's readiness route
        one_row = json.dumps({"inputs": json.loads(rows.head(1).to_json(orient="records"))[0]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=one_row,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert len(json.loads(resp.read())["predictions"]) == 1
        csv_req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=rows.to_csv(index=False).encode(),
                                         headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(csv_req, timeout=10) as resp:
            assert len(json.loads(resp.read())["predictions"]) == 3
        bad = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=b'{"instances": [{"x": 1}]}',
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(bad, timeout=10)
            raise AssertionError("a row without the model's columns was answered")
        except urllib.error.HTTPError as exc:
            doc = json.loads(exc.read())
            assert exc.code == 422 and doc["error_code"] == "INVALID_PARAMETER_VALUE"
            assert "missing columns" in doc["message"] and doc["error"]["code"] == "schema"
    finally:
        proc.terminate()
        proc.wait(timeout=10)

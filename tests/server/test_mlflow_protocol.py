"""MLflow's scoring protocol, as MLflow's own clients use it: /ping, /version, /invocations with JSON, CSV,
Parquet and one-row bodies, MLflow's error shape, prediction ids for feedback, and large bodies.

The test with MLflow's real `ScoringServerClient` runs `mlcycle serve` as a user would; the others use
the in-process server of `conftest.py` and plain HTTP.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcycle_tui.registry.export import MLFLOW_VERSION
from mlcycle_tui.server import bodies
from mlcycle_tui.server.errors import ApiError
from mlcycle_tui.server.inputs import body_frame
from mlcycle_tui.server.runner import ServerRunner
from mlcycle_tui.workspace import Workspace

from .helpers import ROW, Client

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
OTHER = dict(ROW, island="Biscoe", bill_length_mm=50.0, bill_depth_mm=15.2, body_mass_g=5200, sex="female")


def _rows(n: int | None = None) -> pd.DataFrame:
    rows = pd.read_csv(SAMPLES / "penguins.csv").drop(columns=["species"])
    return rows if n is None else rows.head(n)


def _pipeline_predictions(ws: Workspace, frame: pd.DataFrame) -> list:
    _, model = ws.registry.load_model("penguins")
    return model.predict(frame).tolist()


def _post(client: Client, raw: bytes, ctype: str | None) -> tuple[int, dict]:
    return client.post("/invocations", raw=raw, content_type=ctype)


@pytest.mark.slow
def test_mlflow_scoring_client_against_mlcycle_serve(trained_home, tmp_path):
    """MLflow's ScoringServerClient (wait_server_ready, ping, get_version, invoke) against `mlcycle serve
    --port 0`; its answer parses with MLflow's PredictionsResponse, carries ids that feedback takes, and
    errors (a missing column, a body over `--max-body-mb`) are read by MLflow's RestException."""
    import shutil

    import requests
    from mlflow.exceptions import RestException
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    home = tmp_path / "ws"
    shutil.copytree(trained_home, home)
    proc = subprocess.Popen([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "serve", "--port", "0",
                             "--max-body-mb", "1", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "MLCYCLE_TOKEN": ""})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, proc.stderr.read() if proc.stderr else "no output"
        port = json.loads(line)["port"]
        client = ScoringServerClient("127.0.0.1", port)
        client.wait_server_ready(timeout=30, scoring_server_proc=proc)
        client.ping()
        assert client.get_version() == MLFLOW_VERSION
        rows = _rows(5)
        answer = client.invoke(rows)  # MLflow sends a DataFrame as {"dataframe_split": ...}
        assert answer.get_predictions()[0].tolist() == _pipeline_predictions(Workspace.open(home), rows)
        assert answer.get_predictions(predictions_format="ndarray").shape == (5,)
        ids = answer["prediction_ids"]
        assert len(set(ids)) == 5 and answer["model"] == "penguins" and answer["version"] == 1
        feedback = requests.post(f"http://127.0.0.1:{port}/v1/models/{answer['model']}/feedback", timeout=30,
                                 json={"feedback": [{"prediction_id": i, "label": "Adelie"} for i in ids]}).json()
        assert feedback == {"accepted": 5, "unknown_ids": []}
        bad = requests.post(f"http://127.0.0.1:{port}/invocations", json={"dataframe_records": [{"island": "x"}]},
                            timeout=30)
        error = RestException(bad.json())
        assert bad.status_code == 422 and error.error_code == "INVALID_PARAMETER_VALUE"
        assert "missing column(s)" in error.message and "bill_length_mm" in error.message
        big = requests.post(f"http://127.0.0.1:{port}/invocations", data=b" " * (2**20 + 1), timeout=30,
                            headers={"Content-Type": "application/json"})  # over `--max-body-mb 1`
        assert big.status_code == 413 and "--max-body-mb" in RestException(big.json()).message
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_ping_version_and_the_token(ws):
    with ServerRunner(ws, port=0, token="s3cret", config={"poll_interval": 0}) as runner:
        anonymous = Client(runner.port)
        anonymous.conn.request("GET", "/ping")
        resp = anonymous.conn.getresponse()
        assert (resp.status, resp.read(), resp.getheader("Content-Type")) == (200, b"\n", "application/json")
        status, out = anonymous.get("/version")
        assert status == 401 and out["error_code"] == "UNAUTHENTICATED"  # only readiness goes without a token
        with_token = Client(runner.port, token="s3cret")
        with_token.conn.request("GET", "/version", headers={"Authorization": "Bearer s3cret"})
        resp = with_token.conn.getresponse()
        assert resp.read().decode() == MLFLOW_VERSION and resp.getheader("X-Mlcycle-Version")
    ws.registry.remove_alias("penguins", "production")
    with ServerRunner(ws, port=0, config={"poll_interval": 0}) as runner:
        status, out = Client(runner.port).get("/ping")
        assert status == 404 and out["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert "mlcycle models promote" in out["message"]


def test_csv_parquet_and_one_row_bodies_score_like_json(client, ws):
    rows = _rows(7)
    expected = _pipeline_predictions(ws, rows)
    csv = rows.to_csv(index=False).encode()
    parquet = io.BytesIO()
    rows.to_parquet(parquet, index=False)
    for raw, ctype in [(csv, "text/csv"), (csv, "text/csv; charset=utf-8"), (csv, "text/csv;charset=UTF-8"),
                       (parquet.getvalue(), "application/vnd.apache.parquet"),
                       (json.dumps({"dataframe_split": rows.to_dict(orient="split")}).encode(),
                        "application/json; charset=utf-8")]:
        status, out = _post(client, raw, ctype)
        assert status == 200, (ctype, out)
        assert out["predictions"] == expected and len(set(out["prediction_ids"])) == 7, ctype
    status, out = client.post("/invocations", {"inputs": ROW})  # one row: {column: scalar}
    assert status == 200 and out["predictions"] == _pipeline_predictions(ws, pd.DataFrame([ROW])), out
    status, out = client.post("/invocations", {"inputs": {"island": "Dream", "year": [2008]}})
    assert status == 400 and "not a mix" in out["message"]
    # a text column keeps its text: "0123" read as a number would be another category
    status, out = _post(client, csv.replace(b"Torgersen", b"0123", 1), "text/csv")
    assert status == 200 and out["predictions"][0] == _pipeline_predictions(
        ws, rows.assign(island=["0123", *rows["island"][1:]]))[0]


@pytest.mark.parametrize(("raw", "ctype", "status", "words"), [
    (b"a,b\n1,2\n", "text/csv; charset=latin-1", 415, "UTF-8 only"),
    (b'{"inputs": []}', "application/json; format=pandas-split", 415, "format"),
    (b"island\nDream\n", "text/plain", 415, "text/csv"),
    (b"", "text/csv", 400, "empty"),
    (b"island,year\n", "text/csv", 400, "no rows"),
    (b'a,b\n1,2,3,4\n"x', "text/csv", 400, "not CSV"),
    (b"PAR1 not really", "application/vnd.apache.parquet", 400, "not a Parquet file"),
    (b"island,year\nDream,2008\n", "text/csv", 422, "missing column(s): bill_length_mm"),
])
def test_bodies_it_cannot_score_get_mlflow_errors(client, raw, ctype, status, words):
    got, out = _post(client, raw, ctype)
    assert got == status and words in out["message"], out
    assert out["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE") and out["error"]["message"] == out["message"]


def test_a_parquet_body_that_decodes_past_the_limit_is_413(ws):
    rows = pd.concat([_rows()] * 300, ignore_index=True)  # repeats compress well: small file, large columns
    parquet = io.BytesIO()
    rows.to_parquet(parquet, index=False)
    limit_mb = 0.5
    assert len(parquet.getvalue()) < limit_mb * 2**20
    with ServerRunner(ws, port=0, config={"max_body_mb": limit_mb, "poll_interval": 0}) as runner:
        status, out = _post(Client(runner.port), parquet.getvalue(), "application/vnd.apache.parquet")
        assert status == 413 and "decodes to" in out["message"] and "max_body_mb" in out["message"], out
        status, out = _post(Client(runner.port), rows.head(100).to_csv(index=False).encode(), "text/csv")
        assert status == 200


@pytest.mark.slow
def test_a_body_over_16_mib_is_scored_and_logged(ws):
    """Bodies of more than the old 16 MiB limit are scored (parsed in slices) and every row logged."""
    # 68,800 rows made 250 bytes long by a column the model does not read: a large body, few rows to score
    rows = pd.concat([_rows()] * 200, ignore_index=True).assign(note="n" * 230)
    raw = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}).encode()
    assert len(raw) > 16 * 2**20
    before = ws.predictions.count("penguins")
    with ServerRunner(ws, port=0, config={"poll_interval": 0}) as runner:
        t0 = time.perf_counter()
        status, out = _post(Client(runner.port), raw, "application/json")
        seconds = time.perf_counter() - t0
    assert status == 200, out
    assert len(out["predictions"]) == len(rows) == len(set(out["prediction_ids"]))
    assert out["predictions"][:344] == _pipeline_predictions(ws, _rows())
    assert ws.predictions.count("penguins") - before == len(rows)
    assert seconds < 60


SLICED = [
    {"dataframe_split": {"columns": ["a", "b"], "index": list(range(40)),
                         "data": [[i, f'x"]{i}\\'] for i in range(40)]}},
    {"dataframe_records": [{"a": i, "b": "[{" * (i % 3)} if i % 7 else {} for i in range(40)]},
    {"instances": [[i, None] if i % 5 else [float("nan"), "é"] for i in range(40)]},
    {"inputs": {"a": list(range(40)), "b": ["]" * i for i in range(40)]}},
    {"inputs": [{"b": 1}] * 39 + [{"a": True, "b": [1]}]},
]


@pytest.mark.parametrize("body", SLICED, ids=["split", "records", "lists", "columns", "mixed"])
def test_a_large_json_body_read_in_slices_gives_the_frame_read_whole(monkeypatch, body):
    monkeypatch.setattr(bodies, "SLICE_BYTES", 64)  # many slices out of a small body
    raw = json.dumps(body).encode()
    whole = body_frame(bodies.loads(raw), ["a", "b"])
    frames = bodies.sliced_json_frames(raw, ["a", "b"])
    columnar = isinstance(body.get("inputs"), dict)  # read a column at a time: one frame
    assert frames is not None and (len(frames) == 1 if columnar else len(frames) > 3)
    sliced = bodies.join(frames)
    assert len(sliced) == len(whole) == 40
    pd.testing.assert_frame_equal(sliced[sorted(sliced.columns)].astype(object).fillna(0),
                                  whole[sorted(whole.columns)].astype(object).fillna(0))


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"dataframe_split": {"columns": ["a"], "data": [' + b"[1]," * 30 + b"[1, 2]]}}",
     '"dataframe_split.data" row 30 is not a list of 1 values'),
    (b'{"instances": [' + b'{"a": 1},' * 30 + b"[1]]}", "not a mix"),
    (b'{"instances": [' + b'{"a": 1},' * 30 + b'{"a": 1]}', "not valid JSON"),
    (b'{"instances": [' + b'{"a": 1},' * 30 + b'{"a": 1}], "inputs": []}', "exactly one of"),
])
def test_slicing_keeps_the_errors_of_the_whole_body(monkeypatch, raw, expected):
    monkeypatch.setattr(bodies, "SLICE_BYTES", 32)
    with pytest.raises(ApiError) as whole:
        body_frame(bodies.loads(raw), ["a"])
    with pytest.raises(ApiError) as sliced:
        frames = bodies.sliced_json_frames(raw, ["a"])
        body_frame(bodies.loads(raw), ["a"]) if frames is None else bodies.join(frames)
    assert expected in whole.value.message and sliced.value.message == whole.value.message


@pytest.fixture(scope="module")
def protocol_app(trained_home, tmp_path_factory):
    import shutil

    from mlcycle_tui.server.app import create_app

    home = tmp_path_factory.mktemp("protocol") / "ws"
    shutil.copytree(trained_home, home)
    ws = Workspace.open(home)
    app = create_app(ws, {"poll_interval": 0, "max_body_mb": 1})
    yield app
    app.extensions["mlcycle"].close()
    ws.close()


_CSV_PIECES = ["island", "bill_length_mm", "year", "Dream", "45.1", "", "NaN", "inf", '"', "\n", ",", ";", "\r\n",
               "\ufeff", "é", "\x00", "1e400", "true"]


@given(raw=st.one_of(
    st.lists(st.sampled_from(_CSV_PIECES), max_size=40).map(lambda p: "".join(p).encode("utf-8", "surrogatepass")),
    st.binary(max_size=60),
    st.binary(max_size=60).map(lambda b: b"PAR1" + b + b"PAR1"),
), ctype=st.sampled_from(["text/csv", "text/csv; charset=utf-8", "application/vnd.apache.parquet"]))
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_no_csv_or_parquet_body_gets_a_server_error(protocol_app, raw, ctype):
    resp = protocol_app.test_client().post("/invocations", data=raw, headers={"Content-Type": ctype})
    assert resp.status_code < 500, (raw, resp.get_data(as_text=True))
    if resp.status_code >= 400:
        body = resp.get_json()
        assert set(body) == {"error_code", "message", "error"} and body["message"], body

"""A compiled model served over HTTP answers exactly as its scikit-learn pipeline does."""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.server.runner import ServerRunner
from mlcycle_tui.workspace import Workspace

from .helpers import Client

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("compiled-serving") / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    run = ws.training.train("penguins", "rf", params=["n_estimators=20"], drop=["island", "sex"])
    ws.registry.register(run["run_id"], "numeric")
    ws.registry.promote("numeric", 1)
    ws.data.ingest(SAMPLES / "bikeshare.csv", name="bike", target="bikers")
    run = ws.training.train("bike", "hgb", params=["max_iter=20"], drop=["casual", "registered"])
    ws.registry.register(run["run_id"], "mixed")  # a timestamp, text months, weather words, numbers
    ws.registry.promote("mixed", 1)
    run = ws.training.train("penguins", "knn")  # categories and numbers with gaps; k-NN is not compiled
    ws.registry.register(run["run_id"], "neighbours")
    ws.registry.promote("neighbours", 1)
    ws.close()
    return home


def _mixed_records() -> list[dict]:
    """Bikeshare rows as a client writes them, one by one, with the odd ones clients send."""
    frame = pd.read_csv(SAMPLES / "bikeshare.csv").drop(columns=["bikers", "casual", "registered"])
    records = frame.iloc[::500].astype(object).where(frame.iloc[::500].notna(), None).to_dict(orient="records")
    records[0]["timestamp"] = "2012-06-30T23:45:00-07:00"  # an offset: the next day in UTC
    records[1]["timestamp"] = None
    records[2]["mnth"] = "Smarch"  # unknown
    records[3]["weathersit"] = None
    records[4]["temp"] = "0.5"  # a numeric string
    records[5]["timestamp"] = "2012-06-30"
    return records


@contextlib.contextmanager
def _two_servers(home: Path) -> Iterator[tuple[Workspace, ServerRunner, ServerRunner, Client, Client]]:
    """(workspace, a server of compiled forms, a server of fitted pipelines only, a client of each)."""
    ws = Workspace.open(home)
    fast = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0}).start()
    slow = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0, "compiled": False}).start()
    a, b = Client(fast.port), Client(slow.port)  # type: ignore[arg-type]
    try:
        yield ws, fast, slow, a, b
    finally:
        a.close()
        b.close()
        fast.stop()
        slow.stop()
        ws.close()


def test_a_mixed_type_model_is_served_compiled_with_the_answers_of_its_pipeline(home: Path) -> None:
    with _two_servers(home) as (ws, fast, slow, a, b):
        assert fast.state.models.production("mixed").compiled is not None
        assert slow.state.models.production("mixed").compiled is None
        served = fast.state.models.production("mixed")
        assert served.light({"instances": [_mixed_records()[0]]}) is not None  # read without pandas
        assert served.light({"instances": [_mixed_records()[4]]}) is None  # "0.5": the general path's
        pairs = []
        for record in _mixed_records():
            mine, theirs = a.post("/v1/models/mixed/predict", {"instances": [record]}), \
                b.post("/v1/models/mixed/predict", {"instances": [record]})
            assert mine[0] == theirs[0] == 200, (mine, theirs)
            assert mine[1]["predictions"] == theirs[1]["predictions"], record
            pairs.append((mine[1]["prediction_ids"][0], theirs[1]["prediction_ids"][0]))
        fast.state.writer.flush()
        slow.state.writer.flush()
        logged = {r["id"]: r["inputs_json"] for r in ws.db.query("SELECT id, inputs_json FROM predictions")}
        assert all(logged[m] == logged[t] for m, t in pairs)  # the same inputs logged, whichever path read them
        status, doc = a.post("/v1/models/mixed/predict", {"instances": _mixed_records()})  # one batch
        assert status == 200
        assert doc["predictions"] == b.post("/v1/models/mixed/predict", {"instances": _mixed_records()})[1][
            "predictions"]
        bad = {**_mixed_records()[0], "timestamp": "yesterday"}
        assert a.post("/v1/models/mixed/predict", {"instances": [bad]})[0] == 422  # the checks still refuse


def _rows() -> pd.DataFrame:
    frame = pd.read_csv(SAMPLES / "penguins.csv")[NUMERIC]
    return frame.iloc[:60].reset_index(drop=True)  # rows 3 and others hold missing values


@pytest.mark.parametrize("compiled", [True, False])
def test_served_answers_equal_the_pipeline(home: Path, compiled: bool) -> None:
    ws = Workspace.open(home)
    runner = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0, "compiled": compiled}).start()
    client = Client(runner.port)  # type: ignore[arg-type]
    try:
        served = runner.state.models.production("numeric")
        assert (served.compiled is not None) is compiled
        assert (served.pipeline is None) is compiled  # scikit-learn is not even loaded
        _, pipeline = ws.registry.load_model("numeric")
        frame = _rows()
        expected, expected_proba = pipeline.predict(frame), pipeline.predict_proba(frame)
        records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                   for row in frame.to_dict(orient="records")]
        records[1]["year"] = str(records[1]["year"])  # a numeric string: converted before scoring
        status, doc = client.post("/v1/models/numeric/predict", {"dataframe_records": records})
        assert status == 200, doc
        assert doc["predictions"] == list(expected)
        assert np.array_equal(np.asarray(doc["probabilities"]), expected_proba)
        assert doc["classes"] == ["Adelie", "Chinstrap", "Gentoo"]

        def one(i: int) -> tuple[int, list[str], list[list[float]]]:  # concurrent requests: micro-batched
            c = Client(runner.port)  # type: ignore[arg-type]
            try:
                s, d = c.post("/v1/models/numeric/predict", {"dataframe_records": records[i : i + 1]})
                return s, d["predictions"], d["probabilities"]
            finally:
                c.close()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(len(records))))
        assert [a[0] for a in answers] == [200] * len(records)
        assert [a[1][0] for a in answers] == list(expected)
        assert np.array_equal(np.asarray([a[2][0] for a in answers]), expected_proba)
    finally:
        client.close()
        runner.stop()
        ws.close()


def test_serving_a_compiled_model_does_not_import_scikit_learn(home: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess

    shutil.copytree(home, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    ws.registry.remove_alias("neighbours", "production")  # k-NN's estimator is scikit-learn's own
    ws.close()
    code = (
        "import sys\n"
        "from mlcycle_tui.workspace import Workspace\n"
        "from mlcycle_tui.server.runner import ServerRunner\n"
        "from tests.server.helpers import Client\n"
        f"ws = Workspace.open({str(tmp_path / 'ws')!r})\n"
        "r = ServerRunner(ws, '127.0.0.1', 0, config={'poll_interval': 0}).start()\n"
        "c = Client(r.port)\n"
        "status, doc = c.post('/v1/models/numeric/predict', {'instances': [[39.1, 18.7, 181.0, 3750.0, 2007]]})\n"
        "row = {'timestamp': '2012-06-30 10:00:00', 'season': 3, 'mnth': 'Jun', 'day': 30, 'hr': 10,\n"
        "       'holiday': 0, 'weekday': 6, 'workingday': 0, 'weathersit': 'clear', 'temp': 0.7,\n"
        "       'atemp': 0.6, 'hum': 0.5, 'windspeed': 0.2}\n"
        "mixed, _ = c.post('/v1/models/mixed/predict', {'instances': [row]})\n"
        "print(status, mixed, doc['predictions'], sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))\n"
        "c.close(); r.stop()\n"
    )
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "200 200 ['Adelie'] []"  # numbers, and categories with a timestamp


def test_a_large_request_uses_the_pipeline_with_the_same_answers(home: Path) -> None:
    from mlcycle_tui.server.models import COMPILED_MAX_ROWS

    ws = Workspace.open(home)
    runner = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0}).start()
    client = Client(runner.port)  # type: ignore[arg-type]
    try:
        served = runner.state.models.production("numeric")
        frame = pd.concat([_rows().fillna(0.0)] * (COMPILED_MAX_ROWS // 60 + 1), ignore_index=True)
        small = frame.iloc[:10]
        status, few = client.post("/v1/models/numeric/predict", {"dataframe_split": {
            "columns": list(small.columns), "data": small.to_numpy().tolist()}})
        assert status == 200 and served.pipeline is None  # compiled only
        status, many = client.post("/v1/models/numeric/predict", {"dataframe_split": {
            "columns": list(frame.columns), "data": frame.to_numpy().tolist()}})
        assert status == 200 and served.pipeline is not None  # loaded for the large request
        assert many["predictions"][:10] == few["predictions"]
        assert many["probabilities"][:10] == few["probabilities"]
    finally:
        client.close()
        runner.stop()
        ws.close()


def test_a_version_from_before_its_compiled_form_is_compiled_when_served(home: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(home, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    ws.db.execute("UPDATE compiled_models SET format = 1 WHERE name = 'mixed'")  # as an older mlcycle left it
    runner = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0}).start()
    client = Client(runner.port)  # type: ignore[arg-type]
    try:
        assert runner.state.models.production("mixed").compiled is not None
        assert ws.registry.compiled_versions("mixed") == {1: True}
        assert client.post("/v1/models/mixed/predict", {"instances": [_mixed_records()[0]]})[0] == 200
    finally:
        client.close()
        runner.stop()
        ws.close()


def test_k_nn_is_served_behind_compiled_preprocessing_with_the_pipelines_answers(home: Path) -> None:
    with _two_servers(home) as (ws, fast, slow, a, b):
        assert ws.registry.compiled_versions("neighbours") == {1: False}  # nothing stored for it
        served = fast.state.models.production("neighbours")
        assert served.compiled is not None and served.compiled.family == "fitted"
        assert slow.state.models.production("neighbours").compiled is None
        rows = pd.read_csv(SAMPLES / "penguins.csv").drop(columns=["species"]).iloc[::9]
        records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
        records[0]["island"] = "Atlantis"  # unknown
        for record in records:
            mine = a.post("/v1/models/neighbours/predict", {"instances": [record]})
            theirs = b.post("/v1/models/neighbours/predict", {"instances": [record]})
            assert mine[0] == theirs[0] == 200
            assert mine[1]["predictions"] == theirs[1]["predictions"]
            assert mine[1]["probabilities"] == theirs[1]["probabilities"], record

"""A damaged production model file is reported as damage: a 503 naming the file, and /health degraded.

The files are damaged the ways disks and people damage them (a flipped bit, a truncated file, a deleted
file) in a real workspace; a real server on 127.0.0.1 answers.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.server.runner import ServerRunner
from mlcycle_tui.workspace import Workspace

from .helpers import ROW, Client

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
PREDICT = "/v1/models/penguins/predict"
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]


def flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 3)


def delete(path: Path) -> None:
    path.unlink()


def model_file(ws: Workspace, ref: str) -> Path:
    mv = ws.registry.model_version(ref)
    return ws.home / "artifacts" / mv.artifact_path


@pytest.fixture
def start(ws: Workspace) -> Iterator[Callable[..., tuple[ServerRunner, Client]]]:
    started: list[tuple[ServerRunner, Client]] = []

    def go(**config: object) -> tuple[ServerRunner, Client]:
        # served from the fitted pipeline alone (compiled forms have their own tests below)
        runner = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0.1, "compiled": False, **config}).start()
        started.append((runner, Client(runner.port)))  # type: ignore[arg-type]
        return started[-1]

    yield go
    for runner, client in started:
        client.close()
        runner.stop()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("damage,words", [(flip_a_bit, "failed its checksum"), (truncate, "failed its checksum"),
                                          (delete, "is missing")])
def test_a_damaged_production_model_answers_503_and_health_is_degraded(ws, start, damage, words):
    path = model_file(ws, "penguins@1")
    damage(path)
    _, client = start()

    status, body = client.post(PREDICT, {"instances": [ROW]})
    assert status == 503, body
    error = body["error"]
    assert error["code"] == "model_unavailable"
    message = error["message"]
    assert "no production version" not in message
    assert "model 'penguins' version 1 (production) cannot be served: the model file artifacts/" in message
    assert path.name in message and words in message
    assert "mlcycle doctor" in message and "mlcycle models rollback penguins" in message
    assert "register" in message
    assert error["model"] == "penguins" and error["version"] == 1 and error["file"].endswith(path.name)

    status, health = client.get("/health")
    assert status == 200
    assert health["status"] == "degraded" and health["models"] == 0
    [problem] = health["problems"]
    assert problem["model"] == "penguins" and problem["version"] == 1 and problem["serving"] is None
    assert problem["problem"] == ("missing" if damage is delete else "checksum")
    assert words in problem["message"]

    # asking for the version explicitly says the same, not a 500
    status, body = client.post(PREDICT + "?version=1", {"instances": [ROW]})
    assert status == 503 and words in body["error"]["message"]


def test_a_restored_file_is_served_again_without_a_restart(ws, trained_home, start):
    path = model_file(ws, "penguins@1")
    flip_a_bit(path)
    _, client = start()
    assert client.post(PREDICT, {"instances": [ROW]})[0] == 503

    shutil.copyfile(trained_home / path.relative_to(ws.home), path)  # the file from a backup
    assert wait_for(lambda: client.get("/health")[1] == {"status": "ok", "models": 1})
    status, body = client.post(PREDICT, {"instances": [ROW]})
    assert status == 200 and body["version"] == 1


def test_a_new_production_version_damaged_before_the_swap_keeps_the_old_one_serving(ws, start):
    runner, client = start(poll_interval=0)  # the swap below is the poller's, made by hand
    assert client.post(PREDICT, {"instances": [ROW]})[1]["version"] == 1
    ws.registry.promote("penguins", 2, force=True)  # (promote itself refuses a damaged file)
    delete(model_file(ws, "penguins@2"))
    assert runner.state.models.refresh() == []

    health = client.get("/health")[1]
    assert health["status"] == "degraded"
    assert health["models"] == 1
    [problem] = health["problems"]
    assert problem["version"] == 2 and problem["serving"] == 1 and problem["problem"] == "missing"
    assert "still serving version 1" in problem["message"]
    status, body = client.post(PREDICT, {"instances": [ROW]})
    assert status == 200 and body["version"] == 1


@pytest.fixture(scope="module")
def compiled_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A numeric model served in its compiled form (NumPy arrays) with its fitted pipeline beside it."""
    home = tmp_path_factory.mktemp("damaged-compiled") / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    run = ws.training.train("penguins", "rf", params=["n_estimators=10"], drop=["island", "sex"])
    ws.registry.register(run["run_id"], "numeric")
    ws.registry.promote("numeric", 1)
    ws.close()
    return home


@pytest.fixture
def compiled_ws(compiled_home: Path, tmp_path: Path) -> Iterator[Workspace]:
    shutil.copytree(compiled_home, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    yield ws
    ws.close()


def _numeric_rows(n: int) -> list[dict[str, float]]:
    frame = pd.read_csv(SAMPLES / "penguins.csv")[NUMERIC].dropna()
    return frame.sample(n, replace=True, random_state=0).to_dict(orient="records")


def test_a_damaged_compiled_form_falls_back_to_the_pipeline_and_health_says_so(compiled_ws):
    row = compiled_ws.db.query_one("SELECT artifact_path FROM compiled_models WHERE name = 'numeric'")
    assert row["artifact_path"], "the model should have a compiled form"
    flip_a_bit(compiled_ws.home / "artifacts" / row["artifact_path"])
    runner = ServerRunner(compiled_ws, "127.0.0.1", 0, config={"poll_interval": 0}).start()
    client = Client(runner.port)  # type: ignore[arg-type]
    try:
        status, body = client.post("/v1/models/numeric/predict", {"instances": _numeric_rows(3)})
        assert status == 200, body
        health = client.get("/health")[1]
        assert health["status"] == "degraded" and health["models"] == 1
        [problem] = health["problems"]
        assert problem["kind"] == "compiled" and problem["serving"] == 1
        assert "compiled model file" in problem["message"] and "failed its checksum" in problem["message"]
    finally:
        client.close()
        runner.stop()


def test_a_damaged_pipeline_behind_a_compiled_model_answers_503_for_large_requests(compiled_ws):
    flip_a_bit(model_file(compiled_ws, "numeric@1"))
    runner = ServerRunner(compiled_ws, "127.0.0.1", 0, config={"poll_interval": 0}).start()
    client = Client(runner.port)  # type: ignore[arg-type]
    try:
        assert client.post("/v1/models/numeric/predict", {"instances": _numeric_rows(3)})[0] == 200
        status, body = client.post("/v1/models/numeric/predict", {"instances": _numeric_rows(2_500)})
        assert status == 503, body
        assert "failed its checksum" in body["error"]["message"] and "mlcycle doctor" in body["error"]["message"]
        health = client.get("/health")[1]
        assert health["status"] == "degraded" and health["problems"][0]["kind"] == "pipeline"
    finally:
        client.close()
        runner.stop()

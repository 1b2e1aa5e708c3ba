"""Hot swap under traffic, micro-batching equal to unbatched scoring, log back-pressure and flush."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.server.logwriter import LogBackpressure, LogEntry, PredictionLogWriter
from mlcycle_tui.server.models import ServedModel

from .helpers import ROW, Client

PREDICT = "/v1/models/penguins/predict"


def test_hot_swap_during_traffic(ws, server):
    versions: list[int] = []
    failures: list[object] = []
    stop = threading.Event()

    def traffic() -> None:
        client = Client(server.port)
        while not stop.is_set():
            status, out = client.post(PREDICT, {"instances": [ROW]})
            if status != 200:
                failures.append(out)
            else:
                versions.append(out["version"])
        client.close()

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    ready = time.monotonic() + 15  # version 1 answers first (a loaded machine may take a while to start)
    while time.monotonic() < ready and len(versions) < 5:
        time.sleep(0.05)
    promoted_at = time.monotonic()
    ws.registry.promote("penguins", 2, force=True)  # another "process" moves the alias: the poller must notice
    deadline = promoted_at + 15
    while time.monotonic() < deadline and (not versions or versions[-1] != 2):
        time.sleep(0.05)
    swap_seconds = time.monotonic() - promoted_at
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert versions[0] == 1 and versions[-1] == 2, "the new version was not served within 15 s"
    assert swap_seconds < 6, swap_seconds  # the poller looks every second; a loaded machine adds to that
    first_new = versions.index(2)
    assert set(versions[first_new + 3 * 3:]) == {2}  # once swapped, stays swapped (allowing in-flight)
    assert server.stats()["models"][0]["version"] == 2
    server.stop()
    assert ws.predictions.count("penguins") == len(versions)


@pytest.mark.parametrize("model_ref", ["penguins@1", "penguins@2"])
def test_micro_batching_gives_identical_results(ws, model_ref):
    mv, pipeline = ws.registry.load_model(model_ref)
    rows = [dict(ROW, bill_length_mm=35 + i * 0.37, body_mass_g=3000 + 37 * i,
                 island=["Dream", "Biscoe", "Torgersen"][i % 3], sex=[None, "male", "female"][i % 3])
            for i in range(64)]
    from mlcycle_tui.server.inputs import conform

    frames = [conform(pd.DataFrame(rows[i:i + 1 + i % 3]), mv.signature["inputs"])[0] for i in range(0, 60, 2)]
    plain = ServedModel(mv, pipeline, batching=False)
    batched = ServedModel(mv, pipeline, batching=True, window_s=0.005)
    expected = [plain.predict(f) for f in frames]
    results: list[object] = [None] * len(frames)
    barrier = threading.Barrier(len(frames))

    def score(i: int) -> None:
        barrier.wait()
        results[i] = batched.predict(frames[i])

    threads = [threading.Thread(target=score, args=(i,)) for i in range(len(frames))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if model_ref == "penguins@1":  # a forest: every float identical
        assert results == expected
    else:  # BLAS may round the last bit differently for another number of rows: labels identical
        assert [r[0] for r in results] == [e[0] for e in expected]
        for r, e in zip(results, expected, strict=True):
            assert np.allclose(r[1], e[1], rtol=1e-12, atol=1e-15)
    assert batched.batcher.requests == len(frames)
    assert batched.batcher.batches < len(frames), "no request was merged with another"
    # and the whole-pipeline answer is the same as the model's own predict
    whole = pd.concat(frames, ignore_index=True)
    assert [p for r in results for p in r[0]] == pipeline.predict(whole).tolist()
    assert batched.batcher.batches >= 1


def test_batched_server_matches_unbatched_server(ws):
    from mlcycle_tui.server.runner import ServerRunner

    rows = [dict(ROW, bill_length_mm=35 + i * 0.5, island=["Dream", "Biscoe"][i % 2]) for i in range(40)]
    answers = {}
    for batching in (False, True):
        with ServerRunner(ws, port=0, config={"batching": batching, "poll_interval": 0}) as runner:
            got: dict[int, object] = {}

            def send(i: int, port: int = runner.port, got: dict = got) -> None:
                out = Client(port).post(PREDICT, {"instances": [rows[i]]})[1]
                got[i] = (out["predictions"], out["probabilities"])

            threads = [threading.Thread(target=send, args=(i,)) for i in range(len(rows))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            answers[batching] = got
    assert answers[True] == answers[False]


def test_log_writer_back_pressure_and_flush(ws):
    writer = PredictionLogWriter(ws, maxsize=1, put_timeout=0.05)
    frame = pd.DataFrame([ROW])
    entry = LogEntry("penguins", 1, ["a" * 32], frame, ["Adelie"], [[1.0, 0.0, 0.0]], 1.0, time.time())
    writer.submit(entry)  # thread not started: the queue is full now
    with pytest.raises(LogBackpressure):
        writer.submit(LogEntry("penguins", 1, ["b" * 32], frame, ["Adelie"], None, 1.0, time.time()))
    writer.put_timeout = 5.0
    writer.start()
    assert writer.flush(5)
    assert ws.predictions.count("penguins") == 1
    for i in range(50):
        writer.submit(LogEntry("penguins", 1, [f"{i:032d}"], frame, ["Adelie"], None, 1.0, time.time()))
    writer.close()
    assert ws.predictions.count("penguins") == 51
    with pytest.raises(LogBackpressure):
        writer.submit(entry)

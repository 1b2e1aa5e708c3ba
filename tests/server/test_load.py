"""Load and faults on loopback: many clients, malformed requests, SIGTERM during load; nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .helpers import ROW, Client

PREDICT = "/v1/models/penguins/predict"
REPO = Path(__file__).resolve().parents[2]
# 4,000 requests in the suite (about 30 s on 2 cores: the server's scikit-learn forest is the cost);
# MLCYCLE_LOAD_REQUESTS=10000 for the figure of the original issue
REQUESTS = int(os.environ.get("MLCYCLE_LOAD_REQUESTS", "4000"))
CLIENTS = 16



@pytest.mark.slow
def test_ten_thousand_requests_with_faults(ws, server):
    """16 keep-alive clients in 2 processes (load_client.py), every tenth request malformed."""
    processes, threads = 2, CLIENTS // 2
    per_client = REQUESTS // CLIENTS
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "tests.server.load_client", str(server.port),
                               str(p * threads), str(per_client), str(threads)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in range(processes)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    elapsed = time.perf_counter() - started
    ids = [i for r in results for i in r["ids"]]
    statuses = [s for r in results for s in r["statuses"]]
    assert len(statuses) == per_client * CLIENTS
    assert not [s for s in statuses if s >= 500]
    assert statuses.count(200) == CLIENTS * sum(1 for i in range(per_client) if i % 10 != 9)
    assert set(statuses) <= {200, 400, 415, 422}
    assert len(ids) == len(set(ids)) == sum(r["rows"] for r in results)
    assert Client(server.port).get("/health") == (200, {"status": "ok", "models": 1})
    stats = server.stats()
    assert stats["errors_5xx"] == 0
    server.stop()
    assert ws.predictions.count("penguins") == len(ids)  # every answered prediction logged exactly once
    logged = {r["id"] for r in ws.db.query("SELECT id FROM predictions")}
    assert logged == set(ids)
    print(f"\n{len(statuses)} requests from {CLIENTS} clients in {elapsed:.1f}s ({len(statuses) / elapsed:.0f}/s)")


def test_sigterm_during_load_loses_no_answered_prediction(ws):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(ws.home), "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        port = json.loads(line)["port"]
        answered: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def traffic() -> None:
            client = Client(port)
            while not stop.is_set():
                try:
                    status, out = client.post(PREDICT, {"instances": [ROW, ROW]})
                except (OSError, Exception):
                    return  # the server went away: requests without an answer do not count
                if status == 200:
                    with lock:
                        answered.extend(out["prediction_ids"])

        threads = [threading.Thread(target=traffic) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        stop.set()
        for t in threads:
            t.join()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(answered) > 20
    logged = {r["id"] for r in ws.db.query("SELECT id FROM predictions")}
    assert set(answered) <= logged

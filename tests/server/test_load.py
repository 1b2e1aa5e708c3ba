"""Load and faults on loopback: many clients, malformed requests, SIGTERM during load; nothing lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .helpers import ROW, Client

PREDICT = "/v1/models/penguins/predict"
# the figure: 10,000 requests (~40 s on 2 cores with the clients in the same process);
# MLCYCLE_LOAD_REQUESTS=2000 for a quicker local run
REQUESTS = int(os.environ.get("MLCYCLE_LOAD_REQUESTS", "10000"))
CLIENTS = 16

MALFORMED = [
    (b'{"instances": [', "application/json"),
    (b'{"instances": []}', "application/json"),
    (b'{"instances": [{"island": "Dream"}]}', "application/json"),
    (json.dumps({"instances": [dict(ROW, year="soon")]}).encode(), "application/json"),
    (b'{"instances": [{}]}', "text/plain"),
    (b"\x00\xff", "application/json"),
]


@pytest.mark.slow
def test_ten_thousand_requests_with_faults(ws, server):
    per_client = REQUESTS // CLIENTS

    def run(seed: int) -> tuple[list[str], list[int], int]:
        rnd = random.Random(seed)
        client = Client(server.port)
        ids, statuses, rows_sent = [], [], 0
        for i in range(per_client):
            if i % 10 == 9:
                raw, ctype = rnd.choice(MALFORMED)
                statuses.append(client.post(PREDICT, raw=raw, content_type=ctype)[0])
                continue
            n = 1 if rnd.random() < 0.9 else rnd.randint(2, 20)
            rows = [dict(ROW, bill_length_mm=round(rnd.uniform(32, 60), 1)) for _ in range(n)]
            status, out = client.post(PREDICT, {"instances": rows})
            statuses.append(status)
            if status == 200:
                ids += out["prediction_ids"]
                rows_sent += n
        client.close()
        return ids, statuses, rows_sent

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(run, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    ids = [i for r in results for i in r[0]]
    statuses = [s for r in results for s in r[1]]
    assert len(statuses) == per_client * CLIENTS
    assert not [s for s in statuses if s >= 500]
    assert statuses.count(200) == sum(1 for r in results for i in range(per_client) if i % 10 != 9)
    assert set(statuses) <= {200, 400, 415, 422}
    assert len(ids) == len(set(ids)) == sum(r[2] for r in results)
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

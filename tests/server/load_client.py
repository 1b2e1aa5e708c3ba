"""The load test's clients, run as their own processes (`python -m tests.server.load_client PORT SEED N THREADS`).

Clients in the test's own process share its interpreter lock with the server they load; in
separate processes they load it from the other core, as real clients do, and the same
10,000 requests take about half the time. Prints one JSON document: ids, statuses, rows.
"""

from __future__ import annotations

import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor

from .helpers import ROW, Client

PREDICT = "/v1/models/penguins/predict"
MALFORMED = [
    (b'{"instances": [', "application/json"),
    (b'{"instances": []}', "application/json"),
    (b'{"instances": [{"island": "Dream"}]}', "application/json"),
    (json.dumps({"instances": [dict(ROW, year="soon")]}).encode(), "application/json"),
    (b'{"instances": [{}]}', "text/plain"),
    (b"\x00\xff", "application/json"),
]


def run(port: int, seed: int, requests: int) -> tuple[list[str], list[int], int]:
    """One keep-alive client: every tenth request malformed, the rest 1 row (90%) or 2-20 rows."""
    rnd = random.Random(seed)
    client = Client(port)
    ids: list[str] = []
    statuses: list[int] = []
    rows_sent = 0
    for i in range(requests):
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


def main(port: int, seed: int, requests: int, threads: int) -> dict:
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda s: run(port, s, requests), range(seed, seed + threads)))
    return {"ids": [i for r in results for i in r[0]], "statuses": [s for r in results for s in r[1]],
            "rows": sum(r[2] for r in results)}


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:5]))))

"""MLflow's tracking REST API: `mlcycle serve` against `mlflow server`, through the real MLflow client.

Why this exists: `MLFLOW_TRACKING_URI` may point at mlcycle (server/mlflow_tracking/), and a
user switching from `mlflow server` should lose nothing in speed. This script starts both servers
on fresh SQLite stores, side by side in one run, and drives them with the same `MlflowClient`
(this venv's mlflow-skinny) over HTTP:

1. `log_batch` of 1,000 metrics into one run, as 1,000 keys at one step and as one key's 1,000 steps
   (`--repeat` calls each; medians);
2. filling the experiment with `--runs` runs (create_run + a log_batch of 2 params and 2 metrics
   each, 8 client threads), timed;
3. `search_runs` over those runs: a filter and an order (`metrics.m0 > 0.5 and params.p0 = 'a'`,
   `metrics.m0 DESC`, first 100) and the first 1,000 runs newest first (medians of `--repeat`).

Durability: MLflow's server runs SQLite at its defaults (rollback journal, synchronous=FULL: every
commit flushed to the disk); mlcycle runs with `[storage] synchronous = "full"` (WAL, every commit
flushed) for the like-for-like figure, with its default (`normal`) beside it. Run by hand, not in CI:

    python3 -m venv /work/scratch/mlflow-full && /work/scratch/mlflow-full/bin/pip install "mlflow>=3.10,<3.18"
    .venv/bin/python bench/bench_mlflow_rest.py --mlflow /work/scratch/mlflow-full/bin/mlflow   # --runs 10000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"no answer from {url} after {timeout:.0f} s")


def start_mlcycle(folder: Path, synchronous: str) -> tuple[str, subprocess.Popen[bytes]]:
    home = folder / f"ws-{synchronous}"
    home.mkdir(parents=True)
    (home / "config.toml").write_text(f'[storage]\nsynchronous = "{synchronous}"\n')
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "serve", "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=HERE.parent, env={**os.environ, "MLCYCLE_TOKEN": ""})
    url = f"http://127.0.0.1:{port}"
    _wait(url, proc)
    return url, proc


def start_mlflow(mlflow: str, folder: Path) -> tuple[str, subprocess.Popen[bytes]]:
    store = folder / "mlflow"
    store.mkdir()
    port = _free_port()
    proc = subprocess.Popen([mlflow, "server", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
                             "--artifacts-destination", str(store / "artifacts"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait(url, proc)
    return url, proc


def measure(url: str, runs: int, repeat: int) -> dict[str, Any]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=url)
    exp = client.create_experiment(f"bench-{random.randrange(10**9)}")
    run = client.create_run(exp)
    batch_s, steps_s = [], []
    for r in range(repeat):
        now = int(time.time() * 1000)
        metrics = [Metric(f"m{i}", random.random(), now, r) for i in range(1000)]  # 1,000 keys, one step
        t0 = time.perf_counter()
        client.log_batch(run.info.run_id, metrics=metrics)
        batch_s.append(time.perf_counter() - t0)
        history = [Metric("loss", random.random(), now + i, r * 1000 + i) for i in range(1000)]  # one key
        t0 = time.perf_counter()
        client.log_batch(run.info.run_id, metrics=history)
        steps_s.append(time.perf_counter() - t0)

    def one(i: int) -> None:
        rid = client.create_run(exp, start_time=1_767_225_600_000 + i).info.run_id
        client.log_batch(rid, metrics=[Metric("m0", random.random(), 0, 0), Metric("m1", random.random(), 0, 0)],
                         params=[Param("p0", random.choice("abcd")), Param("p1", str(i))])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(runs)))
    fill_s = time.perf_counter() - t0
    filtered, newest = [], []
    found = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        page = client.search_runs([exp], filter_string=FILTER, order_by=["metrics.m0 DESC"], max_results=100)
        filtered.append(time.perf_counter() - t0)
        found = len(page)
        t0 = time.perf_counter()
        client.search_runs([exp], max_results=1000)
        newest.append(time.perf_counter() - t0)
    return {"log_batch_1000_ms": 1000 * statistics.median(batch_s), "log_batch_1000_best_ms": 1000 * min(batch_s),
            "log_batch_steps_ms": 1000 * statistics.median(steps_s),
            "fill_runs_s": fill_s, "runs_per_s": runs / fill_s, "search_filter_ms": 1000 * statistics.median(filtered),
            "search_filter_found": found, "search_1000_ms": 1000 * statistics.median(newest)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mlflow", default=str(HERE / ".venv-mlflow" / "bin" / "mlflow"),
                        help="the `mlflow` executable of a full MLflow install")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    results: dict[str, Any] = {"runs": args.runs, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-rest-") as tmp:
        sides = [("mlcycle (synchronous=full)", lambda: start_mlcycle(Path(tmp), "full")),
                 ("mlcycle (synchronous=normal)", lambda: start_mlcycle(Path(tmp), "normal"))]
        if not args.skip_mlflow:
            sides.insert(1, ("mlflow server (SQLite defaults)", lambda: start_mlflow(args.mlflow, Path(tmp))))
        for name, start in sides:
            url, proc = start()
            try:
                print(f"{name}: measuring on {url} ...", file=sys.stderr, flush=True)
                results[name] = measure(url, args.runs, args.repeat)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if args.json:
        print(json.dumps(results, indent=1))
        return
    rows = [("log_batch of 1,000 metrics: 1,000 keys (median ms)", "log_batch_1000_ms", "{:.1f}"),
            ("log_batch of 1,000 metrics: one key, 1,000 steps (median ms)", "log_batch_steps_ms", "{:.1f}"),
            (f"filling {args.runs:,} runs, 8 threads (s)", "fill_runs_s", "{:.1f}"),
            (f"search_runs filter + order, first 100 of {args.runs:,} (median ms)", "search_filter_ms", "{:.1f}"),
            (f"search_runs first 1,000 of {args.runs:,}, newest first (median ms)", "search_1000_ms", "{:.1f}")]
    names = [k for k in results if isinstance(results[k], dict)]
    width = max(len(r[0]) for r in rows)
    print(" " * width + "  " + "  ".join(f"{n:>31}" for n in names))
    for label, key, fmt in rows:
        print(label.ljust(width) + "  " + "  ".join(f"{fmt.format(results[n][key]):>31}" for n in names))


if __name__ == "__main__":
    main()

"""Tracking speed: mlcycle against MLflow's SQLite tracking store, in one run.

Why this exists: mlcycle promises to be much faster than MLflow for one
person on one machine. This measures the same four workloads on both (MLflow
runs in a subprocess from a throwaway venv, `bench/.venv-mlflow`, with a
`sqlite:///` backend in a temp folder) and then searches 100,000 runs with
mlcycle alone. Run by hand, not in CI:

    python -m venv bench/.venv-mlflow && bench/.venv-mlflow/bin/pip install "mlflow>=3,<4"
    .venv/bin/python bench/bench_tracking.py            # --runs 100000, --skip-mlflow
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
MLFLOW_PYTHON = HERE / ".venv-mlflow" / "bin" / "python"
FILTER_MLCYCLE = 'metrics.m0 > 0.5 and params.p0 = "a"'
FILTER_MLFLOW = "metrics.m0 > 0.5 and params.p0 = 'a'"
TARGET_RATIO = 20.0

MLFLOW_SCRIPT = r"""
import json, logging, os, random, statistics, sys, tempfile, time
logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

tmp = tempfile.mkdtemp(prefix="mlflow-bench-")
mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
client = MlflowClient()
exp = mlflow.set_experiment("bench")  # creates the schema: not timed
rng = random.Random(0)
out = {}
with mlflow.start_run() as run:
    t = time.perf_counter()
    for i in range(1000):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    out["log_metric_1000"] = time.perf_counter() - t
    t = time.perf_counter()
    for b in range(10):
        now = int(time.time() * 1000)
        client.log_batch(run.info.run_id, metrics=[Metric("val", float(i), now, b * 1000 + i) for i in range(1000)])
    out["batch_10000"] = time.perf_counter() - t
t = time.perf_counter()
for r in range(200):
    with mlflow.start_run():
        mlflow.log_params({f"p{j}": rng.choice("abc") for j in range(10)})
        mlflow.log_metrics({f"m{j}": rng.random() for j in range(5)})
out["runs_200"] = time.perf_counter() - t
times = []
for _ in range(7):
    t = time.perf_counter()
    found = client.search_runs([exp.experiment_id], filter_string=sys.argv[1], order_by=["metrics.m1 DESC"],
                               max_results=100)
    times.append(time.perf_counter() - t)
out["search_200"] = statistics.median(times)
out["search_200_found"] = len(found)
out["version"] = mlflow.__version__
print(json.dumps(out))
"""


def bench_mlflow() -> dict[str, float] | str:
    """MLflow timings, or the reason there are none."""
    if not MLFLOW_PYTHON.exists():
        return f"no MLflow venv at {MLFLOW_PYTHON.parent.parent} (see the module docstring)"
    proc = subprocess.run([str(MLFLOW_PYTHON), "-c", MLFLOW_SCRIPT, FILTER_MLFLOW],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        return "MLflow failed: " + proc.stderr.strip().splitlines()[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_mlcycle(home: Path) -> dict[str, float]:
    from mlcycle_tui import Workspace

    ws = Workspace.open(home)
    rng = random.Random(0)
    out: dict[str, float] = {}
    with ws.runs.start("bench") as run:
        t = time.perf_counter()
        for i in range(1000):
            run.log_metric("loss", 1.0 / (i + 1), step=i)
        out["log_metric_1000"] = time.perf_counter() - t
        t = time.perf_counter()
        for b in range(10):
            run.log_batch(metrics=[("val", float(i), b * 1000 + i) for i in range(1000)])
        out["batch_10000"] = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(200):
        with ws.runs.start("bench") as run:
            run.log_params({f"p{j}": rng.choice("abc") for j in range(10)})
            run.log_metrics({f"m{j}": rng.random() for j in range(5)})
    out["runs_200"] = time.perf_counter() - t
    out["search_200"], found = _timed(lambda: ws.runs.search("bench", filter=FILTER_MLCYCLE, sort="-metrics.m1"))
    out["search_200_found"] = len(found)
    ws.close()
    return out


def _timed(call, repeat: int = 7):  # type: ignore[no-untyped-def]
    call()  # warm the page cache and statement cache
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def fill_runs(ws, n: int) -> None:  # type: ignore[no-untyped-def]
    """Insert `n` finished runs (10 params, 5 metrics each) straight into the tables."""
    rng = random.Random(1)
    with ws.db.transaction() as conn:
        conn.execute("INSERT INTO experiments(name, created) VALUES ('big', ?)", (datetime.now(UTC).isoformat(),))
        exp_id = conn.execute("SELECT id FROM experiments WHERE name = 'big'").fetchone()[0]
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for lo in range(0, n, 10_000):
            runs, params, metrics = [], [], []
            for i in range(lo, min(n, lo + 10_000)):
                rid = uuid.UUID(int=rng.getrandbits(128)).hex
                created = (start + timedelta(seconds=i)).isoformat(timespec="milliseconds")
                runs.append((rid, exp_id, "finished", created, created, rng.random() * 100,
                             rng.choice(["rf", "lr", "gbm"]), "classification"))
                params += [(rid, f"p{j}", rng.choice("abc")) for j in range(10)]
                metrics += [(rid, f"m{j}", rng.random(), 0, 0.0) for j in range(5)]
            conn.executemany("INSERT INTO runs(id, experiment_id, status, created, ended, duration, model, task) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", runs)
            conn.executemany("INSERT INTO params(run_id, key, value) VALUES (?, ?, ?)", params)
            conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", metrics)
            conn.executemany("INSERT INTO metrics_latest VALUES (?, ?, ?, ?, ?)", metrics)
    ws.db.execute("ANALYZE")


SEARCHES = [
    ("filter + sort by metric", FILTER_MLCYCLE, "-metrics.m1"),
    ("filter + sort by created", FILTER_MLCYCLE, "-created"),
    ("selective filter + sort", 'metrics.m0 > 0.99 and params.p1 = "b"', "-metrics.m0"),
    ("no filter, sort by metric", None, "-metrics.m0"),
    ("or + parentheses, sort -duration", '(params.p0 = "a" or params.p0 = "b") and metrics.m2 < 0.1', "-duration"),
    ("attribute filter, sort by param", 'model = "rf" and status = "finished"', "params.p3"),
]


def bench_search(home: Path, n: int) -> list[tuple[str, float, int]]:
    from mlcycle_tui import Workspace

    ws = Workspace.open(home)
    t = time.perf_counter()
    fill_runs(ws, n)
    print(f"(filled {n:,} runs in {time.perf_counter() - t:.1f} s)", file=sys.stderr)
    rows = []
    for label, flt, sort in SEARCHES:
        seconds, found = _timed(lambda flt=flt, sort=sort: ws.runs.search("big", filter=flt, sort=sort, limit=100))
        rows.append((label, seconds, len(found)))
    seconds, total = _timed(lambda: ws.runs.count("big", filter=FILTER_MLCYCLE))
    rows.append((f"count_runs with the filter (= {total:,})", seconds, 1))
    ws.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs for the big search (100000)")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-") as tmp:
        ours = bench_mlcycle(Path(tmp) / "small")
        theirs = "skipped" if args.skip_mlflow else bench_mlflow()
        big = bench_search(Path(tmp) / "big", args.runs)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if isinstance(theirs, dict):
        print(f"MLflow {theirs['version']} (sqlite backend) vs mlcycle")
    else:
        print(f"MLflow: {theirs}")
    print(f"{'workload':<42}{'MLflow':>10}{'mlcycle':>10}{'ratio':>9}")
    ok = True
    for key, label in (("log_metric_1000", "1,000 sequential log_metric"),
                       ("batch_10000", "10,000 values in batches of 1,000"),
                       ("runs_200", "200 runs x (10 params + 5 metrics)"),
                       ("search_200", "search 200 runs: filter + order")):
        mine = ours[key]
        if isinstance(theirs, dict):
            ratio = theirs[key] / mine
            ok &= ratio >= TARGET_RATIO
            print(f"{label:<42}{_ms(theirs[key]):>10}{_ms(mine):>10}{ratio:>8.0f}x")
        else:
            print(f"{label:<42}{'-':>10}{_ms(mine):>10}{'-':>9}")
    print(f"\nsearch {args.runs:,} runs (limit 100, median of 7)")
    for label, seconds, found in big:
        ok &= seconds < 0.050 or label.startswith("count_runs")  # counting is reported, not a target
        print(f"  {label:<48}{_ms(seconds):>10}  ({found} rows)")
    print("\ntargets (>= 20x MLflow, 100k search < 50 ms):", "met" if ok else "NOT met")
    return 0 if ok else 1


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


if __name__ == "__main__":
    raise SystemExit(main())

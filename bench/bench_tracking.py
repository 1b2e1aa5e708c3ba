"""Tracking speed: mlcycle against MLflow's SQLite tracking store and against raw sqlite3, in one run.

Why this exists: mlcycle promises to be much faster than MLflow for one
person on one machine, at the same durability. MLflow's SQLAlchemy store
runs SQLite at its defaults; this script asks the store itself (PRAGMAs on
its own connection, inside the MLflow process) and reports them: on MLflow 3
that is `journal_mode=delete, synchronous=2` (FULL: every commit flushed to
the disk). So the headline runs mlcycle with `[storage] synchronous = "full"`
(WAL, every commit flushed), with mlcycle's default (`normal`: WAL, commits
not flushed, checkpoints are) beside it. The floor beside each row is raw
sqlite3 doing the same commits with the least SQL, at the same durability:
for `log_metric`, one INSERT and one commit per value into a table without
indexes, timed in alternating chunks of 50 values with mlcycle's (a flush to
the disk takes 0.2 ms or 5 ms here as other processes use the disk); both
first make 1,000 commits and restart the WAL, so that the timed commits find
the WAL file at its steady size. The same four workloads run on every side, side by side in each round (the
rounds alternate their order), and the medians of `--repeat` rounds are
printed (a ratio is the median of each round's ratio); then mlcycle alone
searches `--runs` runs. Run by hand, not in CI:

    python -m venv bench/.venv-mlflow && bench/.venv-mlflow/bin/pip install "mlflow>=3,<4"
    .venv/bin/python bench/bench_tracking.py --repeat 5     # --runs 100000, --skip-mlflow, --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
MLFLOW_PYTHON = HERE / ".venv-mlflow" / "bin" / "python"
FILTER_MLCYCLE = 'metrics.m0 > 0.5 and params.p0 = "a"'
FILTER_MLFLOW = "metrics.m0 > 0.5 and params.p0 = 'a'"
TARGET_MLFLOW_RATIO = 20.0  # MLflow's time / mlcycle's, at the same durability
TARGET_FLOOR_RATIO = 2.0  # 1,000 log_metric: mlcycle's time / raw sqlite3's, at the same durability
SYNC_NAMES = {0: "off", 1: "normal", 2: "full", 3: "extra"}
WORKLOADS = (("log_metric_1000", "1,000 sequential log_metric"),
             ("batch_10000", "10,000 values in batches of 1,000"),
             ("runs_200", "200 runs x (10 params + 5 metrics)"),
             ("search_200", "search 200 runs: filter + order"))

MLFLOW_SCRIPT = r"""
import json, logging, os, random, statistics, sys, tempfile, time
logging.disable(logging.WARNING)
import mlflow
import sqlalchemy
from mlflow import MlflowClient
from mlflow.entities import Metric

tmp = tempfile.mkdtemp(prefix="mlflow-bench-")
mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
client = MlflowClient()
exp = mlflow.set_experiment("bench")  # creates the schema: not timed
out = {}
store = client._tracking_client.store  # SqlAlchemyStore: its own engine and sessions
with store.ManagedSessionMaker() as session:
    for pragma in ("journal_mode", "synchronous"):
        out[pragma] = session.execute(sqlalchemy.text(f"PRAGMA {pragma}")).scalar()
rng = random.Random(0)
with mlflow.start_run() as run:
    c, t = time.process_time(), time.perf_counter()
    for i in range(1000):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    out["log_metric_1000"], out["log_metric_1000_cpu"] = time.perf_counter() - t, time.process_time() - c
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


def bench_mlflow() -> dict[str, Any] | str:
    """MLflow timings and the PRAGMAs its store runs at, or the reason there are none."""
    if not MLFLOW_PYTHON.exists():
        return f"no MLflow venv at {MLFLOW_PYTHON.parent.parent} (see the module docstring)"
    proc = subprocess.run([str(MLFLOW_PYTHON), "-c", MLFLOW_SCRIPT, FILTER_MLFLOW],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return "MLflow failed: " + proc.stderr.strip().splitlines()[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_mlcycle(home: Path, synchronous: str) -> dict[str, float]:
    from mlcycle_tui import Workspace

    home.mkdir(parents=True)
    (home / "config.toml").write_text(f'[storage]\nsynchronous = "{synchronous}"\n')
    ws = Workspace.open(home)
    assert ws.db.scalar("PRAGMA synchronous") == {"normal": 1, "full": 2}[synchronous]
    rng = random.Random(0)
    out: dict[str, float] = {}
    with ws.runs.start("bench") as run:
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


def bench_floor(path: Path, synchronous: str) -> dict[str, float]:
    """Raw sqlite3, WAL at `synchronous`, the same commits as the workloads with the least SQL:
    one INSERT and one commit per value; one executemany and one commit per batch; per run, the
    four commits mlcycle makes (start, params, metrics, end)."""
    conn = sqlite3.connect(path)  # Python's default: an implicit BEGIN before the INSERT
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.executescript("CREATE TABLE metrics (run_id TEXT, key TEXT, value REAL, step INTEGER, timestamp REAL);"
                       "CREATE TABLE params (run_id TEXT, key TEXT, value TEXT);"
                       "CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT, created TEXT, ended TEXT);")
    run_id, rng = uuid.uuid4().hex, random.Random(0)
    out: dict[str, float] = {}
    t = time.perf_counter()
    for b in range(10):
        now = time.time()
        conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)",
                         [(run_id, "val", float(i), b * 1000 + i, now) for i in range(1000)])
        conn.commit()
    out["batch_10000"] = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(200):
        rid = uuid.uuid4().hex
        conn.execute("INSERT INTO runs VALUES (?, 'running', ?, NULL)", (rid, datetime.now(UTC).isoformat()))
        conn.commit()
        conn.executemany("INSERT INTO params VALUES (?, ?, ?)", [(rid, f"p{j}", rng.choice("abc")) for j in range(10)])
        conn.commit()
        now = time.time()
        conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, 0, ?)", [(rid, f"m{j}", rng.random(), now)
                                                                        for j in range(5)])
        conn.commit()
        conn.execute("UPDATE runs SET status = 'finished', ended = ? WHERE id = ?",
                     (datetime.now(UTC).isoformat(), rid))
        conn.commit()
    out["runs_200"] = time.perf_counter() - t
    conn.close()
    return out


def bench_log_metric(where: Path, synchronous: str, chunk: int = 50) -> dict[str, dict[str, float]]:
    """1,000 sequential `run.log_metric` against the floor, 1,000 times one INSERT and one commit
    (Python's default: an implicit BEGIN) into a table without indexes, both at WAL + `synchronous`,
    in alternating chunks of `chunk` values: a flush to the disk takes 0.2 ms or 5 ms here as other
    processes use the disk, and chunks this short put both sides under the same disk."""
    from mlcycle_tui import Workspace

    home = where / "ws"
    home.mkdir(parents=True)
    (home / "config.toml").write_text(f'[storage]\nsynchronous = "{synchronous}"\n')
    ws = Workspace.open(home)
    assert ws.db.scalar("PRAGMA synchronous") == {"normal": 1, "full": 2}[synchronous]
    run = ws.runs.start("bench")
    conn = sqlite3.connect(where / "floor.db")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.execute("CREATE TABLE metrics (run_id TEXT, key TEXT, value REAL, step INTEGER, timestamp REAL)")
    conn.commit()
    run_id = uuid.uuid4().hex

    def ours(lo: int, hi: int, key: str = "loss") -> None:
        for i in range(lo, hi):
            run.log_metric(key, 1.0 / (i + 1), step=i)

    def floor(lo: int, hi: int, key: str = "loss") -> None:
        for i in range(lo, hi):
            conn.execute("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", (run_id, key, 1.0 / (i + 1), i, time.time()))
            conn.commit()

    ours(0, 1000, "warm-up")  # the WAL file at its steady size (see _steady_wal)
    floor(0, 1000, "warm-up")
    _steady_wal(ws.db.connection())
    _steady_wal(conn)
    out = {"mlcycle": {"log_metric_1000": 0.0, "log_metric_1000_cpu": 0.0},
           "floor": {"log_metric_1000": 0.0, "log_metric_1000_cpu": 0.0}}
    for n, lo in enumerate(range(0, 1000, chunk)):
        for side, fn in (("mlcycle", ours), ("floor", floor)) if n % 2 == 0 else (("floor", floor), ("mlcycle", ours)):
            c, t = time.process_time(), time.perf_counter()
            fn(lo, lo + chunk)
            out[side]["log_metric_1000"] += time.perf_counter() - t
            out[side]["log_metric_1000_cpu"] += time.process_time() - c
    conn.close()
    run.end()
    ws.close()
    return out


def _steady_wal(conn: sqlite3.Connection) -> None:
    """Checkpoint and restart the WAL after 1,000 warm-up commits: the timed commits then overwrite
    a WAL file of its steady size, as in a workspace in use. A WAL that still grows costs a file
    system journal commit in every flush at synchronous=full (~2x the time of the flush here), and
    a side that writes fewer pages per commit (the floor) would grow it for longer."""
    conn.execute("PRAGMA wal_checkpoint(RESTART)")


def _timed(call: Callable[[], Any], repeat: int = 7) -> tuple[float, Any]:
    call()  # warm the page cache and statement cache
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def fill_runs(ws: Any, n: int) -> None:
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
            conn.executemany("INSERT INTO metrics(run_id, key, value, step, timestamp, seq) VALUES (?, ?, ?, ?, ?, 0)",
                             metrics)
            conn.executemany("INSERT INTO metrics_latest(run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
                             metrics)
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


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def median_of(rounds: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def median_ratio(top: list[dict[str, Any]], bottom: list[dict[str, Any]], key: str) -> float:
    """The median over rounds of each round's ratio: the two sides of one round ran side by side."""
    return statistics.median(a[key] / b[key] for a, b in zip(top, bottom, strict=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every side (medians are printed)")
    parser.add_argument("--runs", type=int, default=100_000, help="runs for the big search (0: none)")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--json", action="store_true", help="print every round's figures as JSON")
    args = parser.parse_args()
    sides = ["floor normal", "mlcycle normal", "floor full", "mlcycle full"] + ([] if args.skip_mlflow else ["mlflow"])
    rounds: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    loads = [load()]
    errors = []
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-") as tmp:
        for r in range(args.repeat):
            pending_floor: dict[str, dict[str, float]] = {}
            for side in sides if r % 2 == 0 else sides[::-1]:
                where = Path(tmp) / f"{side.replace(' ', '-')}-{r}"
                if side == "mlflow":
                    result = bench_mlflow()
                    if isinstance(result, str):
                        errors.append(result)
                        continue
                elif side.startswith("floor"):
                    result = bench_floor(where.with_suffix(".db"), side.split()[1])
                else:
                    result = bench_mlcycle(where, side.split()[1])
                    paired = bench_log_metric(where.with_name(where.name + "-log-metric"), side.split()[1])
                    result |= paired["mlcycle"]
                    pending_floor[side.split()[1]] = paired["floor"]
                rounds[side].append(result)
            for sync, figures in pending_floor.items():
                rounds[f"floor {sync}"][-1] |= figures
            loads.append(load())
            print(f"(round {r + 1} of {args.repeat} done, {loads[-1]})", file=sys.stderr)
        big = bench_search(Path(tmp) / "big", args.runs) if args.runs else []
    loads.append(load())
    theirs = rounds.get("mlflow") or []
    headline = "full"
    print(f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs; "
          f"medians of {args.repeat} rounds (ratios: the median of each round's ratio); {loads[0]} at the start, "
          f"{loads[-1]} at the end")
    if theirs:
        sync = SYNC_NAMES.get(theirs[0]["synchronous"], theirs[0]["synchronous"])
        headline = "full" if theirs[0]["synchronous"] >= 2 else "normal"
        print(f"MLflow {theirs[0]['version']}: its store runs SQLite at journal_mode={theirs[0]['journal_mode']}, "
              f"synchronous={theirs[0]['synchronous']} ({sync}); mlcycle at the same durability: WAL, "
              f"synchronous={headline} (the headline)")
    else:
        print(f"MLflow: {errors[0] if errors else 'skipped'}; headline: mlcycle at synchronous=full (SQLite's default)")
    other = "normal" if headline == "full" else "full"
    mine, floor = rounds[f"mlcycle {headline}"], rounds[f"floor {headline}"]
    mine2, floor2 = rounds[f"mlcycle {other}"], rounds[f"floor {other}"]
    head = (f"{'workload':<37}{'mlcycle ' + headline:>15}{'floor':>10}{'x floor':>8}{'MLflow':>10}"
            f"{'MLflow/ours':>12} |{'mlcycle ' + other:>16}{'floor':>10}{'x floor':>8}")
    print(head)
    ok = True
    for key, label in WORKLOADS:
        m, m2 = median_of(mine, key), median_of(mine2, key)
        f = median_of(floor, key) if key in floor[0] else None
        f2 = median_of(floor2, key) if key in floor2[0] else None
        x = median_ratio(mine, floor, key) if f is not None else None
        x2 = median_ratio(mine2, floor2, key) if f2 is not None else None
        line = f"{label:<37}{_ms(m):>15}{_ms(f):>10}{_x(x):>8}"
        if theirs:
            t, ratio = median_of(theirs, key), median_ratio(theirs, mine, key)
            ok &= ratio >= TARGET_MLFLOW_RATIO
            line += f"{_ms(t):>10}{ratio:>11.0f}x"
        else:
            line += f"{'-':>10}{'-':>12}"
        line += f" |{_ms(m2):>16}{_ms(f2):>10}{_x(x2):>8}"
        print(line)
    for side in (headline, other):
        ours_, floor_ = rounds[f"mlcycle {side}"], rounds[f"floor {side}"]
        x, xc = median_ratio(ours_, floor_, "log_metric_1000"), median_ratio(ours_, floor_, "log_metric_1000_cpu")
        ok &= x <= TARGET_FLOOR_RATIO
        print(f"1,000 log_metric at {side}: {x:.2f}x the floor in wall time, {xc:.2f}x in CPU time "
              f"({_ms(median_of(ours_, 'log_metric_1000_cpu'))} against {_ms(median_of(floor_, 'log_metric_1000_cpu'))}"
              "; medians of the rounds' ratios); every round: "
              + ", ".join(f"{a['log_metric_1000'] / b['log_metric_1000']:.2f}x"
                          for a, b in zip(rounds[f"mlcycle {side}"], rounds[f"floor {side}"], strict=False)))
    if big:
        print(f"\nsearch {args.runs:,} runs with mlcycle (limit 100, median of 7)")
        for label, seconds, found in big:
            ok &= seconds < 0.050 or label.startswith("count_runs")  # counting is reported, not a target
            print(f"  {label:<48}{_ms(seconds):>10}  ({found} rows)")
    print(f"\ntargets (>= {TARGET_MLFLOW_RATIO:g}x MLflow at its durability, log_metric <= {TARGET_FLOOR_RATIO:g}x "
          "the floor, 100k search < 50 ms):", "met" if ok else "NOT met")
    if args.json:
        print(json.dumps({"rounds": rounds, "loads": loads, "search": big}, indent=1))
    return 0 if ok else 1


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _x(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


if __name__ == "__main__":
    raise SystemExit(main())

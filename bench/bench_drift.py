"""Benchmark: mlcycle's drift check against Evidently 0.7's DataDriftPreset.

Why this exists: the drift check runs on a schedule over logged predictions
and must stay cheap at a million rows; this script measures time and peak
memory on the same synthetic data for both tools, each in its own process,
and how often mlcycle's ``method="evidently"`` agrees with Evidently's own
per-column verdicts. Run by hand (not in CI), see bench/README.md:

    python3 -m venv bench/.venv-evidently
    bench/.venv-evidently/bin/pip install "evidently>=0.7,<0.8" "pandas<3" pyarrow
    .venv/bin/python bench/bench_drift.py --sizes 10000 100000 1000000

Only numpy and pandas are imported at the top: the same file is the worker
script in both virtual environments.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EVIDENTLY_PYTHON = HERE / ".venv-evidently" / "bin" / "python"
N_NUMERIC, N_CATEGORICAL = 15, 5


# --------------------------------------------------------------------------- data


def make_frames(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames: 15 numeric and 5 categorical columns, some drifted."""
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i in range(N_NUMERIC):
        ref[f"n{i}"], cur[f"n{i}"] = _numeric_pair(i, n, rng)
    for i in range(N_CATEGORICAL):
        ref[f"c{i}"], cur[f"c{i}"] = _categorical_pair(i, n, rng)
    return pd.DataFrame(ref), pd.DataFrame(cur)


def _numeric_pair(i: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if i < 5:  # no drift
        return rng.normal(size=n), rng.normal(size=n)
    if i < 8:  # mean shift of half a std
        return rng.normal(size=n), rng.normal(0.5, 1.0, size=n)
    if i < 10:  # wider lognormal
        return rng.lognormal(size=n), rng.lognormal(sigma=1.3, size=n)
    if i < 12:  # no drift
        return rng.uniform(size=n), rng.uniform(size=n)
    if i == 12:  # integers, no drift
        return rng.integers(0, 100, n).astype(float), rng.integers(0, 100, n).astype(float)
    if i == 13:  # trivial shift (0.02 std)
        return rng.normal(size=n), rng.normal(0.02, 1.0, size=n)
    a, b = rng.exponential(size=n), rng.exponential(size=n)  # missing share 5% -> 20%
    a[rng.random(n) < 0.05] = np.nan
    b[rng.random(n) < 0.20] = np.nan
    return a, b


def _categorical_pair(i: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    sizes = [5, 10, 3, 20, 2]
    labels = np.array([f"cat_{k}" for k in range(sizes[i] + 1)])
    k = sizes[i]
    p = np.full(k, 1.0 / k)
    ref = rng.choice(labels[:k], size=n, p=p)
    if i == 1:  # shifted shares
        q = np.linspace(1, 3, k)
        cur = rng.choice(labels[:k], size=n, p=q / q.sum())
    elif i == 3:  # a new category at 5%
        q = np.concatenate([p * 0.95, [0.05]])
        cur = rng.choice(labels, size=n, p=q)
    else:
        cur = rng.choice(labels[:k], size=n, p=p)
    return ref, cur


def columns_of(frame: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {"name": c, "dtype": str(frame[c].dtype), "kind": "numeric" if c.startswith("n") else "categorical"}
        for c in frame.columns
    ]


# --------------------------------------------------------------------------- workers


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_mlcycle(data_dir: Path) -> dict:
    sys.path.insert(0, str(REPO))
    from mlcycle_tui.monitoring import drift

    ref, cur = _load(data_dir)
    cols = columns_of(ref)
    warm = drift.prepare_reference(ref.head(50), cols)
    drift.check_drift(warm, cur.head(50))  # imports scipy: not part of the timing
    rss_data = _rss_mib()
    t0 = time.perf_counter()
    prepared = drift.prepare_reference(ref, cols)
    t1 = time.perf_counter()
    report = drift.check_drift(prepared, cur)
    t2 = time.perf_counter()
    rss_peak = _rss_mib()
    t3 = time.perf_counter()
    evidently_rule = drift.check_drift(prepared, cur, method="evidently")
    t4 = time.perf_counter()
    traced_peak = _traced_peak_mib(lambda: drift.check_drift(drift.prepare_reference(ref, cols), cur))
    return {
        "traced_peak_mib": traced_peak,
        "prepare_s": t1 - t0,
        "check_s": t2 - t1,
        "check_evidently_rule_s": t4 - t3,
        "rss_after_load_mib": rss_data,
        "rss_peak_mib": rss_peak,
        "drift": report["drift"],
        "verdicts_auto": {c["column"]: c["drifted"] for c in report["columns"]},
        "verdicts_evidently_rule": {c["column"]: c["drifted"] for c in evidently_rule["columns"]},
        "dataset_evidently_rule": evidently_rule["drift"],
    }


def _traced_peak_mib(fn) -> float:
    """Peak of memory allocated while ``fn`` runs (NumPy reports to tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def worker_evidently(data_dir: Path) -> dict:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = _load(data_dir)
    numeric = [c for c in ref.columns if c.startswith("n")]
    categorical = [c for c in ref.columns if c.startswith("c")]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    rss_data = _rss_mib()
    t0 = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    result = snapshot.dict()
    t1 = time.perf_counter()
    verdicts, dataset_share = {}, None
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            verdicts[config["column"]] = _evidently_drifted(config, metric["value"])
        elif config["type"].endswith("DriftedColumnsCount"):
            dataset_share = metric["value"]["share"]
    return {
        "run_s": t1 - t0,
        "rss_after_load_mib": rss_data,
        "rss_peak_mib": _rss_mib(),
        "verdicts": verdicts,
        "drift": bool(dataset_share is not None and dataset_share >= 0.5),
    }


def _evidently_drifted(config: dict, score: float) -> bool:
    method, threshold = config["method"], config["threshold"]
    if "K-S" in method:
        return bool(score <= threshold)
    if "p_value" in method:
        return bool(score < threshold)
    return bool(score >= threshold)


def _load(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(data_dir / "reference.parquet"), pd.read_parquet(data_dir / "current.parquet")


# --------------------------------------------------------------------------- driver


def run_worker(python: Path, kind: str, data_dir: Path) -> dict:
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", kind, "--dir", str(data_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_size(n: int, with_evidently: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        ref, cur = make_frames(n)
        ref.to_parquet(data_dir / "reference.parquet")
        cur.to_parquet(data_dir / "current.parquet")
        data_mib = (ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / 2**20
        del ref, cur
        mine = run_worker(Path(sys.executable), "mlcycle", data_dir)
        theirs = run_worker(EVIDENTLY_PYTHON, "evidently", data_dir) if with_evidently else None
    return {"rows": n, "data_mib": data_mib, "mlcycle": mine, "evidently": theirs}


def print_row(res: dict) -> None:
    mine, theirs = res["mlcycle"], res["evidently"]
    n = res["rows"]
    if "error" in mine:
        print(f"{n:>9,}  mlcycle failed: {mine['error']}")
        return
    total = mine["prepare_s"] + mine["check_s"]
    extra = mine["rss_peak_mib"] - mine["rss_after_load_mib"]
    line = (
        f"{n:>9,} rows/side  data {res['data_mib']:7.1f} MiB | mlcycle prepare {mine['prepare_s']:6.2f}s"
        f" check {mine['check_s']:6.2f}s total {total:6.2f}s (evidently rule {mine['check_evidently_rule_s']:.2f}s)"
        f" peak RSS {mine['rss_peak_mib']:7.0f} MiB (+{extra:.0f} over load),"
        f" allocated at peak {mine['traced_peak_mib']:.0f} MiB"
    )
    print(line)
    if theirs is None:
        return
    if "error" in theirs:
        print(f"{'':>9}  evidently failed: {theirs['error']}")
        return
    extra_e = theirs["rss_peak_mib"] - theirs["rss_after_load_mib"]
    agree = sum(mine["verdicts_evidently_rule"][c] == v for c, v in theirs["verdicts"].items())
    agree_auto = sum(mine["verdicts_auto"][c] == v for c, v in theirs["verdicts"].items())
    disagree = [c for c, v in theirs["verdicts"].items() if mine["verdicts_evidently_rule"][c] != v]
    print(
        f"{'':>9}  evidently run {theirs['run_s']:6.2f}s peak RSS {theirs['rss_peak_mib']:7.0f} MiB"
        f" (+{extra_e:.0f} over load) | speed-up {theirs['run_s'] / total:5.1f}x"
        f" | verdicts agree (method=evidently) {agree}/{len(theirs['verdicts'])}"
        f" {disagree or ''} | auto agrees {agree_auto}/{len(theirs['verdicts'])}"
        f" | dataset drift: evidently {theirs['drift']}, mlcycle {mine['drift']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--json", action="store_true", help="print raw results as JSON")
    parser.add_argument("--worker", choices=["mlcycle", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        fn = worker_mlcycle if args.worker == "mlcycle" else worker_evidently
        print(json.dumps(fn(args.dir)))
        return
    with_evidently = not args.no_evidently and EVIDENTLY_PYTHON.exists()
    if not with_evidently and not args.no_evidently:
        print(f"(Evidently venv not found at {EVIDENTLY_PYTHON}; mlcycle only)")
    results = []
    for n in args.sizes:
        res = bench_size(n, with_evidently)
        results.append(res)
        print_row(res)
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

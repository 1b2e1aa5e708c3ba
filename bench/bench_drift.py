"""Benchmark: mlcycle's drift check against Evidently 0.7's DataDriftPreset, on the same rows.

Why this exists: the drift check runs on a schedule over logged predictions
and must stay cheap at a million rows; this script measures time and peak
memory on the same synthetic data for both tools, each in its own process,
and how often mlcycle's ``method="evidently"`` agrees with Evidently's own
per-column verdicts. Both sides read every row: Evidently reads all of both
frames, and so does mlcycle's headline figure (its reference keeps every
value; by default a reference column above 200,000 values keeps a sorted
random sample of 200,000, timed beside it and labelled so). The floor is the
least work an exact check of the same columns on all rows does, in NumPy
and pandas: sort both sides of each numeric column and merge them for the
KS statistic, count each categorical column's values on both sides. Every
side runs `--repeat` times in alternating order; medians are printed. Run by
hand (not in CI), see bench/README.md:

    python3 -m venv bench/.venv-evidently
    bench/.venv-evidently/bin/pip install "evidently>=0.7,<0.8" "pandas<3" pyarrow
    .venv/bin/python bench/bench_drift.py --sizes 10000 100000 1000000 --repeat 3

Only numpy and pandas are imported at the top: the same file is the worker
script in both virtual environments.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
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
    sampled_at = drift.MAX_EXACT_REFERENCE
    rss_data = _rss_mib()
    # the same rows as Evidently: the reference keeps every value (no 200,000-value sample)
    drift.MAX_EXACT_REFERENCE = max(sampled_at, len(ref))
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
    del prepared
    # mlcycle's default: a sorted sample of MAX_EXACT_REFERENCE values per larger reference column
    drift.MAX_EXACT_REFERENCE = sampled_at
    t5 = time.perf_counter()
    sampled = drift.check_drift(drift.prepare_reference(ref, cols), cur)
    t6 = time.perf_counter()
    return {
        "traced_peak_mib": traced_peak,
        "prepare_s": t1 - t0,
        "check_s": t2 - t1,
        "check_evidently_rule_s": t4 - t3,
        "sampled_total_s": t6 - t5,
        "sampled_at": sampled_at,
        "rss_after_load_mib": rss_data,
        "rss_peak_mib": rss_peak,
        "drift": report["drift"],
        "verdicts_auto": {c["column"]: c["drifted"] for c in report["columns"]},
        "verdicts_evidently_rule": {c["column"]: c["drifted"] for c in evidently_rule["columns"]},
        "verdicts_sampled": {c["column"]: c["drifted"] for c in sampled["columns"]},
        "dataset_evidently_rule": evidently_rule["drift"],
    }


def worker_floor(data_dir: Path) -> dict:
    """The least work of an exact check on all rows: per numeric column, the finite values of
    both sides sorted and merged, the KS statistic from the merge; per categorical column,
    the counts of both sides (pandas' hash count; NumPy's unique sorts strings, far slower)."""
    ref, cur = _load(data_dir)
    t0 = time.perf_counter()
    stats = {}
    for c in ref.columns:
        if c.startswith("n"):
            a, b = ref[c].to_numpy(dtype=np.float64), cur[c].to_numpy(dtype=np.float64)
            a, b = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
            both = np.concatenate([a, b])
            order = both.argsort(kind="stable")  # two sorted runs: a linear merge
            from_a = order < a.size
            gap = np.cumsum(from_a) / a.size - np.cumsum(~from_a) / b.size  # the two CDFs after each value
            merged = both[order]
            last = np.append(merged[1:] != merged[:-1], True)  # after the last of equal values
            stats[c] = float(np.abs(gap[last]).max())
        else:
            counts = pd.concat([ref[c].value_counts(), cur[c].value_counts()], axis=1).fillna(0)
            stats[c] = float(counts.iloc[:, 1].sum())
    return {"run_s": time.perf_counter() - t0, "n_columns": len(stats)}


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


def bench_size(n: int, with_evidently: bool, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        ref, cur = make_frames(n)
        ref.to_parquet(data_dir / "reference.parquet")
        cur.to_parquet(data_dir / "current.parquet")
        data_mib = (ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / 2**20
        del ref, cur
        sides = [("mlcycle", Path(sys.executable)), ("floor", Path(sys.executable))]
        if with_evidently:
            sides.append(("evidently", EVIDENTLY_PYTHON))
        runs: dict[str, list[dict]] = {name: [] for name, _ in sides}
        for r in range(repeat):
            for name, python in sides if r % 2 == 0 else sides[::-1]:
                runs[name].append(run_worker(python, name, data_dir))
    return {"rows": n, "data_mib": data_mib, "runs": runs, "load": _load_average(),
            "mlcycle": _median_run(runs["mlcycle"], ("prepare_s", "check_s", "check_evidently_rule_s",
                                                     "sampled_total_s")),
            "floor": _median_run(runs["floor"], ("run_s",)),
            "evidently": _median_run(runs["evidently"], ("run_s",)) if with_evidently else None}


def _median_run(runs: list[dict], keys: tuple[str, ...]) -> dict:
    """The first run's figures, with the medians of every run for `keys` (an error as it is)."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    out = dict(runs[0])
    for key in keys:
        out[key] = statistics.median(r[key] for r in runs)
    if "prepare_s" in keys:
        out["total_s"] = statistics.median(r["prepare_s"] + r["check_s"] for r in runs)
    out["repeat"] = len(runs)
    return out


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def print_row(res: dict) -> None:
    mine, theirs, floor = res["mlcycle"], res["evidently"], res["floor"]
    n = res["rows"]
    if "error" in mine:
        print(f"{n:>9,}  mlcycle failed: {mine['error']}")
        return
    total = mine["total_s"]
    extra = mine["rss_peak_mib"] - mine["rss_after_load_mib"]
    floor_s = floor.get("run_s")
    print(
        f"{n:>9,} rows/side (load {res['load']}), data {res['data_mib']:.1f} MiB, medians of {mine['repeat']}:"
        f" mlcycle on all rows: prepare {mine['prepare_s']:.2f}s + check {mine['check_s']:.2f}s ="
        f" {total:.2f}s (evidently rule {mine['check_evidently_rule_s']:.2f}s),"
        f" {total / floor_s:.1f}x the NumPy floor of {floor_s:.2f}s;"
        f" peak RSS {mine['rss_peak_mib']:.0f} MiB (+{extra:.0f} over load),"
        f" allocated at peak {mine['traced_peak_mib']:.0f} MiB"
    )
    same = sum(mine["verdicts_sampled"][c] == v for c, v in mine["verdicts_auto"].items())
    print(f"{'':>9}  mlcycle's default (reference columns above {mine['sampled_at']:,} values sampled to"
          f" {mine['sampled_at']:,}): {mine['sampled_total_s']:.2f}s, same verdicts as on all rows on"
          f" {same}/{len(mine['verdicts_auto'])} columns")
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
        f"{'':>9}  evidently on all rows {theirs['run_s']:.2f}s ({theirs['run_s'] / floor_s:.0f}x the floor),"
        f" peak RSS {theirs['rss_peak_mib']:.0f} MiB (+{extra_e:.0f} over load)"
        f" | mlcycle {theirs['run_s'] / total:.1f}x faster"
        f" | verdicts agree (method=evidently) {agree}/{len(theirs['verdicts'])}"
        f" {disagree or ''} | auto agrees {agree_auto}/{len(theirs['verdicts'])}"
        f" | dataset drift: evidently {theirs['drift']}, mlcycle {mine['drift']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every side per size (medians)")
    parser.add_argument("--json", action="store_true", help="print raw results as JSON")
    parser.add_argument("--worker", choices=["mlcycle", "evidently", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        fn = {"mlcycle": worker_mlcycle, "evidently": worker_evidently, "floor": worker_floor}[args.worker]
        print(json.dumps(fn(args.dir)))
        return
    with_evidently = not args.no_evidently and EVIDENTLY_PYTHON.exists()
    if not with_evidently and not args.no_evidently:
        print(f"(Evidently venv not found at {EVIDENTLY_PYTHON}; mlcycle only)")
    results = []
    for n in args.sizes:
        res = bench_size(n, with_evidently, args.repeat)
        results.append(res)
        print_row(res)
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

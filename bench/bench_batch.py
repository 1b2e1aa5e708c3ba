"""Batch scoring: `mlcycle predict` against `mlflow models predict` on the same model and rows.

    .venv/bin/python bench/bench_batch.py [--rows 10000] [--big-rows 5000000] [--no-mlflow]

1. Trains RandomForestClassifier(n_estimators=50) on scikit-learn's breast_cancer
   data (through mlcycle, so the pipeline is mlcycle's), exports it in MLflow's
   format with `mlcycle export --format mlflow`, and times both whole commands on
   a CSV of `--rows` rows (MLflow from the throwaway venv bench/.venv-mlflow);
   mlcycle twice: with its compiled model (the default) and `--engine scikit-learn`.
2. Scores a `--big-rows` CSV with `mlcycle predict` and reports the peak memory
   of the command, to show that it stays bounded (chunks of 100,000 rows).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MLFLOW = HERE / ".venv-mlflow" / "bin" / "mlflow"


_PEAK = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
    "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one command, measured in its own wrapper process."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _PEAK, *cmd], check=True, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    return elapsed, int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--big-rows", type=int, default=5_000_000)
    ap.add_argument("--no-mlflow", action="store_true")
    args = ap.parse_args()
    from sklearn.datasets import load_breast_cancer

    from mlcycle_tui.workspace import Workspace

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    features = frame.drop(columns=["target"])
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        ws = Workspace.open(tmpd / "ws")
        ws.data.ingest(frame, name="cancer", target="target")
        run = ws.training.train("cancer", "rf", params=["n_estimators=50"], task="classification")
        ws.registry.register(run["run_id"], "cancer")
        ws.registry.promote("cancer", 1)
        ws.close()
        rng = np.random.default_rng(0)
        small = features.sample(n=args.rows, replace=True, random_state=0).reset_index(drop=True)
        small.to_csv(tmpd / "small.csv", index=False)
        mlcycle = [sys.executable, "-m", "mlcycle_tui", "--workspace", str(tmpd / "ws")]
        ours, _ = timed([*mlcycle, "predict", "cancer", "--input", str(tmpd / "small.csv"),
                         "--output", str(tmpd / "small.out.csv")])
        print(f"mlcycle predict, {args.rows:,} rows, whole command: {ours:.2f} s "
              "(compiled model: NumPy and pyarrow only)")
        sk, _ = timed([*mlcycle, "predict", "cancer", "--input", str(tmpd / "small.csv"),
                       "--output", str(tmpd / "small.sk.csv"), "--engine", "scikit-learn"])
        same = (tmpd / "small.out.csv").read_bytes() == (tmpd / "small.sk.csv").read_bytes()
        print(f"mlcycle predict --engine scikit-learn, same rows: {sk:.2f} s (identical output file: {same})")
        if not args.no_mlflow and MLFLOW.exists():
            subprocess.run([*mlcycle, "export", "cancer", "--to", str(tmpd / "mlf"), "--format", "mlflow"],
                           check=True, stdout=subprocess.DEVNULL)
            env = {**os.environ, "MLFLOW_DISABLE_ENV_MANAGER_CONDA_WARNING": "1"}
            theirs, _ = timed([str(MLFLOW), "models", "predict", "-m", str(tmpd / "mlf"), "-i",
                               str(tmpd / "small.csv"), "-t", "csv", "-o", str(tmpd / "mlf.out.json"),
                               "--env-manager", "local"], env=env)
            print(f"mlflow models predict, same rows: {theirs:.2f} s  -> mlcycle is {theirs / ours:.1f}x faster "
                  f"(target >= 5x; {theirs / sk:.1f}x with --engine scikit-learn)")
        elif not args.no_mlflow:
            print("MLflow not found in bench/.venv-mlflow; create it with: python -m venv bench/.venv-mlflow && "
                  "bench/.venv-mlflow/bin/pip install 'mlflow>=3,<4'")
        if args.big_rows:
            big = tmpd / "big.csv"
            reps = max(1, args.big_rows // len(small))
            with open(big, "w") as fh:
                small.to_csv(fh, index=False)
                for _ in range(reps - 1):
                    small.to_csv(fh, index=False, header=False)
            rows = reps * len(small)
            secs, peak = timed([*mlcycle, "predict", "cancer", "--input", str(big), "--output",
                                str(tmpd / "big.out.parquet")])
            size = big.stat().st_size / 2**20
            print(f"mlcycle predict, {rows:,} rows ({size:.0f} MiB CSV): {secs:.1f} s, peak RSS {peak:.0f} MiB "
                  f"(the whole frame would be about {small.memory_usage().sum() * reps / 2**20:.0f} MiB)")
        del rng


if __name__ == "__main__":
    main()

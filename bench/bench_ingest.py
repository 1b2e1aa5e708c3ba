"""Ingest + profile of a 1,000,000 x 20 CSV compared with `pandas.read_csv` alone.

Run by hand:  .venv/bin/python bench/bench_ingest.py [--rows 1000000]
Each side runs in its own subprocess so that peak memory (max RSS) is its own.
Prints the times, the ratio, and peak memory against the in-memory frame size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PANDAS_SIDE = """
import sys, time, resource, json
import pandas as pd
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "frame_mb": df.memory_usage(deep=True).sum() / 2**20}))
"""

MLCYCLE_SIDE = """
import sys, time, resource, json
import pandas, pyarrow.parquet  # imported before timing, as on the pandas side
from mlcycle_tui import Workspace
ws = Workspace.open(sys.argv[2])
t = time.perf_counter()
ds = ws.ingest(sys.argv[1], name="bench")
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rows": ds.rows}))
"""

BASELINE_SIDE = """
import resource, json, sys
import pandas, pyarrow.parquet  # the same imports as the ingest side, and an open workspace
from mlcycle_tui import Workspace
ws = Workspace.open(sys.argv[1])
print(json.dumps({"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {}
    for i in range(14):
        cols[f"num{i}"] = rng.normal(100, 15, rows).round(4)
    for i in range(4):
        cols[f"cat{i}"] = rng.choice(["alpha", "beta", "gamma", "delta", "epsilon"], rows)
    cols["count"] = rng.integers(0, 1000, rows)
    cols["day"] = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    pd.DataFrame(cols).to_csv(path, index=False)


def run(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        t = time.perf_counter()
        make_csv(csv, args.rows)
        print(f"wrote {args.rows:,} x 20 CSV ({csv.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
        base = run(BASELINE_SIDE, str(Path(tmp) / "ws-base"))
        pandas_runs = [run(PANDAS_SIDE, str(csv)) for _ in range(args.repeat)]
        ours = [run(MLCYCLE_SIDE, str(csv), str(Path(tmp) / f"ws{i}")) for i in range(args.repeat)]
    p = min(r["seconds"] for r in pandas_runs)
    m = min(r["seconds"] for r in ours)
    frame_mb = pandas_runs[0]["frame_mb"]
    peak = max(r["maxrss_mb"] for r in ours) - base["maxrss_mb"]
    print(f"pandas.read_csv alone        : {p:6.2f} s (best of {args.repeat})")
    print(f"mlcycle ingest + profile     : {m:6.2f} s (best of {args.repeat})  ratio {m / p:.2f}x (target <= 2x)")
    print(f"in-memory frame              : {frame_mb:6.0f} MiB")
    print(f"mlcycle peak above imports   : {peak:6.0f} MiB  = {peak / frame_mb:.2f}x the frame (target < 3x)")


if __name__ == "__main__":
    main()

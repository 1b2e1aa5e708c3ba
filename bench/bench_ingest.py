"""Ingest + profile of a 1,000,000 x 20 CSV compared with `pandas.read_csv` alone; then the
streamed ingest of a large CSV (`--large-mb`, 0 to skip) beside `read_csv` of the same file.

Run by hand:  .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--large-mb 2000]
Each side runs in its own subprocess so that peak memory (its VmHWM) is its own.
Prints the times, the ratio, the CPU time each side used (the pandas here, 3.1, parses
on every core, so the CPU ratio bounds the wall-clock ratio) and peak
memory against the in-memory frame size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

# Peak memory is the process's own high-water mark (VmHWM), read before and after the timed part.
# Not ru_maxrss: Linux carries that across fork and exec, so a child would report this script's peak.
PEAK = """
import resource
def cpu_s():  # user + system time of every thread of this process so far
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def peak_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
"""

PANDAS_SIDE = PEAK + """
import sys, time, json
import pandas as pd
before = peak_mb()
c, t = cpu_s(), time.perf_counter()
df = pd.read_csv(sys.argv[1])
elapsed, cpu = time.perf_counter() - t, cpu_s() - c
print(json.dumps({"seconds": elapsed, "cpu": cpu, "before_mb": before, "peak_mb": peak_mb(),
                  "frame_mb": df.memory_usage(deep=True).sum() / 2**20}))
"""

MLCYCLE_SIDE = PEAK + """
import sys, time, json
import pandas, pyarrow.parquet  # imported before timing, as on the pandas side
from mlcycle_tui import Workspace
ws = Workspace.open(sys.argv[2])
before = peak_mb()
c, t = cpu_s(), time.perf_counter()
ds = ws.data.ingest(sys.argv[1], name="bench")
elapsed, cpu = time.perf_counter() - t, cpu_s() - c
print(json.dumps({"seconds": elapsed, "cpu": cpu, "before_mb": before, "peak_mb": peak_mb(), "rows": ds.rows}))
"""


STREAMED_SIDE = PEAK + """
import sys, time, json
import pandas, pyarrow.parquet
from mlcycle_tui import Workspace
ws = Workspace.open(sys.argv[2])
before = peak_mb()
c, t = cpu_s(), time.perf_counter()
ds = ws.data.ingest(sys.argv[1], name="bench", stream=True)
elapsed, cpu = time.perf_counter() - t, cpu_s() - c
print(json.dumps({"seconds": elapsed, "cpu": cpu, "before_mb": before, "peak_mb": peak_mb(), "rows": ds.rows}))
"""


def make_large_csv(path: Path, size: int) -> int:
    """About `size` bytes, fast: the file the memory test ingests (tests/unit/test_ingest_memory.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.unit.test_ingest_memory import write_large_csv

    return write_large_csv(path, size)


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
    ap.add_argument("--large-mb", type=int, default=2000, help="streamed ingest of a CSV this large (0: skip)")
    args = ap.parse_args()
    if args.large_mb:
        large(args.large_mb)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        t = time.perf_counter()
        make_csv(csv, args.rows)
        print(f"wrote {args.rows:,} x 20 CSV ({csv.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
        pandas_runs, ours = [], []
        for i in range(args.repeat):  # interleaved, so that a slow spell of the machine hits both sides
            pandas_runs.append(run(PANDAS_SIDE, str(csv)))
            ours.append(run(MLCYCLE_SIDE, str(csv), str(Path(tmp) / f"ws{i}")))
    p = min(r["seconds"] for r in pandas_runs)
    m = min(r["seconds"] for r in ours)
    p_cpu = sorted(r["cpu"] for r in pandas_runs)[len(pandas_runs) // 2]
    m_cpu = sorted(r["cpu"] for r in ours)[len(ours) // 2]
    frame_mb = pandas_runs[0]["frame_mb"]
    read_peak = max(r["peak_mb"] - r["before_mb"] for r in pandas_runs)
    peak = max(r["peak_mb"] - r["before_mb"] for r in ours)
    print(f"pandas.read_csv alone        : {p:6.3f} s (best of {args.repeat})")
    print(f"mlcycle ingest + profile     : {m:6.3f} s (best of {args.repeat})  ratio {m / p:.2f}x")
    print(f"CPU time, median (all threads): read_csv {p_cpu:.2f} s, mlcycle {m_cpu:.2f} s = {m_cpu / p_cpu:.2f}x"
          f" on {os.cpu_count()} cores")
    print(f"in-memory frame              : {frame_mb:6.0f} MiB")
    print(f"read_csv peak above imports  : {read_peak:6.0f} MiB  = {read_peak / frame_mb:.2f}x the frame")
    print(f"mlcycle peak above imports   : {peak:6.0f} MiB  = {peak / frame_mb:.2f}x the frame (target < 3x)")


def large(size_mb: int) -> None:
    """Streamed ingest of a large CSV, once, beside `read_csv` of the same file."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "large.csv"
        t = time.perf_counter()
        rows = make_large_csv(csv, size_mb * 10**6)
        print(f"wrote {rows:,} x 10 CSV ({csv.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
        streamed = run(STREAMED_SIDE, str(csv), str(Path(tmp) / "ws"))
        pandas_side = run(PANDAS_SIDE, str(csv))
    print(f"mlcycle streamed ingest      : {streamed['seconds']:6.1f} s, peak {streamed['peak_mb']:.0f} MiB"
          f" ({streamed['peak_mb'] - streamed['before_mb']:.0f} MiB above imports), CPU {streamed['cpu']:.1f} s")
    print(f"pandas.read_csv alone        : {pandas_side['seconds']:6.1f} s, peak {pandas_side['peak_mb']:.0f} MiB"
          f" (frame {pandas_side['frame_mb']:.0f} MiB), CPU {pandas_side['cpu']:.1f} s"
          f"  ratio {streamed['seconds'] / pandas_side['seconds']:.2f}x")


if __name__ == "__main__":
    main()

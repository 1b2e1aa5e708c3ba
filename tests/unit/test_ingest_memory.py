"""Ingest's peak memory: in memory at most 3x the frame; streamed, a CSV twice the size of a 1 GiB
address-space limit, through the real CLI.

Each ingest runs in its own process, whose high-water mark (VmHWM) is its own: `ru_maxrss` of a
child would start from the forking test's peak (Linux carries it across fork and exec)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

LIMIT = 1 << 30  # the address-space limit of the streamed ingest

IN_MEMORY = """
import json, sys
def peak_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
import pandas, pyarrow.parquet
from mlcycle_tui.workspace import Workspace
from mlcycle_tui.data.readers import read_table
ws = Workspace.open(sys.argv[2])
before = peak_mb()
ds = ws.data.ingest(sys.argv[1], name="memory", stream=False)
peak = peak_mb() - before
frame_mb = read_table(sys.argv[1]).memory_usage(deep=True).sum() / 2**20
print(json.dumps({"peak_mb": peak, "frame_mb": frame_mb, "rows": ds.rows}))
"""


def mixed_csv(path: Path, rows: int) -> None:
    """The bench's table: 14 float columns, 4 categorical, a count, a date."""
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {f"num{i}": rng.normal(100, 15, rows).round(4) for i in range(14)}
    for i in range(4):
        cols[f"cat{i}"] = rng.choice(["alpha", "beta", "gamma", "delta", "epsilon"], rows)
    cols["count"] = rng.integers(0, 1000, rows)
    cols["day"] = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    pd.DataFrame(cols).to_csv(path, index=False)


def test_in_memory_ingest_peaks_below_three_times_the_frame(tmp_path):
    path = tmp_path / "mixed.csv"
    mixed_csv(path, 400_000)
    out = subprocess.run([sys.executable, "-c", IN_MEMORY, str(path), str(tmp_path / "ws")],
                         capture_output=True, text=True, check=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert measured["rows"] == 400_000
    assert measured["peak_mb"] <= 3 * measured["frame_mb"], measured


def write_large_csv(path: Path, size: int) -> int:
    """A CSV of about `size` bytes, fast: fixed-width rows of a counter id (every value distinct)
    and nine columns repeated from a 65,536-row template (floats, a category, a date, a count)."""
    rng = np.random.default_rng(0)
    template = 1 << 16
    floats = [np.array([b"%07.2f" % v for v in rng.uniform(0, 9999, template)]) for _ in range(6)]
    cats = np.array([b"alpha", b"gamma", b"delta", b"omega", b"sigma"])[rng.integers(0, 5, template)]
    days = [b"2024-%02d-%02d" % (m, d) for m, d in zip(rng.integers(1, 13, template), rng.integers(1, 29, template),
                                                        strict=True)]
    counts = [b"%03d" % v for v in rng.integers(0, 1000, template)]
    tails = b"".join(b"," + b",".join(r) + b"\n" for r in zip(*floats, cats, days, counts, strict=True))
    tail = np.frombuffer(tails, dtype=np.uint8).reshape(template, -1)
    width = 9 + tail.shape[1]
    header = b"id," + b",".join(b"x%d" % k for k in range(6)) + b",cat,day,count\n"
    rows = (size - len(header)) // width
    powers = 10 ** np.arange(8, -1, -1, dtype=np.int64)
    block = np.empty((template, width), dtype=np.uint8)
    block[:, 9:] = tail
    with open(path, "wb") as fh:
        fh.write(header)
        for start in range(0, rows, template):
            n = min(template, rows - start)
            ids = np.arange(start + 1, start + n + 1, dtype=np.int64)
            block[:n, :9] = (ids[:, None] // powers) % 10 + ord("0")  # zero-padded: 000000001
            fh.write(block[:n].tobytes())
    return rows


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


@pytest.mark.slow
def test_a_csv_twice_the_address_space_limit_ingests_streamed_through_the_cli(tmp_path):
    """~2.1 GB under `ulimit -v` 1 GiB: 52-74 s here by the machine's load (7 s of it writing the file).

    glibc gives each thread its own malloc arena, reserving 64 MiB of address space apiece, and
    Arrow's jemalloc reserves its own: MALLOC_ARENA_MAX=2 and ARROW_DEFAULT_MEMORY_POOL=system keep
    the reservations near what is used (the resident peak is ~730 MiB either way)."""
    path = tmp_path / "large.csv"
    rows = write_large_csv(path, 2_100_000_000)
    assert path.stat().st_size >= 2 * LIMIT * 0.97
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "ARROW_DEFAULT_MEMORY_POOL": "system"}
    mlcycle = Path(sys.executable).with_name("mlcycle")
    home = tmp_path / "ws"
    done = subprocess.run([str(mlcycle), "--workspace", str(home), "--json", "data", "ingest", str(path),
                           "--name", "large"], capture_output=True, text=True, env=env,
                          preexec_fn=_limit_address_space, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == rows
    path.unlink()
    shown = subprocess.run([str(mlcycle), "--workspace", str(home), "--json", "data", "show", "large"],
                           capture_output=True, text=True, check=True)
    columns = {c["name"]: c for c in json.loads(shown.stdout)["columns"]}
    assert columns["id"]["unique"] == rows and columns["id"]["kind"] == "id"  # increasing: exact
    assert 60_000 < columns["x0"]["unique"] <= 65_536 and "distinct_approximate" not in columns["x0"]
    assert columns["x0"]["quantiles_approximate"] is True
    assert columns["day"]["kind"] == "datetime" and columns["cat"]["top"][0]["count"] > 0

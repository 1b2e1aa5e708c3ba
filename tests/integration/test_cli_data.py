"""The data commands through the real `mlcycle` entry point, and two processes at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
CMD = [sys.executable, "-m", "mlcycle_tui"]


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ingest_show_validate_split_json(tmp_path):
    ws = tmp_path / "ws"
    penguins = str(SAMPLES / "penguins.csv")
    r = mlcycle(ws, "data", "ingest", penguins, "--name", "penguins", "--target", "species", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {"name", "version", "rows", "columns", "sha256", "created"} <= doc.keys()
    assert doc["rows"] == 344

    r = mlcycle(ws, "data", "list", "--json")
    listed = json.loads(r.stdout)
    assert [(d["name"], d["version"], d["rows"], d["columns"]) for d in listed] == [("penguins", 1, 344, 8)]

    r = mlcycle(ws, "data", "show", "penguins", "--json")
    show = json.loads(r.stdout)
    assert show["target"] == "species"
    assert {"name", "dtype", "kind", "missing", "unique"} <= show["columns"][0].keys()

    r = mlcycle(ws, "--json", "data", "validate", "penguins")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True

    r = mlcycle(ws, "data", "split", "penguins", "--stratify", "--seed", "3", "--json")
    split = json.loads(r.stdout)
    assert split["train_rows"] + split["test_rows"] == 344
    r2 = mlcycle(ws, "data", "split", "penguins", "--stratify", "--seed", "3", "--json")
    assert json.loads(r2.stdout)["split_id"] == split["split_id"]

    r = mlcycle(ws, "data", "show", "penguins")
    assert "bill_length_mm" in r.stdout and r.returncode == 0


def test_validate_exit_1_on_errors(tmp_path):
    ws = tmp_path / "ws"
    csv = tmp_path / "c.csv"
    csv.write_text("x,y\n1,a\n2,a\n3,a\n")
    assert mlcycle(ws, "data", "ingest", str(csv), "--name", "c", "--target", "y").returncode == 0
    r = mlcycle(ws, "data", "validate", "c", "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["errors"][0]["code"] == "target_constant"


@pytest.mark.parametrize(
    "content,args,needle",
    [
        (b"", [], "empty"),
        (b"a,b\n", [], "no rows"),
        (b"a,b\n1,2\n3\n", [], "ragged"),
        (b"\x00\x00\x00\x00", [], "binary"),
        (b"a,b\n1,2\n", ["--target", "zz"], "--target 'zz'"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, content, args, needle):
    ws = tmp_path / "ws"
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    r = mlcycle(ws, "data", "ingest", str(path), "--name", "x", *args, "--json")
    assert r.returncode == 2
    assert needle in json.loads(r.stdout)["error"]["message"]  # --json: one JSON document on stdout
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert json.loads(mlcycle(ws, "data", "list", "--json").stdout) == []


def test_usage_errors_exit_2(tmp_path):
    r = mlcycle(tmp_path / "ws", "data", "ingest")
    assert r.returncode == 2
    r = mlcycle(tmp_path / "ws", "data", "show", "nope")
    assert r.returncode == 2 and "no dataset 'nope'" in r.stderr


def test_help_is_fast():
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mlcycle_tui", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "data" in r.stdout
    # not a benchmark: a guard that --help does not import pandas or textual
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlcycle_tui", "--help"], capture_output=True, text=True
    )
    heavy = [line for line in r.stderr.splitlines() if any(m in line for m in ("pandas", "textual", "sklearn"))]
    assert heavy == []
    assert time.perf_counter() - start < 30


def _big_csv(path: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pd.DataFrame({f"c{i}": rng.normal(size=rows) for i in range(8)} | {"k": rng.integers(0, 9, rows)}).to_csv(
        path, index=False
    )


def test_two_processes_ingest_at_once(tmp_path):
    ws = tmp_path / "ws"
    files = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for i, f in enumerate(files):
        _big_csv(f, 20_000, i)
    procs = [
        subprocess.Popen(
            [*CMD, "--workspace", str(ws), "data", "ingest", str(f), "--name", "same", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    versions = sorted(json.loads(o[0])["version"] for o in outs)
    assert versions == [1, 2]


@pytest.mark.slow
def test_sigkill_during_ingest_leaves_no_half_version(tmp_path):
    ws_path = tmp_path / "ws"
    src = tmp_path / "big.csv"
    _big_csv(src, 200_000, 1)
    for delay in (0.3, 0.6, 0.9, 1.2):
        p = subprocess.Popen(
            [*CMD, "--workspace", str(ws_path), "data", "ingest", str(src), "--name", "big"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    ws = Workspace.open(ws_path)
    for ds in ws.data.datasets():
        assert ws.data.load_frame(ds).shape == (200_000, 9)
    assert ws.doctor()["problems"] == []
    ws.close()

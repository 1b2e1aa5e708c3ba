"""Damage reported as what it is, through the real `mlcycle` entry point.

A truncated or overwritten `mlcycle.db`, a workspace this user may not write, `.part` files of
killed writers, and a 1 MB cell in `data show`: each names the file and says what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """penguins v1 in production; closed, so the database is one file (no -wal)."""
    home = tmp_path_factory.mktemp("damage") / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    run = ws.training.train("penguins", "rf", params=["n_estimators=10"])
    ws.registry.register(run["run_id"], "penguins")
    ws.registry.promote("penguins", 1)
    ws.close()
    return home


@pytest.fixture
def home(trained: Path, tmp_path: Path) -> Path:
    shutil.copytree(trained, tmp_path / "ws")
    return tmp_path / "ws"


# -- a damaged mlcycle.db ----------------------------------------------------------------------
def _truncate_half(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def _truncate_to_50_bytes(db: Path) -> None:
    os.truncate(db, 50)


def _overwrite(db: Path) -> None:
    db.write_bytes(np.random.default_rng(0).bytes(8192))


@pytest.mark.parametrize("damage,diagnosis", [
    (_truncate_half, "is truncated"),
    (_truncate_to_50_bytes, "is truncated"),
    (_overwrite, "is not an SQLite database"),
])
def test_a_damaged_database_is_named_and_doctor_diagnoses_it(home, damage, diagnosis):
    db = home / "mlcycle.db"
    damage(db)
    before = db.read_bytes()

    for args in (["data", "list"], ["models", "list"], ["predict", "penguins", "-i", "x.csv", "-o", "y.csv"]):
        r = mlcycle(home, *args)
        assert r.returncode == 1, (args, r.stderr)
        assert "unexpected" not in r.stderr and "please report" not in r.stderr, r.stderr
        assert f"the workspace database {db} is damaged" in r.stderr
        assert "mlcycle restore" in r.stderr and "mlcycle doctor" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1

    r = mlcycle(home, "models", "list", "--json")
    assert json.loads(r.stdout)["error"]["code"] == "database_damaged"

    r = mlcycle(home, "doctor", "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is False and report["database"]["ok"] is False
    assert diagnosis in report["database"]["problem"] and str(db) in report["database"]["problem"]
    assert report["problems"][0]["owner"] == "database"
    assert "mlcycle restore" in report["problems"][0]["problem"]

    r = mlcycle(home, "doctor")
    assert r.returncode == 1 and "DAMAGED" in r.stdout and diagnosis in r.stdout, r.stdout + r.stderr
    assert db.read_bytes() == before  # looking at the damage did not change it


def test_doctor_reports_the_database_check_on_a_healthy_workspace(home):
    r = mlcycle(home, "doctor", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["database"]["ok"] is True and report["database"]["problem"] is None
    assert report["checked"] > 0 and report["partial_files"] == []


def test_doctor_on_an_emptied_database_does_not_start_a_new_one(home):
    """Truncated to 0 bytes, the file would be taken for a new workspace and every artifact for an orphan."""
    db = home / "mlcycle.db"
    os.truncate(db, 0)
    objects = sorted((home / "artifacts" / "objects").rglob("*.*"))
    r = mlcycle(home, "doctor", "--fix", "--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is False and "is empty (0 bytes)" in report["database"]["problem"]
    assert db.stat().st_size == 0  # not turned into a new, empty database
    assert sorted((home / "artifacts" / "objects").rglob("*.*")) == objects


# -- a read-only workspace -----------------------------------------------------------------------
@pytest.fixture
def read_only_db(home: Path) -> Iterator[Path]:
    """The workspace with a database this process cannot write, as root too: root ignores file
    permissions, so as root the file is marked immutable (`chattr +i`, what an administrator does
    to protect a file; skipped where the file system cannot); as another user `chmod a-w` does."""
    db = home / "mlcycle.db"
    if os.geteuid() != 0:
        db.chmod(0o444)
        yield db
        db.chmod(0o644)
        return
    made = subprocess.run(["chattr", "+i", str(db)], capture_output=True, text=True) if shutil.which("chattr") \
        else None
    if made is None or made.returncode != 0:
        pytest.skip("running as root and this file system cannot mark a file immutable (chattr +i)")
    try:
        yield db
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


def test_predict_in_a_read_only_workspace_says_so(home, read_only_db, tmp_path):
    src = tmp_path / "rows.csv"
    pd.read_csv(SAMPLES / "penguins.csv").head(5).to_csv(src, index=False)
    out = tmp_path / "out.csv"

    assert mlcycle(home, "models", "list").returncode == 0  # reading still works

    r = mlcycle(home, "predict", "penguins", "-i", str(src), "-o", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "unexpected" not in r.stderr and "OperationalError" not in r.stderr, r.stderr
    assert "the workspace is read-only" in r.stderr
    assert str(read_only_db) in r.stderr and "--workspace" in r.stderr
    assert not out.exists()

    r = mlcycle(home, "predict", "penguins", "-i", str(src), "-o", str(out), "--json")
    assert json.loads(r.stdout)["error"]["code"] == "read_only"


# -- unfinished files of killed writers ------------------------------------------------------------
KILL_WHEN_A_PART_APPEARS = textwrap.dedent("""
    import os, signal, sys, threading, time
    from pathlib import Path
    from mlcycle_tui.workspace import Workspace

    home, what, src, out = sys.argv[1:5]
    watched = Path(home) / "artifacts" / "tmp" if what == "ingest" else Path(out).parent
    prefix = "" if what == "ingest" else "." + Path(out).name + "."

    def watch():
        while True:
            if any(p.name.startswith(prefix) and p.name.endswith(".part") for p in watched.iterdir()):
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.0005)

    ws = Workspace.open(home)
    threading.Thread(target=watch, daemon=True).start()
    if what == "ingest":
        ws.data.ingest(src, name="big")
    else:
        ws.batch.predict_file("penguins", Path(src), Path(out), chunk_rows=200)
    sys.exit(3)  # finished before it could be killed
""")


def _killed(home: Path, what: str, src: Path, out: Path) -> None:
    r = subprocess.run([sys.executable, "-c", KILL_WHEN_A_PART_APPEARS, str(home), what, str(src), str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr


def test_doctor_lists_part_files_of_killed_writers_and_fix_removes_only_old_ones(home, tmp_path):
    rng = np.random.default_rng(1)
    big = tmp_path / "big.csv"
    pd.DataFrame({f"c{i}": rng.normal(size=100_000) for i in range(6)}).to_csv(big, index=False)
    rows = tmp_path / "rows.csv"
    pd.read_csv(SAMPLES / "penguins.csv").sample(20_000, replace=True, random_state=0).to_csv(rows, index=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / ".someone-else.csv.0123abcd.part").write_text("not ours")  # no batch of ours wrote this

    _killed(home, "ingest", big, tmp_path / "unused")
    _killed(home, "predict", rows, out_dir / "scored.csv")
    [artifact_part] = (home / "artifacts" / "tmp").glob("*.part")
    [batch_part] = out_dir.glob(".scored.csv.*.part")
    two_hours_ago = time.time() - 7200
    os.utime(artifact_part, (two_hours_ago, two_hours_ago))

    r = mlcycle(home, "doctor", "--json")
    assert r.returncode == 0, r.stderr  # leftovers are not damage
    listed = {f["path"]: f for f in json.loads(r.stdout)["partial_files"]}
    assert set(listed) == {str(artifact_part), str(batch_part)}
    assert listed[str(artifact_part)]["kind"] == "artifact temporary file"
    assert listed[str(batch_part)]["kind"] == "batch output"
    assert listed[str(artifact_part)]["age_s"] > 7000 and listed[str(batch_part)]["age_s"] < 600

    r = mlcycle(home, "doctor")
    assert str(artifact_part) in r.stdout and str(batch_part) in r.stdout and "--fix" in r.stdout

    r = mlcycle(home, "doctor", "--fix", "--json")
    report = json.loads(r.stdout)
    assert report["removed_partial"] == 1
    assert not artifact_part.exists() and batch_part.exists()  # a young one may be a writer still at work
    assert (out_dir / ".someone-else.csv.0123abcd.part").exists()
    assert [f["path"] for f in json.loads(mlcycle(home, "doctor", "--json").stdout)["partial_files"]] == [
        str(batch_part)]


# -- data show ---------------------------------------------------------------------------------------
def test_data_show_cuts_long_cells_but_json_keeps_them(tmp_path):
    home = tmp_path / "ws"
    huge = "x" * 1_000_000
    csv = tmp_path / "big.csv"
    csv.write_text("id,text,y\n" + "".join(f"{i},{huge if i < 15 else 'b'},{i % 2}\n" for i in range(20)))
    assert mlcycle(home, "data", "ingest", str(csv), "--name", "big").returncode == 0

    r = mlcycle(home, "data", "show", "big")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) < 2_000
    assert max(len(line) for line in r.stdout.splitlines()) < 200
    assert "x" * 20 + "…" in r.stdout and "b (5)" in r.stdout

    doc = json.loads(mlcycle(home, "data", "show", "big", "--json").stdout)
    [text] = [c for c in doc["columns"] if c["name"] == "text"]
    assert text["top"][0]["value"] == huge

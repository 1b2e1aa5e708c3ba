"""`mlcycle backup DEST` and `mlcycle restore SRC --to DIR`: consistent while others write, never half done."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
ROWS_PER_REQUEST = 5


def mlcycle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", *args], capture_output=True, text=True, timeout=120)


class Writer(threading.Thread):
    """What a server and a daemon do meanwhile, through their own Workspace: runs with an artifact
    and metrics, and predictions logged ROWS_PER_REQUEST at a time (one transaction each)."""

    def __init__(self, home: Path) -> None:
        super().__init__(daemon=True)
        self.home = home
        self.done = 0
        self.errors: list[BaseException] = []
        self.stop = threading.Event()

    def run(self) -> None:
        ws = Workspace.open(self.home)
        try:
            while not self.stop.is_set():
                i = self.done
                with ws.runs.start("busy", params={"i": i}) as run:
                    run.log_metrics({"i": i})
                    run.log_artifact(f"payload {i}\n".encode() * 50, name="payload.txt")
                ws.predictions.log([
                    prediction_row(new_prediction_id(), "busy", 1, {"i": i, "k": k}, k, request_id=f"req-{i}")
                    for k in range(ROWS_PER_REQUEST)
                ])
                self.done += 1
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            ws.close()

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.done < n and not self.errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.errors, self.errors
        assert self.done >= n, f"the writer made only {self.done} steps"


def test_backup_while_others_write_is_consistent_and_restores(tmp_path):
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    writer = Writer(home)
    writer.start()
    try:
        writer.wait_for(5)
        report = ws.backup(tmp_path / "backup")
        during = writer.done
        writer.wait_for(during + 5)  # the backup held nobody up, and writing goes on after it
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert not writer.errors, writer.errors
    final_runs = ws.db.scalar("SELECT COUNT(*) FROM runs")
    ws.close()

    backup = tmp_path / "backup"
    assert report["ok"] is True and report["problems"] == [] and report["path"] == str(backup)
    assert sorted(p.name for p in backup.iterdir()) == ["artifacts", "mlcycle.db"]  # no -wal, no -shm
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []

    conn = sqlite3.connect(f"{backup.resolve().as_uri()}/mlcycle.db?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        sizes = {n for (n,) in conn.execute("SELECT COUNT(*) FROM predictions GROUP BY request_id")}
        finished_without = conn.execute(
            "SELECT COUNT(*) FROM runs r WHERE r.status = 'finished' AND (NOT EXISTS (SELECT 1 FROM run_artifacts a"
            " WHERE a.run_id = r.id AND a.name = 'payload.txt') OR NOT EXISTS (SELECT 1 FROM metrics m"
            " WHERE m.run_id = r.id AND m.key = 'i'))"
        ).fetchone()[0]
    finally:
        conn.close()
    assert 5 <= runs < final_runs  # a snapshot taken while the writer went on
    assert sizes == {ROWS_PER_REQUEST}  # every logged request whole, none in part
    assert finished_without == 0  # every finished run with its artifact and metric
    before = (backup / "mlcycle.db").read_bytes()

    r = mlcycle("restore", str(backup), "--to", str(tmp_path / "restored"), "--json")
    assert r.returncode == 0, r.stderr
    restored = json.loads(r.stdout)
    assert restored["ok"] is True and restored["artifacts"] == report["artifacts"] >= runs
    assert (backup / "mlcycle.db").read_bytes() == before  # restoring never writes to the backup

    r = mlcycle("--workspace", str(tmp_path / "restored"), "doctor", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doctor = json.loads(r.stdout)
    assert doctor["ok"] is True and doctor["database"]["ok"] is True
    assert doctor["checked"] == report["artifacts"] and doctor["orphans"] == []
    again = Workspace.open(tmp_path / "restored")
    try:
        assert again.db.scalar("SELECT COUNT(*) FROM runs") == runs
        assert again.data.load_frame("penguins").shape[0] == 344
    finally:
        again.close()


def test_a_killed_backup_leaves_no_half_backup(tmp_path):
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    with ws.runs.start("big") as run:  # enough to copy that the backup can be caught at work
        run.log_artifact(os.urandom(48 * 1024 * 1024), name="weights.bin")
    ws.close()
    dest = tmp_path / "backup"
    proc = subprocess.Popen([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "backup", str(dest)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".backup.") for p in tmp_path.iterdir()):
            assert proc.poll() is None, "the backup ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.0005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert not dest.exists()  # never half a backup under the name asked for
    [left] = [p for p in tmp_path.iterdir() if p.name.startswith(".backup.")]
    assert left.name.endswith(".part")

    r = mlcycle("--workspace", str(home), "backup", str(dest))
    assert r.returncode == 0, r.stderr
    assert "restore with `mlcycle restore" in r.stdout
    r = mlcycle("restore", str(dest), "--to", str(tmp_path / "restored"))
    assert r.returncode == 0, r.stderr
    assert json.loads(mlcycle("--workspace", str(tmp_path / "restored"), "doctor", "--json").stdout)["ok"] is True


def test_backup_and_restore_refuse_a_folder_in_use(tmp_path, workspace):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(UserError, match="not an empty folder"):
        workspace.backup(tmp_path / "full")
    with pytest.raises(UserError, match="inside the workspace"):
        workspace.backup(workspace.home / "b")
    workspace.backup(tmp_path / "b")
    with pytest.raises(UserError, match="not an empty folder"):
        Workspace.restore(tmp_path / "b", tmp_path / "full")
    with pytest.raises(UserError, match=r"holds no mlcycle\.db"):
        Workspace.restore(tmp_path / "full", tmp_path / "new")
    assert (tmp_path / "full" / "x").read_text() == "mine"


def test_backup_of_a_workspace_with_a_damaged_artifact_says_what_it_lacks(tmp_path):
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    ds = ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    rel = ws.db.scalar("SELECT artifact_path FROM dataset_versions WHERE id = ?", (ds.id,))
    ws.close()
    path = home / "artifacts" / rel
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))

    r = mlcycle("--workspace", str(home), "backup", str(tmp_path / "b"))
    assert r.returncode == 1
    assert f"NOT COPIED {rel}" in r.stdout and "mlcycle doctor" in r.stdout
    assert not (tmp_path / "b" / "artifacts" / rel).exists()  # damaged bytes are not copied
    assert (tmp_path / "b" / "mlcycle.db").exists()

"""Watched sources: folders, SQLite queries and growing JSON-lines files feeding rolling dataset versions.

Real files in temporary folders, real SQLite databases, real APScheduler ticks
(1-second schedules in `SchedulerRunner`s) and the `mlcycle` entry point in a
subprocess for the restart case.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.scheduler.runner import SchedulerRunner
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
                          capture_output=True, text=True, timeout=120)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "penguins.csv")


def versions(ws: Workspace, name: str) -> list[int]:
    return sorted(v.version for v in ws.data.versions(name)) if ws.db.query_one(
        "SELECT 1 FROM datasets WHERE name = ?", (name,)) else []


def test_folder_source_under_two_runners(tmp_path, penguins):
    """Dropped files become rolling versions; a slow writer waits; bad files are quarantined; each file once."""
    home, inbox = tmp_path / "ws", tmp_path / "inbox"
    inbox.mkdir()
    with Workspace.open(home) as ws:
        src = ws.sources.add("peng", folder=inbox, target="species", every="1s", settle="0.6s")
    runners = [SchedulerRunner(home, worker=False, sync_interval=0.5) for _ in range(2)]
    for r in runners:
        r.start()
    ws = Workspace.open(home)
    try:
        penguins.iloc[:100].to_csv(inbox / "a.csv", index=False)
        (inbox / ".hidden.csv").write_text("species\nx\n")
        penguins.iloc[:5].to_csv(inbox / "upload.csv.part", index=False)
        wait_for(lambda: versions(ws, "peng") == [1])
        assert ws.data.dataset("peng").rows == 100

        # a file written slowly (header, then rows every 0.2 s) is taken only when complete
        part = penguins.iloc[100:160]
        with open(inbox / "b.csv", "w") as fh:
            fh.write(part.iloc[:0].to_csv(index=False))
            for i in range(0, len(part), 6):
                fh.write(part.iloc[i:i + 6].to_csv(index=False, header=False))
                fh.flush()
                time.sleep(0.2)
                assert versions(ws, "peng") == [1], "a file still being written was picked up"
        wait_for(lambda: versions(ws, "peng") == [1, 2])
        v2 = ws.data.load_frame("peng@2")
        assert len(v2) == 160
        pd.testing.assert_frame_equal(v2.iloc[:100].reset_index(drop=True), ws.data.load_frame("peng@1"))

        # an unreadable file and a file with a different schema go to quarantine, with reasons
        (inbox / "garbage.csv").write_bytes(b"\x00\x01\x02 not csv")
        penguins.iloc[160:170].drop(columns=["island"]).to_csv(inbox / "other.csv", index=False)
        penguins.iloc[170:180].to_parquet(inbox / "c.parquet", index=False)
        wait_for(lambda: versions(ws, "peng") == [1, 2, 3])
        wait_for(lambda: not (inbox / "garbage.csv").exists() and not (inbox / "other.csv").exists())
    finally:
        for r in runners:
            r.stop()
    try:
        assert ws.data.dataset("peng").rows == 170  # the Parquet file's rows were appended, the bad ones not
        files = {Path(f["path"]).name: f for f in ws.sources.files(src["source_id"])}
        assert {n: f["status"] for n, f in files.items()} == {
            "a.csv": "ingested", "b.csv": "ingested", "c.parquet": "ingested",
            "garbage.csv": "quarantined", "other.csv": "quarantined"}
        assert files["other.csv"]["reason"].startswith("schema_drift")
        assert "column 'island'" in files["other.csv"]["reason"]
        assert files["garbage.csv"]["reason"].startswith("unreadable")
        quarantined = Path(files["other.csv"]["quarantine_path"])
        assert quarantined.is_relative_to(home.resolve() / "quarantine") and quarantined.exists()
        reason = json.loads(quarantined.with_name(quarantined.name + ".reason.json").read_text())
        assert reason["kind"] == "schema_drift" and reason["issues"][0]["code"] == "column_removed"
        assert (inbox / ".hidden.csv").exists() and (inbox / "upload.csv.part").exists()  # ignored, left alone
        # two runners, each file once: no row appears twice in the history
        assert ws.db.scalar("SELECT COUNT(*) FROM source_files WHERE status = 'ingested'") == 3
        expected = pd.concat([penguins.iloc[:160], penguins.iloc[170:180]], ignore_index=True)
        assert ws.data.load_frame("peng")["bill_length_mm"].tolist() == pytest.approx(
            expected["bill_length_mm"].tolist(), nan_ok=True)
        runs = ws.sources.runs(src["source_id"])
        assert sum(r["new_rows"] for r in runs if r["status"] == "done") == 170
        assert ws.sources.arrivals(src["source_id"]).shape == (10, penguins.shape[1])

        # a restart (a new process) remembers what was processed; a copy under a new name is a duplicate
        shutil.copy(inbox / "a.csv", inbox / "a-copy.csv")
        time.sleep(0.7)
    finally:
        ws.close()
    done = mlcycle(home, "data", "source", "run", str(src["source_id"]), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["version"] is None and doc["status"] == "ok: nothing new"
    with Workspace.open(home) as ws:
        assert versions(ws, "peng") == [1, 2, 3]
        assert ws.db.scalar("SELECT status FROM source_files WHERE path LIKE '%a-copy.csv'") == "duplicate"


def test_sqlite_source_takes_only_new_rows_and_rolls(workspace, tmp_path, penguins):
    db = tmp_path / "shop.db"
    rows = penguins.assign(id=range(1, len(penguins) + 1))
    with sqlite3.connect(db) as conn:
        rows.iloc[:50].to_sql("obs", conn, index=False)
    src = workspace.sources.add("obs", sqlite=db, query="SELECT * FROM obs WHERE year > 2000;", key="id",
                               target="species", every="1s")
    first = workspace.sources.run(src["source_id"])
    assert (first["version"], first["new_rows"]) == (1, 50)
    nothing = workspace.sources.run(src["source_id"])
    assert nothing["version"] is None and nothing["status"] == "ok: nothing new"
    with sqlite3.connect(db) as conn:
        rows.iloc[50:80].to_sql("obs", conn, index=False, if_exists="append")
    second = workspace.sources.run(src["source_id"])
    assert (second["version"], second["new_rows"], second["rows"]) == (2, 30, 80)
    v2 = workspace.data.load_frame("obs@2")
    assert v2["id"].tolist() == list(range(1, 81))
    assert workspace.sources.arrivals(src["source_id"])["id"].tolist() == list(range(51, 81))
    assert json.loads(workspace.sources.get(src["source_id"])["cursor"]) == 80

    # a query that fails: a clear error on the source, nothing changes, and the next tick recovers
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE obs RENAME TO obs_old")
    failed = workspace.sources.run(src["source_id"])
    assert failed["error"] and "no such table: obs" in failed["error"]
    assert workspace.sources.get(src["source_id"])["last_error"] == failed["error"]
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE obs_old RENAME TO obs")
        rows.iloc[80:90].to_sql("obs", conn, index=False, if_exists="append")
    third = workspace.sources.run(src["source_id"])
    assert (third["version"], third["new_rows"], third["error"]) == (3, 10, None)
    assert workspace.sources.get(src["source_id"])["last_error"] is None

    # rows with another schema are quarantined (a Parquet copy), the cursor moves past them
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE obs2 AS SELECT id, species, island FROM obs")
        conn.execute("INSERT INTO obs2 VALUES (1000, 'Adelie', 'Dream')")
    workspace.db.execute("UPDATE sources SET query = 'SELECT * FROM obs2' WHERE id = ?", (src["source_id"],))
    drifted = workspace.sources.run(src["source_id"])
    assert drifted["version"] is None and drifted["quarantined"][0]["kind"] == "schema_drift"
    assert Path(drifted["quarantined"][0]["path"]).suffix == ".parquet"
    assert workspace.data.dataset("obs").version == 3


def test_growing_jsonl_reads_complete_lines_only(workspace, tmp_path, penguins):
    stream = tmp_path / "events.jsonl"
    lines = penguins.iloc[:40].to_json(orient="records", lines=True).splitlines(keepends=True)
    stream.write_text("".join(lines[:20]) + lines[20][:15])  # the 21st line is half-written
    src = workspace.sources.add("events", jsonl=stream, target="species", every="1s")
    assert workspace.sources.run(src["source_id"])["new_rows"] == 20
    with open(stream, "a") as fh:
        fh.write(lines[20][15:] + "".join(lines[21:40]))
    second = workspace.sources.run(src["source_id"])
    assert (second["version"], second["new_rows"], second["rows"]) == (2, 20, 40)
    assert workspace.data.load_frame("events@2")["bill_length_mm"].tolist()[:40] == pytest.approx(
        penguins["bill_length_mm"].iloc[:40].tolist(), nan_ok=True)
    with open(stream, "a") as fh:  # a broken chunk is quarantined, the stream goes on after it
        fh.write('{"species": "Adelie", oops\n')
    bad = workspace.sources.run(src["source_id"])
    assert bad["quarantined"] and bad["quarantined"][0]["kind"] == "unreadable" and bad["version"] is None
    with open(stream, "a") as fh:
        fh.write(penguins.iloc[40:45].to_json(orient="records", lines=True))
    assert workspace.sources.run(src["source_id"])["rows"] == 45
    stream.write_text(penguins.iloc[45:47].to_json(orient="records", lines=True))  # rotated: smaller file
    rotated = workspace.sources.run(src["source_id"])
    assert rotated["rows"] == 47 and "read from the start" in rotated["status"]


def test_missing_folder_is_an_error_and_later_ticks_recover(workspace, tmp_path, penguins):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = workspace.sources.add("peng", folder=inbox, target="species", every="1s", settle="0s")
    inbox.rmdir()
    failed = workspace.sources.run(src["source_id"])
    assert "does not exist" in failed["error"] and failed["status"].startswith("error")
    assert workspace.schedules.all()[0]["last_error"] == failed["error"]
    inbox.mkdir()
    penguins.iloc[:10].to_csv(inbox / "a.csv", index=False)
    time.sleep(0.05)
    assert workspace.sources.run(src["source_id"])["version"] == 1
    assert workspace.sources.get(src["source_id"])["last_error"] is None


def test_a_run_killed_after_its_version_is_completed_not_repeated(workspace, tmp_path, penguins, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    penguins.iloc[:30].to_csv(inbox / "a.csv", index=False)
    src = workspace.sources.add("peng", folder=inbox, target="species", every="1s", settle="0s")
    real = type(workspace.sources)._finish_plan
    calls = {"n": 0}

    def dies_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("killed")  # the version exists, its files are not recorded yet
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(workspace.sources), "_finish_plan", dies_once)
    assert workspace.sources.run(src["source_id"])["error"]
    assert workspace.data.dataset("peng").rows == 30
    again = workspace.sources.run(src["source_id"])
    assert again["version"] is None and again["error"] is None
    assert workspace.data.dataset("peng").version == 1  # not appended twice
    assert [r["status"] for r in workspace.sources.runs(src["source_id"])] == ["done", "recovered"]


def test_board_pause_resume_and_refusals(workspace, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = workspace.sources.add("peng", folder=inbox, every="10m")
    with pytest.raises(UserError, match="already has source"):
        workspace.sources.add("peng", folder=inbox, every="10m")
    with pytest.raises(UserError, match="exactly one"):
        workspace.sources.add("x", folder=inbox, jsonl=tmp_path / "a.jsonl", every="1m")
    with pytest.raises(UserError, match="--query"):
        workspace.sources.add("x", sqlite=tmp_path / "nope.db", every="1m")
    with pytest.raises(NotFoundError):
        workspace.sources.add("x", folder=tmp_path / "missing", every="1m")
    board = workspace.schedules.all()
    assert [(b["kind"], b["id"], b["target"], b["paused"]) for b in board] == [("source", src["source_id"], "peng",
                                                                               False)]
    assert 590 < board[0]["next_in_s"] <= 600
    assert workspace.schedules.pause("source", src["source_id"])["paused"] is True
    assert workspace.sources.get(src["source_id"])["paused"] is True
    # a paused source is not claimed on its ticks, but "run now" still runs it
    workspace.db.execute("UPDATE periodic SET next_due = 0 WHERE kind = 'source' AND ref_id = ?", (src["source_id"],))
    assert workspace.sources.run(src["source_id"], "me", force=False)["status"] == "not due"
    assert workspace.schedules.run_now("source", src["source_id"])["status"] == "ok: nothing new"
    assert workspace.schedules.resume("source", src["source_id"])["paused"] is False
    assert workspace.sources.run(src["source_id"], "me", force=False)["status"] == "ok: nothing new"
    workspace.schedules.remove("source", src["source_id"])
    assert workspace.schedules.all() == []


def test_cli_source_commands_json(tmp_path, penguins):
    home, inbox = tmp_path / "ws", tmp_path / "inbox"
    inbox.mkdir()
    penguins.iloc[:20].to_csv(inbox / "a.csv", index=False)
    added = mlcycle(home, "data", "source", "add", "peng", "--folder", str(inbox), "--target", "species",
                    "--every", "10m", "--settle", "0s", "--json")
    assert added.returncode == 0, added.stderr
    sid = str(json.loads(added.stdout)["source_id"])
    ran = json.loads(mlcycle(home, "data", "source", "run", sid, "--json").stdout)
    assert (ran["version"], ran["new_rows"]) == (1, 20)
    listed = json.loads(mlcycle(home, "data", "source", "list", "--json").stdout)
    assert listed[0]["last_status"].startswith("ok: peng@1") and listed[0]["last_version"] == 1
    board = json.loads(mlcycle(home, "schedules", "--json").stdout)
    assert [(b["kind"], b["id"]) for b in board] == [("source", int(sid))]
    bad = mlcycle(home, "data", "source", "add", "x", "--sqlite", str(tmp_path / "x.db"), "--every", "1m")
    assert bad.returncode == 2 and bad.stderr.startswith("mlcycle: error:") and "--query" in bad.stderr
    removed = mlcycle(home, "data", "source", "remove", sid, "--json")
    assert removed.returncode == 0 and json.loads(mlcycle(home, "data", "source", "list", "--json").stdout) == []
    assert mlcycle(home, "data", "source", "run", sid).returncode == 2


def test_slow_writer_with_threads_and_run_now(workspace, tmp_path, penguins):
    """`run now` in the same moment a file is being written takes it only once it stopped changing."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = workspace.sources.add("peng", folder=inbox, target="species", every="1h", settle="0.5s")
    stop = threading.Event()

    def writer() -> None:
        with open(inbox / "slow.csv", "w") as fh:
            fh.write(penguins.iloc[:0].to_csv(index=False))
            for i in range(0, 60, 5):
                fh.write(penguins.iloc[i:i + 5].to_csv(index=False, header=False))
                fh.flush()
                time.sleep(0.15)
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.1)
    early = workspace.sources.run(src["source_id"])
    assert early["version"] is None
    thread.join()
    assert stop.is_set()
    late = workspace.sources.run(src["source_id"])
    assert (late["version"], late["rows"]) == (1, 60)

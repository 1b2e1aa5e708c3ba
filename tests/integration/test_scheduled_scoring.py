"""Scheduled batch scoring and the loop fed by arrivals: real scheduler ticks, real files, the real CLI.

A `SchedulerRunner` with 1-second schedules scores files dropped in a folder;
the outputs must equal what `mlcycle predict` writes for the same input.
Faults are real where they can be: an output folder that is a file, a mid-write
ENOSPC (a writer that raises OSError on its second chunk, since a full disk
cannot be made in a test), an input without the model's columns.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.predictions import batch
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


@pytest.fixture
def home(tmp_path, penguins) -> Path:
    """A workspace with penguins@1 in production (a small forest)."""
    path = tmp_path / "ws"
    with Workspace.open(path) as ws:
        ds = ws.data.ingest(penguins.iloc[:250], name="penguins", target="species")
        run = ws.training.train(ds.ref, "rf", params={"n_estimators": 15}, seed=1)
        ws.registry.promote("penguins", ws.registry.register(run["run_id"], "penguins").version)
    return path


def test_runner_scores_new_files_like_mlcycle_predict(home, tmp_path, penguins):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    inputs = penguins.drop(columns=["species"])
    with Workspace.open(home) as ws:
        sched = ws.scoring.add("penguins", inbox, outbox, every="1s", settle="0.3s", chunk_rows=64)
    events: list[tuple[str, str]] = []
    runners = [SchedulerRunner(home, worker=False, sync_interval=0.5, on_event=lambda k, m: events.append((k, m)))
               for _ in range(2)]
    for r in runners:
        r.start()
    try:
        inputs.iloc[:150].to_csv(inbox / "monday.csv", index=False)
        inputs.iloc[150:].to_parquet(inbox / "tuesday.parquet", index=False)
        (inbox / "notes.txt").write_text("not scored")
        wait_for(lambda: (outbox / "monday.predictions.csv").exists()
                 and (outbox / "tuesday.predictions.parquet").exists())
        time.sleep(1.5)  # more ticks of both runners: nothing is scored twice
    finally:
        for r in runners:
            r.stop()

    for name, out in (("monday.csv", "monday.predictions.csv"), ("tuesday.parquet", "tuesday.predictions.parquet")):
        manual = tmp_path / f"manual-{out}"
        done = mlcycle(home, "predict", "penguins", "--input", str(inbox / name), "--output", str(manual),
                       "--chunk-rows", "64", "--json")
        assert done.returncode == 0, done.stderr
        if out.endswith(".csv"):
            assert (outbox / out).read_bytes() == manual.read_bytes()
        else:
            pd.testing.assert_frame_equal(pd.read_parquet(outbox / out), pd.read_parquet(manual))
    assert sorted(p.name for p in outbox.iterdir()) == ["monday.predictions.csv", "tuesday.predictions.parquet"]

    with Workspace.open(home) as ws:
        files = ws.scoring.files(sched["schedule_id"])
        assert sorted((Path(f["path"]).name, f["status"], f["rows"], f["version"]) for f in files) == [
            ("monday.csv", "scored", 150, 1), ("tuesday.parquet", "scored", len(penguins) - 150, 1)]
        batches = {b["id"]: b for b in ws.batch.batches("penguins")}
        assert {batches[f["batch_id"]]["status"] for f in files} == {"done"}
        assert all(batches[f["batch_id"]]["duration"] is not None for f in files)
        logged = ws.db.scalar("SELECT COUNT(*) FROM predictions WHERE source = 'batch'")
        assert logged > 0  # a sample of the inputs, for drift checks
        board = [b for b in ws.schedules.all() if b["kind"] == "scoring"]
        assert board[0]["last_error"] is None and board[0]["runs"] >= 2
    assert any(k == "scoring" and "scored" in m for k, m in events)


def test_faults_leave_nothing_half_written_and_later_ticks_recover(home, tmp_path, penguins, monkeypatch):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.write_text("a file where the output folder should be")  # a real OSError on every write
    inputs = penguins.drop(columns=["species"])
    inputs.iloc[:200].to_parquet(inbox / "batch1.parquet", index=False)  # 4 chunks of 50
    inputs.iloc[:20].drop(columns=["bill_length_mm"]).to_csv(inbox / "wrong.csv", index=False)
    ws = Workspace.open(home)
    try:
        sched = ws.scoring.add("penguins", inbox, outbox, every="1s", settle="0s", chunk_rows=50)
        sid = sched["schedule_id"]
        time.sleep(0.05)
        first = ws.scoring.run(sid)
        assert first["status"].startswith("error") and "batch1.parquet" in first["error"]
        assert [Path(x["file"]).name for x in first["failed"]] == ["batch1.parquet", "wrong.csv"]
        assert ws.scoring.get(sid)["last_error"] == first["error"]
        assert ws.scoring.files(sid) == []  # nothing recorded: both are tried again

        # the disk fills in the middle of the output: no output, no temporary file, the batch marked failed
        outbox.unlink()
        outbox.mkdir()
        real_write = batch._Writer.write_table  # (both engines write their chunks through it)
        calls = {"n": 0}

        def write_then_full(self, table):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(self.tmp))
            return real_write(self, table)

        monkeypatch.setattr(batch._Writer, "write_table", write_then_full)
        full = ws.scoring.run(sid)
        assert "No space left on device" in full["error"] and not full["scored"]
        assert [Path(x["file"]).name for x in full["rejected"]] == ["wrong.csv"]  # the file's own fault
        assert "bill_length_mm" in full["rejected"][0]["error"]
        assert list(outbox.iterdir()) == []
        assert ws.batch.batches("penguins")[0]["status"] == "failed"
        monkeypatch.setattr(batch._Writer, "write_table", real_write)

        # the environment is fixed: the next tick (the runner) scores the file; the rejected one stays rejected
        with SchedulerRunner(ws, worker=False, sync_interval=0.5):
            wait_for(lambda: (outbox / "batch1.predictions.parquet").exists(), timeout=8)
            wait_for(lambda: ws.scoring.get(sid)["last_status"].startswith("ok"), timeout=5)
        out = pd.read_parquet(outbox / "batch1.predictions.parquet")
        assert len(out) == 200 and "prediction" in out.columns
        statuses = {Path(f["path"]).name: f["status"] for f in ws.scoring.files(sid)}
        assert statuses == {"batch1.parquet": "scored", "wrong.csv": "rejected"}
    finally:
        ws.close()


def test_missing_input_folder_pause_and_cli(home, tmp_path, penguins):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    added = mlcycle(home, "scoring", "add", "penguins", "--input-dir", str(inbox), "--output-dir", str(outbox),
                    "--every", "1s", "--settle", "0s", "--json")
    assert added.returncode == 0, added.stderr
    sid = str(json.loads(added.stdout)["schedule_id"])
    paused = mlcycle(home, "schedules", "pause", "scoring", sid, "--json")
    assert json.loads(paused.stdout)["paused"] is True
    penguins.drop(columns=["species"]).iloc[:30].to_json(inbox / "x.jsonl", orient="records", lines=True)
    with SchedulerRunner(home, worker=False, sync_interval=0.5):
        time.sleep(2.5)  # paused: the runner has no job for it
    assert not outbox.exists()
    ran = mlcycle(home, "scoring", "run", sid, "--json")  # run now works while paused
    assert ran.returncode == 0, ran.stderr
    doc = json.loads(ran.stdout)
    assert doc["scored"][0]["output"].endswith("x.predictions.jsonl") and doc["rows"] == 30
    assert len((outbox / "x.predictions.jsonl").read_text().splitlines()) == 30
    inbox.rename(tmp_path / "gone")
    failed = mlcycle(home, "scoring", "run", sid, "--json")
    assert failed.returncode == 1 and "does not exist" in json.loads(failed.stdout)["error"]
    board = json.loads(mlcycle(home, "schedules", "list", "--json").stdout)
    assert [(b["kind"], b["paused"]) for b in board] == [("scoring", True)]
    assert "does not exist" in board[0]["last_error"]
    listed = json.loads(mlcycle(home, "scoring", "list", "--json").stdout)
    assert listed[0]["runs"] == 2
    assert mlcycle(home, "scoring", "remove", sid, "--json").returncode == 0
    assert json.loads(mlcycle(home, "schedules", "--json").stdout) == []
    bad = mlcycle(home, "scoring", "add", "nomodel", "--input-dir", str(tmp_path), "--output-dir", str(outbox),
                  "--every", "1h")
    assert bad.returncode == 2 and "nomodel" in bad.stderr


def test_labelled_arrivals_feed_a_version_and_a_drift_check(home, tmp_path, penguins):
    """The loop fed by real arrivals: a source appends labelled rows, a drift check reads only those rows."""
    inbox = tmp_path / "arrivals"
    inbox.mkdir()
    with Workspace.open(home) as ws:
        src = ws.sources.add("penguins", folder=inbox, every="1h", settle="0s")
        assert src["target"] == "species"  # taken from the dataset
    penguins.iloc[250:].to_csv(inbox / "week1.csv", index=False)
    time.sleep(0.05)
    ran = json.loads(mlcycle(home, "data", "source", "run", str(src["source_id"]), "--json").stdout)
    assert (ran["version"], ran["rows"], ran["new_rows"]) == (2, len(penguins), len(penguins) - 250)
    checked = mlcycle(home, "data", "source", "check", str(src["source_id"]), "penguins", "--json")
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["rows"] == len(penguins) - 250 and report["arrivals"]["version"] == 2
    assert report["report_id"] is not None

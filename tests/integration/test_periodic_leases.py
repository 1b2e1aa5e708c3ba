"""The one periodic-job mechanism under real processes: a long tick keeps its lease, a killed holder's
work is taken over once its lease expires, nothing runs twice at once, a paused schedule does not run.

Real `mlcycle daemon` processes on one workspace. The slow tick is a SQLite source whose query takes
several seconds (a user's heavy view), longer than the 2 s lease: the holder must renew the lease
while it works, or the second daemon would start the same tick beside it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlcycle_tui.common.timeutil import parse_iso
from mlcycle_tui.workspace import Workspace

pytestmark = pytest.mark.slow

LEASE_S = 2.0
# The user's view `feed` is slow (about 20 s, calibrated below: a recursive count it must finish before it
# returns a row) until the test makes it fast, after the kill, so that the survivor's run is quick.
COUNT = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {n}) SELECT count(*) FROM c"
SLOW_VIEW = "CREATE VIEW feed AS SELECT e.id, e.x, e.label FROM events e WHERE (" + COUNT + ") > 0"
FAST_VIEW = "CREATE VIEW feed AS SELECT id, x, label FROM events"


def _daemon(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "daemon", "--no-server", "--no-worker"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def _periodic(home: Path) -> dict:
    conn = sqlite3.connect(home / "mlcycle.db", timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM periodic WHERE kind = 'source'").fetchone()
        runs = [dict(r) for r in conn.execute("SELECT * FROM source_runs ORDER BY id")]
        return dict(row) | {"source_runs": runs}
    finally:
        conn.close()


def _wait(predicate, timeout: float, what: str, step: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture
def slow_source(tmp_path: Path) -> Path:
    src = tmp_path / "shop.db"
    conn = sqlite3.connect(src)
    conn.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, x REAL, label TEXT)")
    conn.executemany("INSERT INTO events(x, label) VALUES (?, ?)",
                     [(i * 0.5, "yes" if i % 3 else "no") for i in range(200)])
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    (home / "config.toml").write_text(f"[scheduler]\nlease_seconds = {LEASE_S}\n")
    started = time.monotonic()
    sqlite3.connect(":memory:").execute(COUNT.format(n=2_000_000)).fetchall()
    per_million = (time.monotonic() - started) / 2
    n = int(20.0 / max(per_million, 1e-3) * 1_000_000)  # about 20 s here, whatever the machine's speed
    conn.execute(SLOW_VIEW.format(n=n))
    conn.commit()
    conn.close()
    ws.sources.add("events", sqlite=src, query="SELECT id, x, label FROM feed", key="id", every="1s")
    ws.close()
    return home


def test_long_tick_keeps_its_lease_and_a_killed_holder_is_taken_over(slow_source: Path) -> None:
    home = slow_source
    first, second = _daemon(home), _daemon(home)
    try:
        held = _wait(lambda: (row := _periodic(home))["lease_owner"] and row, 30, "a daemon to take the source")
        holder_pid = int(held["lease_owner"].split(":")[1])
        assert holder_pid in (first.pid, second.pid)
        survivor = second if holder_pid == first.pid else first
        holder = first if survivor is second else second

        # The tick outlasts its lease: the holder renews it, and the other daemon does not start a second run.
        until = [held["lease_until"]]
        for _ in range(2):
            time.sleep(LEASE_S * 0.8)
            row = _periodic(home)
            assert row["source_runs"][-1]["status"] == "running", "the slow query finished too soon to test"
            assert row["lease_owner"] == held["lease_owner"], "the lease changed hands while its holder was alive"
            until.append(row["lease_until"])
            assert len(row["source_runs"]) == 1, "a second run started beside the first"
        assert until[-1] > until[0] + LEASE_S * 0.5, f"the lease was not renewed: {until}"
        assert time.time() > held["lease_until"], "the tick has outlived the lease it first took"

        # SIGKILL the holder mid-query: its lease stops moving; the survivor takes the work once it expires.
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(10)
        conn = sqlite3.connect(home.parent / "shop.db")
        conn.executescript("DROP VIEW feed; " + FAST_VIEW)  # the user fixes the view: the next run is quick
        conn.close()
        killed_at = time.time()
        last_lease = _periodic(home)["lease_until"]
        # (the survivor's quick run may start and end between two looks: read what it left behind)
        done = _wait(lambda: (row := _periodic(home))["runs"] >= 1 and row, LEASE_S + 40,
                     "the surviving daemon to take the source over and run it")
        assert done["last_status"].startswith("ok: events@1 +200 rows"), done["last_status"]
        landed = [r for r in done["source_runs"] if r["dataset_version"]]
        started = parse_iso(landed[0]["started"]).timestamp()
        assert started >= last_lease - 0.05, "the source was taken before the dead holder's lease expired"
        assert survivor.poll() is None  # the only daemon left alive ran it
        statuses = [r["status"] for r in done["source_runs"]]
        assert statuses.count("running") <= 1 and statuses[0] in ("abandoned", "running", "failed"), statuses
        assert sum(1 for r in done["source_runs"] if r["dataset_version"]) == 1  # the rows landed once
        assert time.time() - killed_at < LEASE_S + 30
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
    ws = Workspace.open(home)
    try:
        assert ws.data.dataset("events").rows == 200
    finally:
        ws.close()


def test_a_paused_drift_schedule_does_not_run_but_run_now_does(tmp_path: Path, sample_data: Path) -> None:
    from mlcycle_tui.scheduler.runner import SchedulerRunner

    ws = Workspace.open(tmp_path / "ws")
    ds = ws.data.ingest(sample_data / "penguins.csv", "penguins", target="species")
    run = ws.training.train(ds.ref, "logistic")
    ws.registry.promote("penguins", ws.registry.register(run["run_id"], "penguins").version)
    sched = ws.drift_schedules.add("penguins", every="1s", action="alert")
    ws.schedules.pause("drift", sched["schedule_id"])
    ws.db.execute("UPDATE periodic SET next_due = 0 WHERE kind = 'drift'")  # long overdue
    runner = SchedulerRunner(ws, worker=False, sync_interval=0.5).start()
    try:
        assert runner.run_tick("drift", sched["schedule_id"]) is None  # a tick by hand is refused too
        time.sleep(3.0)  # three ticks' worth of the real scheduler
    finally:
        runner.stop()
    row = ws.schedules.all()[0]
    assert row["paused"] and row["runs"] == 0 and row["last_run"] is None
    assert ws.monitoring.drift_reports("penguins") == []

    result = ws.schedules.run_now("drift", sched["schedule_id"])
    assert result["status"].startswith("skipped: no logged predictions")
    row = ws.schedules.all()[0]
    assert row["runs"] == 1 and row["last_run"] is not None and row["last_status"] == result["status"]
    ws.close()

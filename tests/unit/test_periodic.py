"""The one periodic-job mechanism: claims, pause, renewal, release, and the migration from three tables.

Process-level behaviour (a SIGKILLed holder, a long tick between two daemons) is in
tests/integration/test_periodic_leases.py; here the rules themselves, on a real SQLite file.
"""

from __future__ import annotations

import time

import pytest

from mlcycle_tui.storage.db import Database
from mlcycle_tui.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    w.settings["scheduler"]["lease_seconds"] = 1.0
    folder = tmp_path / "inbox"
    folder.mkdir()
    w.sources.add("events", folder=folder, every="10s")
    yield w
    w.close()


def test_claim_takes_a_due_tick_once_and_moves_the_grid(ws):
    p = ws.periodic
    row = p.get("source", 1)
    assert p.claim("source", 1, "a") is None  # not due yet
    due = row["next_due"]
    later = due + 25  # two ticks missed: they coalesce into one run
    assert p.claim("source", 1, "a", now=later) == due
    assert p.get("source", 1)["next_due"] == pytest.approx(due + 30)
    assert p.claim("source", 1, "b", now=later + 0.1) is None  # leased, and not due
    p.release("source", 1, "a", "ok: done")
    row = p.get("source", 1)
    assert (row["runs"], row["last_status"], row["leased_by"]) == (1, "ok: done", None)


def test_an_expired_lease_is_free_and_the_late_holder_cannot_release_it(ws):
    p = ws.periodic
    now = time.time()
    assert p.claim("source", 1, "dead", force=True, now=now) is not None
    assert p.claim("source", 1, "other", force=True, now=now + 0.5) is None  # still held
    assert p.claim("source", 1, "other", force=True, now=now + 1.5) is not None  # expired: reclaimed
    p.release("source", 1, "dead", "ok: late")  # the old holder wakes up: changes nothing
    assert p.get("source", 1)["leased_by"] == "other" and p.get("source", 1)["runs"] == 0
    assert not p.renew("source", 1, "dead") and p.renew("source", 1, "other")


def test_pause_refuses_ticks_but_not_run_now(ws):
    p = ws.periodic
    ws.schedules.pause("source", 1)
    far = time.time() + 3600
    assert p.claim("source", 1, "a", now=far) is None
    assert ws.schedules.tick("source", 1, "a")["status"] == "not due"
    assert ws.schedules.run_now("source", 1)["status"] == "ok: nothing new"
    assert ws.schedules.all()[0]["runs"] == 1 and ws.schedules.all()[0]["paused"]
    ws.schedules.resume("source", 1)
    assert p.claim("source", 1, "a", now=far) is not None


def test_hold_renews_the_lease_while_the_body_runs_and_records_the_outcome(ws):
    p = ws.periodic
    with p.hold("source", 1, "me", force=True) as lease:
        assert lease is not None
        first = p.get("source", 1)["lease_until"]
        time.sleep(1.6)  # longer than the 1 s lease
        assert p.get("source", 1)["lease_until"] > first + 0.3  # renewed meanwhile
        assert p.claim("source", 1, "intruder", force=True) is None
        lease.status = "ok: slow"
    row = p.get("source", 1)
    assert (row["leased_by"], row["last_status"], row["runs"]) == (None, "ok: slow", 1)
    with pytest.raises(RuntimeError), p.hold("source", 1, "me", force=True):
        raise RuntimeError("disk gone")
    row = p.get("source", 1)
    assert row["last_status"] == "error: RuntimeError: disk gone" and row["last_error"] == "RuntimeError: disk gone"


def test_workspaces_from_before_migrate_with_their_schedules_intact(tmp_path, sample_data):
    home = tmp_path / "old"
    home.mkdir()
    db = Database(home / "mlcycle.db")
    db.migrate(until={"schedules": 0})  # the three tables of the previous release
    db.execute("INSERT INTO schedules(model, every, every_s, action, created, next_due, lease_owner, lease_until,"
               " last_run, last_status, last_report, runs) VALUES ('m', '15m', 900, 'alert', 'c1', 1000.0, NULL,"
               " NULL, 950.0, 'drift', 7, 3)")
    db.execute("INSERT INTO sources(dataset, kind, location, every, every_s, settle_s, created, next_due, last_run,"
               " last_status, last_error, runs, last_version) VALUES ('d', 'folder', '/in', '1m', 60, 2, 'c2',"
               " 2000.0, 1990.0, 'error: gone', 'gone', 5, 4)")
    db.execute("INSERT INTO scoring_schedules(model, input_dir, output_dir, every, every_s, settle_s, chunk_rows,"
               " created, next_due, lease_owner, lease_until, runs) VALUES ('m', '/a', '/b', '1h', 3600, 2, 10, 'c3',"
               " 3000.0, 'host:1:x', 99999999999.0, 0)")
    db.execute("INSERT INTO schedule_pauses(kind, schedule_id, paused) VALUES ('source', 1, 'p')")
    db.close()

    ws = Workspace.open(home)
    try:
        rows = {r["kind"]: r for r in ws.periodic.list()}
        assert set(rows) == {"drift", "source", "scoring"}
        drift, source, scoring = rows["drift"], rows["source"], rows["scoring"]
        assert (drift["every"], drift["every_s"], drift["next_due"], drift["runs"], drift["last_status"]) == (
            "15m", 900, 1000.0, 3, "drift")
        assert source["paused"] and source["last_error"] == "gone" and source["runs"] == 5
        assert scoring["leased_by"] == "host:1:x" and not scoring["paused"]
        assert ws.drift_schedules.get(1)["last_report"] == 7 and ws.drift_schedules.get(1)["action"] == "alert"
        assert ws.sources.get(1)["last_version"] == 4 and ws.sources.get(1)["settle_s"] == 2
        assert ws.scoring.get(1)["chunk_rows"] == 10
        columns = {r["name"] for r in ws.db.query("PRAGMA table_info(sources)")}
        assert "next_due" not in columns and "lease_owner" not in columns  # one place for the timing
        assert ws.db.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'schedule_pauses'") == 0
    finally:
        ws.close()

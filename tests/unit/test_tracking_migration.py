"""A workspace from before tracking migration 3 (history in a rowid table, runs.metrics_json kept by
triggers) opens with the current code with every logged value, history, latest metric and search
result as it was: the migration rebuilds `metrics` as one WITHOUT ROWID B-tree and drops the JSON column."""

from __future__ import annotations

import math
import random
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from mlcycle_tui import Workspace
from mlcycle_tui.experiments.mlflow_compat import MlflowTracking
from mlcycle_tui.storage.db import Database
from mlcycle_tui.storage.schema_tracking import TRACKING

# what the previous release ran for each logged value (tracking.py before migration 3)
OLD_INSERT_METRIC = "INSERT INTO metrics(run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)"
OLD_UPSERT_LATEST = (
    "INSERT INTO metrics_latest(run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
    "timestamp = excluded.timestamp WHERE excluded.step >= metrics_latest.step"
)
CREATED = "2024-01-01T00:00:00.000+00:00"

Logged = dict[tuple[str, str], list[tuple[int, float | None, float]]]  # (run, key) -> values in logged order


def _old_workspace(home: Path) -> tuple[list[str], Logged]:
    """A workspace at tracking version 2 with runs logged as the previous release logged them."""
    home.mkdir()
    db = Database(home / "mlcycle.db")
    db.migrate(until={"tracking": 2})
    conn = db.connection()
    conn.row_factory = None  # plain tuples
    assert conn.execute("SELECT version FROM schema_version WHERE component = 'tracking'").fetchone()[0] == 2
    rng = random.Random(14)
    conn.execute("INSERT INTO experiments(id, name, created) VALUES (1, 'old', ?)", (CREATED,))
    ids = sorted(uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(40))
    logged: Logged = {}
    stamp = 1.7e9
    for n, run_id in enumerate(ids):
        running = n == 7  # a run still logging (from another host, recently heard from)
        conn.execute(
            "INSERT INTO runs(id, experiment_id, status, created, ended, hostname, heartbeat) "
            "VALUES (?, 1, ?, ?, ?, 'elsewhere', ?)",
            (run_id, "running" if running else "finished", CREATED, None if running else CREATED, time.time() + 3600))
        conn.execute("INSERT INTO params VALUES (?, 'lr', ?)", (run_id, str(rng.choice([0.1, 0.01]))))
        conn.execute("INSERT INTO tags VALUES (?, 'who', ?)", (run_id, f"user{n % 3}"))
        if n == 3:
            continue  # a run without metrics
        values: list[tuple[str, float | None, int]] = []
        for step in range(rng.randint(3, 30)):
            values.append(("loss", 1.0 / (step + 1) + rng.random() / 100, step))
        values.append(("loss", rng.random(), 2))  # a second value at a step already logged
        values.append(("loss", rng.random(), 2))  # and a third
        values.append(("loss", rng.random(), 1))  # an older step after the latest: history only
        for _ in range(rng.randint(1, 3)):  # acc: one or more values at step 0 only
            values.append(("acc", rng.random(), 0))
        values.append(("odd", [None, 1.0778627469645175e102, math.inf, -1 / 3, 5e-324][n % 5], 0))
        for key, value, step in values:
            stamp += 0.001
            row = (run_id, key, value, step, stamp)
            conn.execute(OLD_INSERT_METRIC, row)
            conn.execute(OLD_UPSERT_LATEST, row)
            logged.setdefault((run_id, key), []).append((step, value, stamp))
    # the previous schema, as it was: a rowid history table with its index, and the JSON column
    assert conn.execute("SELECT count(*) FROM runs WHERE metrics_json != '{}'").fetchone()[0] == len(ids) - 1
    for (run_id, key), rows in logged.items():
        assert conn.execute("SELECT step, value, timestamp FROM metrics WHERE run_id = ? AND key = ? "
                            "ORDER BY step, rowid", (run_id, key)).fetchall() == _history(rows)
    db.close()
    return ids, logged


def _history(rows: list[tuple[int, float | None, float]]) -> list[tuple[int, float | None, float]]:
    return sorted(rows, key=lambda r: r[0])  # by step, then in the order logged (a stable sort)


def _latest(rows: list[tuple[int, float | None, float]]) -> tuple[int, float | None, float]:
    top = max(r[0] for r in rows)
    return [r for r in rows if r[0] == top][-1]  # the highest step; the later one of equal steps


def _same(a: float | None, b: float | None) -> bool:
    a = math.nan if a is None else a
    b = math.nan if b is None else b
    return (math.isnan(a) and math.isnan(b)) or a == b


def _expected_metrics(logged: Logged, run_id: str) -> dict[str, float | None]:
    return {key: _latest(rows)[1] for (rid, key), rows in sorted(logged.items()) if rid == run_id}


def _check_doc(doc: dict[str, Any], logged: Logged) -> None:
    expected = _expected_metrics(logged, doc["run_id"])
    assert list(doc["metrics"]) == list(expected), doc["run_id"]  # the same keys, in key order
    for key, value in expected.items():
        assert _same(doc["metrics"][key], value), (doc["run_id"], key)


def test_a_workspace_from_before_migration_3_keeps_every_value(tmp_path: Path) -> None:
    ids, logged = _old_workspace(tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    try:
        conn = ws.db.connection()
        assert ws.db.scalar("SELECT version FROM schema_version WHERE component = 'tracking'") == len(TRACKING)
        assert "WITHOUT ROWID" in ws.db.scalar("SELECT sql FROM sqlite_master WHERE name = 'metrics'")
        assert "metrics_json" not in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
        assert ws.db.query("SELECT name FROM sqlite_master WHERE name LIKE 'metrics_latest_json%' "
                           "OR name = 'metrics_run_key_step'") == []
        assert [tuple(r) for r in conn.execute("PRAGMA integrity_check")] == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert ws.db.scalar("SELECT count(*) FROM metrics") == sum(len(v) for v in logged.values())
        # dropping runs.metrics_json rewrote the runs table: its rowids (the tie-breaker of sorts) are kept
        assert [tuple(r) for r in conn.execute("SELECT rowid, id FROM runs ORDER BY rowid")] == list(
            enumerate(ids, start=1))
        assert [d["run_id"] for d in ws.runs.search("old", limit=1000)] == ids[::-1]  # -created, then -rowid

        # every history, by step and in the order logged at one step (seq 0, 1, 2 ...)
        mlflow = MlflowTracking(db=ws.db, artifacts=ws.artifacts, events=ws.events, runs=ws.runs,
                                registry=ws.registry, data=ws.data)
        for (run_id, key), rows in logged.items():
            want = _history(rows)
            got = ws.runs.metric_history(run_id, key)
            assert [(r["step"], r["timestamp"]) for r in got] == [(s, t) for s, _, t in want]
            assert all(_same(r["value"], v) for r, (_, v, _) in zip(got, want, strict=True))
            seqs = [r[0] for r in conn.execute("SELECT seq FROM metrics WHERE run_id = ? AND key = ? "
                                               "ORDER BY step, seq", (run_id, key))]
            steps = [s for s, _, _ in want]
            assert seqs == [steps[:i].count(s) for i, s in enumerate(steps)]
            page = mlflow.metric_history(run_id, key)["metrics"]
            assert [(m["step"], m["timestamp"]) for m in page] == [(s, round(t * 1000)) for s, _, t in want]

        # the latest value of each metric, in a run's summary, in `get` with its step, in MLflow's Run
        for run_id in ids:
            doc = ws.runs.get(run_id)
            _check_doc(doc, logged)
            assert doc["metric_steps"] == {key: _latest(rows)[0] for (rid, key), rows in logged.items()
                                           if rid == run_id}
            entity = mlflow.run_entity(run_id)["data"]
            assert {m["key"]: m["step"] for m in entity.get("metrics", [])} == doc["metric_steps"]
        assert ws.runs.get(ids[7])["status"] == "running"

        # searches by metric: the same runs in the same order
        acc = {rid: _latest(rows)[1] for (rid, key), rows in logged.items() if key == "acc"}
        want = sorted((rid for rid, v in acc.items() if v > 0.5), key=lambda rid: acc[rid], reverse=True)
        found = ws.runs.search("old", filter="metrics.acc > 0.5", sort="-metrics.acc", limit=1000)
        assert [d["run_id"] for d in found] == want
        assert ws.runs.count("old", filter="metrics.acc > 0.5") == len(want)
        for doc in found:
            _check_doc(doc, logged)
        everyone = ws.runs.search("old", sort="metrics.loss", limit=1000)
        loss = {rid: _latest(rows)[1] for (rid, key), rows in logged.items() if key == "loss"}
        assert [d["run_id"] for d in everyone] == [*sorted(loss, key=lambda rid: loss[rid]), ids[3]]
        for doc in everyone:
            _check_doc(doc, logged)
        huge = ws.runs.search("old", filter='metrics.odd > 1e101 and params.lr = "0.1"', limit=1000)
        assert {d["run_id"] for d in huge} == {
            d["run_id"] for d in everyone if d["params"]["lr"] == "0.1" and d["metrics"].get("odd", 0) > 1e101}
        assert {d["metrics"]["odd"] for d in huge} == {1.0778627469645175e102, math.inf}  # exact, not via text
        body = {"experiment_ids": [str(ws.runs.experiment_rows(name="old")[0]["id"])],
                "filter": "metrics.acc > 0.5", "order_by": ["metrics.acc DESC"], "max_results": 1000}
        assert [r["info"]["run_id"] for r in mlflow.search_runs(body)["runs"]] == want

        # logging goes on in a migrated run: a value at a step already logged comes after the others
        run = ws.runs.open_run(ids[7])
        run.log_metric("loss", 0.123, step=2)
        assert [r["value"] for r in ws.runs.metric_history(ids[7], "loss") if r["step"] == 2][-1] == 0.123
        step, value, stamp = logged[(ids[7], "loss")][0]
        assert run.log_metric_values([("loss", value, step, stamp)], skip_existing=True) == 0  # stored once
        top = _latest(logged[(ids[7], "loss")])[0]
        run.log_metric("loss", 0.01, step=top + 1)
        assert ws.runs.search("old", filter="metrics.loss < 0.011", limit=5)[0]["run_id"] == ids[7]
    finally:
        ws.close()


def test_a_new_workspace_has_the_same_metrics_table(tmp_path: Path) -> None:
    """Created at the current version or upgraded to it: one schema."""
    _old_workspace(tmp_path / "old")
    upgraded, fresh = Workspace.open(tmp_path / "old"), Workspace.open(tmp_path / "new")
    try:
        schema = "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('metrics', 'metrics_latest', 'runs') " \
                 "ORDER BY name"
        assert upgraded.db.query(schema) == fresh.db.query(schema)
    finally:
        upgraded.close()
        fresh.close()
    conn = sqlite3.connect(tmp_path / "new" / "mlcycle.db")
    try:
        # declared in the key's order (SQLite 3.40.0-3.41.0's quick_check misreads a WITHOUT ROWID table
        # declared otherwise), and quick_check finds nothing wrong
        columns = [r[1] for r in conn.execute("PRAGMA table_info(metrics)")]
        assert columns == ["run_id", "key", "step", "seq", "value", "timestamp"]
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    finally:
        conn.close()

"""Experiment tracking through the Python API, on a real workspace."""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.experiments import tracking
from mlcycle_tui.workspace import Workspace


def test_context_manager_finishes_a_run(workspace: Workspace) -> None:
    opts = {"name": "first", "seed": 7, "tags": {"team": "ml"}, "model": "rf", "task": "classification"}
    with workspace.runs.start("exp", **opts) as run:
        assert len(run.id) == 32
        run.log_param("n_estimators", 100)
        run.log_params({"max_depth": None, "criterion": "gini"})
        run.log_metric("f1", 0.8)
        run.set_tag("note", "baseline")
    doc = workspace.runs.get(run.id)
    assert doc["status"] == "finished" and run.status == "finished"
    assert doc["ended"] >= doc["created"] and doc["duration"] >= 0
    assert doc["params"] == {"n_estimators": "100", "max_depth": "None", "criterion": "gini"}
    assert doc["metrics"] == {"f1": 0.8}
    assert doc["tags"] == {"team": "ml", "note": "baseline"}
    assert (doc["name"], doc["seed"], doc["model"], doc["task"]) == ("first", 7, "rf", "classification")
    assert doc["pid"] == os.getpid() and doc["hostname"]
    assert set(doc["versions"]) >= {"python", "sklearn", "pandas", "numpy", "mlcycle"}
    assert doc["versions"]["numpy"]
    assert workspace.runs.experiments()[0]["name"] == "exp" and workspace.runs.experiments()[0]["runs"] == 1


def test_an_exception_fails_the_run_and_propagates(workspace: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), workspace.runs.start() as run:
        run.log_metric("loss", 1.0)
        _ = 1 / 0
    doc = workspace.runs.get(run.id)
    assert doc["status"] == "failed" and "ZeroDivisionError" in doc["error"]
    assert doc["experiment"] == "default" and doc["duration"] is not None


def test_explicit_end_and_bad_status(workspace: Workspace) -> None:
    run = workspace.runs.start()
    assert workspace.runs.get(run.id)["status"] == "running"
    with pytest.raises(UserError):
        run.end("running")
    run.end("killed")
    assert workspace.runs.get(run.id)["status"] == "killed"


def test_metric_steps_history_and_latest(workspace: Workspace) -> None:
    with workspace.runs.start() as run:
        for value in (0.9, 0.5, 0.3):
            run.log_metric("loss", value)  # steps 0, 1, 2
        run.log_metric("acc", 0.7, step=10)
        run.log_metric("acc", 0.1, step=3)  # an older step does not replace the latest
        run.log_metrics({"lr": 0.01, "nan": float("nan")}, step=5)
    history = workspace.runs.metric_history(run.id[:8], "loss")
    assert [(h["step"], h["value"]) for h in history] == [(0, 0.9), (1, 0.5), (2, 0.3)]
    doc = workspace.runs.get(run.id)
    assert doc["metrics"]["loss"] == 0.3 and doc["metrics"]["acc"] == 0.7
    assert doc["metric_steps"]["acc"] == 10
    assert math.isnan(doc["metrics"]["nan"])
    with pytest.raises(UserError, match="must be a number"):
        run.log_metric("loss", "high")


def test_log_batch_writes_everything_at_once(workspace: Workspace) -> None:
    with workspace.runs.start() as run:
        run.log_batch(
            metrics=[("loss", 1.0, 0), ("loss", 0.5, 1), ("acc", 0.8)],
            params={"a": 1, "b": "x"},
            tags=[("stage", "dev")],
        )
        run.log_batch(metrics={"loss": 0.25})
    assert [h["value"] for h in workspace.runs.metric_history(run.id, "loss")] == [1.0, 0.5, 0.25]
    doc = workspace.runs.get(run.id)
    assert doc["metrics"] == {"acc": 0.8, "loss": 0.25}
    assert doc["params"] == {"a": "1", "b": "x"} and doc["tags"] == {"stage": "dev"}


def test_prefix_lookup_unique_ambiguous_unknown(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["abcdef01" + "0" * 24, "abcdef02" + "0" * 24, "12345678" + "0" * 24])
    monkeypatch.setattr(tracking.uuid, "uuid4", lambda: type("U", (), {"hex": next(ids)})())
    for _ in range(3):
        workspace.runs.start().end()
    assert workspace.runs.get("1234567")["run_id"].startswith("12345678")
    assert workspace.runs.get("ABCDEF01")["run_id"].startswith("abcdef01")
    with pytest.raises(UserError, match="ambiguous"):
        workspace.runs.get("abcdef")
    with pytest.raises(UserError, match="at least 6"):
        workspace.runs.get("abc")
    with pytest.raises(NotFoundError, match="no run"):
        workspace.runs.get("ffffff")
    with pytest.raises(UserError, match="not a run id"):
        workspace.runs.get("not-an-id")


def test_compare_runs_marks_differences(workspace: Workspace) -> None:
    with workspace.runs.start(params={"model": "rf", "seed": 1}) as a:
        a.log_metrics({"f1": 0.8, "acc": 0.9})
    with workspace.runs.start(params={"model": "lr", "seed": 1}) as b:
        b.log_metrics({"f1": 0.7, "acc": 0.9, "extra": 1})
    result = workspace.runs.compare([a.id, b.id[:10]])
    assert [r["run_id"] for r in result["runs"]] == [a.id, b.id]
    assert result["params"]["model"] == ["rf", "lr"]
    assert result["metrics"]["extra"] == [None, 1.0]
    assert set(result["differences"]) == {"params.model", "metrics.f1", "metrics.extra"}


def _fill(ws: Workspace, n: int) -> list[dict]:
    rng = random.Random(3)
    made = []
    for i in range(n):
        with ws.runs.start("grid" if i % 4 else "other") as run:
            params = {"model": rng.choice(["rf", "lr", "gbm"]), "depth": str(rng.randint(1, 9))}
            metrics = {"f1": rng.random(), "acc": rng.random()}
            if i % 7 == 0:
                del metrics["f1"]  # some runs lack the sort metric
            run.log_batch(metrics=metrics, params=params)
        made.append({"run_id": run.id, "experiment": "grid" if i % 4 else "other", "params": params,
                     "metrics": metrics})
    return made


def _expected(made: list[dict], keep, key: str, descending: bool) -> list[str]:  # type: ignore[no-untyped-def]
    chosen = [m for m in made if keep(m)]
    have = sorted((m for m in chosen if key in m["metrics"]),
                  key=lambda m: (m["metrics"][key], m["run_id"]), reverse=descending)
    lack = sorted((m for m in chosen if key not in m["metrics"]), key=lambda m: m["run_id"], reverse=descending)
    return [m["run_id"] for m in have + lack]


def test_search_filters_sorts_and_pages_consistently(workspace: Workspace) -> None:
    made = _fill(workspace, 120)
    cases = [
        (None, None, lambda m: True),
        ('params.model = "rf"', None, lambda m: m["params"]["model"] == "rf"),
        ("metrics.f1 > 0.5 and params.model != 'lr'", "grid",
         lambda m: m["metrics"].get("f1", -1) > 0.5 and m["params"]["model"] != "lr" and m["experiment"] == "grid"),
        ("metrics.acc < 0.2 or params.model like 'g%'", None,
         lambda m: m["metrics"]["acc"] < 0.2 or m["params"]["model"] == "gbm"),
        ("params.depth >= 5", None, lambda m: int(m["params"]["depth"]) >= 5),
        ("metrics.f1 > 0.99 and metrics.acc > 0.99", None, lambda m: False),
    ]
    for flt, exp, keep in cases:
        for descending in (True, False):
            sort = ("-" if descending else "") + "metrics.f1"
            want = _expected(made, keep, "f1", descending)
            got = [r["run_id"] for r in workspace.runs.search(exp, filter=flt, sort=sort, limit=1000)]
            assert got == want, (flt, sort)
            paged = [r["run_id"] for off in range(0, len(want) + 7, 7)
                     for r in workspace.runs.search(exp, filter=flt, sort=sort, limit=7, offset=off)]
            assert paged == want, (flt, sort, "paged")
            assert workspace.runs.count(exp, filter=flt) == len(want)
    newest = workspace.runs.search(limit=3)
    assert [r["run_id"] for r in newest] == [m["run_id"] for m in made[::-1][:3]]
    by_duration = workspace.runs.search(sort="-duration", limit=1000)
    durations = [r["duration"] for r in by_duration]
    assert durations == sorted(durations, reverse=True)
    assert {r["status"] for r in workspace.runs.search(filter="status = 'finished'", limit=1000)} == {"finished"}
    one = workspace.runs.search(limit=1)[0]
    assert set(one) >= {"run_id", "experiment", "status", "metrics", "params", "tags", "created", "duration",
                        "dataset", "split_id", "model", "task"}
    with pytest.raises(NotFoundError, match="no experiment"):
        workspace.runs.search("nope")


def test_dataset_split_model_and_artifacts(workspace: Workspace, sample_data: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds = workspace.data.ingest(sample_data / "penguins.csv", "penguins", target="species")
    sp = workspace.splits.create(ds.ref, seed=1)
    with workspace.runs.start(split=sp.split_id, seed=1) as run:
        frame = workspace.data.load_frame(ds).dropna()
        x, y = frame[["bill_length_mm", "bill_depth_mm"]], frame["species"]
        model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
        info = run.log_model(model)
        run.log_artifact(b"<html>report</html>", "report.html")
    doc = workspace.runs.get(run.id)
    assert doc["dataset"] == ds.ref and doc["split_id"] == sp.split_id
    assert doc["model"] == "LogisticRegression"
    assert {a["name"]: a["kind"] for a in doc["artifacts"]} == {"model": "model", "report.html": "file"}
    loaded = workspace.runs.load_model(run.id)
    assert (loaded.predict(x) == model.predict(x)).all() and info["sha256"]
    assert [r["run_id"] for r in workspace.runs.search(filter=f'dataset = "{ds.ref}"')] == [run.id]
    report = workspace.doctor()
    assert report["ok"] and report["checked"] >= 4 and not report["orphans"]
    (workspace.artifacts.root / info["path"]).write_bytes(b"tampered")
    problems = workspace.doctor()["problems"]
    assert any(p["owner"] == f"run {run.id} model" for p in problems)


CHILD = textwrap.dedent(
    """
    import sys, time
    from mlcycle_tui.workspace import Workspace
    ws = Workspace.open(sys.argv[1])
    run = ws.runs.start("crash")
    run.log_metric("loss", 1.0)
    print(run.id, flush=True)
    time.sleep(60)
    """
)


def test_a_killed_process_leaves_a_killed_run(workspace: Workspace) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(workspace.home)], stdout=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert workspace.runs.get(run_id)["status"] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    [row] = workspace.runs.search("crash")
    assert row["status"] == "killed" and row["ended"] is not None
    doc = workspace.runs.get(run_id)
    assert "reaped" in doc["error"] and str(proc.pid) in doc["error"]
    assert doc["metrics"] == {"loss": 1.0}


def test_stale_heartbeat_on_another_host_is_reaped(workspace: Workspace) -> None:
    run = workspace.runs.start()
    workspace.db.execute("UPDATE runs SET hostname = 'elsewhere', heartbeat = ? WHERE id = ?",
                         (time.time() - tracking.STALE_AFTER_S - 5, run.id))
    other = workspace.runs.start()
    workspace.db.execute("UPDATE runs SET hostname = 'elsewhere' WHERE id = ?", (other.id,))
    assert workspace.runs.reap() == [run.id]
    assert workspace.runs.get(run.id)["status"] == "killed"
    assert workspace.runs.get(other.id)["status"] == "running"
    run.end("finished")  # a run that was alive after all still closes normally
    assert workspace.runs.get(run.id)["status"] == "finished"


def test_git_commit_from_git_files(tmp_path: Path) -> None:
    sha = "a" * 40
    repo = tmp_path / "repo"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git" / "refs" / "heads" / "main").write_text(sha + "\n")
    (repo / "sub").mkdir()
    assert tracking.git_commit(repo / "sub") == sha
    (repo / ".git" / "refs" / "heads" / "main").unlink()
    (repo / ".git" / "packed-refs").write_text(f"# pack-refs\n{'b' * 40} refs/heads/main\n")
    assert tracking.git_commit(repo) == "b" * 40
    (repo / ".git" / "HEAD").write_text("c" * 40 + "\n")
    assert tracking.git_commit(repo) == "c" * 40
    assert tracking.git_commit(tmp_path) is None or tracking.git_commit(tmp_path) != "c" * 40


def test_names_are_checked(workspace: Workspace) -> None:
    with pytest.raises(UserError, match="experiment name"):
        workspace.runs.start("../evil")
    with pytest.raises(NotFoundError):
        workspace.runs.start(dataset="missing")


def test_run_summaries_match_the_tables_exactly(workspace: Workspace) -> None:
    """A run's summary agrees with params, tags (JSON columns on `runs`, kept by triggers) and metrics_latest."""
    rng = random.Random(5)
    odd_keys = ['with "quotes"', "dots.and/slash", "ünïcode", "$.path[0]"]
    with workspace.runs.start("exact") as run:
        values = {f"m{i}": rng.random() * 10 ** rng.randint(-300, 300) for i in range(40)}
        values.update({"huge": 1.0778627469645175e102, "nan": math.nan, "inf": math.inf, "neg": -1 / 3})
        run.log_metrics(values)
        run.log_metric("step", 1.0, step=5)
        run.log_metric("step", 2.0, step=3)  # an older step does not replace the latest value
        run.log_params({k: f"v-{k}" for k in odd_keys})
        run.log_param(odd_keys[0], "changed")
        run.set_tags({"a": "1", "b": "2"})
        run.set_tag("a", "3")
    workspace.db.execute("DELETE FROM tags WHERE run_id = ? AND key = 'b'", (run.id,))
    doc = workspace.runs.search("exact")[0]
    for key, value in values.items():
        assert math.isnan(doc["metrics"][key]) if math.isnan(value) else doc["metrics"][key] == value, key
    assert doc["metrics"]["step"] == 1.0
    assert doc["params"] == {**{k: f"v-{k}" for k in odd_keys}, odd_keys[0]: "changed"}
    assert doc["tags"] == {"a": "3"}
    assert list(doc["metrics"]) == sorted(doc["metrics"])  # keys in order, as before


def test_runs_logged_before_the_json_columns_are_backfilled(tmp_path: Path) -> None:
    from mlcycle_tui.storage.db import Database

    (tmp_path / "ws").mkdir()
    db = Database(tmp_path / "ws" / "mlcycle.db")
    db.migrate(until={"tracking": 1})  # a workspace from before the JSON columns
    conn = db.connection()
    conn.execute("INSERT INTO experiments(id, name, created) VALUES (1, 'old', '2024-01-01T00:00:00+00:00')")
    conn.execute("INSERT INTO runs(id, experiment_id, status, created) "
                 "VALUES ('ab' || hex(randomblob(15)), 1, 'finished', '2024-01-01T00:00:00+00:00')")
    run_id = conn.execute("SELECT id FROM runs").fetchone()[0]
    conn.execute("INSERT INTO params VALUES (?, 'p', 'x')", (run_id,))
    conn.execute("INSERT INTO metrics_latest VALUES (?, 'f1', 0.1, 0, 0.0), (?, 'gone', NULL, 0, 0.0)",
                 (run_id, run_id))
    db.close()
    ws = Workspace.open(tmp_path / "ws")
    doc = ws.runs.search("old")[0]
    assert doc["params"] == {"p": "x"} and doc["metrics"]["f1"] == 0.1 and math.isnan(doc["metrics"]["gone"])
    ws.close()


def test_each_log_metric_is_committed_with_its_latest_value(workspace: Workspace, tmp_path: Path) -> None:
    """Every value is in the database when log_metric returns, seen from another connection (another
    process would see the same): the history row, metrics_latest, the run's summary that searches read."""
    import sqlite3

    other = sqlite3.connect(workspace.db.path)
    seen = Workspace.open(workspace.home)
    try:
        with workspace.runs.start("live") as run:
            expected: list[tuple[int, float | None]] = []
            # without a step, the one after the key's highest so far: 0, 1, (7, 7, 2 given), 8, 9
            for step, value, stored_step in [(None, 0.9, 0), (None, 0.5, 1), (7, 0.4, 7), (7, 0.35, 7), (2, 0.8, 2),
                                             (None, float("nan"), 8), (None, 0.2, 9)]:
                run.log_metric("loss", value, step=step)
                expected.append((stored_step, None if math.isnan(value) else value))
                rows = other.execute("SELECT step, value FROM metrics WHERE run_id = ? ORDER BY step, seq",
                                     (run.id,)).fetchall()
                assert rows == sorted(expected, key=lambda e: e[0])  # by step, then in the order logged
                newest = max(expected, key=lambda e: e[0])  # the highest step; the later one of equal steps
                newest = [e for e in expected if e[0] == newest[0]][-1]
                assert other.execute("SELECT step, value FROM metrics_latest WHERE run_id = ? AND key = 'loss'",
                                     (run.id,)).fetchone() == newest
                found = seen.runs.search("live")[0]["metrics"]["loss"]
                assert (math.isnan(found) if newest[1] is None else found == newest[1])
            run.log_metric("acc", 0.5)  # a second key starts at step 0, beside the first
            assert other.execute("SELECT key, step, value FROM metrics_latest WHERE run_id = ? ORDER BY key",
                                 (run.id,)).fetchall() == [("acc", 0, 0.5), ("loss", 9, 0.2)]
    finally:
        other.close()
        seen.close()


def test_log_metric_inside_a_transaction_joins_it(workspace: Workspace) -> None:
    """Called inside `db.transaction()`, log_metric writes in that transaction: a rollback takes it back."""
    with workspace.runs.start() as run:
        run.log_metric("loss", 1.0)
        with pytest.raises(RuntimeError), workspace.db.transaction():
            run.log_metric("loss", 0.5)
            raise RuntimeError("boom")
        assert workspace.db.query("SELECT step, value FROM metrics_latest WHERE run_id = ?", (run.id,)) == [
            {"step": 0, "value": 1.0}]
        assert workspace.db.scalar("SELECT count(*) FROM metrics WHERE run_id = ?", (run.id,)) == 1

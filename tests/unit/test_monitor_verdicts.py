"""Checks that cannot judge: never "no drift", never replacing the last real verdict, never acting.

A penguins model in production (trained once per module, copied per test), a
real drift check on shifted inputs, then checks with too few rows, with no
column that has enough values, and with data lacking the model's columns.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.scheduler.runner import SchedulerRunner
from mlcycle_tui.storage.db import Database
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
ROW = {"island": "Dream", "bill_length_mm": 45.1, "bill_depth_mm": 17.0, "flipper_length_mm": 190,
       "body_mass_g": 3800, "sex": "male", "year": 2008}


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("verdicts") / "ws"
    with Workspace.open(home) as ws:
        ws.data.ingest(SAMPLES / "penguins.csv", "penguins", target="species")
        run = ws.training.train("penguins", "rf", params=["n_estimators=10"])
        ws.registry.register(run["run_id"], "penguins")
        ws.registry.promote("penguins", 1)
    return home


@pytest.fixture
def ws(trained_home: Path, tmp_path: Path) -> Iterator[Workspace]:
    home = tmp_path / "ws"
    shutil.copytree(trained_home, home)
    w = Workspace.open(home)
    yield w
    w.close()


def shifted(n: int = 60) -> pd.DataFrame:
    """Inputs whose bills and flippers are far longer than in training: drift."""
    rng = random.Random(0)
    return pd.DataFrame([dict(ROW, bill_length_mm=70 + rng.random() * 10, flipper_length_mm=250 + rng.random() * 20,
                              island=rng.choice(["Dream", "Biscoe"])) for _ in range(n)])


def log_rows(ws: Workspace, n: int) -> None:
    now = time.time()
    ws.predictions.log([prediction_row(new_prediction_id(), "penguins", 1, dict(ROW), "Adelie", None,
                                       at=now - n + i) for i in range(n)])


def test_too_few_rows_is_not_enough_data_and_keeps_the_last_verdict(ws):
    real = ws.monitoring.check_drift("penguins", current=shifted(), action="alert")
    assert real["drift"]

    log_rows(ws, 3)
    few = ws.monitoring.check_drift("penguins")
    status = {s["model"]: s for s in ws.monitoring.status()}["penguins"]
    assert status["drift"] is True and status["last_report_id"] == real["report_id"]  # the last real verdict
    assert few["verdict"] == "not enough data" and not few["judged"] and real["verdict"] == "drift"
    assert few["verdict_text"] == "not enough data (3 rows; needs 20)"
    assert not few["drift"] and not few["alarm"] and few["job_id"] is None
    assert few["share_drifted"] is None and few["columns"] == []  # no statistics that would read 0
    assert few["report_id"] is not None  # stored, and shown as what it is

    assert status["verdict"] == "drift"
    assert status["share_drifted"] == real["share_drifted"]
    assert status["newest_check"]["report_id"] == few["report_id"]
    assert status["newest_check"]["verdict_text"] == "not enough data (3 rows; needs 20)"

    listed = ws.monitoring.drift_reports("penguins")
    assert [(r["report_id"], r["verdict"]) for r in listed] == [
        (few["report_id"], "not enough data"), (real["report_id"], "drift")]
    assert listed[0]["share_drifted"] is None
    assert [r["report_id"] for r in ws.monitoring.drift_reports("penguins", judged=True)] == [real["report_id"]]
    stored = ws.monitoring.drift_report(few["report_id"])
    assert stored["verdict"] == "not enough data" and stored["verdict_text"] == few["verdict_text"]
    event = ws.events.recent(1)[0]
    assert event["kind"] == "check" and "not enough data (3 rows; needs 20)" in event["message"]
    assert "no drift" not in event["message"]


def test_a_check_without_enough_data_does_not_count_for_persistence(ws):
    ws.settings["policy"].update(persistence_k=2, persistence_m=2)
    first = ws.monitoring.check_drift("penguins", current=shifted())
    assert first["drift"] and not first["alarm"] and first["job_id"] is None
    assert first["persistence"]["drift_in_last_m"] == 1

    log_rows(ws, 3)
    few = ws.monitoring.check_drift("penguins")
    assert not few["alarm"] and few["job_id"] is None and ws.jobs.list() == []

    # the check in between neither breaks the run of drifted checks nor counts as one of the m
    second = ws.monitoring.check_drift("penguins", current=shifted())
    assert second["persistence"] == {"k": 2, "m": 2, "drift_in_last_m": 2, "persistent": True}
    assert second["alarm"] and second["job_queued"]
    assert few["verdict"] == "not enough data"


def test_no_column_with_enough_values_cannot_judge(ws):
    real = ws.monitoring.check_drift("penguins", current=shifted(), action="alert")
    assert real["drift"]
    frame = pd.DataFrame([dict(ROW)] * 3 + [dict.fromkeys(ROW)] * 27)  # 30 rows, 3 with values
    frame["_prediction"] = ["Adelie"] * 3 + [None] * 27
    report = ws.monitoring.check_drift("penguins", current=frame, action="alert")
    assert report["rows"] == 30
    status = {s["model"]: s for s in ws.monitoring.status()}["penguins"]
    assert status["last_report_id"] == real["report_id"] and status["drift"] is True
    assert report["verdict"] == "not enough data" and not report["judged"] and not report["drift"]
    assert report["verdict_text"] == "not enough data (no column could be judged: 7 with too few values)"
    assert report["n_columns"] == 0 and report["share_drifted"] is None
    assert {c["verdict"] for c in report["columns"]} == {"insufficient data"}


def test_min_rows_is_a_policy_setting(ws):
    log_rows(ws, 6)
    ws.settings["policy"]["min_rows"] = 5
    report = ws.monitoring.check_drift("penguins", action="alert")
    assert report["judged"] and report["verdict"] in ("drift", "no drift")
    assert report["policy"]["min_rows"] == 5
    ws.settings["policy"]["min_rows"] = 7
    assert ws.monitoring.check_drift("penguins", action="alert")["verdict_text"] == "not enough data (6 rows; needs 7)"
    ws.settings["policy"]["min_rows"] = 0
    with pytest.raises(UserError, match="min_rows=0 must be at least 1"):
        ws.monitoring.check_drift("penguins")


def test_current_data_without_the_model_columns_is_a_schema_error(ws):
    before = ws.db.scalar("SELECT COUNT(*) FROM drift_reports")
    notes = pd.DataFrame({"some notes": [f"line {i}" for i in range(30)]})
    with pytest.raises(UserError, match=r"none of 7\): missing island, bill_length_mm, .*, year; it has some notes"):
        ws.monitoring.check_drift("penguins", current=notes)
    partial = shifted().drop(columns=["sex", "year"])
    with pytest.raises(UserError, match=r"2 missing of 7\): missing sex, year;") as info:
        ws.monitoring.check_drift("penguins", current=partial)
    assert info.value.code == "schema_mismatch"
    assert ws.db.scalar("SELECT COUNT(*) FROM drift_reports") == before  # nothing stored that says "no drift"


def test_scheduled_check_records_not_enough_data(ws):
    log_rows(ws, 3)
    sched = ws.drift_schedules.add("penguins", every="1h", action="retrain")
    ws.db.execute("UPDATE periodic SET next_due = 0 WHERE kind = 'drift'")  # due now
    events: list[tuple[str, str]] = []
    runner = SchedulerRunner(ws, on_event=lambda kind, message: events.append((kind, message)))
    runner.ws = ws  # run one tick directly, without starting the background threads
    result = runner.run_tick("drift", sched["schedule_id"])
    assert result is not None and result["status"] == "not enough data (3 rows; needs 20)"
    assert ws.drift_schedules.get(sched["schedule_id"])["last_status"] == "not enough data (3 rows; needs 20)"
    assert ws.drift_schedules.get(sched["schedule_id"])["last_report"] == result["report"]["report_id"]
    assert events == [("check", f"schedule {sched['schedule_id']}: not enough data (3 rows; needs 20)")]
    assert ws.jobs.list() == []


def test_migration_gives_stored_reports_a_verdict(tmp_path):
    """Reports stored before verdicts existed: judged ones keep theirs, "0/0 columns" ones could not judge."""
    db = Database(tmp_path / "old.db")
    db.migrate(until={"monitoring": 1})
    docs = {"drift": {"n_columns": 7, "drift": True}, "no drift": {"n_columns": 7, "drift": False},
            "zero": {"n_columns": 0, "drift": False, "prediction": None},
            "prediction judged": {"n_columns": 0, "drift": False, "prediction": {"verdict": "ok"}}}
    for doc in docs.values():
        db.execute("INSERT INTO drift_reports(model, version, time, created, source, rows, method, drift,"
                   " share_drifted, report_json) VALUES ('m', 1, 0, '', 'x', 3, 'auto', ?, 0, ?)",
                   (int(doc["drift"]), json.dumps(doc)))
    db.close()
    db = Database(tmp_path / "old.db")
    db.migrate()
    verdicts = [r["verdict"] for r in db.query("SELECT verdict FROM drift_reports ORDER BY id")]
    assert verdicts == ["drift", "no drift", "not enough data", "no drift"]
    db.close()

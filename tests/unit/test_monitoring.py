"""Drift checks of a deployed model: references, logged windows, feedback metrics, the policy.

Real sample data (Seattle weather), a real workspace, predictions logged as
the server logs them. Summer inputs against a winter/spring model must be
flagged; two random halves of one year must not.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
CONTRACT_KEYS = {"report_id", "model", "version", "drift", "share_drifted", "columns", "job_id"}
COLUMN_KEYS = {"column", "kind", "method", "statistic", "threshold", "drifted"}


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    return pd.read_csv(SAMPLES / "seattle_weather.csv")


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "ws")
    yield w
    w.close()


def deploy(ws: Workspace, frame: pd.DataFrame, *, time_column: str | None = "date", name: str = "weather") -> None:
    """Ingest, train a small forest, register and promote: what a user does before serving."""
    ds = ws.data.ingest(frame, name=name, target="weather", time_column=time_column)
    run = ws.training.train(ds.ref, "rf", params={"n_estimators": 40}, seed=1)
    mv = ws.registry.register(run["run_id"], name)
    ws.registry.promote(name, mv.version)


def serve(ws: Workspace, rows: pd.DataFrame, model: str = "weather") -> list[str]:
    """Log predictions of the production model for `rows` as the server would; their ids."""
    mv, pipeline = ws.registry.load_model(model)
    inputs = rows.drop(columns=["weather"]).reset_index(drop=True)
    predictions = pipeline.predict(inputs)
    ids = [new_prediction_id() for _ in range(len(inputs))]
    start = time.time() - len(inputs)
    ws.predictions.log(
        prediction_row(ids[i], mv.name, mv.version, inputs.iloc[i].to_dict(), predictions[i], at=start + i)
        for i in range(len(inputs))
    )
    return ids


def test_summer_inputs_drift_and_queue_one_job(ws, weather):
    deploy(ws, weather[weather.date < "2012-07-01"])
    serve(ws, weather[(weather.date >= "2012-07-01") & (weather.date < "2012-10-01")])

    report = ws.monitoring.check_drift("weather")
    assert report.keys() >= CONTRACT_KEYS
    assert all(c.keys() >= COLUMN_KEYS for c in report["columns"])
    assert report["drift"] and report["data_drift"]
    assert report["share_drifted"] >= 0.5
    assert {"temp_max", "temp_min"} <= set(report["drifted_columns"])
    assert report["prediction_drift"]  # summer means more "sun" predictions
    assert report["rows"] == 92 and report["source"] == "logged predictions, last 24h"
    assert report["job_id"] is not None and report["job_queued"]
    assert [j["status"] for j in ws.jobs.list()] == ["queued"]

    again = ws.monitoring.check_drift("weather", last=50)
    assert again["drift"] and again["rows"] == 50
    assert again["job_id"] == report["job_id"] and not again["job_queued"]
    assert len(ws.jobs.list()) == 1

    stored = ws.monitoring.drift_reports("weather")
    assert [r["report_id"] for r in stored] == [again["report_id"], report["report_id"]]
    assert ws.monitoring.drift_report(report["report_id"])["drifted_columns"] == report["drifted_columns"]
    kinds = [e["kind"] for e in ws.events.recent(20)]
    assert "drift" in kinds and "job" in kinds

    hist = ws.monitoring.drift_histogram("weather", "temp_max")
    assert len(hist["reference"]) == len(hist["current"]) == 20
    assert ws.monitoring.drift_histogram("weather", "prediction")["kind"] == "categorical"
    status = {s["model"]: s for s in ws.monitoring.status()}["weather"]
    assert status["drift"] is True and status["open_job"]["id"] == report["job_id"]


def test_random_halves_of_one_year_do_not_drift(ws, weather, tmp_path):
    year = weather[weather.date.str.startswith("2013")].sample(frac=1.0, random_state=7)
    half_a, half_b = year.iloc[: len(year) // 2], year.iloc[len(year) // 2 :]
    deploy(ws, half_a, time_column=None)

    report = ws.monitoring.check_drift("weather", current=half_b.drop(columns=["weather"]))
    assert not report["drift"], [c["message"] for c in report["columns"] if c["drifted"]]
    assert report["source"] == "dataframe" and report["prediction"] is not None
    assert report["job_id"] is None and ws.jobs.list() == []

    path = tmp_path / "half_b.csv"
    half_b.drop(columns=["weather"]).to_csv(path, index=False)
    from_file = ws.monitoring.check_drift("weather", current=str(path))
    assert from_file["source"] == f"file {path}" and not from_file["drift"]


def test_unseen_categories_and_missing_shares_are_reported(ws, weather):
    frame = weather[weather.date < "2013-01-01"].copy()
    frame["station"] = np.where(np.arange(len(frame)) % 2 == 0, "north", "south")
    deploy(ws, frame, time_column=None)
    current = frame.drop(columns=["weather"]).iloc[:200].copy()
    current.loc[:120, "station"] = "east"
    current.loc[:80, "wind"] = np.nan
    report = ws.monitoring.check_drift("weather", current=current, action="alert")
    assert report["new_categories"] == {"station": ["east"]}
    assert "wind" in report["missing_changed"]
    assert report["job_id"] is None  # action "alert" never queues
    assert ws.events.recent(1)[0]["kind"] in ("alert", "check")


def test_feedback_gives_real_metrics_and_decay_without_drift(ws, weather):
    year = weather[weather.date.str.startswith("2013")].sample(frac=1.0, random_state=7)
    half_a, half_b = year.iloc[: len(year) // 2], year.iloc[len(year) // 2 :].reset_index(drop=True)
    deploy(ws, half_a, time_column=None)
    ids = serve(ws, half_b)
    mv, pipeline = ws.registry.load_model("weather")
    predicted = pipeline.predict(half_b.drop(columns=["weather"]))

    ws.predictions.add_feedback("weather", [{"prediction_id": i, "label": y}
                                            for i, y in zip(ids, half_b.weather, strict=True)])
    report = ws.monitoring.check_drift("weather")
    perf = report["performance"]
    assert perf["rows"] == len(half_b) and perf["metric"] == "f1"
    expected = f1_score(half_b.weather, predicted, average="macro")
    assert perf["current"] == pytest.approx(expected)
    assert perf["reference"] == mv.metrics["f1"]
    assert perf["decay"] == (perf["current"] < perf["reference"] - 0.05)

    # labels that say the model is always wrong: its f1 collapses although inputs did not move
    classes = sorted(half_b.weather.unique())
    wrong = [classes[(classes.index(p) + 1) % len(classes)] for p in predicted]
    ws.predictions.add_feedback("weather", [{"prediction_id": i, "label": y} for i, y in zip(ids, wrong, strict=True)])
    decayed = ws.monitoring.check_drift("weather")
    assert not decayed["data_drift"]
    assert decayed["decay"] and decayed["performance"]["current"] == 0.0
    assert decayed["alarm"] and decayed["job_id"] is not None
    assert "decay" in ws.jobs.get(decayed["job_id"])["reason"]
    assert decayed["performance"]["message"].startswith(f"f1 on {len(half_b)} labelled rows 0 vs")


def test_persistence_needs_k_of_the_last_m_checks(ws, weather):
    deploy(ws, weather[weather.date < "2012-07-01"])
    serve(ws, weather[(weather.date >= "2012-07-01") & (weather.date < "2012-10-01")])
    ws.settings["policy"].update(persistence_k=2, persistence_m=3)
    first = ws.monitoring.check_drift("weather")
    assert first["drift"] and not first["alarm"] and first["job_id"] is None
    assert first["persistence"] == {"k": 2, "m": 3, "drift_in_last_m": 1, "persistent": False}
    second = ws.monitoring.check_drift("weather")
    assert second["alarm"] and second["job_queued"]


def test_empty_window_is_a_clear_error(ws, weather):
    deploy(ws, weather[weather.date < "2012-07-01"])
    with pytest.raises(UserError, match=r"no logged predictions for model weather in the last 24h; send traffic"):
        ws.monitoring.check_drift("weather")
    with pytest.raises(UserError, match="not both"):
        ws.monitoring.check_drift("weather", window="1h", last=5)
    with pytest.raises(UserError, match="bad duration"):
        ws.monitoring.check_drift("weather", window="soon")


def test_reference_is_prepared_at_registration_or_lazily(ws, weather):
    deploy(ws, weather[weather.date < "2012-07-01"])
    row = ws.db.query_one("SELECT * FROM drift_references WHERE model = 'weather'")
    assert row["version"] == 1 and row["rows"] > 100
    checked = ws.doctor()["checked"]
    ws.db.execute("DELETE FROM drift_references")  # as for a version registered before monitoring existed
    report = ws.monitoring.check_drift("weather", current="weather")  # the dataset itself: no drift
    assert not report["data_drift"]
    assert ws.db.scalar("SELECT COUNT(*) FROM drift_references") == 1
    assert ws.doctor()["checked"] >= checked

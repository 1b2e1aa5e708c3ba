"""Every endpoint and input shape against a real server on 127.0.0.1 (port 0) and a real workspace."""

from __future__ import annotations

import pandas as pd
import pytest

from .helpers import ROW

PREDICT = "/v1/models/penguins/predict"


def _expected(ws, rows, ref="penguins@1"):
    _, model = ws.registry.load_model(ref)
    return model.predict(pd.DataFrame(rows)).tolist(), model.predict_proba(pd.DataFrame(rows)).tolist()


def test_health_and_models(client):
    assert client.get("/health") == (200, {"status": "ok", "models": 1})
    status, models = client.get("/v1/models")
    assert status == 200
    assert [(m["name"], m["version"], m["task"]) for m in models] == [("penguins", 1, "classification")]
    assert "production" in models[0]["aliases"]
    assert {c["name"] for c in models[0]["signature"]["inputs"]} == set(ROW)
    assert all({"name", "dtype"} <= set(c) for c in models[0]["signature"]["inputs"])


OTHER = dict(ROW, island="Biscoe", bill_length_mm=50.0, flipper_length_mm=220, body_mass_g=5400, sex="female")
BODIES = {
    "instances": {"instances": [ROW, OTHER]},
    "dataframe_records": {"dataframe_records": [ROW, OTHER]},
    "dataframe_split": {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values()),
                                                                          [OTHER[c] for c in ROW]]}},
    "inputs_records": {"inputs": [ROW, OTHER]},
    "inputs_columnar": {"inputs": {c: [ROW[c], OTHER[c]] for c in ROW}},
    "instances_lists": {"instances": [list(ROW.values()), [OTHER[c] for c in ROW]]},
}


@pytest.mark.parametrize("shape", list(BODIES))
def test_predict_every_input_shape(client, ws, shape):
    status, out = client.post(PREDICT, BODIES[shape])
    assert status == 200, out
    pred, proba = _expected(ws, [ROW, OTHER])
    assert out["model"] == "penguins" and out["version"] == 1
    assert out["predictions"] == pred
    assert out["probabilities"] == proba
    assert out["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert len(set(out["prediction_ids"])) == 2 and all(len(i) == 32 for i in out["prediction_ids"])
    assert "warnings" not in out


def test_strings_nulls_and_extra_columns(client, ws):
    row = dict(ROW, bill_length_mm="45.1", body_mass_g=None, sex=None, comment="hi", other=1)
    status, out = client.post(PREDICT, {"instances": [row]})
    assert status == 200, out
    assert out["warnings"] == ["ignored 2 column(s) the model does not read: comment, other"]
    pred, _ = _expected(ws, [dict(ROW, body_mass_g=float("nan"), sex=None)])
    assert out["predictions"] == pred


def test_numeric_nan_is_imputed(client, ws):
    raw = b'{"instances": [{"island": "Dream", "bill_length_mm": NaN, "bill_depth_mm": 17.0,' \
          b' "flipper_length_mm": 190, "body_mass_g": 3800, "sex": "male", "year": 2008}]}'
    status, out = client.post(PREDICT, raw=raw)
    assert status == 200, out
    # the server hands the NaN on and the pipeline's own imputer fills it: same answer as the pipeline's
    pred, proba = _expected(ws, [dict(ROW, bill_length_mm=float("nan"))])
    assert out["predictions"] == pred and out["probabilities"] == proba


def test_invocations_mlflow_protocol(client, ws):
    for body in (BODIES["dataframe_split"], BODIES["dataframe_records"], BODIES["inputs_records"],
                 BODIES["instances"]):
        status, out = client.post("/invocations", body)
        assert status == 200, out
        # MLflow's answer, plus the ids feedback needs (extra top-level keys, which MLflow's clients ignore)
        assert set(out) == {"predictions", "prediction_ids", "model", "version"}
        assert out["predictions"] == _expected(ws, [ROW, OTHER])[0]
        assert len(set(out["prediction_ids"])) == 2 and (out["model"], out["version"]) == ("penguins", 1)


def test_pinned_version_and_regression(client, ws):
    status, out = client.post(PREDICT + "?version=2", {"instances": [ROW]})
    assert status == 200 and out["version"] == 2
    assert out["predictions"] == _expected(ws, [ROW], "penguins@2")[0]
    status, out = client.post(PREDICT + "?version=production", {"instances": [ROW]})
    assert status == 200 and out["version"] == 1
    bike_row = {"timestamp": "2011-06-01 08:00:00", "season": 2, "holiday": 0, "workingday": 1,
                "weather": 1, "temp": 25.0, "atemp": 27.0, "humidity": 50, "windspeed": 10.0}
    _, bike = ws.registry.load_model("bike@1")
    cols = [c["name"] for c in ws.registry.model_version("bike@1").signature["inputs"]]
    row = {c: bike_row.get(c, 1) for c in cols}
    status, out = client.post("/v1/models/bike/predict?version=1", {"instances": [row]})
    assert status == 200, out
    assert "probabilities" not in out and isinstance(out["predictions"][0], float)
    assert out["predictions"][0] == pytest.approx(float(bike.predict(pd.DataFrame([row]))[0]))


def test_feedback(client, server, ws):
    _, out = client.post(PREDICT, {"instances": [ROW, OTHER]})
    ids = out["prediction_ids"]
    status, fb = client.post("/v1/models/penguins/feedback", {"feedback": [
        {"prediction_id": ids[0], "label": "Adelie"}, {"prediction_id": ids[1], "label": "Gentoo"},
        {"prediction_id": "nope", "label": "Adelie"}]})
    assert status == 200
    assert fb == {"accepted": 2, "unknown_ids": ["nope"]}
    assert ws.predictions.count_feedback("penguins") == 2


def test_every_prediction_is_logged(client, server, ws):
    answered = []
    for body in BODIES.values():
        answered += client.post(PREDICT, body)[1]["prediction_ids"]
    client.post("/invocations", {"instances": [ROW]})
    server.stop()
    assert ws.predictions.count("penguins") == len(answered) + 1
    frame = ws.predictions.frame("penguins")
    assert set(answered) <= set(frame["_id"])
    logged = frame.set_index("_id").loc[answered[0]]
    assert logged["island"] == "Dream" and logged["bill_length_mm"] == 45.1
    assert logged["_version"] == 1


def test_metrics_and_openapi(client):
    client.post(PREDICT, {"instances": [ROW]})
    client.post(PREDICT, {"instances": [{"x": 1}]})
    status, text = client.get("/metrics")
    assert status == 200
    assert 'mlcycle_http_requests_total{endpoint="/v1/models/<name>/predict",method="POST",model="penguins",' \
           'status="200"} 1.0' in text
    assert 'mlcycle_http_errors_total{endpoint="/v1/models/<name>/predict",model="penguins",status="422"} 1.0' \
        in text
    assert "mlcycle_http_request_duration_seconds_bucket" in text
    assert 'mlcycle_predictions_total{model="penguins",version="1"} 1.0' in text
    status, doc = client.get("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {"/health", "/ping", "/version", "/v1/models", "/v1/models/{name}/predict", "/invocations",
            "/v1/models/{name}/feedback", "/metrics", "/openapi.json"} == set(doc["paths"])


def test_runner_stats_for_the_tui(client, server):
    for _ in range(5):
        client.post(PREDICT, {"instances": [ROW]})
    client.get("/nowhere")
    stats = server.stats()
    assert stats["running"] and stats["url"] == server.url
    assert stats["requests"] == 6 and stats["errors_4xx"] == 1 and stats["predictions"] == 5
    assert stats["requests_per_s"] > 0 and stats["p50_ms"] > 0 and stats["p95_ms"] >= stats["p50_ms"]
    assert stats["recent"][0]["path"] == "/nowhere" and stats["recent"][0]["status"] == 404
    assert stats["models"] == [{"name": "penguins", "version": 1, "task": "classification"}]

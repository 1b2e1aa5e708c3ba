"""Every error answer is JSON {"error": {"code", "message"}} with the right status, never a 500."""

from __future__ import annotations

import pytest

from mlcycle_tui.server.runner import ServerRunner

from .helpers import ROW, Client

PREDICT = "/v1/models/penguins/predict"


def _is_error(out, status):
    assert isinstance(out, dict) and set(out) == {"error"}, out
    assert out["error"]["code"] and out["error"]["message"]
    return status


@pytest.mark.parametrize(("raw", "ctype", "expected"), [
    (b'{"instances": [', "application/json", 400),
    (b"\xff\xfe", "application/json", 400),
    (b"", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b'{"rows": []}', "application/json", 400),
    (b'{"instances": [], "inputs": []}', "application/json", 400),
    (b'{"instances": []}', "application/json", 400),
    (b'{"instances": 3}', "application/json", 400),
    (b'{"instances": [1, 2]}', "application/json", 400),
    (b'{"instances": [{"a": 1}, [1]]}', "application/json", 400),
    (b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', "application/json", 400),
    (b'{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}', "application/json", 400),
    (b'{"dataframe_split": {"columns": [1], "data": [[1]]}}', "application/json", 400),
    (b'{"inputs": {"a": [1], "b": [1, 2]}}', "application/json", 400),
    (b'{"instances": [[1, 2]]}', "application/json", 422),
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    (b'{"instances": [{}]}', "text/plain", 415),
    (b'{"instances": [{}]}', None, 415),
    (b'{"instances": [{"island": "Dream"}]}', "application/json", 422),
])
def test_bad_bodies(client, raw, ctype, expected):
    status, out = client.post(PREDICT, raw=raw, content_type=ctype)
    assert _is_error(out, status) == expected, out


@pytest.mark.parametrize(("change", "column"), [
    ({"bill_length_mm": "long"}, "bill_length_mm"),
    ({"bill_length_mm": True}, "bill_length_mm"),
    ({"bill_length_mm": [1]}, "bill_length_mm"),
    ({"year": {"a": 1}}, "year"),
    ({"island": ["Dream"]}, "island"),
    ({"sex": {"x": 1}}, "sex"),
])
def test_values_that_do_not_fit_name_the_column(client, change, column):
    status, out = client.post(PREDICT, {"instances": [dict(ROW, **change)]})
    assert _is_error(out, status) == 422
    assert column in out["error"]["message"] and out["error"]["columns"] == [column]


def test_infinity_is_refused_for_numeric_columns(client):
    raw = b'{"instances": [{"island": "Dream", "bill_length_mm": Infinity, "bill_depth_mm": 17.0,' \
          b' "flipper_length_mm": 190, "body_mass_g": "-inf", "sex": "male", "year": 2008}]}'
    status, out = client.post(PREDICT, raw=raw)
    assert _is_error(out, status) == 422
    assert out["error"]["columns"] == ["bill_length_mm", "body_mass_g"]


def test_missing_columns_are_named(client):
    row = {k: v for k, v in ROW.items() if k not in ("sex", "year")}
    status, out = client.post(PREDICT, {"instances": [row]})
    assert _is_error(out, status) == 422
    assert "missing column(s): sex, year" in out["error"]["message"]


def test_not_found_and_method(client):
    assert _is_error(*reversed(client.post("/v1/models/nothing/predict", {"instances": [ROW]}))) == 404
    assert _is_error(*reversed(client.post("/v1/models/../predict", {"instances": [ROW]}))) == 404
    assert _is_error(*reversed(client.post(PREDICT + "?version=9", {"instances": [ROW]}))) == 404
    assert _is_error(*reversed(client.post(PREDICT + "?version=nosuchalias", {"instances": [ROW]}))) == 404
    assert _is_error(*reversed(client.post(PREDICT + "?version=@@", {"instances": [ROW]}))) == 400
    assert _is_error(*reversed(client.get("/nowhere"))) == 404
    assert _is_error(*reversed(client.post("/v1/models/nothing/feedback", {"feedback": []}))) == 404
    status, out = client.get(PREDICT)
    assert _is_error(out, status) == 405
    status, out = client.request("DELETE", "/health")
    assert _is_error(out, status) == 405


def test_feedback_shape(client):
    for body, expected in [({}, 400), ({"feedback": []}, 400), ({"feedback": [{"label": 1}]}, 400),
                           ({"feedback": [{"prediction_id": 1, "label": 1}]}, 422),
                           ({"feedback": [{"prediction_id": "a", "label": [1]}]}, 422)]:
        status, out = client.post("/v1/models/penguins/feedback", body)
        assert _is_error(out, status) == expected, body


def test_body_over_the_limit_is_413(ws):
    with ServerRunner(ws, port=0, config={"max_body_mb": 0.01, "poll_interval": 0}) as runner:
        client = Client(runner.port)
        status, out = client.post(PREDICT, {"instances": [ROW] * 200})
        assert _is_error(out, status) == 413
        client = Client(runner.port)
        assert client.post(PREDICT, {"instances": [ROW]})[0] == 200


def test_invocations_needs_exactly_one_production_model(ws):
    ws.registry.remove_alias("penguins", "production")
    with ServerRunner(ws, port=0, config={"poll_interval": 0}) as runner:
        status, out = Client(runner.port).post("/invocations", {"instances": [ROW]})
        assert _is_error(out, status) == 404
    ws.registry.promote("penguins", 1)
    ws.registry.promote("bike", 1, force=True)
    with ServerRunner(ws, port=0, config={"poll_interval": 0}) as runner:
        client = Client(runner.port)
        assert client.get("/health")[1]["models"] == 2
        status, out = client.post("/invocations", {"instances": [ROW]})
        assert _is_error(out, status) == 400 and "/v1/models/<name>/predict" in out["error"]["message"]


def test_double_slash_is_a_json_404_not_a_redirect(client):
    status, body = client.post("/v1/models/0%2F/predict", raw=b"null")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    status, body = client.post("/v1//models/penguins/predict", raw=b"null")
    assert status == 404 and body["error"]["code"] == "not_found"

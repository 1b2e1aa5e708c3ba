"""Every error answer is JSON {"error_code", "message", "error": {"code", "message"}} with the right status,
never a 500 (MLflow's clients read the top level, mlcycle's the `error` object)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from mlcycle_tui.server.errors import MLFLOW_CODES
from mlcycle_tui.server.runner import ServerRunner

from .helpers import ROW, Client

PREDICT = "/v1/models/penguins/predict"


def _is_error(out, status):
    assert isinstance(out, dict) and set(out) == {"error_code", "message", "error"}, out
    assert out["error"]["code"] and out["error"]["message"] == out["message"]
    # MLflow's code for the status; an unknown route is ENDPOINT_NOT_FOUND (MLflow's own server says so too)
    assert out["error_code"] in (MLFLOW_CODES[status], "ENDPOINT_NOT_FOUND" if status == 404 else None), out
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


LARGEST = 2**63 - 1  # SQLite's INTEGER, the range of version numbers


@pytest.mark.parametrize("version", [
    "99999999999999999999", "9" * 400, "9" * 5000, str(LARGEST + 1), "0", "000", "0" * 5000,
    "²", "١",  # str.isdigit() says yes to these; int() refuses the first and reads the second as 1
], ids=lambda v: v if len(v) < 24 else f"{v[0]}x{len(v)}")
def test_a_version_out_of_range_is_a_400_naming_the_range(client, version):
    status, out = client.post(f"{PREDICT}?version={quote(version)}", {"instances": [ROW]})
    assert _is_error(out, status) == 400, out
    assert f"1 to {LARGEST}" in out["error"]["message"], out
    assert len(out["error"]["message"]) < 300  # a 5,000-digit version is not echoed in full


def test_the_largest_version_is_in_range_and_merely_unknown(client):
    status, out = client.post(f"{PREDICT}?version={LARGEST}", {"instances": [ROW]})
    assert _is_error(out, status) == 404 and f"no version {LARGEST}" in out["error"]["message"]
    status, out = client.post(f"{PREDICT}?version=0001", {"instances": [ROW]})
    assert status == 200 and out["version"] == 1  # leading zeros: still version 1


@pytest.mark.parametrize("query", ["version=1&version=2", "version=2&version=2", "version=production&version="])
def test_version_given_twice_is_a_400(client, query):
    status, out = client.post(f"{PREDICT}?{query}", {"instances": [ROW]})
    assert _is_error(out, status) == 400 and "once" in out["error"]["message"], out


@pytest.mark.parametrize("version", ["a..b", "x" * 65, "-1", "", "%201", "1%00", "%2E%2E"])
def test_a_malformed_version_is_a_400(client, version):
    status, out = client.post(f"{PREDICT}?version={version}", {"instances": [ROW]})
    assert _is_error(out, status) == 400, out


def test_an_absurdly_long_model_name_is_not_echoed_in_full(client):
    status, out = client.post(f"/v1/models/{'a' * 5000}/predict", {"instances": [ROW]})
    assert _is_error(out, status) == 404 and len(out["error"]["message"]) < 300


SURROGATE_ROW = b'"island": "Dream", "bill_length_mm": 45.1, "bill_depth_mm": 17.0, "flipper_length_mm": 190,' \
                b' "body_mass_g": 3800, "sex": "male", "year": 2008'


@pytest.mark.parametrize(("path", "raw"), [
    (PREDICT, b'{"instances": [{' + SURROGATE_ROW.replace(b'"Dream"', b'"\\ud800"') + b"}]}"),
    (PREDICT, b'{"instances": [{"\\udfff": 1, ' + SURROGATE_ROW + b"}]}"),
    (PREDICT, b'{"instances": [{' + SURROGATE_ROW.replace(b"45.1", b"NaN").replace(b'"male"', b'"\\ud83d"') + b"}]}"),
    ("/invocations", b'{"dataframe_split": {"columns": ["\\ud800"], "data": [[1]]}}'),
    ("/v1/models/penguins/feedback", b'{"feedback": [{"prediction_id": "\\ud800", "label": 1}]}'),
], ids=["value", "column", "value-slow-path", "invocations-column", "feedback-id"])
def test_a_lone_surrogate_in_the_body_is_a_400(client, path, raw):
    """JSON may escape half of a UTF-16 pair (`\\ud800`); no UTF-8 text holds one, so SQLite and pandas choke."""
    status, out = client.post(path, raw=raw)
    assert _is_error(out, status) == 400 and "surrogate" in out["error"]["message"], out


def test_a_surrogate_pair_is_one_character_and_fine(client):
    emoji = SURROGATE_ROW.replace(b"45.1", b"NaN").replace(b'"male"', b'"\\ud83d\\ude00"')  # NaN: the slow path
    status, out = client.post(PREDICT, raw=b'{"instances": [{' + emoji + b"}]}")
    assert status == 200, out


def test_bounded_int_is_the_one_reader_of_integers_in_urls():
    from mlcycle_tui.server.api import bounded_int
    from mlcycle_tui.server.errors import ApiError

    assert bounded_int("1", "version") == 1 and bounded_int("0007", "version") == 7
    assert bounded_int(str(LARGEST), "version") == LARGEST
    assert bounded_int("0", "limit", low=0) == 0
    for not_a_number in ("", "-1", "+1", "1.0", "1e3", " 1", "²", "١", "0x10", "1_000", "production"):
        assert bounded_int(not_a_number, "version") is None, not_a_number
    for out_of_range in ("0", "000", str(LARGEST + 1), "9" * 400, "9" * 5000, "1" + "0" * 4400):
        with pytest.raises(ApiError) as err:
            bounded_int(out_of_range, "version")
        assert err.value.status == 400 and f"1 to {LARGEST}" in err.value.message
    with pytest.raises(ApiError, match="from 1 to 100"):
        bounded_int("101", "limit", high=100)

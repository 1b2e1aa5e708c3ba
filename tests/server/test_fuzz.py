"""Fuzzing from the server's own OpenAPI description: no request a client can build gets a 5xx.

Bodies are drawn from the request schemas in `/openapi.json` (a small
JSON-Schema-to-Hypothesis translation), mutated with arbitrary JSON, sent with
arbitrary content types and paths; every answer must be below 500 and every
error must be the JSON error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcycle_tui.server.app import create_app
from mlcycle_tui.server.openapi import openapi_document
from mlcycle_tui.workspace import Workspace

from .helpers import ROW

DOC = openapi_document()
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20))
ANY_JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                        max_leaves=12)
COLUMN_VALUES = st.one_of(SCALARS, st.sampled_from(list(ROW.values())), st.sampled_from(["Dream", "Biscoe", "45.1",
                                                                                         "", "NaN", "inf"]))


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return _resolve(DOC["components"]["schemas"][ref.rsplit("/", 1)[-1]])
    return schema


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    schema = _resolve(schema)
    if "oneOf" in schema:
        return st.one_of([from_schema(s, depth + 1) for s in schema["oneOf"]])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        if not props:  # a row: {column: value}, mostly the model's columns
            keys = st.one_of(st.sampled_from(list(ROW)), st.text(max_size=8))
            return st.dictionaries(keys, COLUMN_VALUES, max_size=9)
        required = {k: from_schema(v, depth + 1) for k, v in props.items() if k in schema.get("required", [])}
        optional = {k: from_schema(v, depth + 1) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "array":
        items = schema.get("items")
        inner = from_schema(items, depth + 1) if items else st.lists(COLUMN_VALUES, max_size=8)
        return st.lists(inner, min_size=schema.get("minItems", 0), max_size=5)
    if kind == "string":
        return st.one_of(st.sampled_from(list(ROW)), st.text(max_size=12))
    if kind == "integer":
        return st.integers()
    if kind == "number":
        return st.floats()
    return ANY_JSON


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in DOC["paths"].items() for method, op in item.items()]


NAMES = st.one_of(st.sampled_from(["penguins", "bike", "nothing", "..", "a b", "é", "penguins@1"]),
                  st.text(min_size=1, max_size=12))


@st.composite
def requests_(draw: Any) -> tuple[str, str, bytes | None, str | None]:
    path, method, op = draw(st.sampled_from(_operations()))
    name = draw(NAMES)
    path = path.replace("{name}", name.replace("/", "%2F").replace("?", "%3F").replace("#", "%23"))
    if draw(st.booleans()) and any(p.get("in") == "query" for p in op.get("parameters", [])):
        path += "?version=" + draw(st.sampled_from(["1", "2", "99", "production", "x y", "@", ""]))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["get", "post", "put", "delete", "patch"]))
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    choice = draw(st.integers(0, 5))
    if body_schema is not None and choice <= 3:
        raw = json.dumps(draw(from_schema(body_schema)), allow_nan=True).encode()
    elif choice == 4:
        raw = json.dumps(draw(ANY_JSON), allow_nan=True).encode()
    else:
        raw = draw(st.one_of(st.binary(max_size=40), st.none()))
    ctype = draw(st.sampled_from(["application/json", "application/json", "application/json; charset=utf-8",
                                  "text/plain", None, "application/x-www-form-urlencoded"]))
    return method.upper(), path, raw, ctype


@pytest.fixture(scope="module")
def fuzz_app(trained_home, tmp_path_factory) -> Iterator[Any]:
    import shutil

    home = tmp_path_factory.mktemp("fuzz") / "ws"
    shutil.copytree(trained_home, home)
    ws = Workspace.open(home)
    app = create_app(ws, {"poll_interval": 0, "max_body_mb": 1})
    yield app
    app.extensions["mlcycle"].close()
    ws.close()


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(req=requests_())
def test_no_request_gets_a_server_error(fuzz_app, req):
    method, path, raw, ctype = req
    client = fuzz_app.test_client()
    headers = {"Content-Type": ctype} if ctype else {}
    resp = client.open(path, method=method, data=raw, headers=headers)
    assert resp.status_code < 500, (req, resp.get_data(as_text=True))
    if resp.status_code >= 400:
        body = resp.get_json(silent=True)
        assert body and set(body) == {"error"} and body["error"]["code"] and body["error"]["message"], \
            (req, resp.status_code, resp.get_data(as_text=True))
    elif path.startswith("/v1/models/") and path.endswith("/predict"):
        out = resp.get_json()
        assert len(out["predictions"]) == len(out["prediction_ids"])

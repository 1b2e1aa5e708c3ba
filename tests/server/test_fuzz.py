"""Fuzzing from the server's own OpenAPI description: no request a client can build gets a 5xx.

Bodies are drawn from the request schemas in `/openapi.json` (a small
JSON-Schema-to-Hypothesis translation), mutated with arbitrary JSON (lone UTF-16
surrogates included), sent with arbitrary content types, paths and query strings:
model names with odd characters and percent-escapes, huge, negative and empty
numbers, repeated keys. Every answer must be below 500 and every error must be
the JSON error shape of `/openapi.json`.

Two profiles: the default one is derandomized (the same 400 requests on every run, so
CI is reproducible); the `slow` one draws 5,000 fresh requests per run, spread over the
operations, to find what the fixed ones miss (a failure prints the seed to replay with
`--hypothesis-seed`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcycle_tui.server.app import create_app
from mlcycle_tui.server.openapi import openapi_document
from mlcycle_tui.workspace import Workspace

from .helpers import ROW

DOC = openapi_document()
# text and, now and then, text with half of a UTF-16 pair in it: JSON can escape one (`\ud800`), UTF-8
# cannot hold one (a whole pair, which `json.dumps` writes for any character past U+FFFF, is fine)
LONE = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
TEXT = st.one_of(st.text(max_size=20), st.text(max_size=20),
                 st.tuples(st.text(max_size=6), LONE, st.text(max_size=6)).map("".join))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    TEXT)
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
            keys = st.one_of(st.sampled_from(list(ROW)), st.sampled_from(list(ROW)), TEXT)
            return st.dictionaries(keys, COLUMN_VALUES, max_size=9)
        required = {k: from_schema(v, depth + 1) for k, v in props.items() if k in schema.get("required", [])}
        optional = {k: from_schema(v, depth + 1) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "array":
        items = schema.get("items")
        inner = from_schema(items, depth + 1) if items else st.lists(COLUMN_VALUES, max_size=8)
        return st.lists(inner, min_size=schema.get("minItems", 0), max_size=5)
    if kind == "string":
        return st.one_of(st.sampled_from(list(ROW)), TEXT)
    if kind == "integer":
        return st.integers()
    if kind == "number":
        return st.floats()
    return ANY_JSON


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in DOC["paths"].items() for method, op in item.items()]


# built once: building them per draw costs more than the requests
BODIES = {(path, method): from_schema(schema) for path, method, op in _operations()
          if (schema := op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"))}
# the endpoints that read bodies and parameters are drawn more often than the read-only ones
WEIGHT = {"/v1/models/{name}/predict": 4, "/invocations": 2, "/v1/models/{name}/feedback": 2}
WEIGHTED_OPERATIONS = sorted((op for op in _operations() for _ in range(WEIGHT.get(op[0], 1))),
                             key=lambda op: -WEIGHT.get(op[0], 1))
LARGEST = 2**63 - 1
# integers as a client may type them: small, negative, at and past SQLite's 64 bits, hundreds of digits
# (Hypothesis draws the first choice of a `one_of` most often: the strategies put the likely trouble first)
NUMBERS = st.one_of(st.integers(LARGEST + 1, 10**400), st.integers(LARGEST - 2, LARGEST + 2),
                    st.integers(-1000, 1000), st.integers(-(2**70), -1)).map(str) | st.sampled_from(
    ["0", "00", "01", "-0", "+1", "1.0", "1e3", "0x10", "²", "١", "9" * 400, "9" * 5000, "0" * 30 + "1", "1_000"])
PERCENT = st.one_of(st.integers(0, 255).map(lambda b: f"%{b:02X}"),
                    st.sampled_from(["%2F", "%2f", "%2E%2E", "%00", "%", "%zz", "%C3%A9", "%ED%A0%80", "%F0%9F"]))
RAW_TEXT = st.text(min_size=1, max_size=10).map(lambda t: quote(t, safe=""))  # odd characters, encoded
PIECE = st.one_of(st.sampled_from(["penguins", "bike", "nothing", "..", ".", "production", "@", "a b", "é", ""]),
                  RAW_TEXT, PERCENT, NUMBERS)
# a model name: mostly a known one, else pieces (the test client percent-encodes what is left raw)
NAMES = st.one_of(st.just("penguins"), st.just("penguins"),
                  st.sampled_from(["penguins", "bike", "nothing", "penguins@1", "penguins.", "PENGUINS"]),
                  st.lists(PIECE, max_size=4).map("".join),
                  st.text(min_size=1, max_size=12).map(lambda t: t.replace("%", "%25").replace("/", "%2F")
                                                        .replace("?", "%3F").replace("#", "%23")))
VALUES = st.one_of(NUMBERS, NUMBERS, st.sampled_from(["1", "2", "99", "production", "x y", "@", "", "a..b", "x" * 65]),
                   st.lists(PIECE, max_size=3).map("".join))
KEYS = st.one_of(st.sampled_from(["Version", "version[]", "limit", "id", "", "v%65rsion"]), RAW_TEXT)


@st.composite
def query_strings(draw: Any, names: list[str]) -> str:
    """`?k=v&k=v...`: mostly the operation's own parameters (`names`), repeated or not, with empty and
    bare values and stray `&`, `=`, `+` and `;` around them."""
    parts = []
    for i in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(names)) if names and (i == 0 or draw(st.booleans())) else draw(KEYS)
        value = draw(VALUES)
        parts.append(draw(st.sampled_from([f"{key}={value}", f"{key}={value}", f"{key}={value}", key, f"{key}=",
                                           f"{key}={value}=", f"{key}={value}+{value}"])))
    sep = draw(st.sampled_from(["&", "&", "&", "&&", ";"]))
    return "?" + sep.join(parts)


@st.composite
def requests_(draw: Any, operations: list[tuple[str, str, dict[str, Any]]] | None = None
              ) -> tuple[str, str, bytes | None, str | None]:
    path_template, described_method, op = draw(st.sampled_from(operations or WEIGHTED_OPERATIONS))
    method = described_method
    path = path_template.replace("{name}", draw(NAMES))
    if draw(st.integers(0, 19)) == 19:  # somewhere the OpenAPI document does not describe
        path = draw(st.sampled_from(["/v1/models/", "/v1/", "/", "/v1/models/penguins/", "/v1/models/penguins/x/"]))
        path += draw(st.lists(PIECE, max_size=3).map("".join))
    params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
    if draw(st.integers(0, 3)) < (3 if params else 1):
        path += draw(query_strings(params))
    if draw(st.integers(0, 9)) == 9:
        method = draw(st.sampled_from(["get", "post", "put", "delete", "patch", "head", "options"]))
    body_strategy = BODIES.get((path_template, described_method))
    choice = draw(st.integers(0, 5))
    raw: bytes | None
    if choice <= 4:
        body = draw(body_strategy if body_strategy is not None and choice <= 3 else ANY_JSON)
        if draw(st.integers(0, 4)) == 4:  # non-ASCII as UTF-8; a lone surrogate as the (invalid) bytes for it
            raw = json.dumps(body, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
        else:
            raw = json.dumps(body, allow_nan=True).encode()
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


ERROR = DOC["components"]["schemas"]["Error"]["properties"]["error"]
HEALTH_CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _check(app: Any, req: tuple[str, str, bytes | None, str | None]) -> None:
    method, path, raw, ctype = req
    client = app.test_client()
    headers = {"Content-Type": ctype} if ctype else {}
    resp = client.open(path, method=method, data=raw, headers=headers)
    assert resp.status_code < 500, (req, resp.get_data(as_text=True))
    if method == "HEAD":  # no body, by HTTP; the headers still say JSON
        assert resp.get_data() == b"" and (resp.status_code < 400 or resp.mimetype == "application/json"), req
        return
    if resp.status_code >= 400:
        body = resp.get_json(silent=True)
        assert resp.mimetype == "application/json" and isinstance(body, dict) \
            and set(body) == {"error_code", "message", "error"}, (req, resp.status_code, resp.get_data(as_text=True))
        assert isinstance(body["error_code"], str) and body["error_code"].isupper(), (req, body)
        error = body["error"]
        assert body["message"] == error["message"], (req, body)
        assert set(error) <= set(ERROR["properties"]) and set(ERROR["required"]) <= set(error), (req, body)
        assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str) \
            and error["message"], (req, body)
    elif method == "POST" and path.startswith("/v1/models/") and path.partition("?")[0].endswith("/predict"):
        out = resp.get_json()
        assert len(out["predictions"]) == len(out["prediction_ids"])


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=HEALTH_CHECKS)
@given(req=requests_())
def test_no_request_gets_a_server_error(fuzz_app, req):
    _check(fuzz_app, req)


SLOW_EXAMPLES = 5_000
_OPS = _operations()


@pytest.mark.slow
@pytest.mark.parametrize("op", _OPS, ids=[f"{m.upper()} {p}" for p, m, _ in _OPS])
def test_no_request_gets_a_server_error_fresh_draws(fuzz_app, op):
    """5,000 fresh requests per run, in shares by operation (the prediction endpoints get the most)."""
    examples = SLOW_EXAMPLES * WEIGHT.get(op[0], 1) // len(WEIGHTED_OPERATIONS)
    if op is _OPS[0]:  # what the rounding leaves over, so that the shares add up to SLOW_EXAMPLES
        examples += SLOW_EXAMPLES - sum(SLOW_EXAMPLES * WEIGHT.get(o[0], 1) // len(WEIGHTED_OPERATIONS) for o in _OPS)

    @settings(max_examples=examples, deadline=None, derandomize=False, suppress_health_check=HEALTH_CHECKS)
    @given(req=requests_([op]))
    def fuzz(req):
        _check(fuzz_app, req)

    fuzz()

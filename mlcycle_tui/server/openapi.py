"""The OpenAPI 3 description of the prediction server (`GET /openapi.json`).

Why this exists: clients generate code from it, and the test suite fuzzes the
server from it (every request a client could build from this document must
get a JSON answer below 500).
"""

from __future__ import annotations

from typing import Any

from mlcycle_tui import __version__

_ROW = {"type": "object", "additionalProperties": True, "description": "one row: {column: value}"}
_ROWS = {"type": "array", "items": _ROW, "minItems": 1}
_COLUMNAR = {"type": "object", "additionalProperties": {"type": "array"},
             "description": "columnar: {column: [values]}"}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error_code", "message", "error"],
        "description": "MLflow's error_code and message at the top level (what MLflow's clients read); "
                       "mlcycle's code, the same message and details in `error`",
        "properties": {
            "error_code": {"type": "string", "description": "an MLflow error code, e.g. BAD_REQUEST"},
            "message": {"type": "string"},
            "error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"},
                "columns": {"type": "array", "items": {"type": "string"}},
                "model": {"type": "string"}, "version": {"type": "integer"},
                "problem": {"type": "string"}, "file": {"type": "string", "nullable": True}}}},
    },
    "PredictRequest": {
        "description": "Rows to score, in one of the MLflow-style shapes.",
        "oneOf": [
            {"type": "object", "required": ["instances"], "properties": {"instances": {"oneOf": [_ROWS, _COLUMNAR]}}},
            {"type": "object", "required": ["dataframe_records"], "properties": {"dataframe_records": _ROWS}},
            {"type": "object", "required": ["dataframe_split"], "properties": {"dataframe_split": {
                "type": "object", "required": ["columns", "data"], "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": {"type": "array"}}}}}},
            {"type": "object", "required": ["inputs"], "properties": {"inputs": {"oneOf": [_ROWS, _COLUMNAR]}}},
        ],
    },
    "PredictResponse": {
        "type": "object", "required": ["model", "version", "predictions", "prediction_ids"],
        "properties": {
            "model": {"type": "string"}, "version": {"type": "integer"},
            "predictions": {"type": "array"},
            "prediction_ids": {"type": "array", "items": {"type": "string"}},
            "probabilities": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "classes": {"type": "array"},
            "warnings": {"type": "array", "items": {"type": "string"}},
        },
    },
    "InvocationsResponse": {
        "type": "object", "required": ["predictions", "prediction_ids", "model", "version"],
        "description": "MLflow's answer, plus the ids to send feedback for (POST /v1/models/{model}/feedback)",
        "properties": {"predictions": {"type": "array"},
                       "prediction_ids": {"type": "array", "items": {"type": "string"}},
                       "model": {"type": "string"}, "version": {"type": "integer"}}},
    "FeedbackRequest": {
        "type": "object", "required": ["feedback"],
        "properties": {"feedback": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["prediction_id", "label"],
            "properties": {"prediction_id": {"type": "string"}, "label": {}}}}},
    },
    "FeedbackResponse": {"type": "object", "required": ["accepted", "unknown_ids"], "properties": {
        "accepted": {"type": "integer"}, "unknown_ids": {"type": "array", "items": {"type": "string"}}}},
    "Model": {"type": "object", "required": ["name", "version", "aliases", "task", "signature"], "properties": {
        "name": {"type": "string"}, "version": {"type": "integer"},
        "aliases": {"type": "array", "items": {"type": "string"}}, "task": {"type": "string"},
        "signature": {"type": "object", "properties": {"inputs": {"type": "array", "items": {
            "type": "object", "properties": {"name": {"type": "string"}, "dtype": {"type": "string"},
                                             "kind": {"type": "string"}}}}}}}},
    "Health": {"type": "object", "required": ["status", "models"],
               "properties": {"status": {"type": "string"}, "models": {"type": "integer"}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "malformed JSON, body shape or query parameter", 401: "missing or wrong token",
            404: "unknown model or version", 413: "body over the size limit", 415: "a content type it does not take",
            422: "rows do not fit the model's signature",
            503: "the prediction log is behind, or the production model cannot be loaded; retry"}
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "version", "in": "query", "required": False,
            "schema": {"type": "string"},
            "description": "a version number (1 to 9223372036854775807) or an alias (default: production); "
                           "given once (out of range, malformed or repeated: 400)"}
_BODY = {"required": True, "content": {"application/json": {"schema": _ref("PredictRequest")}}}
_INVOCATIONS_BODY = {"required": True, "content": {
    "application/json": {"schema": _ref("PredictRequest")},
    "text/csv": {"schema": {"type": "string", "description": "UTF-8 CSV with a header row"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}}


def openapi_document() -> dict[str, Any]:
    predict_errors = _errors(400, 401, 404, 413, 415, 422, 503)
    return {
        "openapi": "3.0.3",
        "info": {"title": "mlcycle prediction server", "version": __version__},
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/health": {"get": {"operationId": "health", "security": [],
                                "responses": {"200": _json(_ref("Health"), "alive")}}},
            "/v1/models": {"get": {"operationId": "listModels", "responses": {
                "200": _json({"type": "array", "items": _ref("Model")}, "served models"), **_errors(401)}}},
            "/v1/models/{name}/predict": {"post": {
                "operationId": "predict", "parameters": [_NAME, _VERSION], "requestBody": _BODY,
                "responses": {"200": _json(_ref("PredictResponse"), "predictions"), **predict_errors}}},
            "/ping": {"get": {"operationId": "ping", "security": [],
                              "description": "MLflow's readiness route: 200 once a model is served",
                              "responses": {"200": {"description": "ready (the body is one newline)"},
                                            **_errors(404, 503)}}},
            "/version": {"get": {"operationId": "version",
                                 "description": "the MLflow version whose protocol is served, as bare text; "
                                                "mlcycle's version in the X-Mlcycle-Version header",
                                 "responses": {"200": {"description": "e.g. 3.18.0"}, **_errors(401)}}},
            "/invocations": {"post": {
                "operationId": "invocations", "requestBody": _INVOCATIONS_BODY,
                "description": "MLflow scoring protocol, for the one production model",
                "responses": {"200": _json(_ref("InvocationsResponse"), "predictions"), **predict_errors}}},
            "/v1/models/{name}/feedback": {"post": {
                "operationId": "feedback", "parameters": [_NAME],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("FeedbackRequest")}}},
                "responses": {"200": _json(_ref("FeedbackResponse"), "stored"),
                              **_errors(400, 401, 404, 413, 415, 422)}}},
            "/metrics": {"get": {"operationId": "metrics", "responses": {"200": {
                "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
                **_errors(401)}}},
            "/openapi.json": {"get": {"operationId": "openapi", "responses": {"200": {
                "description": "this document", "content": {"application/json": {"schema": {"type": "object"}}}},
                **_errors(401)}}},
        },
    }

"""Prediction endpoints: `/v1/models`, `/v1/models/<name>/predict`, `/invocations`, feedback.

Why this exists: this is what clients call. Each view reads the JSON body
strictly (415 when not JSON, 400 when malformed, 413 over the size limit),
turns it into the model's columns (`server.inputs`), scores it (micro-batched
with concurrent requests), queues the log entry, and only then answers, so an
answered prediction is always logged.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from flask import Blueprint, Response, current_app, g, request

from mlcycle_tui.config import NAME_RE
from mlcycle_tui.server.errors import ApiError
from mlcycle_tui.server.inputs import body_frame, conform
from mlcycle_tui.server.jsonout import json_response
from mlcycle_tui.server.logwriter import LogBackpressure, LogEntry

if TYPE_CHECKING:
    from mlcycle_tui.server.models import ServedModel
    from mlcycle_tui.server.state import ServingState

bp = Blueprint("api", __name__)


def _state() -> ServingState:
    return current_app.extensions["mlcycle"]


def read_json() -> Any:
    """The request body as JSON (NaN and Infinity literals are accepted, as Python does).

    orjson parses 3 MB in about a third of the time of `json`; bodies it refuses (NaN
    literals, integers over 64 bits, invalid JSON) get a second chance with `json`, whose
    message is the one shown for invalid JSON.
    """
    if not request.is_json:
        raise ApiError(415, f"send JSON with `Content-Type: application/json` (got {request.mimetype or 'none'})")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
    if not raw:
        raise ApiError(400, "the body is empty; send a JSON object")
    g.bool_free = b"true" not in raw and b"false" not in raw  # lets many rows of numbers take a shortcut
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None


def _served(name: str, version: str | None) -> ServedModel:
    if not NAME_RE.match(name) or ".." in name:
        raise ApiError(404, f"no model {name!r}")
    if version is not None and not (version.isdigit() or NAME_RE.match(version)):
        raise ApiError(400, f"bad version {version!r}: give a version number or an alias")
    return _state().models.get(name, version)


def _score(served: ServedModel, body: Any) -> tuple[Any, list[Any], list[list[float]] | None, list[str], float]:
    t0 = time.perf_counter()
    inputs = served.inputs
    frame = body_frame(body, [c["name"] for c in inputs], numeric=served.numeric,
                       bool_free=bool(g.get("bool_free", False)))
    X, warnings = conform(frame, inputs)
    g.model, g.version = served.name, served.version
    try:
        pred, proba = served.predict(X)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ApiError(422, f"the model could not score these rows: {exc}") from None
    g.rows = len(pred)
    return X, pred, proba, warnings, (time.perf_counter() - t0) * 1000.0


def _ids(n: int) -> list[str]:
    """Unique ids (32 hex digits, like uuid4().hex): one random stem per request plus the row number."""
    if n == 1:
        return [uuid.uuid4().hex]
    stem = uuid.uuid4().hex[:22]
    return [f"{stem}{i:010x}" for i in range(n)]


def _log(served: ServedModel, X: Any, pred: list[Any], proba: list[list[float]] | None, ms: float,
         source: str) -> list[str]:
    ids = _ids(len(pred))
    if not _state().config.log_predictions:
        return ids
    entry = LogEntry(served.name, served.version, ids, X, pred, proba, ms, time.time(), source=source,
                     request_id=request.headers.get("X-Request-Id"))
    try:
        _state().writer.submit(entry)
    except LogBackpressure as exc:
        raise ApiError(503, f"busy: {exc}; retry shortly") from None
    return ids


@bp.get("/v1/models")
def list_models() -> Response:
    return json_response([m.describe() for m in _state().models.served()])


@bp.post("/v1/models/<name>/predict")
def predict(name: str) -> Response:
    served = _served(name, request.args.get("version"))
    g.model = served.name
    X, pred, proba, warnings, ms = _score(served, read_json())
    ids = _log(served, X, pred, proba, ms, "http")
    out: dict[str, Any] = {"model": served.name, "version": served.version, "predictions": pred,
                           "prediction_ids": ids}
    if proba is not None:
        out["probabilities"] = proba
        out["classes"] = served.classes
    if warnings:
        out["warnings"] = warnings
    return json_response(out)


@bp.post("/invocations")
def invocations() -> Response:
    served_models = _state().models.served()
    if not served_models:
        raise ApiError(404, "no model is in production; promote one with `mlcycle models promote NAME VERSION`")
    if len(served_models) > 1:
        names = ", ".join(m.name for m in served_models)
        raise ApiError(400, f"several models are served ({names}); use POST /v1/models/<name>/predict")
    served = served_models[0]
    g.model = served.name
    X, pred, proba, _, ms = _score(served, read_json())
    _log(served, X, pred, proba, ms, "invocations")
    return json_response({"predictions": pred})


@bp.post("/v1/models/<name>/feedback")
def feedback(name: str) -> Response:
    state = _state()
    if not NAME_RE.match(name) or ".." in name:
        raise ApiError(404, f"no model {name!r}")
    state.ws.registry.model_version(name)  # unknown model -> 404
    body = read_json()
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(400, 'the body must be {"feedback": [{"prediction_id": ID, "label": VALUE}, ...]}')
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "prediction_id" not in item or "label" not in item:
            raise ApiError(400, f'feedback item {i} needs "prediction_id" and "label"')
        if not isinstance(item["prediction_id"], str):
            raise ApiError(422, f"feedback item {i}: prediction_id must be a string")
        if isinstance(item["label"], list | dict):
            raise ApiError(422, f"feedback item {i}: label must be a single value")
    g.model = name
    state.writer.flush(timeout=5.0)  # predictions answered a moment ago must be findable
    return json_response(state.ws.predictions.add_feedback(name, items))

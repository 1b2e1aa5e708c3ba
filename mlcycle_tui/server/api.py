"""Prediction endpoints: `/v1/models`, `/v1/models/<name>/predict`, `/invocations`, feedback.

Why this exists: this is what clients call. Each view reads the body strictly
(`server.bodies`: JSON, and at `/invocations` CSV and Parquet too; 415 for another
content type, 400 when malformed, 413 over the size limit), turns it into the
model's columns (`server.inputs`), scores it (micro-batched
with concurrent requests), hands the log entry to the log writer and waits for
its commit (group commit, `server.logwriter`), and only then answers, so an
answered prediction is always logged, even if the process is killed after answering.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, g, request

from mlcycle_tui.config import NAME_RE
from mlcycle_tui.server.bodies import invocation_frame, json_frame, read_json
from mlcycle_tui.server.errors import ApiError
from mlcycle_tui.server.inputs import conform
from mlcycle_tui.server.jsonout import json_response
from mlcycle_tui.server.light import LightRows
from mlcycle_tui.server.logwriter import LogBackpressure, LogEntry

if TYPE_CHECKING:
    from mlcycle_tui.server.models import ServedModel
    from mlcycle_tui.server.state import ServingState

bp = Blueprint("api", __name__)
SQLITE_MAX_INT = 2**63 - 1  # the largest integer SQLite stores; larger ones raise OverflowError


def _state() -> ServingState:
    return current_app.extensions["mlcycle"]


def _shown(text: str, limit: int = 80) -> str:
    """`text` quoted for an error message, cut short: a client may send 5,000 characters."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def bounded_int(text: str, what: str, *, low: int = 1, high: int = SQLITE_MAX_INT) -> int | None:
    """`text` as an integer if it is one (ASCII digits only), None if it is not; ApiError 400 if out of range.

    Every integer read from a query string or a path must go through this: SQLite refuses integers
    beyond 64 bits (OverflowError, a 500), `int()` refuses more than 4,300 digits (ValueError) and
    `str.isdigit()` says yes to digits `int()` cannot read ("²").
    """
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    value = int(digits) if len(digits) <= len(str(high)) else None
    if value is None or not low <= value <= high:
        raise ApiError(400, f"bad {what} {_shown(text)}: a {what} number must be from {low} to {high}")
    return value


def _version_arg() -> str | None:
    values = request.args.getlist("version")
    if len(values) > 1:
        raise ApiError(400, f"`version` is given {len(values)} times; give it once (a number or an alias)")
    return values[0] if values else None


def _check_name(name: str) -> None:
    if not NAME_RE.match(name) or ".." in name:
        raise ApiError(404, f"no model {_shown(name)}")


def _served(name: str, version: str | None) -> ServedModel:
    _check_name(name)
    if version is None:
        return _state().models.get(name)
    number = bounded_int(version, "version")
    if number is not None:
        return _state().models.get(name, number)
    if not NAME_RE.match(version) or ".." in version:
        raise ApiError(400, f"bad version {_shown(version)}: give a version number (1 to {SQLITE_MAX_INT}) "
                            "or an alias (1-64 letters, digits, '_', '.' or '-', starting with a letter or digit)")
    return _state().models.get(name, version)


def _score(served: ServedModel, frame: Any) -> tuple[Any, list[Any], list[list[float]] | None, list[str], float]:
    """Check `frame` against the signature and score it: (X, predictions, probabilities, warnings, ms)."""
    t0 = time.perf_counter()
    X, warnings = (frame, []) if isinstance(frame, LightRows) else conform(frame, served.inputs)
    del frame  # the caller keeps no reference: the parsed body goes before the model runs
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
        _state().writer.commit(entry)  # returns once the rows are committed: answer after this
    except LogBackpressure as exc:
        raise ApiError(503, f"busy: {exc}; retry shortly") from None
    return ids


@bp.get("/v1/models")
def list_models() -> Response:
    return json_response([m.describe() for m in _state().models.served()])


@bp.post("/v1/models/<name>/predict")
def predict(name: str) -> Response:
    served = _served(name, _version_arg())
    g.model = served.name
    X, pred, proba, warnings, ms = _score(served, json_frame([c["name"] for c in served.inputs],
                                                             numeric=served.numeric, light=served.light))
    explained = _explain(served, X) if _explain_asked() else None
    ids = _log(served, X, pred, proba, ms, "http")
    out: dict[str, Any] = {"model": served.name, "version": served.version, "predictions": pred,
                           "prediction_ids": ids}
    if proba is not None:
        out["probabilities"] = proba
        out["classes"] = served.classes
    if explained is not None:
        out["contributions"] = explained["rows"]
        out["contributions_of"] = explained["of"]
        out["contributions_method"] = explained["method"]
        if "base" in explained:  # exact methods: base + the row's contributions = the output
            out["contributions_base"] = explained["base"]
        if explained.get("note"):
            out["contributions_note"] = explained["note"]
        out["reference"] = explained["reference"]
    if warnings:
        out["warnings"] = warnings
    return json_response(out)


def _explain_asked() -> bool:
    values = request.args.getlist("explain")
    if not values:
        return False
    word = values[-1].strip().lower()
    if len(values) > 1 or word not in ("true", "1", "yes", "false", "0", "no"):
        raise ApiError(400, "explain must be given once, as true or false (e.g. ?explain=true)")
    return word in ("true", "1", "yes")


def _explain(served: ServedModel, X: Any) -> dict[str, Any]:
    """Per-row contributions (experiments/explain.py: exact for trees and linear models, else occlusion)."""
    from mlcycle_tui.experiments import explain

    if len(X) > explain.MAX_EXPLAINED_ROWS:
        raise ApiError(400, f"explain=true takes at most {explain.MAX_EXPLAINED_ROWS} rows per request, got "
                            f"{len(X)}; send fewer rows or leave explain out")
    if served.reference is None:  # typical training values, read once per loaded version
        served.reference = _state().ws.evaluation.reference_values(served.mv)
    try:
        if isinstance(X, LightRows):
            X = X.frame()
        return explain.contributions(served.mv.task, served.fitted_pipeline(), X, served.reference,
                                     served.classes, served.mv.recipe.get("positive_class"))
    except (ValueError, TypeError, KeyError) as exc:
        raise ApiError(422, f"the contributions could not be computed for these rows: {exc}") from None


@bp.post("/invocations")
def invocations() -> Response:
    """MLflow's scoring protocol for the one production model: JSON, CSV or Parquet rows in,
    `{"predictions": [...]}` out, plus `prediction_ids` (for feedback), `model` and `version`:
    extra top-level keys, as MLflow's own `predictions_to_json` adds metadata, which MLflow's
    clients (`PredictionsResponse.get_predictions()`) leave alone."""
    served_models = _state().models.served()
    if not served_models:
        raise ApiError(404, "no model is in production; promote one with `mlcycle models promote NAME VERSION`")
    if len(served_models) > 1:
        names = ", ".join(m.name for m in served_models)
        raise ApiError(400, f"several models are served ({names}); use POST /v1/models/<name>/predict")
    served = served_models[0]
    g.model = served.name
    X, pred, proba, _, ms = _score(served, invocation_frame(served.inputs, numeric=served.numeric))
    ids = _log(served, X, pred, proba, ms, "invocations")
    return json_response({"predictions": pred, "prediction_ids": ids, "model": served.name,
                          "version": served.version})


@bp.post("/v1/models/<name>/feedback")
def feedback(name: str) -> Response:
    state = _state()
    _check_name(name)
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

"""Operational endpoints: `/health`, `/metrics` (Prometheus) and `/openapi.json`.

Why this exists: load balancers, Prometheus and API tooling each need one small
read-only answer; they are kept apart from the prediction endpoints.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from mlcycle_tui.server.jsonout import json_response
from mlcycle_tui.server.openapi import openapi_document

bp = Blueprint("ops", __name__)


def _state():
    return current_app.extensions["mlcycle"]


@bp.get("/health")
def health() -> Response:
    """`{"status": "ok", "models": N}`; "degraded" plus `problems` (one per model, naming the damaged
    file and what to do) when a production version cannot be served as it should. The status code
    stays 200 (the process is alive and serves what it can: a liveness probe must not restart it
    in a loop over a damaged file); the model's own requests answer 503."""
    models = _state().models
    problems = models.problems()
    body: dict[str, object] = {"status": "degraded" if problems else "ok", "models": len(models.served())}
    if problems:
        body["problems"] = problems
    return json_response(body)


@bp.get("/metrics")
def metrics() -> Response:
    state = _state()
    state.telemetry.log_pending.set(state.writer.pending)
    return Response(state.telemetry.exposition(), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


@bp.get("/openapi.json")
def openapi() -> Response:
    return json_response(openapi_document())

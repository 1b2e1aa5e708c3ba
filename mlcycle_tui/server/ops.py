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
    return json_response({"status": "ok", "models": len(_state().models.served())})


@bp.get("/metrics")
def metrics() -> Response:
    state = _state()
    state.telemetry.log_pending.set(state.writer.pending)
    return Response(state.telemetry.exposition(), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


@bp.get("/openapi.json")
def openapi() -> Response:
    return json_response(openapi_document())

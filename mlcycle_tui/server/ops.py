"""Operational endpoints: `/health`, `/ping`, `/version`, `/metrics` (Prometheus) and `/openapi.json`.

Why this exists: load balancers, Prometheus, MLflow's clients and API tooling each
need one small read-only answer; they are kept apart from the prediction endpoints.
`/ping` and `/version` answer as MLflow's scoring server does (`mlflow.pyfunc.scoring_server`),
so that `ScoringServerClient.wait_server_ready()` and `get_version()` work unchanged.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from mlcycle_tui import __version__
from mlcycle_tui.registry.export import MLFLOW_VERSION
from mlcycle_tui.server.errors import ApiError
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


@bp.get("/ping")
def ping() -> Response:
    """MLflow's readiness route: 200 and a body of one newline once a model is served (as MLflow's
    scoring server answers once its model is loaded; the same content type too). Without one:
    503 naming the damaged file when a production version cannot be loaded, else 404."""
    models = _state().models
    if models.served():
        return Response("\n", status=200, mimetype="application/json")
    problems = models.problems()
    if problems:
        raise ApiError(503, problems[0]["message"], code="model_unavailable")
    raise ApiError(404, "no model is served yet: promote one with `mlcycle models promote NAME VERSION` "
                        "(the server picks it up while running)")


@bp.get("/version")
def version() -> Response:
    """The MLflow version whose scoring protocol this server speaks, as MLflow's server answers it (the
    bare version text: `ScoringServerClient.get_version()` returns it as is); mlcycle's own version is
    in the `X-Mlcycle-Version` header, where no MLflow client looks."""
    return Response(MLFLOW_VERSION, status=200, mimetype="application/json",
                    headers={"X-Mlcycle-Version": __version__})


@bp.get("/metrics")
def metrics() -> Response:
    state = _state()
    state.telemetry.log_pending.set(state.writer.pending)
    return Response(state.telemetry.exposition(), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


@bp.get("/openapi.json")
def openapi() -> Response:
    return json_response(openapi_document())

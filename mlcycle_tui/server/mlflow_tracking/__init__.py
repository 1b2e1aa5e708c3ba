"""MLflow's tracking REST API, served by the prediction server: `MLFLOW_TRACKING_URI` may point here.

Why this exists: a training script that calls `mlflow.log_metric`, `mlflow.sklearn.autolog()` or
`mlflow.register_model` logs into the mlcycle workspace unchanged when its tracking URI is this
server; the same URL then scores the model it registered (`/invocations`). This package holds the
HTTP side only (MLflow's paths and methods, reading the request, writing MLflow's JSON and
MLflow's error shape `{"error_code", "message"}`); every mapping onto runs, artifacts and the
registry is in `mlcycle_tui.experiments.mlflow_compat`, imported on the first tracking request so
that the server starts as fast as before.

The endpoints are the ones the real `mlflow` 3.x client calls (found by running it: see
tests/server/test_mlflow_tracking.py), under `/api/2.0/mlflow/`, `/ajax-api/2.0/mlflow/`,
`/api/2.0/mlflow-artifacts/` and `/api/3.0/mlflow/server-info`. Others of MLflow's API answer
NOT_IMPLEMENTED (501) or ENDPOINT_NOT_FOUND (404) with a message, never a 500.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, request, send_file

from mlcycle_tui.common.errors import IntegrityError, MlcycleError, NotFoundError, UserError
from mlcycle_tui.server.errors import error_response
from mlcycle_tui.server.jsonout import json_response

if TYPE_CHECKING:
    from mlcycle_tui.experiments.mlflow_compat import MlflowTracking

bp = Blueprint("mlflow_tracking", __name__)
log = logging.getLogger("mlcycle.server")
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
ARTIFACT_MAX_BYTES = 2**30  # an artifact upload may be a large model: the server's body limit is for predictions
# MLflow's error codes -> HTTP status (mlflow.exceptions.ERROR_CODE_TO_HTTP_STATUS)
STATUS = {"INVALID_PARAMETER_VALUE": 400, "BAD_REQUEST": 400, "RESOURCE_ALREADY_EXISTS": 400,
          "RESOURCE_DOES_NOT_EXIST": 404, "ENDPOINT_NOT_FOUND": 404, "NOT_IMPLEMENTED": 501,
          "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401, "RESOURCE_CONFLICT": 409, "INVALID_STATE": 500,
          "DATA_LOSS": 500, "INTERNAL_ERROR": 500}
_lock = threading.Lock()


def _service() -> MlflowTracking:
    ext = current_app.extensions
    service = ext.get("mlcycle_mlflow")
    if service is None:
        with _lock:
            service = ext.get("mlcycle_mlflow")
            if service is None:
                from mlcycle_tui.experiments.mlflow_compat import MlflowTracking

                ws = ext["mlcycle"].ws
                service = MlflowTracking(db=ws.db, artifacts=ws.artifacts, events=ws.events, runs=ws.runs,
                                         registry=ws.registry, data=ws.data)
                ext["mlcycle_mlflow"] = service
    return service


def _mlflow_error(code: str, message: str) -> Response:
    return error_response(STATUS.get(code, 400), message, error_code=code)


@bp.errorhandler(MlcycleError)
def _errors(exc: MlcycleError) -> Response:
    code = getattr(exc, "error_code", None)
    if code is None:
        if isinstance(exc, NotFoundError):
            code = "RESOURCE_DOES_NOT_EXIST"
        elif isinstance(exc, UserError):
            code = "INVALID_PARAMETER_VALUE"
        elif isinstance(exc, IntegrityError):
            code = "DATA_LOSS"
        else:
            code = "BAD_REQUEST"
    return _mlflow_error(code, exc.message)


@bp.errorhandler(TypeError)
@bp.errorhandler(ValueError)
@bp.errorhandler(AttributeError)
@bp.errorhandler(KeyError)
def _shape(exc: Exception) -> Response:
    """A field of the wrong type that no check above caught: the client's request, so a 400, not a 500
    (the traceback goes to the log: it is a check to add)."""
    log.warning("MLflow tracking request %s %s could not be read", request.method, request.path, exc_info=exc)
    return _mlflow_error("INVALID_PARAMETER_VALUE", f"could not read the request's fields ({type(exc).__name__}: "
                                                    f"{str(exc)[:200]}); see MLflow's REST API for their types")


def _body() -> dict[str, Any]:
    if request.method == "GET":
        return {}
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UserError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise UserError("the request body must be a JSON object")
    return body


def _arg(name: str, *alts: str) -> Any:
    """A request field from the query string (GET) or the JSON body."""
    body = _body()
    for key in (name, *alts):
        if key in request.args:
            return request.args.get(key)
        if key in body:
            return body[key]
    return None


def _ok(doc: Any = None) -> Response:
    return json_response({} if doc is None else doc)


def route(path: str, methods: list[str]) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a view under both of MLflow's prefixes (`/api/2.0/mlflow`, `/ajax-api/2.0/mlflow`)."""
    def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
        for prefix in PREFIXES:
            endpoint = view.__name__ + prefix.replace('/', '_').replace('.', '_')
            bp.add_url_rule(prefix + path, endpoint, view, methods=methods)
        return view
    return wrap


def unsupported(path: str, methods: list[str], what: str, instead: str = "") -> None:
    def view(**_: Any) -> Response:
        from mlcycle_tui.experiments.mlflow_compat import not_supported

        raise not_supported(what, instead)
    view.__name__ = "unsupported_" + path.strip("/").replace("/", "_").replace("-", "_").replace("<", "").replace(
        ">", "").replace(":", "_")
    route(path, methods)(view)


# -- experiments ------------------------------------------------------------------------------
@route("/experiments/get-by-name", ["GET"])
def get_experiment_by_name() -> Response:
    return _ok({"experiment": _service().experiment_by_name(_arg("experiment_name"))})


@route("/experiments/get", ["GET"])
def get_experiment() -> Response:
    return _ok({"experiment": _service().experiment(_arg("experiment_id"))})


@route("/experiments/create", ["POST"])
def create_experiment() -> Response:
    body = _body()
    return _ok({"experiment_id": _service().create_experiment(body.get("name"), body.get("artifact_location"),
                                                              body.get("tags"))})


@route("/experiments/search", ["GET", "POST"])
def search_experiments() -> Response:
    return _ok(_service().search_experiments(_arg("filter"), _arg("max_results"), _arg("page_token"),
                                             _arg("view_type")))


for _path, _what in (("/experiments/delete", "deleting experiments"),
                     ("/experiments/restore", "restoring experiments"),
                     ("/experiments/update", "renaming experiments"),
                     ("/experiments/set-experiment-tag", "experiment tags"),
                     ("/experiments/delete-experiment-tag", "experiment tags")):
    unsupported(_path, ["POST"], _what, "tag the runs instead")


# -- runs -------------------------------------------------------------------------------------
@route("/runs/create", ["POST"])
def create_run() -> Response:
    return _ok(_service().create_run(_body()))


@route("/runs/get", ["GET"])
def get_run() -> Response:
    return _ok({"run": _service().run_entity(_arg("run_id", "run_uuid"))})


@route("/runs/update", ["POST"])
def update_run() -> Response:
    return _ok(_service().update_run(_body()))


@route("/runs/delete", ["POST"])
def delete_run() -> Response:
    _service().delete_run(_arg("run_id"))
    return _ok()


unsupported("/runs/restore", ["POST"], "restoring runs", "mlcycle deletes runs for good")


@route("/runs/log-metric", ["POST"])
def log_metric() -> Response:
    body = _body()
    _service().log_batch(body.get("run_id") or body.get("run_uuid"), metrics=[
        {"key": body.get("key"), "value": body.get("value"), "timestamp": body.get("timestamp"),
         "step": body.get("step")}])
    return _ok()


@route("/runs/log-parameter", ["POST"])
def log_param() -> Response:
    body = _body()
    _service().log_param(body.get("run_id") or body.get("run_uuid"), body.get("key"), body.get("value"))
    return _ok()


@route("/runs/set-tag", ["POST"])
def set_tag() -> Response:
    body = _body()
    _service().set_tag(body.get("run_id") or body.get("run_uuid"), body.get("key"), body.get("value"))
    return _ok()


@route("/runs/delete-tag", ["POST"])
def delete_tag() -> Response:
    body = _body()
    _service().delete_tag(body.get("run_id"), body.get("key"))
    return _ok()


@route("/runs/log-batch", ["POST"])
def log_batch() -> Response:
    body = _body()
    _service().log_batch(body.get("run_id"), body.get("metrics"), body.get("params"), body.get("tags"))
    return _ok()


@route("/runs/log-inputs", ["POST"])
def log_inputs() -> Response:
    body = _body()
    _service().log_inputs(body.get("run_id"), body.get("datasets"), body.get("models"))
    return _ok()


@route("/runs/outputs", ["POST"])
def log_outputs() -> Response:
    body = _body()
    _service().log_outputs(body.get("run_id"), body.get("models"))
    return _ok()


@route("/runs/log-model", ["POST"])
def log_model_legacy() -> Response:
    """MLflow 2's record of a model logged into the run's artifacts: the files are what counts."""
    _service().run_entity(_arg("run_id"))  # 404 for an unknown run
    return _ok()


@route("/runs/search", ["POST", "GET"])
def search_runs() -> Response:
    body = _body() if request.method == "POST" else {
        "experiment_ids": request.args.getlist("experiment_ids"), "filter": request.args.get("filter"),
        "run_view_type": request.args.get("run_view_type"), "max_results": request.args.get("max_results"),
        "order_by": request.args.getlist("order_by"), "page_token": request.args.get("page_token")}
    return _ok(_service().search_runs(body))


@route("/metrics/get-history", ["GET"])
def metric_history() -> Response:
    return _ok(_service().metric_history(_arg("run_id", "run_uuid"), _arg("metric_key"), _arg("max_results"),
                                         _arg("page_token")))


unsupported("/metrics/get-history-bulk-interval", ["GET"], "sampled metric histories",
            "read each run's history with get_metric_history")


@route("/artifacts/list", ["GET"])
def list_run_artifacts() -> Response:
    return _ok(_service().list_run_artifacts(_arg("run_id", "run_uuid"), _arg("path")))


# -- logged models (MLflow 3) -------------------------------------------------------------------
@route("/logged-models", ["POST"])
def create_logged_model() -> Response:
    return _ok(_service().create_logged_model(_body()))


@route("/logged-models/search", ["POST"])
def search_logged_models() -> Response:
    return _ok(_service().search_logged_models(_body()))


@route("/logged-models/<model_id>", ["GET", "PATCH"])
def logged_model(model_id: str) -> Response:
    if request.method == "GET":
        return _ok(_service().get_logged_model(model_id))
    return _ok(_service().update_logged_model(model_id, status=_body().get("status")))


@route("/logged-models/<model_id>/tags", ["PATCH"])
def logged_model_tags(model_id: str) -> Response:
    _service().update_logged_model(model_id, tags=_body().get("tags"))
    return _ok()


@route("/logged-models/<model_id>/tags/<path:key>", ["DELETE"])
def logged_model_delete_tag(model_id: str, key: str) -> Response:
    _service().update_logged_model(model_id, delete_tag=key)
    return _ok()


@route("/logged-models/<model_id>/params", ["POST"])
def logged_model_params(model_id: str) -> Response:
    _service().update_logged_model(model_id, params=_body().get("params"))
    return _ok()


@route("/logged-models/<model_id>/artifacts/directories", ["GET"])
def logged_model_artifacts(model_id: str) -> Response:
    service = _service()
    doc = service.get_logged_model(model_id)["model"]["info"]
    path = f"{doc['experiment_id']}/models/{model_id}/artifacts/" + str(_arg("artifact_directory_path") or "")
    return _ok({"root_uri": doc["artifact_uri"], "files": service.list_artifacts(path.rstrip("/"))})


unsupported("/logged-models/<model_id>", ["DELETE"], "deleting logged models")


# -- the model registry -------------------------------------------------------------------------
@route("/registered-models/create", ["POST"])
def create_registered_model() -> Response:
    body = _body()
    return _ok(_service().create_registered_model(body.get("name"), body.get("description")))


@route("/registered-models/get", ["GET"])
def get_registered_model() -> Response:
    return _ok(_service().get_registered_model(_arg("name")))


@route("/registered-models/search", ["GET", "POST"])
def search_registered_models() -> Response:
    return _ok(_service().search_registered_models(_arg("filter"), _arg("max_results"), _arg("page_token")))


@route("/registered-models/get-latest-versions", ["GET", "POST"])
def latest_versions() -> Response:
    entity = _service().get_registered_model(_arg("name"))["registered_model"]
    return _ok({"model_versions": entity.get("latest_versions", [])})


@route("/registered-models/alias", ["POST", "DELETE", "GET"])
def alias() -> Response:
    service = _service()
    if request.method == "GET":
        return _ok(service.version_by_alias(_arg("name"), _arg("alias")))
    if request.method == "DELETE":
        service.delete_alias(_arg("name"), _arg("alias"))
        return _ok()
    body = _body()
    service.set_alias(body.get("name"), body.get("alias"), body.get("version"))
    return _ok()


for _path, _methods, _what in (("/registered-models/rename", ["POST"], "renaming registered models"),
                               ("/registered-models/update", ["PATCH"], "editing registered models"),
                               ("/registered-models/delete", ["DELETE"], "deleting registered models"),
                               ("/registered-models/set-tag", ["POST"], "registered model tags"),
                               ("/registered-models/delete-tag", ["DELETE"], "registered model tags"),
                               ("/model-versions/update", ["PATCH"], "editing model versions"),
                               ("/model-versions/delete", ["DELETE"], "deleting model versions"),
                               ("/model-versions/set-tag", ["POST"], "model version tags"),
                               ("/model-versions/delete-tag", ["DELETE"], "model version tags")):
    unsupported(_path, _methods, _what, "mlcycle keeps every version; move aliases with set_registered_model_alias")
unsupported("/model-versions/transition-stage", ["POST"], "model stages (deprecated in MLflow)",
            "use aliases: set_registered_model_alias(name, 'production', version)")


@route("/model-versions/create", ["POST"])
def create_model_version() -> Response:
    return _ok(_service().create_model_version(_body()))


@route("/model-versions/get", ["GET"])
def get_model_version() -> Response:
    return _ok(_service().model_version(_arg("name"), _arg("version")))


@route("/model-versions/get-download-uri", ["GET"])
def model_version_download_uri() -> Response:
    return _ok(_service().download_uri(_arg("name"), _arg("version")))


@route("/model-versions/search", ["GET", "POST"])
def search_model_versions() -> Response:
    return _ok(_service().search_model_versions(_arg("filter"), _arg("max_results"), _arg("page_token")))


# -- the artifacts proxy and the server's capabilities --------------------------------------------
@bp.get("/api/3.0/mlflow/server-info")
def server_info() -> Response:
    return _ok({"store_type": "mlcycle", "workspaces_enabled": False, "trace_archival_enabled": False,
                "multipart_uploads_enabled": False, "multipart_downloads_enabled": False,
                "artifacts_presigned_only": False, "presigned_upload_run_id_supported": False,
                "presigned_upload_model_id_supported": False})


@bp.get(ARTIFACTS)
def list_artifacts() -> Response:
    return _ok({"files": _service().list_artifacts(request.args.get("path"))})


@bp.route(ARTIFACTS + "/<path:artifact_path>", methods=["GET", "PUT", "DELETE"])
def artifact(artifact_path: str) -> Response:
    service = _service()
    if request.method == "PUT":
        request.max_content_length = ARTIFACT_MAX_BYTES
        service.put_artifact(artifact_path, request.stream)
        return _ok()
    if request.method == "DELETE":
        from mlcycle_tui.experiments.mlflow_compat import not_supported

        raise not_supported("deleting artifacts", "artifacts stay with their run until the run is deleted")
    path = service.artifact_file(artifact_path)
    mimetype = mimetypes.guess_type(artifact_path)[0] or "application/octet-stream"
    return send_file(path, mimetype=mimetype, conditional=False, etag=False)


@bp.route("/api/2.0/mlflow-artifacts/mpu/<path:_rest>", methods=["POST"])
def multipart(_rest: str) -> Response:
    from mlcycle_tui.experiments.mlflow_compat import not_supported

    raise not_supported("multipart uploads", "the server answers multipart_uploads_enabled: false")

"""HTTP errors of the prediction server: always JSON, read alike by mlcycle's and MLflow's clients.

Why this exists: a client must never get an HTML page or a 500 for something
it sent. Views raise `ApiError` (or a core `UserError`/`NotFoundError`); the
handlers registered here turn those, every werkzeug `HTTPException` (404,
405, 413, ...) and any unexpected exception into the same JSON shape::

    {"error_code": "BAD_REQUEST", "message": "...",           # what MLflow's clients read
     "error": {"code": "bad_request", "message": "...", ...}}  # mlcycle's own, with details

`error_code` is one of MLflow's codes (`mlflow.protos.databricks_pb2.ErrorCode`)
chosen so that MLflow's `ERROR_CODE_TO_HTTP_STATUS` gives back the same status
class; the message is the same text at both levels.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from mlcycle_tui.common.errors import MlcycleError, NotFoundError, UserError
from mlcycle_tui.server.jsonout import json_response

log = logging.getLogger("mlcycle.server")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "schema_mismatch",
    500: "internal",
    501: "not_implemented",
    503: "unavailable",
}
# HTTP status -> MLflow's error_code. MLflow has no code of its own for 405, 413, 415 and 422:
# they are client errors, so BAD_REQUEST (400) or INVALID_PARAMETER_VALUE (400), as MLflow's
# scoring server answers a body it cannot read or a schema it cannot enforce.
MLFLOW_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "BAD_REQUEST",
    409: "RESOURCE_CONFLICT",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    422: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


RAISE_THE_LIMIT = ("raise the limit: `mlcycle serve --max-body-mb MiB`, or `max_body_mb` in the [server] section "
                   "of the workspace's config.toml")


def mlflow_code(status: int) -> str:
    """MLflow's `error_code` for an HTTP status (INTERNAL_ERROR for 5xx it has no code for)."""
    return MLFLOW_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")


class ApiError(Exception):
    """An error answer with an HTTP status, a short code and a message for people.

    `error_code` overrides MLflow's code chosen from the status (e.g. RESOURCE_ALREADY_EXISTS);
    `extra` keys go into the `error` object beside `code` and `message`.
    """

    def __init__(self, status: int, message: str, code: str | None = None, *, error_code: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.error_code = error_code or mlflow_code(status)
        self.extra = extra


def error_body(status: int, message: str, code: str | None = None, error_code: str | None = None,
               **extra: Any) -> dict[str, Any]:
    """The JSON document of an error answer (see the module doc)."""
    inner: dict[str, Any] = {"code": code or _CODES.get(status, "error"), "message": message}
    inner.update(extra)
    return {"error_code": error_code or mlflow_code(status), "message": message, "error": inner}


def error_response(status: int, message: str, code: str | None = None, error_code: str | None = None,
                   **extra: Any) -> Response:
    resp = json_response(error_body(status, message, code, error_code, **extra), status=status)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="mlcycle"'
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.code, exc.error_code, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        error_code = None
        if status == 404:  # no such route (unknown models raise ApiError / NotFoundError)
            error_code = "ENDPOINT_NOT_FOUND"
            if _path():
                message = f"no endpoint {_path()}; GET /openapi.json lists the endpoints"
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            message = (f"the request body is larger than the limit of {limit:,} bytes ({limit / 2**20:g} MiB); "
                       f"send fewer rows per request, or {RAISE_THE_LIMIT}")
        resp = error_response(status, message, error_code=error_code)
        if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
        return resp

    @app.errorhandler(MlcycleError)
    def _core(exc: MlcycleError) -> Response:
        if isinstance(exc, NotFoundError):
            return error_response(404, exc.message)
        if isinstance(exc, UserError):
            return error_response(422, exc.message, exc.code)
        log.exception("operation failed")
        return error_response(500, exc.message, exc.code)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error while serving a request")
        return error_response(500, f"internal error: {type(exc).__name__}; see the server log")


def _path() -> str:
    """The request's path, cut short, for a 404 message ('' outside a request)."""
    from flask import has_request_context, request

    if not has_request_context():
        return ""
    path = request.path
    return repr(path) if len(path) <= 80 else f"{path[:80]!r}... ({len(path)} characters)"

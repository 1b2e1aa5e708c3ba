"""HTTP errors of the prediction server, always as JSON `{"error": {"code", "message"}}`.

Why this exists: a client must never get an HTML page or a 500 for something
it sent. Views raise `ApiError` (or a core `UserError`/`NotFoundError`); the
handlers registered here turn those, every werkzeug `HTTPException` (404,
405, 413, ...) and any unexpected exception into the same JSON shape.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from mlcycle_tui.common.errors import MlcycleError, NotFoundError, UserError

log = logging.getLogger("mlcycle.server")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "schema_mismatch",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answer with an HTTP status, a short code and a message for people."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.extra = extra


def error_response(status: int, message: str, code: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code or _CODES.get(status, "error"), "message": message}
    body.update(extra)
    resp = jsonify({"error": body})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="mlcycle"'
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.code, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"request body is larger than the limit of {limit} bytes (server.max_body_mb)"
        resp = error_response(status, message)
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

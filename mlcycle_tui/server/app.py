"""The prediction server's Flask app factory: `create_app(workspace, config)`.

Why this exists: the server has three users (the `mlcycle serve` command, the
TUI's Serve screen and the daemon) and a test suite; all of them build the app
here, the way Flask's tutorial does, and run it with `server.runner`. The
factory wires the blueprints (`api`: predictions, feedback, models; `ops`:
health, metrics, OpenAPI; `mlflow_tracking`: MLflow's tracking REST API), the
token check, the per-request accounting and the JSON error handlers, and starts
the served-model cache and the log writer.
Call `app.extensions["mlcycle"].close()` (the runner does) to flush the log.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider

from mlcycle_tui.server.errors import ApiError, register_error_handlers
from mlcycle_tui.server.state import ServerConfig, ServingState, check_bind

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace

# answered without a token: liveness and readiness probes carry none (nor does MLflow's ScoringServerClient)
OPEN_PATHS = frozenset({"/health", "/ping"})


def create_app(workspace: Workspace, config: dict[str, Any] | ServerConfig | None = None) -> Flask:
    """A ready app serving every model of `workspace` that has a `production` alias.

    `config` overrides the workspace's `[server]` settings: host, token,
    max_body_mb (default `config.DEFAULT_MAX_BODY_MB`), batching, batch_window_ms,
    poll_interval (0 = no hot swap), log_queue_size, log_flush_interval, log_put_timeout,
    log_max_defer. A non-loopback host without a token raises `UserError`.
    """
    cfg = config if isinstance(config, ServerConfig) else ServerConfig.build(workspace.settings, config)
    check_bind(cfg.host, cfg.token)
    app = Flask("mlcycle_tui.server")
    # `a//b` or an encoded slash in a model name is a 404 in JSON, not an HTML redirect
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = int(cfg.max_body_mb * 1024 * 1024)
    provider = DefaultJSONProvider(app)
    provider.sort_keys = False
    app.json = provider
    state = ServingState(workspace, cfg)
    app.extensions["mlcycle"] = state

    from mlcycle_tui.server.api import bp as api_bp
    from mlcycle_tui.server.mlflow_tracking import bp as mlflow_bp
    from mlcycle_tui.server.ops import bp as ops_bp

    app.register_blueprint(ops_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(mlflow_bp)  # MLflow's tracking REST API (MLFLOW_TRACKING_URI may point here)
    register_error_handlers(app)
    _install_hooks(app, state)
    state.start()
    return app


def _install_hooks(app: Flask, state: ServingState) -> None:
    token = state.config.token.encode() if state.config.token else None

    @app.before_request
    def _begin() -> None:
        g.t0 = time.perf_counter()
        state.enter()
        if token is not None and request.path not in OPEN_PATHS:
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
                raise ApiError(401, "missing or wrong token: send `Authorization: Bearer TOKEN`")

    @app.after_request
    def _account(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        state.telemetry.observe(
            endpoint=rule, method=request.method, path=request.path, status=response.status_code,
            seconds=time.perf_counter() - g.get("t0", time.perf_counter()),
            model=g.get("model", ""), version=g.get("version"), rows=g.get("rows", 0),
        )
        return response

    @app.teardown_request
    def _end(exc: BaseException | None) -> None:
        state.leave()


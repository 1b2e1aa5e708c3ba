"""The bind rule (token needed beyond loopback) and the bearer token check."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.server.app import create_app
from mlcycle_tui.server.runner import ServerRunner
from mlcycle_tui.server.state import check_bind, is_loopback

from .helpers import ROW, Client


def test_loopback_rule():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "secret")
    with pytest.raises(UserError, match="without a token"):
        check_bind("0.0.0.0", None)


def test_create_app_refuses_public_host_without_token(ws):
    with pytest.raises(UserError, match="--token"):
        create_app(ws, {"host": "0.0.0.0", "poll_interval": 0})
    app = create_app(ws, {"host": "0.0.0.0", "token": "s3cret", "poll_interval": 0})
    try:
        c = app.test_client()
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    finally:
        app.extensions["mlcycle"].close()


def test_runner_refuses_public_host_without_token(ws, monkeypatch):
    monkeypatch.delenv("MLCYCLE_TOKEN", raising=False)
    with pytest.raises(UserError):
        ServerRunner(ws, "0.0.0.0", 0).start()


def test_token_on_a_real_loopback_server(ws):
    with ServerRunner(ws, "127.0.0.1", 0, token="s3cret", config={"poll_interval": 0}) as runner:
        anon = Client(runner.port)
        status, out = anon.post("/v1/models/penguins/predict", {"instances": [ROW]})
        assert status == 401 and out["error"]["code"] == "unauthorized"
        assert anon.post("/v1/models/penguins/predict", {"instances": [ROW]},
                         headers={"Authorization": "Bearer wrong"})[0] == 401
        assert anon.post("/v1/models/penguins/predict", {"instances": [ROW]},
                         headers={"Authorization": "Basic s3cret"})[0] == 401
        assert anon.get("/metrics")[0] == 401
        assert anon.get("/health")[0] == 200  # liveness probes carry no token
        authed = Client(runner.port, token="s3cret")
        assert authed.post("/v1/models/penguins/predict", {"instances": [ROW]})[0] == 200
        assert authed.get("/metrics")[0] == 200


def test_cli_refuses_public_host_without_token(ws):
    env = {k: v for k, v in os.environ.items() if k != "MLCYCLE_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(ws.home), "--host", "0.0.0.0",
                           "--port", "0"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert "without a token" in proc.stderr and "--token" in proc.stderr


def test_cli_has_no_workers_option_and_refuses_zero_threads(ws):
    proc = subprocess.run([sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(ws.home), "--workers", "2",
                           "--port", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unrecognized arguments: --workers" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(ws.home), "--threads", "0",
                           "--port", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--threads must be at least 1" in proc.stderr

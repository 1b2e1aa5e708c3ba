"""The Serve screen: start a real server (port 0) from the screen, send traffic, see it, stop it, quit."""

from __future__ import annotations

import socket

from textual.widgets import DataTable, Input

from mlcycle_tui.tui.screens.serve import ServeScreen
from mlcycle_tui.tui.widgets.fit_table import FitTable
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import ROW, make_ops_app, post, wait_until

PREDICT = "/v1/models/penguins/predict"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_empty_workspace_says_what_to_serve(workspace: Workspace) -> None:
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ServeScreen)
        assert "stopped" in text_of(app, "#serve-status")
        assert "No production model yet" in text_of(app, "#serve-no-models")
        assert app.screen.query_one("#serve-port", Input).value == "5005"
        assert app.screen.check_action("stop", ()) is None


async def test_start_send_watch_stop_and_quit(trained: Workspace) -> None:
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ServeScreen)
        served = screen.query_one("#serve-models", DataTable)
        assert [str(c) for c in served.get_row_at(0)] == ["penguins", "v1", "classification"]
        screen.query_one("#serve-port", Input).value = "0"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.services.server_running and not screen.starting)
        assert "running on http://127.0.0.1:" in text_of(app, "#serve-status")
        url = app.services.server.url
        assert all(w.disabled for w in screen.query("#serve-form Input"))

        status, out = post(url + PREDICT, {"instances": [ROW, ROW]})
        assert status == 200 and len(out["predictions"]) == 2
        status, out = post(url + PREDICT, {"instances": [{"island": "Dream"}]})
        assert status == 422
        await wait_until(pilot, lambda: text_of(app, "#serve-total").startswith("2 "))
        assert text_of(app, "#serve-4xx") == "1" and text_of(app, "#serve-5xx") == "0"  # labelled tiles
        assert (screen.query_one("#serve-4xx").border_title, screen.query_one("#serve-5xx").border_title) == (
            "4xx", "5xx")
        assert "ms" in text_of(app, "#serve-p50")
        recent = screen.query_one("#serve-recent", FitTable)
        # the refusal (from the app's server) and the answered request (from the prediction log)
        await wait_until(pilot, lambda: recent.row_count == 2)
        assert "422" in str(recent.get_cell("0", "status"))
        assert "POST /v1/models/penguins/predict" in recent.full_text("0", "source")  # the table may cut it
        assert str(recent.get_cell("1", "status")) == "200" and str(recent.get_cell("1", "rows")) == "2"

        # stop: the port closes and the log is flushed
        port = app.services.server.port
        await pilot.press("x")
        await wait_until(pilot, lambda: not app.services.server_running and not screen.stopping)
        assert "stopped" in text_of(app, "#serve-status")
        assert not _port_open(port)
        assert trained.predictions.count("penguins") == 2

        # start again and quit with it running: quitting stops it
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.services.server_running and not screen.starting)
        port = app.services.server.port
        assert _port_open(port)
        post(app.services.server.url + PREDICT, {"instances": [ROW]})
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running)
    assert not _port_open(port)
    assert trained.predictions.count("penguins") == 3


async def test_port_in_use_and_token_needed_are_shown(trained: Workspace) -> None:
    app = make_ops_app(trained)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s")
            await pilot.pause()
            screen = app.screen
            screen.query_one("#serve-port", Input).value = str(taken)
            await pilot.press("enter")
            await wait_until(pilot, lambda: not screen.starting)
            assert not app.services.server_running
            assert "cannot listen" in text_of(app, "#serve-error")

            screen.query_one("#serve-host", Input).value = "0.0.0.0"
            screen.query_one("#serve-port", Input).value = "0"
            await pilot.press("enter")
            await wait_until(pilot, lambda: not screen.starting)
            assert not app.services.server_running
            assert "without a token" in text_of(app, "#serve-error")

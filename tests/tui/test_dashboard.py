"""The Dashboard: a tile per stage with its state and key, next steps when empty, the server tile live."""

from __future__ import annotations

from textual.widgets import DataTable

from mlcycle_tui.tui.screens.dashboard import DashboardScreen
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import make_ops_app, wait_until


async def test_empty_workspace_tiles_say_what_to_do(workspace: Workspace) -> None:
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert "0 datasets" in text_of(app, "#tile-datasets") and "press d, then i" in text_of(app, "#tile-datasets")
        assert "0 runs" in text_of(app, "#tile-runs")
        assert "none in production" in text_of(app, "#tile-production")
        assert "stopped" in text_of(app, "#tile-server")
        assert "no checks yet" in text_of(app, "#tile-drift")
        assert "0 queued" in text_of(app, "#tile-jobs")
        assert "mlcycle demo" in text_of(app, "#dashboard-empty")
        assert app.screen.query_one("#tile-jobs").border_subtitle == "key j"


async def test_tiles_show_the_cycle(trained: Workspace) -> None:
    trained.jobs.enqueue_retrain("penguins", "test")
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "1 queued" in text_of(app, "#tile-jobs"))
        assert "1 dataset" in text_of(app, "#tile-datasets") and "penguins@1" in text_of(app, "#tile-datasets")
        assert "1 run" in text_of(app, "#tile-runs") and "best rf f1" in text_of(app, "#tile-runs")
        assert "penguins@1" in text_of(app, "#tile-production")
        events = app.screen.query_one("#events", DataTable)
        assert events.row_count >= 4
        assert str(events.get_row_at(0)[1]) == "job"

        app.services.start_server("127.0.0.1", 0)
        try:
            await wait_until(pilot, lambda: "running" in text_of(app, "#tile-server"), timeout=5)
            assert app.services.server.url in text_of(app, "#tile-server")
        finally:
            app.services.stop_server()
        await pilot.press("s")  # the tile's key goes to the stage
        await pilot.pause()
        assert app.current_mode == "serve"

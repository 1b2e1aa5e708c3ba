"""Screens that follow the state (issue 18): each test failed before its fix.

On the `demo` workspace (penguins@3 in production after a retraining job, 40 logged predictions, a drift
check every hour and a paused one every day): run now updates its row, a paused schedule offers Resume,
the Models screen follows a rollback made elsewhere, the Monitor says what became of the retraining job,
Serve shows the logged traffic with labelled tiles, split and validate keep the Data screen's tab and
column, confirmations name their keys and Enter confirms a rollback.
"""

from __future__ import annotations

import pytest
from textual.widgets import Button, DataTable, Input, TabbedContent

from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.dialogs.split import SplitDialog
from mlcycle_tui.tui.screens.data import DataScreen
from mlcycle_tui.tui.screens.models import ModelsScreen
from mlcycle_tui.tui.screens.monitor import MonitorScreen
from mlcycle_tui.tui.screens.schedules import SchedulesScreen
from mlcycle_tui.tui.screens.serve import ServeScreen
from mlcycle_tui.tui.widgets.column_chart import ColumnChart
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import make_ops_app, wait_until


def _column(app, key: str) -> list[str]:  # type: ignore[no-untyped-def]
    table = app.screen.query_one("#sched-table", DataTable)
    return [str(table.get_cell(row.key, key)) for row in table.ordered_rows]


async def _open_schedules(app, pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("k")
    await wait_until(pilot, lambda: isinstance(app.screen, SchedulesScreen) and len(app.screen.rows) == 2
                     and app.screen.query_one("#sched-table", DataTable).row_count == 2)


async def test_run_now_shows_the_run_in_its_row(demo: Workspace) -> None:
    app = make_ops_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await _open_schedules(app, pilot)
        assert _column(app, "last")[0] == "never"
        assert "· 0 runs" in text_of(app, "#sched-detail")
        await pilot.press("g")
        await wait_until(pilot, lambda: any(n.title == "Ran drift 1" for n in app._notifications))
        await wait_until(pilot, lambda: _column(app, "last")[0].endswith("ago"))
        assert "· 1 run" in text_of(app, "#sched-detail") and "1 runs" not in text_of(app, "#sched-detail")
        assert _column(app, "result")[0].startswith("skipped")  # no traffic for v3 yet, and it says so
        assert demo.schedules.all()[0]["runs"] == 1


async def test_a_paused_schedule_offers_resume_and_the_header_counts_it_apart(demo: Workspace) -> None:
    app = make_ops_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await _open_schedules(app, pilot)
        screen = app.screen
        assert screen.active_bindings["p"].binding.description == "Pause"
        assert "2 schedules wait · 1 paused" in text_of(app, "#sched-status")  # the scheduler is off here
        await pilot.press("down")
        await wait_until(pilot, lambda: "drift 2" in text_of(app, "#sched-detail"))
        assert screen.active_bindings["p"].binding.description == "Resume"
        await pilot.press("p")
        await wait_until(pilot, lambda: not demo.schedules.all()[1]["paused"])
        await wait_until(pilot, lambda: "2 schedules wait" in text_of(app, "#sched-status")
                         and "paused" not in text_of(app, "#sched-status"))
        assert screen.active_bindings["p"].binding.description == "Pause"

        app.services.start_scheduler(sync_interval=60)  # the wording while the scheduler runs
        demo.schedules.pause("drift", 1)
        await wait_until(pilot, lambda: "1 schedule runs on its own · 1 paused" in text_of(app, "#sched-status"))


async def test_models_follow_a_rollback_made_elsewhere(demo: Workspace) -> None:
    app = make_ops_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen)
                         and "it is the production version" in text_of(app, "#gate-text"))
        assert "penguins@3" in text_of(app, "#gate-text")
        demo.registry.rollback("penguins")  # as `mlcycle models promote` from another terminal would
        await wait_until(pilot, lambda: "gates for penguins@3 against production v2" in text_of(app, "#gate-text"))
        table = app.screen.query_one("#model-versions", DataTable)
        assert str(table.get_cell("2", "aliases")) == "production"
        assert "production v3 → v2 by rollback" in text_of(app, "#history-text")


async def test_monitor_says_what_became_of_the_retraining_job(demo: Workspace) -> None:
    assert demo.jobs.get(1)["status"] == "done"
    app = make_ops_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.report is not None)
        summary = text_of(app, "#mon-summary")
        assert "retraining job 1 done" in summary and "queued" not in summary
        assert "share 85.7%, threshold 50.0%" in summary  # the key numbers


async def test_serve_shows_the_logged_traffic_with_labelled_tiles(demo: Workspace) -> None:
    app = make_ops_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        recent = app.screen.query_one("#serve-recent", DataTable)
        await wait_until(pilot, lambda: isinstance(app.screen, ServeScreen) and recent.row_count == 20)
        assert not app.services.server_running  # served by nobody in this app: it is the log's traffic
        assert [str(recent.get_cell("0", k)) for k in ("when", "source", "rows", "status", "model")] == [
            "4 min ago", "http", "1", "200", "penguins@2"]
        assert text_of(app, "#serve-total") == "40 · 40 rows"
        assert "ms" in text_of(app, "#serve-p50") and "ms" in text_of(app, "#serve-p95")
        titles = [app.screen.query_one(f"#serve-{key}").border_title for key in ("total", "p50", "p95", "4xx", "5xx")]
        assert titles == ["requests", "p50", "p95", "4xx", "5xx"]
        assert "40 requests logged in 24 h" in text_of(app, "#serve-recent-title")


@pytest.mark.slow
async def test_split_and_validate_keep_the_tab_and_the_column(demo: Workspace) -> None:
    app = make_ops_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DataScreen) and app.screen.selected is not None)
        screen = app.screen
        tabs = screen.query_one("#details", TabbedContent)
        profile = screen.query_one("#profile", DataTable)
        profile.focus()
        await pilot.press("down", "down", "down")  # bill_depth_mm
        chart = screen.query_one("#chart", ColumnChart)
        await wait_until(pilot, lambda: chart.column == "bill_depth_mm")
        await pilot.press("2")
        assert tabs.active == "tab-validation"
        await pilot.press("3")
        assert tabs.active == "tab-splits"
        await pilot.press("1")
        assert tabs.active == "tab-chart"

        await pilot.press("v")
        await wait_until(pilot, lambda: "passed" in text_of(app, "#validation"))
        await pilot.pause(0.2)
        assert tabs.active == "tab-validation"
        assert (chart.column, profile.cursor_row) == ("bill_depth_mm", 3)

        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, SplitDialog))
        app.screen.query_one("#split-seed", Input).value = "7"  # not the split training made
        await pilot.click("#split-ok")
        await wait_until(pilot, lambda: app.screen is screen and text_of(app, "#splits").count("test (") == 2)
        await pilot.pause(0.2)
        assert tabs.active == "tab-splits"
        assert (chart.column, profile.cursor_row) == ("bill_depth_mm", 3)
        assert "passed" in text_of(app, "#validation")  # the validation of this version stays too


async def test_confirmations_name_their_keys_and_enter_rolls_back(demo: Workspace) -> None:
    app = make_ops_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen) and app.screen.selected is not None)
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert text_of(app, "#confirm-keys") == "y Roll back · n or Esc cancels"
        assert isinstance(app.screen.focused, Button) and app.screen.focused.id == "confirm-rollback"
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        assert demo.registry.model_version("penguins@production").version == 3
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")  # never a silent Cancel
        await wait_until(pilot, lambda: demo.registry.model_version("penguins@production").version == 2)

        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, SchedulesScreen) and len(app.screen.rows) == 2)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert text_of(app, "#confirm-keys") == "y Remove · n or Esc cancels"
        await pilot.press("y")
        await wait_until(pilot, lambda: len(demo.schedules.all()) == 1)

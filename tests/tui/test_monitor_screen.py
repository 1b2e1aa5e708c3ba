"""The Monitor screen: a check on logged (shifted) inputs, the report, histogram, timeline and health;
schedules through the dialog, the app's scheduler running them (notification), unscheduling."""

from __future__ import annotations

import random
import time

from textual.widgets import DataTable, Input

from mlcycle_tui.predictions.log import new_prediction_id, prediction_row
from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.dialogs.schedule import ScheduleDialog
from mlcycle_tui.tui.screens.monitor import MonitorScreen
from mlcycle_tui.tui.widgets.drift_plots import DriftHistogram, DriftTimeline
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import ROW, make_ops_app, wait_until


def log_shifted_traffic(ws: Workspace, n: int = 80) -> None:
    """Predictions of penguins@1 whose bills are far longer than in training: drift."""
    rng = random.Random(0)
    now = time.time()
    rows = []
    for i in range(n):
        inputs = dict(ROW, bill_length_mm=70 + rng.random() * 10, flipper_length_mm=250 + rng.random() * 20,
                      island=rng.choice(["Dream", "Biscoe"]))
        rows.append(prediction_row(new_prediction_id(), "penguins", 1, inputs, "Gentoo", None,
                                   latency_ms=2.0 + i % 5, at=now - n + i))
    ws.predictions.log(rows)


def _cells(app, selector: str, column: int) -> list[str]:  # type: ignore[no-untyped-def]
    table = app.screen.query_one(selector, DataTable)
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def test_empty_workspace_says_what_to_do(workspace: Workspace) -> None:
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MonitorScreen)
        assert app.screen.query_one("#mon-empty").display
        assert "No production model to watch yet" in text_of(app, "#mon-empty")
        assert "mlcycle demo" in text_of(app, "#mon-empty")
        assert app.screen.check_action("check", ()) is None
        assert "Scheduler ○ off" in text_of(app, "#mon-scheduler")


async def test_check_now_shows_report_histogram_timeline_and_health(trained: Workspace) -> None:
    log_shifted_traffic(trained)
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        await wait_until(pilot, lambda: "no checks yet" in text_of(app, "#mon-summary"))
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        assert _cells(app, "#mon-models", 0) == ["penguins"]
        assert _cells(app, "#mon-models", 2) == ["not checked"]

        await pilot.press("c")
        await wait_until(pilot, lambda: screen.report is not None and not screen.busy_with)
        assert "DRIFT" in text_of(app, "#mon-summary")
        columns = _cells(app, "#mon-columns", 0)
        verdicts = _cells(app, "#mon-columns", 5)
        assert "bill_length_mm" in columns and "flipper_length_mm" in columns
        assert verdicts[0] == "DRIFT"  # drifted columns first
        assert _cells(app, "#mon-models", 2) == ["drift"]
        histogram = screen.query_one("#mon-histogram", DriftHistogram)
        await wait_until(pilot, lambda: histogram.chart_kind != "empty")
        assert histogram.column == columns[0]
        assert histogram.chart_kind in ("numeric", "categorical")

        # another column: its own histogram
        table = screen.query_one("#mon-columns", DataTable)
        table.focus()
        island = columns.index("island")
        table.move_cursor(row=island)
        await wait_until(pilot, lambda: histogram.column == "island" and histogram.chart_kind == "categorical")

        assert screen.query_one("#mon-timeline", DriftTimeline).points == 1
        health = text_of(app, "#mon-health")
        assert "80 predictions" in health and "p95" in health
        assert "no feedback labels" in health

        # a retraining job was queued by the policy
        assert trained.jobs.list(status="queued")


async def test_schedule_scheduler_notifies_and_unschedule(trained: Workspace) -> None:
    log_shifted_traffic(trained)
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("o")
        await wait_until(pilot, lambda: app.screen.model == "penguins")
        screen = app.screen
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ScheduleDialog)
        app.screen.query_one("#schedule-every", Input).value = "0.5s"
        await pilot.click("#schedule-ok")
        await wait_until(pilot, lambda: "too short" in text_of(app, "#schedule-error") or not isinstance(
            app.screen, ScheduleDialog))
        assert isinstance(app.screen, ScheduleDialog)  # refused, shown in the dialog
        every = app.screen.query_one("#schedule-every", Input)
        every.value = "1s"
        every.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen and len(screen.schedules) == 1)
        assert _cells(app, "#mon-schedules", 2) == ["1s"]

        # the scheduler (off in this test app) starts with S and runs the schedule: a notification
        await pilot.press("S")
        await wait_until(pilot, lambda: app.services.scheduler_running)
        await wait_until(pilot, lambda: len(trained.monitoring.drift_reports("penguins")) >= 1, timeout=20)
        await wait_until(pilot, lambda: any("drift" in n.message for n in app._notifications), timeout=10)
        assert "Scheduler ● running" in text_of(app, "#mon-scheduler")

        # unschedule asks first
        screen.query_one("#mon-schedules", DataTable).focus()
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.click("#confirm-remove")
        await wait_until(pilot, lambda: not trained.drift_schedules.list() and not screen.schedules)
        await pilot.press("S")
        await wait_until(pilot, lambda: not app.services.scheduler_running and not screen.scheduler_busy)


async def test_check_with_too_few_rows_says_not_enough_data_and_keeps_the_drift_verdict(trained: Workspace) -> None:
    """A real drift check first; then "Check now" on 3 logged rows cannot judge and must not say "no drift"."""
    import pandas as pd

    rng = random.Random(1)
    shifted = pd.DataFrame([dict(ROW, bill_length_mm=70 + rng.random() * 10, flipper_length_mm=250 + rng.random() * 20)
                            for _ in range(60)])
    real = trained.monitoring.check_drift("penguins", current=shifted, action="alert")
    assert real["drift"]
    now = time.time()
    trained.predictions.log([prediction_row(new_prediction_id(), "penguins", 1, dict(ROW), "Adelie", None,
                                            latency_ms=2.0, at=now - 3 + i) for i in range(3)])
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "drift" in text_of(app, "#tile-drift"))
        assert "no drift" not in text_of(app, "#tile-drift")

        await pilot.press("o")
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await wait_until(pilot, lambda: screen.report is not None)
        assert "DRIFT" in text_of(app, "#mon-summary")
        await pilot.press("c")
        await wait_until(pilot, lambda: any(n.title == "Drift check" for n in app._notifications))
        notice = next(n for n in app._notifications if n.title == "Drift check")
        assert str(notice.message) == "penguins@1: not enough data (3 rows; needs 20); the last verdict stands"
        await wait_until(pilot, lambda: not screen.busy_with and "newest check" in text_of(app, "#mon-summary"))
        summary = text_of(app, "#mon-summary")
        assert "not enough data (3 rows; needs 20)" in summary and "verdict above still stands" in summary
        assert "DRIFT" in summary and "no drift" not in summary
        assert screen.report is not None and screen.report["report_id"] == real["report_id"]
        assert _cells(app, "#mon-models", 2) == ["drift"]
        assert screen.query_one("#mon-timeline", DriftTimeline).points == 1  # the check without a verdict is no point
        assert "DRIFT" in _cells(app, "#mon-columns", 5)  # still the columns of the real report

        await pilot.press("h")
        await wait_until(pilot, lambda: "newest check: not enough data" in text_of(app, "#tile-drift"))
        tile = text_of(app, "#tile-drift")
        assert tile.splitlines()[0] == "drift" and "no drift" not in tile
    assert [r["verdict"] for r in trained.monitoring.drift_reports("penguins")] == ["not enough data", "drift"]


async def test_only_checks_without_enough_data_show_no_verdict(trained: Workspace) -> None:
    now = time.time()
    trained.predictions.log([prediction_row(new_prediction_id(), "penguins", 1, dict(ROW), "Adelie", None,
                                            latency_ms=2.0, at=now - 3 + i) for i in range(3)])
    assert not trained.monitoring.check_drift("penguins")["drift"]
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "penguins" in text_of(app, "#tile-drift"))
        tile = text_of(app, "#tile-drift")
        assert "no drift" not in tile
        assert tile.splitlines()[0] == "not enough data" and "3 rows: no verdict yet" in tile
        await pilot.press("o")
        screen = app.screen
        await wait_until(pilot, lambda: "newest check" in text_of(app, "#mon-summary"))
        summary = text_of(app, "#mon-summary")
        assert "no check could judge yet" in summary and "not enough data (3 rows; needs 20)" in summary
        assert "no drift" not in summary
        assert _cells(app, "#mon-models", 2) == ["not enough data"]
        assert screen.query_one("#mon-timeline", DriftTimeline).points == 0

"""The Jobs screen: a queued job is shown; cancel (confirmed), retry and run it (worker) to done."""

from __future__ import annotations

from textual.widgets import DataTable

from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.screens.jobs import JobsScreen
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import make_ops_app, wait_until


def _statuses(app) -> list[str]:  # type: ignore[no-untyped-def]
    table = app.screen.query_one("#jobs-table", DataTable)
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


async def test_empty_queue_says_where_jobs_come_from(workspace: Workspace) -> None:
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
        assert app.screen.query_one("#jobs-empty").display
        assert "No retraining jobs yet" in text_of(app, "#jobs-empty")
        assert app.screen.check_action("cancel_job", ()) is None


async def test_cancel_retry_and_run_a_job(trained: Workspace) -> None:
    job = trained.jobs.enqueue_retrain("penguins", "drift in bill_length_mm (test)")
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_until(pilot, lambda: _statuses(app) == ["queued"])
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert f"Job {job['id']}" in text_of(app, "#job-detail")
        assert "drift in bill_length_mm (test)" in text_of(app, "#job-detail")
        assert "1 queued" in text_of(app, "#jobs-status")
        assert screen.check_action("approve", ()) is None and screen.check_action("retry", ()) is None

        # cancel asks first; Cancel in the dialog changes nothing
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert trained.jobs.get(job["id"])["status"] == "queued"
        await pilot.press("c")
        await pilot.pause()
        await pilot.click("#confirm-cancel_job")
        await wait_until(pilot, lambda: _statuses(app) == ["cancelled"])
        assert "cancelled" in text_of(app, "#job-log")

        # retry queues it again; run it here: nothing new to train on, so it is done quickly
        await pilot.press("t")
        await wait_until(pilot, lambda: _statuses(app) == ["queued"])
        await pilot.press("w")
        await wait_until(pilot, lambda: _statuses(app) == ["done"] and not screen.busy_with, timeout=30)
        assert "nothing new to train on" in text_of(app, "#job-detail")
        assert trained.jobs.get(job["id"])["status"] == "done"

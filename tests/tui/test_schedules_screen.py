"""The Schedules screen on a real workspace: a drift check, a folder source and a scoring schedule listed
together; pause and resume, run now (a CSV dropped in the watched folder becomes a new dataset version),
remove after confirmation, and the add-source and scoring dialogs with their inline errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from textual.widgets import DataTable, Input

from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.dialogs.scoring import ScoringDialog
from mlcycle_tui.tui.dialogs.source import SourceDialog
from mlcycle_tui.tui.screens.schedules import SchedulesScreen
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import SAMPLES, make_ops_app, wait_until


def _column(app, key: str) -> list[str]:  # type: ignore[no-untyped-def]
    table = app.screen.query_one("#sched-table", DataTable)
    return [str(table.get_cell(row.key, key)) for row in table.ordered_rows]


def _setup(ws: Workspace, root: Path) -> dict[str, Path]:
    """A drift check of penguins, a folder source feeding penguins, a scoring schedule of penguins."""
    folders = {name: root / name for name in ("inbox", "to_score", "scored")}
    for folder in folders.values():
        folder.mkdir()
    ws.drift_schedules.add("penguins", "1h", "alert")
    ws.sources.add("penguins", folder=folders["inbox"], every="1h", settle="0s")
    ws.scoring.add("penguins", folders["to_score"], folders["scored"], every="1h")
    return folders


async def _open(app, pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("k")
    await wait_until(pilot, lambda: isinstance(app.screen, SchedulesScreen) and len(app.screen.rows) > 0
                     and app.screen.query_one("#sched-table", DataTable).row_count == len(app.screen.rows))


async def test_empty_screen_says_what_to_do_with_cli_equivalents(workspace: Workspace) -> None:
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, SchedulesScreen)
        assert app.screen.query_one("#sched-empty").display
        assert not app.screen.query_one("#sched-main").display
        empty = text_of(app, "#sched-empty")
        for words in ("No schedules yet", "mlcycle data source add", "mlcycle scoring add", "mlcycle monitor schedule"):
            assert words in empty
        assert app.screen.check_action("run_now", ()) is None  # dimmed: nothing to run
        assert app.screen.check_action("add_source", ()) is True
        assert "Scheduler ○ off" in text_of(app, "#sched-status")


async def test_lists_every_kind_and_pause_toggles(trained: Workspace, tmp_path: Path) -> None:
    _setup(trained, tmp_path)
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot)
        assert _column(app, "kind") == ["drift", "source", "scoring"]
        assert _column(app, "target") == ["penguins"] * 3
        assert _column(app, "every") == ["1h"] * 3
        assert all(n.startswith("in ") for n in _column(app, "next"))
        assert _column(app, "last") == ["never"] * 3
        assert "inbox" in _column(app, "what")[1]
        assert "drift 1" in text_of(app, "#sched-detail")

        await pilot.press("down")  # the source
        await wait_until(pilot, lambda: "source 1" in text_of(app, "#sched-detail"))
        assert "no files processed yet" in text_of(app, "#sched-detail")
        await pilot.press("p")
        await wait_until(pilot, lambda: _column(app, "next")[1] == "paused")
        assert [r["paused"] for r in trained.schedules.all()] == [False, True, False]
        assert "1 paused" in text_of(app, "#sched-status")

        await pilot.press("p")
        await wait_until(pilot, lambda: _column(app, "next")[1].startswith("in "))
        assert not any(r["paused"] for r in trained.schedules.all())


async def test_run_now_on_the_source_ingests_a_dropped_csv(trained: Workspace, tmp_path: Path) -> None:
    folders = _setup(trained, tmp_path)
    pd.read_csv(SAMPLES / "penguins.csv").head(40).to_csv(folders["inbox"] / "arrivals.csv", index=False)
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot)
        await pilot.press("down", "g")
        await wait_until(pilot, lambda: len(trained.data.versions("penguins")) == 2)
        await wait_until(pilot, lambda: "penguins@2" in _column(app, "result")[1])
        latest = trained.data.dataset("penguins")
        assert (latest.version, latest.rows) == (2, 344 + 40)
        assert _column(app, "last")[1].endswith("ago")
        await wait_until(pilot, lambda: "arrivals.csv ingested" in text_of(app, "#sched-detail"))
        assert "1 ingested" in text_of(app, "#sched-detail")
        assert any("penguins@2 +40 rows" in n.message for n in app._notifications)


async def test_remove_asks_for_confirmation(trained: Workspace, tmp_path: Path) -> None:
    _setup(trained, tmp_path)
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot)
        await pilot.press("down", "down")
        await wait_until(pilot, lambda: "scoring 1" in text_of(app, "#sched-detail"))
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "Prediction files already written stay" in str(app.screen.query_one("#confirm-body").render())
        await pilot.press("escape")  # cancelled: nothing removed
        await pilot.pause()
        assert len(trained.schedules.all()) == 3

        await pilot.press("x")
        await pilot.pause()
        await pilot.click("#confirm-remove")
        await wait_until(pilot, lambda: _column(app, "kind") == ["drift", "source"])
        assert [r["kind"] for r in trained.schedules.all()] == ["drift", "source"]


async def test_add_source_dialog_creates_a_source_and_shows_a_bad_path_inline(trained: Workspace,
                                                                              tmp_path: Path) -> None:
    inbox = tmp_path / "landing"
    inbox.mkdir()
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k", "a")
        await pilot.pause()
        assert isinstance(app.screen, SourceDialog)
        dialog = app.screen
        await pilot.press(*str(tmp_path / "nowhere"))
        assert dialog.query_one("#source-dataset", Input).value == "nowhere"  # named from the path
        await pilot.press("enter")
        await wait_until(pilot, lambda: dialog.query_one("#source-error").display)
        assert "no folder at" in str(dialog.query_one("#source-error").render())
        assert isinstance(app.screen, SourceDialog) and trained.sources.list() == []

        dialog.query_one("#source-path", Input).value = str(inbox)
        dialog.query_one("#source-dataset", Input).value = "landed"
        dialog.query_one("#source-every", Input).value = "5m"
        await pilot.pause()
        await pilot.click("#source-ok")
        await wait_until(pilot, lambda: isinstance(app.screen, SchedulesScreen) and len(app.screen.rows) == 1)
        [src] = trained.sources.list()
        assert (src["dataset"], src["kind"], src["location"], src["every"]) == ("landed", "folder", str(inbox), "5m")
        assert _column(app, "kind") == ["source"]
        assert "landed" in text_of(app, "#sched-detail")


async def test_scoring_dialog_creates_a_schedule_and_refuses_the_same_folder(trained: Workspace,
                                                                            tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k", "n")
        await pilot.pause()
        assert isinstance(app.screen, ScoringDialog)
        dialog = app.screen
        assert dialog.query_one("#scoring-model", Input).value == "penguins"  # the production model
        dialog.query_one("#scoring-input", Input).value = str(inbox)
        dialog.query_one("#scoring-output", Input).value = str(inbox)
        await pilot.click("#scoring-ok")
        await wait_until(pilot, lambda: dialog.query_one("#scoring-error").display)
        assert "must differ" in str(dialog.query_one("#scoring-error").render())

        dialog.query_one("#scoring-output", Input).value = str(outbox)
        await pilot.press("enter")  # submits from the focused field
        await wait_until(pilot, lambda: isinstance(app.screen, SchedulesScreen) and len(app.screen.rows) == 1)
        [sched] = trained.scoring.list()
        assert (sched["model"], sched["input_dir"], sched["output_dir"], sched["every"]) == (
            "penguins", str(inbox), str(outbox), "1h")
        assert _column(app, "kind") == ["scoring"]


async def test_a_failing_run_shows_its_error_in_red(trained: Workspace, tmp_path: Path) -> None:
    folders = _setup(trained, tmp_path)
    folders["to_score"].rmdir()  # the scoring schedule's input folder is gone
    app = make_ops_app(trained)
    async with app.run_test(size=SIZE) as pilot:
        await _open(app, pilot)
        await pilot.press("down", "down", "g")
        await wait_until(pilot, lambda: _column(app, "result")[2].startswith("error"))
        cell = app.screen.query_one("#sched-table", DataTable).get_cell("scoring:1", "result")
        assert "red" in str(cell.style)
        await wait_until(pilot, lambda: "does not exist" in text_of(app, "#sched-detail"))
        assert "error:" in text_of(app, "#sched-detail")
        assert any(n.severity == "error" and "does not exist" in n.message for n in app._notifications)
        assert trained.schedules.all()[2]["last_error"]

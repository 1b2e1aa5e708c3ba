"""The Data screen: empty state, ingest through the dialog, profile, chart, validate, split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from textual.widgets import DataTable, Input, ProgressBar, Select

from mlcycle_tui.tui.app import MlcycleApp
from mlcycle_tui.tui.dialogs.ingest import IngestDialog, name_from_path
from mlcycle_tui.tui.dialogs.split import SplitDialog
from mlcycle_tui.tui.widgets.column_chart import ColumnChart
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, make_app, text_of


async def _settle(app: MlcycleApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await app.workers.wait_for_complete()
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_empty_data_screen_says_how_to_import(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        assert app.screen.check_action("validate", ()) is None  # nothing to validate yet: dimmed
        assert app.screen.query_one("#data-empty").display
        assert not app.screen.query_one("#data-main").display
        assert "No datasets yet — press i to import" in text_of(app, "#data-empty")


async def test_ingest_profile_chart_validate_and_split(workspace: Workspace, sample_data: Path) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "i")
        await pilot.pause()
        assert isinstance(app.screen, IngestDialog)
        await pilot.press(*str(sample_data / "penguins.csv"))
        assert app.screen.query_one("#ingest-name", Input).value == "penguins"
        app.screen.query_one("#ingest-target", Input).value = "species"
        await pilot.press("enter")
        await _settle(app, pilot)

        assert not isinstance(app.screen, IngestDialog)
        assert [d.ref for d in workspace.data.datasets()] == ["penguins@1"]
        datasets = app.screen.query_one("#datasets", DataTable)
        assert datasets.row_count == 1 and datasets.get_row_at(0)[0] == "penguins"
        profile = app.screen.query_one("#profile", DataTable)
        assert profile.row_count == 8
        assert "target species" in text_of(app, "#version-facts")

        # select a numeric column: the chart shows its histogram
        profile.focus()
        await pilot.press("down", "down")
        await pilot.pause()
        chart = app.screen.query_one("#chart", ColumnChart)
        assert chart.column == "bill_length_mm" and chart.chart_kind == "histogram"
        await pilot.press("up")
        await pilot.pause()
        assert chart.column == "island" and chart.chart_kind == "top"

        await pilot.press("v")
        await _settle(app, pilot)
        validation = text_of(app, "#validation")
        assert "penguins@1 passed every check" in validation

        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, SplitDialog)
        assert app.screen.query_one("#split-method", Select).value == "stratified"
        await pilot.click("#split-ok")
        await _settle(app, pilot)
        assert not isinstance(app.screen, SplitDialog)
        (split,) = workspace.splits.list("penguins@1")
        assert split.method == "stratified" and split.test_rows == 69
        assert split.split_id in text_of(app, "#splits")
        assert "275 train / 69 test" in text_of(app, "#splits")


async def test_a_bad_path_shows_an_error_and_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "i")
        await pilot.pause()
        app.screen.query_one("#ingest-path", Input).value = str(tmp_path / "no-such-file.csv")
        await pilot.press("enter")
        await _settle(app, pilot)
        assert isinstance(app.screen, IngestDialog)
        error = app.screen.query_one("#ingest-error")
        assert error.display and "no-such-file.csv" in str(error.render())
        assert "Traceback" not in str(error.render())
        assert workspace.data.datasets() == []
        assert workspace.events.recent() == []
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, IngestDialog)
        assert app.screen.query_one("#data-empty").display


async def test_a_bad_target_is_reported_in_the_dialog(workspace: Workspace, sample_data: Path) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "i")
        await pilot.pause()
        app.screen.query_one("#ingest-path", Input).value = str(sample_data / "penguins.csv")
        app.screen.query_one("#ingest-target", Input).value = "nope"
        await pilot.click("#ingest-ok")
        await _settle(app, pilot)
        assert isinstance(app.screen, IngestDialog)
        assert "'nope' is not a column" in str(app.screen.query_one("#ingest-error").render())
        assert workspace.data.datasets() == []
        # the core's progress callback reached the bar (from the worker thread) before the error
        assert app.screen.query_one("#ingest-progress", ProgressBar).progress >= 0.05


async def test_validation_compares_with_the_previous_version(workspace: Workspace, sample_data: Path) -> None:
    frame = pd.read_csv(sample_data / "penguins.csv")
    workspace.data.ingest(frame, "penguins", target="species")
    workspace.data.ingest(frame.drop(columns=["island"]), "penguins", target="species")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        assert app.screen.query_one("#versions", DataTable).row_count == 2
        assert "against penguins@1" in text_of(app, "#validation")
        await pilot.press("v")
        await _settle(app, pilot)
        text = text_of(app, "#validation")
        assert "penguins@2 failed against penguins@1" in text
        assert "island" in text and "column_removed" in text


async def test_split_dialog_refuses_a_bad_test_size(workspace: Workspace, sample_data: Path) -> None:
    workspace.data.ingest(sample_data / "penguins.csv", "penguins")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "t")
        await pilot.pause()
        size = app.screen.query_one("#split-size", Input)
        size.value = "1.5"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SplitDialog)
        assert "between 0 and 1" in str(app.screen.query_one("#split-error").render())
        assert workspace.splits.list() == []


def test_dataset_name_from_file_name() -> None:
    assert name_from_path("data/penguins.csv") == "penguins"
    assert name_from_path("~/x/my data (2).parquet") == "my_data_2"

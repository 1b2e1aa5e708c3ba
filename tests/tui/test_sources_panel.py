"""The Data screen's Sources panel on a real workspace: the empty line, adding a folder source through the
dialog, run now making a dataset that the screen then shows, a file with another schema quarantined and
counted in red, and the SQLite fields of the dialog."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from textual.widgets import DataTable, Input, Select

from mlcycle_tui.tui.dialogs.source import SourceDialog
from mlcycle_tui.tui.screens.data import DataScreen
from mlcycle_tui.tui.services import ServiceEvent
from mlcycle_tui.tui.widgets.sources_panel import SourcesPanel
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import make_ops_app, wait_until


def _cells(app, column: int) -> list[str]:  # type: ignore[no-untyped-def]
    table = app.screen.query_one("#sources-table", DataTable)
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def test_empty_panel_says_how_to_add_a_source(workspace: Workspace) -> None:
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, DataScreen)
        assert "No datasets yet" in text_of(app, "#data-empty")  # the Data screen's own empty state is kept
        assert "Sources none · a watches a folder" in text_of(app, "#sources-title")
        assert not app.screen.query_one("#sources-table").display
        assert app.screen.check_action("run_source", ()) is None  # dimmed: no source to run


async def test_add_a_folder_source_run_it_and_see_the_dataset(workspace: Workspace, sample_data: Path,
                                                              tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    penguins = pd.read_csv(sample_data / "penguins.csv")
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "a")
        await pilot.pause()
        assert isinstance(app.screen, SourceDialog)
        await pilot.press(*str(inbox))
        assert app.screen.query_one("#source-dataset", Input).value == "inbox"
        app.screen.query_one("#source-dataset", Input).value = "arrivals"
        app.screen.query_one("#source-target", Input).value = "species"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DataScreen)
                         and app.screen.query_one(SourcesPanel).sources != [])
        [src] = workspace.sources.list()
        assert (src["dataset"], src["kind"], src["every"], src["target"]) == ("arrivals", "folder", "10m", "species")
        assert _cells(app, 1) == ["arrivals"]
        assert _cells(app, 6) == ["never"]
        assert "Sources 1" in text_of(app, "#sources-title")

        penguins.head(100).to_csv(inbox / "monday.csv", index=False)
        await pilot.press("g")  # waits the 2 s settle time: the file was just written
        await wait_until(pilot, lambda: [d.ref for d in workspace.data.datasets()] == ["arrivals@1"])
        await wait_until(pilot, lambda: app.screen.query_one("#datasets", DataTable).row_count == 1)
        assert app.screen.selected is not None and app.screen.selected.ref == "arrivals@1"  # shown on the screen
        await wait_until(pilot, lambda: _cells(app, 8) == ["1 in"])
        assert "arrivals@1 +100 rows" in _cells(app, 7)[0]

        # a file with another schema is quarantined, never half-ingested, and counted in red
        penguins.drop(columns=["island"]).head(10).to_csv(inbox / "tuesday.csv", index=False)
        await pilot.press("g")
        await wait_until(pilot, lambda: "quar." in _cells(app, 8)[0])
        assert _cells(app, 8) == ["1 in · 1 quar."]
        assert [d.ref for d in workspace.data.datasets()] == ["arrivals@1"]
        assert any("quarantined" in n.message for n in app._notifications)
        assert (workspace.home / "quarantine").exists()


async def test_a_run_by_the_scheduler_shows_without_a_key_press(workspace: Workspace, sample_data: Path,
                                                                tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = workspace.sources.add("arrivals", folder=inbox, target="species", every="1h", settle="0s")
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await wait_until(pilot, lambda: app.screen.query_one(SourcesPanel).sources != [])
        assert app.screen.query_one("#data-empty").display
        pd.read_csv(sample_data / "penguins.csv").head(20).to_csv(inbox / "a.csv", index=False)
        workspace.sources.run(src["source_id"])  # what the scheduler does on a tick, then it tells the app:
        app.post_message(ServiceEvent("source", "source 1: arrivals@1 +20 rows from 1 files"))
        await wait_until(pilot, lambda: app.screen.query_one("#datasets", DataTable).row_count == 1)
        assert app.screen.query_one("#data-main").display
        await wait_until(pilot, lambda: _cells(app, 8) == ["1 in"])
        assert any(n.title == "Data source" for n in app._notifications)


async def test_sqlite_kind_asks_for_query_and_key(workspace: Workspace, tmp_path: Path) -> None:
    app = make_ops_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "a")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SourceDialog)
        assert not dialog.query_one("#source-sql").display
        dialog.query_one("#source-kind", Select).value = "sqlite"
        await pilot.pause()
        assert dialog.query_one("#source-sql").display
        assert "SQLite database file" in str(dialog.query_one("#source-path", Input).border_title)
        dialog.query_one("#source-path", Input).value = str(tmp_path / "app.db")
        dialog.query_one("#source-dataset", Input).value = "events"
        await pilot.press("enter")
        await pilot.pause()
        assert "needs a query and a key column" in str(dialog.query_one("#source-error").render())

        dialog.query_one("#source-query", Input).value = "SELECT * FROM events"
        dialog.query_one("#source-key", Input).value = "id"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "no SQLite file at" in str(dialog.query_one("#source-error").render()))
        assert workspace.sources.list() == []
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DataScreen)

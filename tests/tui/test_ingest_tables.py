"""The Import dialog with a SQLite file: a Table list read in a thread, the chosen table ingested."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Input, Select

from mlcycle_tui.tui.app import MlcycleApp
from mlcycle_tui.tui.dialogs.ingest import IngestDialog
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, make_app, text_of


async def _settle(app: MlcycleApp, pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        await app.workers.wait_for_complete()
        await pilot.pause()


def _two_tables(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE accounts (id INTEGER, owner TEXT)")
    con.executemany("INSERT INTO accounts VALUES (?, ?)", [(1, "Ann"), (2, "Bo")])
    con.execute('CREATE TABLE "sensor readings" (ts TEXT, sensor TEXT, value REAL, ok INTEGER)')
    con.executemany(
        'INSERT INTO "sensor readings" VALUES (?, ?, ?, ?)',
        [
            ("2024-01-01 10:00:00", "a", 0.5, 1),
            ("2024-01-01 11:00:00", "b", 1.5, 0),
            ("2024-01-02 09:30:00", "a", 2.5, 1),
        ],
    )
    con.commit()
    con.close()
    return path


async def _open_dialog_with(app: MlcycleApp, pilot, path: Path) -> IngestDialog:  # type: ignore[no-untyped-def]
    await pilot.press("d", "i")
    await pilot.pause()
    assert isinstance(app.screen, IngestDialog)
    dialog = app.screen
    # the folder pasted, the file name's end typed (typing every key of a long path takes seconds)
    dialog.query_one("#ingest-path", Input).value = str(path)[:-4]
    await pilot.press(*str(path)[-4:])
    await _settle(app, pilot)
    return dialog


async def test_import_the_second_table_of_a_two_table_file(workspace: Workspace, tmp_path: Path) -> None:
    db = _two_tables(tmp_path / "plant.db")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_dialog_with(app, pilot, db)
        tables = dialog.query_one("#ingest-table", Select)
        assert tables.display and tables.is_blank()  # two tables: the user chooses
        assert "2 to choose from" in text_of(app, "#ingest-table-label")

        # Import without choosing: the dialog asks for a table and stays
        await pilot.click("#ingest-ok")
        await _settle(app, pilot)
        assert isinstance(app.screen, IngestDialog)
        assert "choose the table to import in the Table list" in text_of(app, "#ingest-error")
        assert workspace.data.datasets() == []

        tables.focus()
        await pilot.press("enter", "down", "down", "enter")  # blank, accounts, sensor readings
        await pilot.pause()
        assert tables.value == "sensor readings"
        dialog.query_one("#ingest-name", Input).value = "readings"
        await pilot.click("#ingest-ok")
        await _settle(app, pilot)

        assert not isinstance(app.screen, IngestDialog)
        ds = workspace.data.dataset("readings")
        assert ds.rows == 3
        assert [c["name"] for c in ds.profile["columns"]] == ["ts", "sensor", "value", "ok"]
        assert ds.column("ts")["kind"] == "datetime"


async def test_one_table_is_preselected_and_imported(workspace: Workspace, tmp_path: Path) -> None:
    db = tmp_path / "one.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE only_one (x INTEGER, y TEXT)")
    con.executemany("INSERT INTO only_one VALUES (?, ?)", [(1, "p"), (2, "q")])
    con.commit()
    con.close()
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_dialog_with(app, pilot, db)
        assert dialog.query_one("#ingest-table", Select).value == "only_one"
        await pilot.press("enter")  # from the path field
        await _settle(app, pilot)
        assert not isinstance(app.screen, IngestDialog)
        assert [c["name"] for c in workspace.data.dataset("one").profile["columns"]] == ["x", "y"]


async def test_a_db_file_that_is_not_sqlite_shows_one_line_and_other_paths_hide_the_list(
    workspace: Workspace, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.db"
    fake.write_text("id,name\n1,Ann\n")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await _open_dialog_with(app, pilot, fake)
        error = text_of(app, "#ingest-error")
        assert dialog.query_one("#ingest-error").display
        assert "is not a SQLite database" in error and "give the path of a SQLite file" in error
        assert "Traceback" not in error

        # a CSV path: no Table list, and the error about the old file is gone
        path = dialog.query_one("#ingest-path", Input)
        path.value = str(tmp_path / "data.csv")
        await _settle(app, pilot)
        assert not dialog.query_one("#ingest-table").display
        assert not dialog.query_one("#ingest-error").display

"""The Import dialog: path, name, target and time column; ingest runs in a thread.

Why this exists: importing reads and profiles a whole file, which can take
seconds; as every form dialog (`dialogs/form.py`) it runs in a thread worker
while a ProgressBar follows the core's `progress(fraction, message)`
callback, and errors stay in the dialog as one clear line so the user can fix
the path or a column name and try again.
For a SQLite file a Table list appears, filled (in a thread worker too) from
`ws.data.sqlite_tables`; the chosen table goes to `ingest(table=...)`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Input, Select, Static

from mlcycle_tui.common.errors import MlcycleError, NotFoundError
from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid
from mlcycle_tui.tui.dialogs.path_suggester import PathSuggester

if TYPE_CHECKING:
    from mlcycle_tui.data.versions import DatasetVersion
    from mlcycle_tui.workspace import Workspace

FORMATS_HINT = "CSV, Parquet, JSON lines or SQLite file"


def name_from_path(path: str) -> str:
    """A valid dataset name from a file name: `my data (2).csv` -> `my_data_2`."""
    stem = Path(path.strip()).stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-")
    return name[:64]


class IngestDialog(FormDialog["DatasetVersion | None"]):
    """Returns the new (or unchanged, existing) DatasetVersion, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="ingest.cancel")]
    PREFIX = "ingest"
    OK_LABEL = "Import"
    PROGRESS = True
    FOCUS = "#ingest-path"
    BUSY_MESSAGE = "The import is still running; it cannot be stopped halfway."

    def __init__(self, workspace: Workspace, path: str = "") -> None:
        super().__init__()
        self.workspace = workspace
        self.initial_path = path
        self._auto_name = ""
        self._tables_loading: str | None = None  # the SQLite file whose tables are being read
        self._tables_of: str | None = None  # the SQLite file the Table list shows
        self._tables_error = False  # the error line is about reading that file's tables

    def compose_fields(self) -> ComposeResult:
        yield Static(f"[b]Import a dataset[/b] — a {FORMATS_HINT}", classes="dialog-title")
        path = Input(self.initial_path, placeholder="path/to/file.csv", id="ingest-path", suggester=PathSuggester())
        path.border_title = "File (→ completes)"
        yield path
        yield Static("Table", id="ingest-table-label", classes="field-label")
        yield Select([], prompt="choose a table", id="ingest-table")
        name = Input(placeholder="from the file name", id="ingest-name")
        name.border_title = "Dataset name"
        yield name
        with Horizontal(classes="row"):
            target = Input(placeholder="optional", id="ingest-target")
            target.border_title = "Target column"
            yield target
            time = Input(placeholder="optional", id="ingest-time")
            time.border_title = "Time column"
            yield time

    def on_mount(self) -> None:
        self._table_status(None)
        self.query_one("#ingest-path", Input).focus()
        if self.initial_path:
            self._show_tables(self.initial_path)

    @on(Input.Changed, "#ingest-path")
    def _prefill_name(self, event: Input.Changed) -> None:
        name = self.query_one("#ingest-name", Input)
        if name.value == self._auto_name:
            self._auto_name = name_from_path(event.value) if event.value.strip() else ""
            name.value = self._auto_name
        self._show_tables(event.value)

    @staticmethod
    def _full_path(value: str) -> str:
        return str(Path(value.strip()).expanduser())

    def _show_tables(self, value: str) -> None:
        """A SQLite path: show the Table list and read the file's tables in a thread."""
        tables = self.query_one("#ingest-table", Select)
        path = self._full_path(value) if value.strip() else ""
        if path and path in (self._tables_of, self._tables_loading):
            return
        self._tables_of = None
        tables.set_options([])
        if self._tables_error:  # about the file before: gone with it
            self._tables_error = False
            self.query_one("#ingest-error").display = False
        if not path or self.workspace.data.format_of(path) != "sqlite":
            self._tables_loading = None
            self._table_status(None)
            return
        self._tables_loading = path
        self._table_status("reading the tables…")
        self._load_tables(path)

    def _table_status(self, status: str | None) -> None:
        """Show the Table list with `status` beside its label, or hide it (None)."""
        label = self.query_one("#ingest-table-label", Static)
        label.update(Content(f"Table (of the SQLite file) — {status}" if status else "Table (of the SQLite file)"))
        label.display = status is not None
        self.query_one("#ingest-table").display = status is not None

    @work(thread=True, exclusive=True, group="ingest-tables")
    def _load_tables(self, path: str) -> None:
        try:
            found = self.workspace.data.sqlite_tables(path)
        except NotFoundError:  # not there (yet): the user may still be typing the path
            self.app.call_from_thread(self._tables_failed, path, None)
        except MlcycleError as exc:
            self.app.call_from_thread(self._tables_failed, path, exc.message)
        except Exception as exc:  # a bug or an unexpected OS error: still one line, never a traceback
            self.app.call_from_thread(self._tables_failed, path, f"unexpected error ({type(exc).__name__}): {exc}")
        else:
            self.app.call_from_thread(self._tables_loaded, path, found)

    def _tables_loaded(self, path: str, found: list[dict[str, Any]]) -> None:
        if path != self._tables_loading:  # the path changed meanwhile
            return
        self._tables_loading, self._tables_of = None, path
        tables = self.query_one("#ingest-table", Select)
        options = []
        for t in found:
            rows = "rows unknown" if t["rows"] is None else f"{t['rows']:,} rows"
            options.append((Content(f"{t['name']}  ({t['kind']}, {rows}, {len(t['columns'])} columns)"), t["name"]))
        tables.set_options(options)
        self._table_status(f"{len(found)} to choose from" if len(found) > 1 else "")
        if not found:
            self._tables_error = True
            self._error(f"{path} holds no tables or views; choose another file")
            return
        if len(found) == 1:
            tables.value = found[0]["name"]

    def _tables_failed(self, path: str, message: str | None) -> None:
        if path != self._tables_loading:
            return
        self._tables_loading = None
        self._table_status("no tables read")
        if message is not None:
            self._tables_error = True
            self._error(message)

    def collect(self) -> tuple[str, str, str | None, str | None, str | None]:
        path = self.query_one("#ingest-path", Input).value.strip()
        name = self.query_one("#ingest-name", Input).value.strip()
        if not path:
            raise Invalid(f"enter the path of a {FORMATS_HINT}")
        if not name:
            raise Invalid("enter a name for the dataset (letters, digits, '_', '.', '-')")
        target = self.query_one("#ingest-target", Input).value.strip() or None
        time_column = self.query_one("#ingest-time", Input).value.strip() or None
        full = self._full_path(path)
        table: str | None = None
        if self.workspace.data.format_of(full) == "sqlite":
            chosen = self.query_one("#ingest-table", Select).value
            if self._tables_loading == full:
                raise Invalid("still reading the tables of the file; choose one in the Table list, then press Import")
            if self._tables_of == full and chosen is Select.NULL:
                self.query_one("#ingest-table", Select).focus()
                raise Invalid("choose the table to import in the Table list, then press Import")
            table = None if chosen is Select.NULL else str(chosen)
        return full, name, target, time_column, table

    def run(self, args: tuple[str, str, str | None, str | None, str | None]) -> DatasetVersion:
        path, name, target, time_column, table = args
        return self.workspace.data.ingest(path, name, target=target, time_column=time_column, table=table,
                                          progress=self.report_progress)

    def _error(self, message: str) -> None:
        self.show_error(message)

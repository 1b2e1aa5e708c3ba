"""The Add source dialog: watch a folder, a SQLite query or a growing JSON-lines file for new rows.

Why this exists: a source is a handful of fields whose meaning depends on its
kind (a folder needs a path; a SQLite source also a query and an increasing
key column). The dialog shows only the fields of the chosen kind and creates
the source through `Workspace.add_source` itself, in a worker, so a refusal
(no folder there, a dataset that already has a source, an interval too
short) shows as one line next to the fields the user can fix. The Data and
Schedules screens both open it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.tui.dialogs.ingest import name_from_path
from mlcycle_tui.tui.dialogs.path_suggester import PathSuggester

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace

KINDS = [
    ("folder: new files dropped in a folder", "folder"),
    ("sqlite: new rows of a query", "sqlite"),
    ("jsonl: a growing JSON-lines file", "jsonl"),
]
PATH_TITLES = {"folder": "Folder to watch (→ completes)", "sqlite": "SQLite database file (→ completes)",
               "jsonl": "JSON-lines file (→ completes)"}
PATH_HINTS = {"folder": "path/to/incoming/", "sqlite": "path/to/app.db", "jsonl": "path/to/events.jsonl"}
KIND_HINTS = {
    "folder": "Every new complete .csv, .parquet or .jsonl file in the folder becomes part of a new version.",
    "sqlite": "Rows whose key is past the last one seen are appended; the key must increase (id or time).",
    "jsonl": "Complete lines added since the last run are appended; a rotated file is read from the start.",
}


class SourceDialog(ModalScreen[dict[str, Any] | None]):
    """Returns the new source (as `Workspace.get_source` gives it), or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="source.cancel")]

    def __init__(self, workspace: Workspace, dataset: str = "") -> None:
        super().__init__()
        self.workspace = workspace
        self.initial_dataset = dataset
        self.running = False
        self._auto_name = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="source-box", classes="dialog"):
            yield Static("[b]Watch a data source[/b] — each run appends what is new as a dataset version",
                         classes="dialog-title")
            with Horizontal(classes="row"):
                kind: Select[str] = Select(KINDS, value="folder", allow_blank=False, id="source-kind")
                kind.border_title = "Kind"
                yield kind
                every = Input("10m", placeholder="30s, 10m, 1h", id="source-every")
                every.border_title = "Every"
                yield every
            path = Input(placeholder=PATH_HINTS["folder"], id="source-path", suggester=PathSuggester())
            path.border_title = PATH_TITLES["folder"]
            yield path
            with Horizontal(id="source-sql", classes="row"):
                query = Input(placeholder="SELECT * FROM events", id="source-query")
                query.border_title = "Query"
                yield query
                key = Input(placeholder="id or created_at", id="source-key")
                key.border_title = "Key column"
                yield key
            with Horizontal(classes="row"):
                name = Input(self.initial_dataset, placeholder="from the path", id="source-dataset")
                name.border_title = "Dataset"
                yield name
                target = Input(placeholder="optional", id="source-target")
                target.border_title = "Target column"
                yield target
                time = Input(placeholder="optional", id="source-time")
                time.border_title = "Time column"
                yield time
            yield Static(KIND_HINTS["folder"], id="source-hint", classes="hint-text")
            yield Static(id="source-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Add source", id="source-ok", variant="primary")
                yield Button("Cancel", id="source-cancel")

    def on_mount(self) -> None:
        self.query_one("#source-error").display = False
        self.query_one("#source-sql").display = False
        self.query_one("#source-path", Input).focus()

    @on(Select.Changed, "#source-kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        kind = str(event.value)
        path = self.query_one("#source-path", Input)
        path.border_title = PATH_TITLES.get(kind, "Path")
        path.placeholder = PATH_HINTS.get(kind, "")
        self.query_one("#source-sql").display = kind == "sqlite"
        self.query_one("#source-hint", Static).update(KIND_HINTS.get(kind, ""))

    @on(Input.Changed, "#source-path")
    def _prefill_name(self, event: Input.Changed) -> None:
        name = self.query_one("#source-dataset", Input)
        if name.value == self._auto_name:
            self._auto_name = name_from_path(event.value.rstrip("/")) if event.value.strip() else ""
            name.value = self._auto_name

    def options(self) -> dict[str, Any] | str:
        """The keyword arguments of `add_source` from the fields, or what is missing."""
        value = {w.id: w.value.strip() for w in self.query(Input) if w.id}
        kind = str(self.query_one("#source-kind", Select).value)
        if not value["source-dataset"]:
            return "enter the dataset the source appends to (letters, digits, '_', '.', '-')"
        if not value["source-path"]:
            return f"enter the {PATH_TITLES[kind].split(' (')[0].lower()}"
        options: dict[str, Any] = {
            kind: str(Path(value["source-path"]).expanduser()),
            "every": value["source-every"] or "10m",
            "target": value["source-target"] or None,
            "time_column": value["source-time"] or None,
        }
        if kind == "sqlite":
            if not value["source-query"] or not value["source-key"]:
                return "a SQLite source needs a query and a key column that increases (an id or a timestamp)"
            options.update(query=value["source-query"], key=value["source-key"])
        return {"dataset": value["source-dataset"], **options}

    @on(Input.Submitted)
    @on(Button.Pressed, "#source-ok")
    def _submit(self) -> None:
        if self.running:
            return
        options = self.options()
        if isinstance(options, str):
            self._error(options)
            return
        self._set_running(True)
        self._create(options)

    @work(thread=True, exclusive=True, group="source-add")
    def _create(self, options: dict[str, Any]) -> None:
        dataset = options.pop("dataset")
        try:
            doc = self.workspace.sources.add(dataset, **options)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, exc.message)
        except Exception as exc:  # still one line, never a traceback
            self.app.call_from_thread(self._failed, f"unexpected error ({type(exc).__name__}): {exc}")
        else:
            self.app.call_from_thread(self.dismiss, doc)

    def _failed(self, message: str) -> None:
        self._set_running(False)
        self._error(message)
        self.query_one("#source-path", Input).focus()

    def _error(self, message: str) -> None:
        error = self.query_one("#source-error", Static)
        error.update(Content(f"✘ {message}"))
        error.display = True

    def _set_running(self, running: bool) -> None:
        self.running = running
        for widget in self.query("Input, Select, #source-ok"):
            widget.disabled = running

    @on(Button.Pressed, "#source-cancel")
    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(None)

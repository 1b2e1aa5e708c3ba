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

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Select, Static

from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid, title_select
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


class SourceDialog(FormDialog[dict[str, Any] | None]):
    """Returns the new source (as `Workspace.get_source` gives it), or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="source.cancel")]
    PREFIX = "source"
    OK_LABEL = "Add source"
    FOCUS = "#source-path"
    BUSY_MESSAGE = "The source is still being added; it cannot be stopped halfway."

    def __init__(self, workspace: Workspace, dataset: str = "") -> None:
        super().__init__()
        self.workspace = workspace
        self.initial_dataset = dataset
        self._auto_name = ""

    def compose_fields(self) -> ComposeResult:
        yield Static("[b]Watch a data source[/b] — each run appends what is new as a dataset version",
                     classes="dialog-title")
        with Horizontal(classes="row"):
            yield Select(KINDS, value="folder", allow_blank=False, id="source-kind")
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

    def on_mount(self) -> None:
        title_select(self.query_one("#source-kind", Select), "Kind")
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

    def collect(self) -> dict[str, Any]:
        """The dataset and keyword arguments of `sources.add` from the fields."""
        value = {w.id: w.value.strip() for w in self.query(Input) if w.id}
        kind = str(self.query_one("#source-kind", Select).value)
        if not value["source-dataset"]:
            raise Invalid("enter the dataset the source appends to (letters, digits, '_', '.', '-')")
        if not value["source-path"]:
            raise Invalid(f"enter the {PATH_TITLES[kind].split(' (')[0].lower()}")
        options: dict[str, Any] = {
            kind: str(Path(value["source-path"]).expanduser()),
            "every": value["source-every"] or "10m",
            "target": value["source-target"] or None,
            "time_column": value["source-time"] or None,
        }
        if kind == "sqlite":
            if not value["source-query"] or not value["source-key"]:
                raise Invalid("a SQLite source needs a query and a key column that increases (an id or a timestamp)")
            options.update(query=value["source-query"], key=value["source-key"])
        return {"dataset": value["source-dataset"], **options}

    def run(self, args: dict[str, Any]) -> dict[str, Any]:
        options = {k: v for k, v in args.items() if k != "dataset"}
        return self.workspace.sources.add(args["dataset"], **options)

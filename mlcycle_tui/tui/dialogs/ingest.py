"""The Import dialog: path, name, target and time column; ingest runs in a thread.

Why this exists: importing reads and profiles a whole file, which can take
seconds; it runs in a thread worker while a ProgressBar follows the core's
`progress(fraction, message)` callback. Errors stay in the dialog as one
clear line so the user can fix the path or a column name and try again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, ProgressBar, Static

from mlcycle_tui.common.errors import MlcycleError
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


class IngestDialog(ModalScreen["DatasetVersion | None"]):
    """Returns the new (or unchanged, existing) DatasetVersion, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="ingest.cancel")]

    def __init__(self, workspace: Workspace, path: str = "") -> None:
        super().__init__()
        self.workspace = workspace
        self.initial_path = path
        self.running = False
        self._auto_name = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="ingest-box", classes="dialog"):
            yield Static(f"[b]Import a dataset[/b] — a {FORMATS_HINT}", classes="dialog-title")
            path = Input(
                self.initial_path, placeholder="path/to/file.csv", id="ingest-path", suggester=PathSuggester()
            )
            path.border_title = "File (→ completes)"
            yield path
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
            yield Static(id="ingest-error", classes="error")
            with Horizontal(id="ingest-running", classes="row progress-row"):
                yield ProgressBar(total=1.0, show_eta=False, id="ingest-progress")
                yield Static("", id="ingest-status")
            with Horizontal(classes="buttons"):
                yield Button("Import", id="ingest-ok", variant="primary")
                yield Button("Cancel", id="ingest-cancel")

    def on_mount(self) -> None:
        self.query_one("#ingest-running").display = False
        self.query_one("#ingest-error").display = False
        self.query_one("#ingest-path", Input).focus()

    @on(Input.Changed, "#ingest-path")
    def _prefill_name(self, event: Input.Changed) -> None:
        name = self.query_one("#ingest-name", Input)
        if name.value == self._auto_name:
            self._auto_name = name_from_path(event.value) if event.value.strip() else ""
            name.value = self._auto_name

    @on(Input.Submitted)
    @on(Button.Pressed, "#ingest-ok")
    def _submit(self) -> None:
        if self.running:
            return
        path = self.query_one("#ingest-path", Input).value.strip()
        name = self.query_one("#ingest-name", Input).value.strip()
        if not path:
            self._error(f"enter the path of a {FORMATS_HINT}")
            return
        if not name:
            self._error("enter a name for the dataset (letters, digits, '_', '.', '-')")
            return
        target = self.query_one("#ingest-target", Input).value.strip() or None
        time_column = self.query_one("#ingest-time", Input).value.strip() or None
        self._set_running(True)
        self._ingest(str(Path(path).expanduser()), name, target, time_column)

    @on(Button.Pressed, "#ingest-cancel")
    def action_cancel(self) -> None:
        if self.running:
            self.notify("The import is still running; it cannot be stopped halfway.", severity="warning")
            return
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="ingest")
    def _ingest(self, path: str, name: str, target: str | None, time_column: str | None) -> None:
        def progress(fraction: float, message: str) -> None:
            self.app.call_from_thread(self._progress, fraction, message)

        try:
            ds = self.workspace.data.ingest(path, name, target=target, time_column=time_column, progress=progress)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, exc.message)
        except Exception as exc:  # a bug or an unexpected OS error: still one line, never a traceback
            self.app.call_from_thread(self._failed, f"unexpected error ({type(exc).__name__}): {exc}")
        else:
            self.app.call_from_thread(self._done, ds)

    def _progress(self, fraction: float, message: str) -> None:
        self.query_one("#ingest-progress", ProgressBar).update(progress=fraction)
        self.query_one("#ingest-status", Static).update(message)

    def _failed(self, message: str) -> None:
        self._set_running(False)
        self._error(message)

    def _done(self, ds: DatasetVersion) -> None:
        self.running = False
        self.dismiss(ds)

    def _error(self, message: str) -> None:
        error = self.query_one("#ingest-error", Static)
        error.update(Content(f"✘ {message}"))
        error.display = True

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.query_one("#ingest-error").display = False
        self.query_one("#ingest-running").display = running
        for widget in self.query("Input, #ingest-ok"):
            widget.disabled = running
        if running:
            self._progress(0.0, "starting")
        else:
            self.query_one("#ingest-path", Input).focus()

"""The New scoring schedule dialog: score the new files of a folder with a model every so often.

Why this exists: batch scoring on a schedule is four fields (model, input
folder, output folder, interval), each of which can be refused (an unknown
model, a folder that does not exist, the same folder twice). The dialog
creates the schedule through `Workspace.schedule_scoring` in a worker, so a
refusal shows as one line in the dialog instead of failing later at every
tick.
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
from textual.widgets import Button, Input, Static

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.tui.dialogs.path_suggester import PathSuggester

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace


class ScoringDialog(ModalScreen[dict[str, Any] | None]):
    """Returns the new scoring schedule (as `Workspace.get_scoring` gives it), or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="scoring.cancel")]

    def __init__(self, workspace: Workspace, model: str = "") -> None:
        super().__init__()
        self.workspace = workspace
        self.model = model
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="scoring-box", classes="dialog"):
            yield Static("[b]Score new files on a schedule[/b] — like `mlcycle predict`, for every new file",
                         classes="dialog-title")
            with Horizontal(classes="row"):
                model = Input(self.model, placeholder="NAME (follows production) or NAME@2", id="scoring-model")
                model.border_title = "Model"
                yield model
                every = Input("1h", placeholder="30s, 15m, 1h", id="scoring-every")
                every.border_title = "Every"
                yield every
            inputs = Input(placeholder="path/to/inbox/", id="scoring-input", suggester=PathSuggester())
            inputs.border_title = "Input folder: new .csv, .parquet, .jsonl files (→ completes)"
            yield inputs
            outputs = Input(placeholder="path/to/scored/", id="scoring-output", suggester=PathSuggester())
            outputs.border_title = "Output folder: <name>.predictions.<ext> (→ completes)"
            yield outputs
            yield Static("Each file is scored once with the model's version at that moment; a file that is "
                         "wrong in itself is rejected and not tried again until it changes.", classes="hint-text")
            yield Static(id="scoring-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Schedule", id="scoring-ok", variant="primary")
                yield Button("Cancel", id="scoring-cancel")

    def on_mount(self) -> None:
        self.query_one("#scoring-error").display = False
        self.query_one("#scoring-input" if self.model else "#scoring-model", Input).focus()

    def options(self) -> dict[str, Any] | str:
        """The arguments of `schedule_scoring` from the fields, or what is missing."""
        value = {w.id: w.value.strip() for w in self.query(Input) if w.id}
        if not value["scoring-model"]:
            return "enter a model: NAME follows its production version, NAME@VERSION stays on one"
        if not value["scoring-input"]:
            return "enter the folder whose new files are scored"
        if not value["scoring-output"]:
            return "enter the folder the predictions are written to"
        return {"model_ref": value["scoring-model"], "input_dir": str(Path(value["scoring-input"]).expanduser()),
                "output_dir": str(Path(value["scoring-output"]).expanduser()),
                "every": value["scoring-every"] or "1h"}

    @on(Input.Submitted)
    @on(Button.Pressed, "#scoring-ok")
    def _submit(self) -> None:
        if self.running:
            return
        options = self.options()
        if isinstance(options, str):
            self._error(options)
            return
        self._set_running(True)
        self._create(options)

    @work(thread=True, exclusive=True, group="scoring-add")
    def _create(self, options: dict[str, Any]) -> None:
        try:
            doc = self.workspace.scoring.add(options["model_ref"], options["input_dir"], options["output_dir"],
                                                  every=options["every"])
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, exc.message)
        except Exception as exc:  # still one line, never a traceback
            self.app.call_from_thread(self._failed, f"unexpected error ({type(exc).__name__}): {exc}")
        else:
            self.app.call_from_thread(self.dismiss, doc)

    def _failed(self, message: str) -> None:
        self._set_running(False)
        self._error(message)
        self.query_one("#scoring-input", Input).focus()  # not Cancel, where focus went while disabled

    def _error(self, message: str) -> None:
        error = self.query_one("#scoring-error", Static)
        error.update(Content(f"✘ {message}"))
        error.display = True

    def _set_running(self, running: bool) -> None:
        self.running = running
        for widget in self.query("Input, #scoring-ok"):
            widget.disabled = running

    @on(Button.Pressed, "#scoring-cancel")
    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(None)

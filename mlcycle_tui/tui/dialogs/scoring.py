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

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Static

from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid
from mlcycle_tui.tui.dialogs.path_suggester import PathSuggester

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace


class ScoringDialog(FormDialog[dict[str, Any] | None]):
    """Returns the new scoring schedule (as `Workspace.get_scoring` gives it), or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="scoring.cancel")]
    PREFIX = "scoring"
    OK_LABEL = "Schedule"
    FOCUS = "#scoring-input"  # not Cancel, where focus went while the fields were disabled
    BUSY_MESSAGE = "The scoring schedule is still being created; it cannot be stopped halfway."

    def __init__(self, workspace: Workspace, model: str = "") -> None:
        super().__init__()
        self.workspace = workspace
        self.model = model

    def compose_fields(self) -> ComposeResult:
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

    def on_mount(self) -> None:
        self.query_one("#scoring-input" if self.model else "#scoring-model", Input).focus()

    def collect(self) -> dict[str, Any]:
        """The arguments of `scoring.add` from the fields."""
        value = {w.id: w.value.strip() for w in self.query(Input) if w.id}
        if not value["scoring-model"]:
            raise Invalid("enter a model: NAME follows its production version, NAME@VERSION stays on one")
        if not value["scoring-input"]:
            raise Invalid("enter the folder whose new files are scored")
        if not value["scoring-output"]:
            raise Invalid("enter the folder the predictions are written to")
        return {"model_ref": value["scoring-model"], "input_dir": str(Path(value["scoring-input"]).expanduser()),
                "output_dir": str(Path(value["scoring-output"]).expanduser()),
                "every": value["scoring-every"] or "1h"}

    def run(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.workspace.scoring.add(args["model_ref"], args["input_dir"], args["output_dir"],
                                          every=args["every"])

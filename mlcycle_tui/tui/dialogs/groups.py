"""The Evaluate-by-group dialog: a slice column and a sensitive column for `evaluation.evaluate`.

Why this exists: metrics per slice and fairness gaps per group are what tell a
model that is good on average from one that fails a part of the data. The
Experiments screen asks here which columns to cut by; the screen runs the
evaluation in its own worker with these arguments.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Input, Select, Static

from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid

NONE = "__none__"


class GroupsDialog(FormDialog[dict[str, Any] | None]):
    """Returns `{"slice_column", "sensitive", "positive_label"}` (None for a field left empty), or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="groups.cancel")]
    PREFIX = "groups"
    OK_LABEL = "Evaluate"
    ASKS_ONLY = True
    FOCUS = "#groups-slice"

    def __init__(self, run_label: str, columns: list[str], classification: bool) -> None:
        super().__init__()
        self.run_label = run_label
        self.columns = columns
        self.classification = classification

    def compose_fields(self) -> ComposeResult:
        title = Content.from_markup("[b]Evaluate run $run[/b] by slice and group", run=self.run_label)
        yield Static(title, classes="dialog-title")
        options = [("(none)", NONE), *((c, c) for c in self.columns)]
        yield Static("Slice: metrics for each value of this column (numbers: quantile bins)", classes="field-label")
        yield Select(options, value=NONE, allow_blank=False, id="groups-slice")
        if self.classification:
            yield Static("Sensitive: selection rate, TPR and FPR per group, and their gaps", classes="field-label")
            yield Select(options, value=NONE, allow_blank=False, id="groups-sensitive")
            positive = Input(placeholder="the run's positive class", id="groups-positive")
            positive.border_title = "Positive label (more than two classes)"
            yield positive

    def on_mount(self) -> None:
        self.query_one("#groups-slice", Select).focus()

    def collect(self) -> dict[str, Any]:
        slice_column = self.query_one("#groups-slice", Select).value
        sensitive = self.query_one("#groups-sensitive", Select).value if self.classification else NONE
        if slice_column == NONE and sensitive == NONE:
            raise Invalid("choose a slice column, a sensitive column, or both")
        positive = self.query_one("#groups-positive", Input).value.strip() if self.classification else ""
        return {"slice_column": None if slice_column == NONE else str(slice_column),
                "sensitive": None if sensitive == NONE else str(sensitive),
                "positive_label": positive or None}

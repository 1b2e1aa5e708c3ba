"""The Split dialog: test size, method (random, stratified, time), time column, seed.

Why this exists: a split is recorded once and reused by training, so its
options are asked for explicitly, checked here before the core is called, and
the dialog returns them as the keyword arguments of `Workspace.split`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Input, Select, Static

from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid

TIME_KINDS = ("datetime", "numeric")


class SplitDialog(FormDialog[dict[str, Any] | None]):
    """Returns `{"test_size", "stratify", "time_column", "seed"}` or None if cancelled.

    It only asks: the Data screen makes the split (in its own worker) with these arguments.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="split.cancel")]
    PREFIX = "split"
    OK_LABEL = "Split"
    ASKS_ONLY = True

    def __init__(
        self, ref: str, columns: list[dict[str, Any]], target: str | None, time_column: str | None
    ) -> None:
        super().__init__()
        self.ref = ref
        self.target = target
        self.time_columns = [c["name"] for c in columns if c["kind"] in TIME_KINDS]
        self.default_time = time_column if time_column in self.time_columns else None

    def compose_fields(self) -> ComposeResult:
        methods = [("random", "random")]
        if self.target:
            methods.append((f"stratified on {self.target}", "stratified"))
        if self.time_columns:
            methods.append(("time (newest rows are the test set)", "time"))
        default = "time" if self.default_time else ("stratified" if self.target else "random")
        title = Content.from_markup("[b]Split $ref[/b] into train and test", ref=self.ref)
        yield Static(title, classes="dialog-title")
        with Horizontal(classes="row"):
            size = Input("0.2", id="split-size", restrict=r"[0-9.]*")
            size.border_title = "Test size (0-1)"
            yield size
            seed = Input("42", id="split-seed", restrict=r"-?[0-9]*")
            seed.border_title = "Seed"
            yield seed
        yield Static("Method", classes="field-label")
        yield Select(methods, value=default, allow_blank=False, id="split-method")
        yield Static("Time column (for the time method)", classes="field-label")
        times = Select(
            [(c, c) for c in self.time_columns],
            value=self.default_time or (self.time_columns[0] if self.time_columns else Select.NULL),
            allow_blank=not self.time_columns,
            id="split-time",
            disabled=default != "time",
        )
        yield times

    def on_mount(self) -> None:
        self.query_one("#split-size", Input).focus()

    @on(Select.Changed, "#split-method")
    def _method_changed(self, event: Select.Changed) -> None:
        self.query_one("#split-time", Select).disabled = event.value != "time"

    def collect(self) -> dict[str, Any]:
        """The keyword arguments of `splits.create` from the fields."""
        try:
            test_size = float(self.query_one("#split-size", Input).value)
        except ValueError:
            test_size = -1.0
        if not 0.0 < test_size < 1.0:
            raise Invalid("the test size is a fraction between 0 and 1, e.g. 0.2")
        try:
            seed = int(self.query_one("#split-seed", Input).value)
        except ValueError:
            raise Invalid("the seed is a whole number, e.g. 42") from None
        method = self.query_one("#split-method", Select).value
        time_value = self.query_one("#split-time", Select).value
        time_column = str(time_value) if method == "time" and isinstance(time_value, str) else None
        if method == "time" and time_column is None:
            raise Invalid("choose the time column to order the rows by")
        return {"test_size": test_size, "stratify": method == "stratified", "time_column": time_column, "seed": seed}

"""The Schedule dialog: check a model for drift every so often, then retrain or only alert.

Why this exists: a schedule is one row (model, interval, action) but the
interval must parse and be long enough; the dialog creates it through
`Workspace.schedule_check` itself so a refusal shows next to the field the
user can fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from mlcycle_tui.common.errors import MlcycleError

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace

ACTIONS = [
    ("retrain: queue a retraining job when the policy says so", "retrain"),
    ("alert: record the report and notify only", "alert"),
]


class ScheduleDialog(ModalScreen[dict[str, Any] | None]):
    """Returns the new schedule, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="schedule.cancel")]

    def __init__(self, workspace: Workspace, model: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.model = model
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="schedule-box", classes="dialog"):
            yield Static(Content.from_markup("[b]Schedule drift checks of $m[/b]", m=self.model),
                         classes="dialog-title")
            yield Static("Each check compares the inputs the server logged for the production version "
                         "(last 24 h) with its training data.", classes="hint-text")
            with Horizontal(classes="row"):
                every = Input("1h", placeholder="30s, 15m, 1h, 1d", id="schedule-every")
                every.border_title = "Every"
                yield every
                action: Select[str] = Select(ACTIONS, value="retrain", allow_blank=False, id="schedule-action")
                action.border_title = "Then"
                yield action
            yield Static(id="schedule-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Schedule", id="schedule-ok", variant="primary")
                yield Button("Cancel", id="schedule-cancel")

    def on_mount(self) -> None:
        self.query_one("#schedule-error").display = False
        self.query_one("#schedule-every", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#schedule-ok")
    def _submit(self) -> None:
        if self.running:
            return
        every = self.query_one("#schedule-every", Input).value.strip()
        action = str(self.query_one("#schedule-action", Select).value)
        self._set_running(True)
        self._create(every, action)

    @work(thread=True, exclusive=True, group="schedule")
    def _create(self, every: str, action: str) -> None:
        try:
            doc = self.workspace.drift_schedules.add(self.model, every, action)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, exc.message)
        else:
            self.app.call_from_thread(self.dismiss, doc)

    def _failed(self, message: str) -> None:
        self._set_running(False)
        error = self.query_one("#schedule-error", Static)
        error.update(Content(f"✘ {message}"))
        error.display = True
        self.query_one("#schedule-every", Input).focus()

    def _set_running(self, running: bool) -> None:
        self.running = running
        for widget in self.query("Input, Select, #schedule-ok"):
            widget.disabled = running

    @on(Button.Pressed, "#schedule-cancel")
    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(None)

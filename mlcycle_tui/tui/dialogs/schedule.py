"""The Schedule dialog: check a model for drift every so often, then retrain or only alert.

Why this exists: a schedule is one row (model, interval, action) but the
interval must parse and be long enough; the dialog creates it through
`Workspace.schedule_check` itself so a refusal shows next to the field the
user can fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Input, Select, Static

from mlcycle_tui.tui.dialogs.form import FormDialog, title_select

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace

ACTIONS = [
    ("retrain: queue a retraining job when the policy says so", "retrain"),
    ("alert: record the report and notify only", "alert"),
]


class ScheduleDialog(FormDialog[dict[str, Any] | None]):
    """Returns the new schedule, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="schedule.cancel")]
    PREFIX = "schedule"
    OK_LABEL = "Schedule"
    FOCUS = "#schedule-every"
    BUSY_MESSAGE = "The schedule is still being created; it cannot be stopped halfway."

    def __init__(self, workspace: Workspace, model: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.model = model

    def compose_fields(self) -> ComposeResult:
        yield Static(Content.from_markup("[b]Schedule drift checks of $m[/b]", m=self.model),
                     classes="dialog-title")
        yield Static("Each check compares the inputs the server logged for the production version "
                     "(last 24 h) with its training data.", classes="hint-text")
        with Horizontal(classes="row"):
            every = Input("1h", placeholder="30s, 15m, 1h, 1d", id="schedule-every")
            every.border_title = "Every"
            yield every
            yield Select(ACTIONS, value="retrain", allow_blank=False, id="schedule-action")

    def on_mount(self) -> None:
        title_select(self.query_one("#schedule-action", Select), "Then")
        self.query_one("#schedule-every", Input).focus()

    def collect(self) -> tuple[str, str]:
        """(every, action): the core checks the interval."""
        every = self.query_one("#schedule-every", Input).value.strip()
        return every, str(self.query_one("#schedule-action", Select).value)

    def run(self, args: tuple[str, str]) -> dict[str, Any]:
        every, action = args
        return self.workspace.drift_schedules.add(self.model, every, action)

"""The Register dialog: a model name for a run; registering happens here, errors stay here.

Why this exists: turning a run into a model version is one short step, but
the name must be valid and the run must be a finished, trained run. The
dialog calls `Workspace.register` itself (it only reads a few small
artifacts) so a refusal is shown next to the name the user can fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Input, Static

from mlcycle_tui.registry.versions import ModelVersion
from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace


class RegisterDialog(FormDialog[ModelVersion | None]):
    """Returns the new ModelVersion, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="register.cancel")]
    PREFIX = "register"
    OK_LABEL = "Register"
    FOCUS = "#register-name"
    BUSY_MESSAGE = "The run is still being registered; it cannot be stopped halfway."

    def __init__(self, workspace: Workspace, run_id: str, name: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.run_id = run_id
        self.default_name = name

    def compose_fields(self) -> ComposeResult:
        title = Content.from_markup(
            "[b]Register run $run[/b] as a new version of a model", run=self.run_id[:12]
        )
        yield Static(title, classes="dialog-title")
        name = Input(self.default_name, placeholder="model name", id="register-name")
        name.border_title = "Model name"
        yield name

    def on_mount(self) -> None:
        self.query_one("#register-name", Input).focus()

    def collect(self) -> str:
        name = self.query_one("#register-name", Input).value.strip()
        if not name:
            raise Invalid("enter a model name (letters, digits, '_', '.', '-')")
        return name

    def run(self, args: str) -> ModelVersion:
        return self.workspace.registry.register(self.run_id, args)

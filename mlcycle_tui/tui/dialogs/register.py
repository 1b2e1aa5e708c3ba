"""The Register dialog: a model name for a run; registering happens here, errors stay here.

Why this exists: turning a run into a model version is one short step, but
the name must be valid and the run must be a finished, trained run. The
dialog calls `Workspace.register` itself (it only reads a few small
artifacts) so a refusal is shown next to the name the user can fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.registry.versions import ModelVersion

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace


class RegisterDialog(ModalScreen[ModelVersion | None]):
    """Returns the new ModelVersion, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="register.cancel")]

    def __init__(self, workspace: Workspace, run_id: str, name: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.run_id = run_id
        self.default_name = name
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="register-box", classes="dialog"):
            title = Content.from_markup(
                "[b]Register run $run[/b] as a new version of a model", run=self.run_id[:12]
            )
            yield Static(title, classes="dialog-title")
            name = Input(self.default_name, placeholder="model name", id="register-name")
            name.border_title = "Model name"
            yield name
            yield Static(id="register-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Register", id="register-ok", variant="primary")
                yield Button("Cancel", id="register-cancel")

    def on_mount(self) -> None:
        self.query_one("#register-error").display = False
        self.query_one("#register-name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#register-ok")
    def _submit(self) -> None:
        name = self.query_one("#register-name", Input).value.strip()
        if not name:
            self._error("enter a model name (letters, digits, '_', '.', '-')")
            return
        if self.running:
            return
        self._set_running(True)
        self._register(name)

    @work(thread=True, exclusive=True, group="register")
    def _register(self, name: str) -> None:
        try:
            mv = self.workspace.registry.register(self.run_id, name)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, exc.message)
        except Exception as exc:  # a bug or an unexpected OS error: one line, never a traceback
            self.app.call_from_thread(self._failed, f"unexpected error ({type(exc).__name__}): {exc}")
        else:
            self.app.call_from_thread(self.dismiss, mv)

    def _failed(self, message: str) -> None:
        self._set_running(False)
        self._error(message)

    def _set_running(self, running: bool) -> None:
        self.running = running
        for widget in self.query("Input, #register-ok"):
            widget.disabled = running
        if running:
            self.query_one("#register-error").display = False
        else:
            self.query_one("#register-name", Input).focus()

    @on(Button.Pressed, "#register-cancel")
    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(None)

    def _error(self, message: str) -> None:
        error = self.query_one("#register-error", Static)
        error.update(Content(f"✘ {message}"))
        error.display = True

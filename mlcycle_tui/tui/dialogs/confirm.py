"""A confirmation dialog: what will happen, then one button per choice (and Cancel).

Why this exists: promotion, rollback and other actions that change what
production serves must be confirmed. The caller states the consequence in
the body (e.g. the gate verdict) and names the choices explicitly ("Force
promote (recorded)"), so nothing destructive happens on a stray key.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

Choice = tuple[str, str, str]
"""(button label, value returned, button variant)."""


class ConfirmDialog(ModalScreen[str | None]):
    """Returns the value of the pressed choice, or None for Cancel / escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="confirm.cancel")]

    def __init__(self, title: str, body: str, choices: list[Choice]) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(f"[b]{self.title_text}[/b]", classes="dialog-title")
            with VerticalScroll(id="confirm-scroll"):
                yield Static(self.body, id="confirm-body")
            with Horizontal(classes="buttons"):
                for label, value, variant in self.choices:
                    yield Button(label, id=f"confirm-{value}", variant=variant)  # type: ignore[arg-type]
                yield Button("Cancel", id="confirm-cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm-cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        value = (event.button.id or "").removeprefix("confirm-")
        self.dismiss(None if value == "cancel" else value)

    def action_cancel(self) -> None:
        self.dismiss(None)

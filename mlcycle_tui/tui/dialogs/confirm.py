"""A confirmation dialog: what will happen, one button per choice (and Cancel), and the keys that answer.

Why this exists: promotion, rollback and other actions that change what
production serves must be confirmed. The caller states the consequence in
the body (e.g. the gate verdict) and names the choices explicitly ("Force
promote (recorded)"). The dialog says which key does what: **y** takes the
first choice, **n** or **Esc** cancels. Enter presses the focused button,
which is the first choice (never a Cancel that closes the dialog without a
word); for a choice that overrides a safeguard ("error" variant, e.g. forcing
past the gates) no button is focused, and Enter only repeats which key to
press, so nothing is forced on a stray Enter.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

Choice = tuple[str, str, str]
"""(button label, value returned, button variant)."""


def keys_hint(label: str) -> Content:
    """"y Roll back · n or Esc cancels": the keys of a confirmation, with its first choice named."""
    return Content.from_markup("[b]y[/b] $label · [b]n[/b] or [b]Esc[/b] cancels", label=label)


class ConfirmDialog(ModalScreen[str | None]):
    """Returns the value of the pressed choice (`y`: the first), or None for Cancel / `n` / Escape."""

    AUTO_FOCUS = ""  # focus is set in on_mount (or left off buttons on purpose)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Confirm", id="confirm.yes"),
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel"),
        Binding("enter", "explain", "Which key?", show=False, id="confirm.enter"),
    ]

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
            yield Static(keys_hint(self.choices[0][0]), id="confirm-keys", classes="hint-text")
            with Horizontal(classes="buttons"):
                for label, value, variant in self.choices:
                    yield Button(label, id=f"confirm-{value}", variant=variant)  # type: ignore[arg-type]
                yield Button("Cancel", id="confirm-cancel")

    def on_mount(self) -> None:
        _label, value, variant = self.choices[0]
        if variant != "error":
            self.query_one(f"#confirm-{value}", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        value = (event.button.id or "").removeprefix("confirm-")
        self.dismiss(None if value == "cancel" else value)

    def action_confirm(self) -> None:
        self.dismiss(self.choices[0][1])

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_explain(self) -> None:
        """Enter with no button focused: say which key does what, rather than closing without a word."""
        self.notify(f"Press y to {self.choices[0][0].lower()}, or n / Esc to cancel.", title=self.title_text,
                    severity="warning")

"""The `?` dialog: what the current screen is for and every key it answers to.

Why this exists: the footer has room for a few keys only; this lists them all
(with remapped keys as they are now) next to a short explanation.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown


class HelpDialog(ModalScreen[None]):
    """Markdown help plus a table of keys; any of escape, q, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, title: str, text: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.keys = keys

    def compose(self) -> ComposeResult:
        rows = "\n".join(f"| `{key}` | {desc} |" for key, desc in self.keys)
        doc = f"## {self.title_text}\n\n{self.text}\n\n| key | does |\n|---|---|\n{rows}\n"
        with Vertical(id="help-box", classes="dialog"):
            with VerticalScroll():
                yield Markdown(doc, id="help-text")
            yield Button("Close", id="help-close", variant="primary")

    def on_button_pressed(self) -> None:
        self.dismiss()

    def action_close(self) -> None:
        self.dismiss()

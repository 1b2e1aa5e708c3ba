"""A dialog that shows one long text in full: an event, a job's reason, a schedule's last error.

Why this exists: tables cut long messages to the width of the terminal and end
them with "…" (`widgets/fit_table.py`); Enter on the row opens the whole text
here, wrapped and scrollable, so nothing is ever only half readable.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class TextDialog(ModalScreen[None]):
    """A title and a text (plain, or markup with `markup=True`); Escape, Enter or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close", id="text.close")]

    def __init__(self, title: str, text: str, *, markup: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.markup = markup

    def compose(self) -> ComposeResult:
        with Vertical(id="text-box", classes="dialog"):
            yield Static(Content.from_markup("[b]$title[/b]", title=self.title_text), classes="dialog-title")
            with VerticalScroll(id="text-scroll"):
                yield Static(Content.from_markup(self.text) if self.markup else Content(self.text), id="text-body")
            yield Static(Content.from_markup("[b]Esc[/b] or [b]Enter[/b] closes"), classes="hint-text")
            yield Button("Close", id="text-close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#text-scroll").focus()

    def on_button_pressed(self) -> None:
        self.dismiss()

    def action_close(self) -> None:
        self.dismiss()

"""An honest placeholder for a stage that is not built yet.

Why this exists: every stage is reachable from the first day so the shape of
the lifecycle is visible, but a screen must never pretend to work. A
placeholder says what is coming and what the user can do today instead.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.widgets import Static

from mlcycle_tui.tui.screens.base import StageScreen


class PlaceholderScreen(StageScreen):
    """A stage screen whose body is a short "coming / today" note."""

    COMING: ClassVar[str] = ""
    """What the stage will do once built."""
    TODAY: ClassVar[str] = "import and check data on the Data screen (d)"
    """What the user can do today instead."""

    def help_text(self) -> str:
        return f"{self.STAGE_SUMMARY}.\n\n**Not built yet.** {self.COMING}\n\n**Today:** {self.TODAY}."

    def compose_body(self) -> ComposeResult:
        text = (
            f"[b]{self.STAGE_TITLE}[/b] is not built yet.\n\n"
            f"{self.COMING}\n\n"
            f"[dim]Today:[/dim] {self.TODAY}."
        )
        with Middle(classes="placeholder-body"), Center():
            yield Static(text, classes="placeholder", id="placeholder")

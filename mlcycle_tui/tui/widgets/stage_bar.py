"""The row of stages under the header: where you are and which key goes where.

Why this exists: the footer has room for the current screen's actions only;
this bar shows every stage with its (possibly remapped) key, highlights the
current one, and switches stage on click. When the full bar is wider than the
terminal (80 columns), the space after each stage goes so all still fit.
"""

from __future__ import annotations

from textual import events
from textual.content import Content
from textual.markup import escape
from textual.widgets import Static


class StageBar(Static):
    """`h Home  d Data  e Experiments ...` with the current stage highlighted."""

    def __init__(self, current: str) -> None:
        super().__init__(id="stage-bar", markup=False)
        self.current = current

    def on_mount(self) -> None:
        self.refresh_stages()

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_stages()

    def refresh_stages(self) -> None:
        from mlcycle_tui.tui.screens import STAGES
        from mlcycle_tui.tui.screens.base import stage_key

        items = [(stage, stage_key(self.app, stage)) for stage in STAGES]
        full = sum(len(key) + len(stage.STAGE_TITLE) + 4 for stage, key in items)
        tail = " " if not self.size.width or full <= self.size.width else ""
        parts: list[Content | str] = []
        for stage, key in items:
            label = Content.from_markup(
                f"[@click=app.goto('{stage.STAGE_ID}')] [b]{escape(key)}[/b] {escape(stage.STAGE_TITLE)}{tail}[/]"
            )
            if stage.STAGE_ID == self.current:  # noqa: SIM300
                label = label.stylize("reverse")
            parts.append(label)
        self.update(Content("").join(parts))

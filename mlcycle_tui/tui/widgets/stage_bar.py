"""The row of stages under the header: where you are and which key goes where.

Why this exists: the footer has room for the current screen's actions only;
this bar shows every stage with its (possibly remapped) key, highlights the
current one, and switches stage on click.
"""

from __future__ import annotations

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

    def refresh_stages(self) -> None:
        from mlcycle_tui.tui.screens import STAGES
        from mlcycle_tui.tui.screens.base import stage_key

        parts: list[Content | str] = []
        for stage in STAGES:
            key = stage_key(self.app, stage)
            label = Content.from_markup(
                f"[@click=app.goto('{stage.STAGE_ID}')] [b]{escape(key)}[/b] {escape(stage.STAGE_TITLE)} [/]"
            )
            if stage.STAGE_ID == self.current:  # noqa: SIM300
                label = label.stylize("reverse")
            parts.append(label)
        self.update(Content("").join(parts))

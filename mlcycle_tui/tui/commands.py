"""The command palette provider: every stage and every action of the current screen.

Why this exists: keys are quick once learnt; the palette (ctrl+p) is how a
user discovers them. It lists "Go to <stage>" for every registered stage and
the current screen's own actions (ingest, validate, ...), each with its key.
The theme switch and quit come from Textual's system commands.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


class StageCommands(Provider):
    """Commands for stage navigation and for the actions of the screen in front."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        from mlcycle_tui.tui.screens import STAGES
        from mlcycle_tui.tui.screens.base import stage_key

        app = self.app
        commands: list[tuple[str, str, Callable[[], Any]]] = []
        for stage in STAGES:
            key = stage_key(app, stage)
            commands.append(
                (
                    f"Go to {stage.STAGE_TITLE}",
                    f"{stage.STAGE_SUMMARY} (key {key})",
                    partial(app.run_action, f"goto('{stage.STAGE_ID}')"),
                )
            )
        screen = self.screen
        title = getattr(screen, "STAGE_TITLE", "") or "Screen"
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, tuple) or not binding.description:
                continue
            commands.append(
                (
                    f"{title}: {binding.description}",
                    binding.tooltip or f"key {app.get_key_display(binding)}",
                    partial(screen.run_action, binding.action),
                )
            )
        commands.append(("Help for this screen", "the keys and what they do (key ?)", app.action_help))
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)

"""The footer of every stage screen: all of the screen's keys, on a second line when one is not enough.

Why this exists: Textual's Footer is one line that scrolls sideways, so at 80
columns a screen with ten actions loses "? Help  q Quit" off its right edge.
This footer lays the same keys (same look, same dimming of keys that do
nothing now, same click-to-press) out in as many lines as the width needs,
so every key hint stays visible; it lays them out again when the terminal is
resized or the screen's keys change.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual.binding import Binding

MAX_LINES = 3


def key_width(key_display: str, description: str) -> int:
    """Cells a FooterKey takes in the default (not compact) style: " k " then "Description "."""
    return cell_len(key_display) + 2 + (cell_len(description) + 1 if description else 0)


def wrap(widths: list[int], room: int) -> list[list[int]]:
    """Indexes of the items on each line, in order, each line at most `room` cells (an item wider than
    the room gets a line of its own)."""
    lines: list[list[int]] = [[]]
    used = 0
    for i, width in enumerate(widths):
        if lines[-1] and used + width > room:
            lines.append([])
            used = 0
        lines[-1].append(i)
        used += width
    return lines


class KeyFooter(Footer):
    """Footer whose keys wrap onto more lines instead of scrolling out of sight."""

    def __init__(self) -> None:
        super().__init__()
        self._laid_out_for: tuple[int, int] | None = None

    def _keys(self) -> list[tuple[Binding, bool, str]]:
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show:
                by_action[binding.action].append((binding, enabled, tooltip))
        return [choices[0] for choices in by_action.values()]

    def _palette(self) -> tuple[Binding, bool, str] | None:
        if not (self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE):
            return None
        try:
            _node, binding, enabled, tooltip = self.screen.active_bindings[self.app.COMMAND_PALETTE_BINDING]
        except KeyError:
            return None
        return binding, enabled, tooltip

    def _lines(self, keys: list[tuple[Binding, bool, str]], palette: tuple[Binding, bool, str] | None,
               room: int) -> list[list[int]]:
        widths = [key_width(self.app.get_key_display(b), b.description) for b, _, _ in keys]
        if palette is not None:  # docked right with a bar before it, on the last line
            binding = palette[0]
            widths.append(key_width(self.app.get_key_display(binding), binding.description) + 2)
        return wrap(widths, max(room, 1))[:MAX_LINES]

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        keys, palette = self._keys(), self._palette()
        room = self.app.size.width
        lines = self._lines(keys, palette, room)
        self._laid_out_for = (room, len(lines))
        self.styles.height = len(lines)
        for line in lines:
            with Horizontal(classes="footer-line"):
                for i in line:
                    if i == len(keys):
                        assert palette is not None
                        binding, enabled, tooltip = palette
                        yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                        binding.action, classes="-command-palette", disabled=not enabled,
                                        tooltip=binding.tooltip or binding.description)
                        continue
                    binding, enabled, tooltip = keys[i]
                    yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                    binding.action, disabled=not enabled,
                                    tooltip=tooltip).data_bind(compact=Footer.compact)

    def on_resize(self, event: events.Resize) -> None:
        if not self._bindings_ready or self._laid_out_for is None:
            return
        if self.app.size.width != self._laid_out_for[0]:
            self.call_after_refresh(self.recompose)

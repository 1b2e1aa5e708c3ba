"""The mlcycle terminal UI: one mode per lifecycle stage over one Workspace.

Why this exists: the TUI is the main interface. This module only wires things
together: each registered stage (see `tui/screens/__init__.py`) becomes a
mode, a key binding with a stable id (so `[tui.keymap]` in the workspace's
`config.toml` can remap it, e.g. `"goto.data" = "f2"`), a stage-bar item and a
command palette entry. The screens call Workspace methods; nothing here
touches SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from mlcycle_tui.tui.commands import StageCommands
from mlcycle_tui.tui.dialogs.help import HelpDialog
from mlcycle_tui.tui.screens import STAGES, StageScreen

if TYPE_CHECKING:
    from mlcycle_tui.core.workspace import Workspace

_STYLES = Path(__file__).parent / "styles"


def _stage_bindings() -> list[BindingType]:
    return [
        Binding(s.STAGE_KEY, f"goto('{s.STAGE_ID}')", s.STAGE_TITLE, show=False, id=f"goto.{s.STAGE_ID}")
        for s in STAGES
    ]


def _short_path(path: Path) -> str:
    try:
        return "~/" + str(path.resolve().relative_to(Path.home()))
    except ValueError:
        return str(path)


class MlcycleApp(App[None]):
    """The terminal UI over `workspace`."""

    TITLE = "mlcycle"
    CSS_PATH: ClassVar[list[str | Path]] = sorted(_STYLES.glob("*.tcss"))  # type: ignore[misc]
    MODES: ClassVar[dict[str, Any]] = {s.STAGE_ID: s for s in STAGES}
    DEFAULT_MODE = STAGES[0].STAGE_ID
    COMMANDS = App.COMMANDS | {StageCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        *_stage_bindings(),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, workspace: Workspace, *, workspace_label: str | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.workspace_label = workspace_label or _short_path(workspace.home)
        keymap = workspace.settings.get("tui", {}).get("keymap", {})
        self._user_keymap: dict[str, str] = {str(k): str(v) for k, v in keymap.items()} if isinstance(
            keymap, dict
        ) else {}

    def on_mount(self) -> None:
        if self._user_keymap:
            self.set_keymap(self._user_keymap)

    # -- stages ----------------------------------------------------------
    def stage_key_display(self, stage_id: str) -> str:
        """The key that opens a stage now (after keymap), as shown to the user."""
        stage = next(s for s in STAGES if s.STAGE_ID == stage_id)  # noqa: SIM300
        key = self._user_keymap.get(f"goto.{stage_id}", stage.STAGE_KEY).split(",")[0].strip()
        return self.get_key_display(Binding(key, ""))

    def action_goto(self, stage_id: str) -> None:
        if stage_id != self.current_mode:
            self.switch_mode(stage_id)

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, ModalScreen):
            return
        keys: list[tuple[str, str]] = []
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if active.node not in (screen, self) or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append((self.get_key_display(binding) if binding.key == key else key, binding.description))
        if isinstance(screen, StageScreen):
            title, text = screen.STAGE_TITLE, screen.help_text()
        else:
            title, text = "mlcycle", ""
        keys.append(("ctrl+p", "command palette: every screen and action, theme switch"))
        self.push_screen(HelpDialog(title, text, keys))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Stage keys and help do nothing while a dialog is open.
        return not (action in ("goto", "help") and isinstance(self.screen, ModalScreen))

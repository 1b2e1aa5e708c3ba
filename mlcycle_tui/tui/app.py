"""The mlcycle terminal UI: one mode per lifecycle stage over one Workspace.

Why this exists: the TUI is the main interface. This module only wires things
together: each registered stage (see `tui/screens/__init__.py`) becomes a
mode, a key binding with a stable id (so `[tui.keymap]` in the workspace's
`config.toml` can remap it, e.g. `"goto.data" = "f2"`), a stage-bar item and a
command palette entry. The screens call Workspace methods; nothing here
touches SQL.

The app also owns the background services (`tui/services.py`): the
prediction server the Serve screen starts and the scheduler (started at
launch unless `[scheduler] in_tui = false`). Their events become
notifications; quitting stops both (the prediction log is flushed) before
the app exits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from mlcycle_tui.tui.commands import StageCommands
from mlcycle_tui.tui.dialogs.help import HelpDialog
from mlcycle_tui.tui.screens import STAGES, StageScreen
from mlcycle_tui.tui.services import ServiceEvent, Services

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace

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
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (100, "-normal"), (150, "-wide")]
    """Screen classes by width: below 100 columns panels stack or collapse (see styles/*.tcss)."""
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (36, "-tall")]
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
        self.services = Services(self, workspace)
        self._quitting = False

    def on_mount(self) -> None:
        if self._user_keymap:
            self.set_keymap(self._user_keymap)
        if self.services.scheduler_in_tui():
            self._start_scheduler()

    # -- background services ---------------------------------------------
    @work(thread=True, group="services")
    def _start_scheduler(self) -> None:
        try:
            self.services.start_scheduler()
        except Exception as exc:  # the UI stays usable; the Monitor screen can try again
            if self.is_running:
                self.call_from_thread(self.notify, f"the scheduler did not start: {exc}", title="Scheduler",
                                      severity="error", timeout=10)

    def on_service_event(self, event: ServiceEvent) -> None:
        severity = "warning" if event.kind in ("drift", "decay") else "information"
        title = {"drift": "Drift found", "decay": "Model decay", "job": "Retraining job", "source": "Data source",
                 "scoring": "Batch scoring"}.get(event.kind, "Scheduler")
        self.notify(event.message, title=title, severity=severity, timeout=8)
        refresh = getattr(self.screen, "service_event", None)
        if refresh is not None:
            refresh(event.kind)

    async def action_quit(self) -> None:
        """Stop the server and the scheduler (in a thread: a running check may take a while), then exit."""
        if self._quitting:
            return
        if not self.services.busy:
            self.exit()
            return
        self._quitting = True
        job = self.services.running_job()
        wait = f"; waiting for retraining job {job} to finish its step" if job is not None else ""
        self.notify(f"Stopping the server and the scheduler{wait}…", title="Quit", timeout=30)
        self._stop_services_then_exit()

    @work(thread=True, group="quit")
    def _stop_services_then_exit(self) -> None:
        try:
            self.services.stop_all()
        finally:
            self.call_from_thread(self.exit)

    def on_unmount(self) -> None:
        # however the app ends (quit key, ctrl+c, a test leaving run_test), nothing keeps running
        self.services.stop_all()

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

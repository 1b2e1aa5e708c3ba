"""The base class of every stage screen: metadata, chrome and the workspace handle.

Why this exists: each lifecycle stage is one screen in one file. The base
class gives them the same frame (header, stage bar, footer), the metadata the
app needs to register them (id, key, title, help) and access to the workspace,
so a stage file only has to describe its own body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Header

from mlcycle_tui.tui.widgets.key_footer import KeyFooter
from mlcycle_tui.tui.widgets.stage_bar import StageBar

if TYPE_CHECKING:
    from mlcycle_tui.tui.app import MlcycleApp
    from mlcycle_tui.tui.services import Services
    from mlcycle_tui.workspace import Workspace


NARROW = 100
"""Below this many columns a screen is narrow: it shows fewer table columns and stacks panels."""


def stage_key(app: App[Any], stage: type[StageScreen]) -> str:
    """The key shown for a stage: the app's (remapped) key if it knows it, else the default."""
    display = getattr(app, "stage_key_display", None)
    return display(stage.STAGE_ID) if display else stage.STAGE_KEY


class StageScreen(Screen[None]):
    """One lifecycle stage. Subclasses set the class variables and `compose_body`."""

    STAGE_ID: ClassVar[str] = ""
    """Mode name and binding id suffix (`goto.<id>`), e.g. "data"."""
    STAGE_KEY: ClassVar[str] = ""
    """Default key that opens the stage (remappable through the keymap)."""
    STAGE_TITLE: ClassVar[str] = ""
    STAGE_SUMMARY: ClassVar[str] = ""
    """One line for the command palette: what the stage is for."""
    HELP: ClassVar[str] = ""
    """Markdown shown by `?` above the list of keys of the screen."""

    @property
    def workspace(self) -> Workspace:
        return cast("MlcycleApp", self.app).workspace

    @property
    def services(self) -> Services:
        """The app's prediction server and scheduler."""
        return cast("MlcycleApp", self.app).services

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield StageBar(self.STAGE_ID)
        yield from self.compose_body()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        """The widgets between the stage bar and the footer."""
        yield from ()

    def help_text(self) -> str:
        """Markdown for the help dialog (`?`); the keys are listed after it."""
        return self.HELP or self.STAGE_SUMMARY

    def on_mount(self) -> None:
        label = getattr(self.app, "workspace_label", "")
        self.sub_title = f"{self.STAGE_TITLE} · {label}" if label else self.STAGE_TITLE

    # -- narrow terminals ------------------------------------------------------------
    @property
    def narrow(self) -> bool:
        """Whether the terminal is narrower than NARROW columns (80x24 is)."""
        return 0 < (self.size.width or self.app.size.width) < NARROW

    def on_resize(self, event: events.Resize) -> None:
        narrow = 0 < event.size.width < NARROW
        if narrow != getattr(self, "_was_narrow", None):
            self._was_narrow = narrow
            self.layout_changed()

    def layout_changed(self) -> None:
        """Called when the screen becomes narrow or wide: show the columns that fit (subclasses)."""

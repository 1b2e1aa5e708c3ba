"""Helpers for the TUI tests: an app with a fixed workspace label, text of widgets."""

from __future__ import annotations

from textual.widgets import Static

from mlcycle_tui.tui.app import MlcycleApp
from mlcycle_tui.workspace import Workspace

SIZE = (120, 40)


def make_app(ws: Workspace) -> MlcycleApp:
    """The app as users get it, with the workspace path hidden (stable snapshots)."""
    return MlcycleApp(ws, workspace_label="<workspace>")


def text_of(app: MlcycleApp, selector: str) -> str:
    """The plain text a Static shows."""
    return str(app.screen.query_one(selector, Static).render())

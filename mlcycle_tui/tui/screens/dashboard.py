"""The Dashboard (home): counts from the workspace and the recent events.

Why this exists: the first screen answers "what is in this workspace and what
happened lately?" and, when the workspace is empty, "what do I do first?".
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from mlcycle_tui.tui.format import ago
from mlcycle_tui.tui.screens.base import StageScreen

EVENTS_SHOWN = 100
EMPTY_TEXT = (
    "Nothing here yet — press [b]d[/b] for the Data screen, then [b]i[/b] to import a CSV, "
    "Parquet, JSON lines or SQLite file (try sample_data/penguins.csv)."
)


class DashboardScreen(StageScreen):
    STAGE_ID = "dashboard"
    STAGE_KEY = "h"
    STAGE_TITLE = "Home"
    STAGE_SUMMARY = "Counts from the workspace and the recent events"
    HELP = (
        "The Dashboard shows how many datasets, versions and splits the workspace holds, "
        "the suggested next step, and the most recent events (ingests, splits, ...), newest first."
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Refresh", id="dashboard.refresh")]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="dashboard"):
            with Horizontal(id="tiles"):
                yield Static(id="tile-datasets", classes="tile")
                yield Static(id="tile-versions", classes="tile")
                yield Static(id="tile-splits", classes="tile")
                yield Static(id="tile-next", classes="tile tile-next")
            yield Static("Recent events", classes="section-title")
            yield Static(EMPTY_TEXT, id="dashboard-empty", classes="empty")
            table: DataTable[str] = DataTable(id="events", cursor_type="row", zebra_stripes=True)
            table.add_columns("when", "what", "subject", "message")
            yield table

    def on_mount(self) -> None:
        super().on_mount()
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        ws = self.workspace
        datasets = ws.datasets()
        versions = sum(d.version for d in datasets)  # versions count up from 1 per dataset
        splits = len(ws.splits())
        self._tile("datasets", "Datasets", len(datasets))
        self._tile("versions", "Versions", versions)
        self._tile("splits", "Splits", splits)
        if not datasets:
            step = "press [b]d[/b], then [b]i[/b] to import data"
        elif not splits:
            step = f"press [b]d[/b], validate ([b]v[/b]) and split ([b]t[/b]) {datasets[0].ref}"
        else:
            step = "training arrives with the Experiments stage ([b]e[/b])"
        self.query_one("#tile-next", Static).update(f"[dim]Next[/dim]\n{step}")
        events = ws.events(EVENTS_SHOWN)
        table = self.query_one("#events", DataTable)
        table.clear()
        for event in events:
            table.add_row(ago(event["time"]), event["kind"], event["subject"], event["message"])
        table.display = bool(events)
        self.query_one("#dashboard-empty").display = not events

    def _tile(self, key: str, label: str, value: int) -> None:
        self.query_one(f"#tile-{key}", Static).update(f"[dim]{label}[/dim]\n[b]{value:,}[/b]")

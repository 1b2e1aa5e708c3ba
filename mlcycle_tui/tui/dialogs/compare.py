"""The comparison of marked runs: attributes, params, metrics and tags side by side.

Why this exists: choosing between runs means seeing what differs. The table
comes from `Workspace.compare_runs`; rows listed in its `differences` are
marked (≠) and highlighted, and `d` hides the rows that are the same in
every run.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Static

from mlcycle_tui.tui.widgets.run_panels import compare_value, short_id

SECTIONS = ("attributes", "params", "metrics", "tags")


def comparison_rows(comparison: dict[str, Any]) -> list[tuple[str, list[str], bool]]:
    """(row label, one value per run, differs) for every attribute, param, metric and tag."""
    differences = set(comparison.get("differences") or [])
    rows = []
    for section in SECTIONS:
        for key, values in (comparison.get(section) or {}).items():
            label = key if section == "attributes" else f"{section}.{key}"
            rows.append((label, [compare_value(v) for v in values], label in differences))
    return rows


class CompareDialog(ModalScreen[None]):
    """Side-by-side runs; `d` toggles showing only the rows that differ."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="compare.close"),
        Binding("d", "toggle_same", "Only differences", id="compare.toggle"),
    ]

    def __init__(self, comparison: dict[str, Any]) -> None:
        super().__init__()
        self.comparison = comparison
        self.rows = comparison_rows(comparison)
        self.only_differences = False

    def compose(self) -> ComposeResult:
        runs = self.comparison["runs"]
        with Vertical(id="compare-box", classes="dialog"):
            differ = sum(1 for _, _, d in self.rows if d)
            yield Static(
                f"[b]Compare {len(runs)} runs[/b] — {differ} of {len(self.rows)} values differ "
                "([b]≠[/b], highlighted); [b]d[/b] shows only those",
                classes="dialog-title", id="compare-title",
            )
            warnings = self.comparison.get("warnings") or []
            warning = Static("\n".join(f"⚠ {w}" for w in warnings), id="compare-warnings", classes="warning-text",
                             markup=False)
            warning.display = bool(warnings)
            yield warning
            table: DataTable[Any] = DataTable(id="compare-table", zebra_stripes=True, cursor_type="row")
            table.add_column("", key="key")
            for run in runs:
                table.add_column(f"{short_id(run['run_id'])} {run.get('model') or ''}".strip(), key=run["run_id"])
            yield table
            with Horizontal(classes="buttons"):
                yield Button("Only differences", id="compare-toggle")
                yield Button("Close", id="compare-close", variant="primary")

    def on_mount(self) -> None:
        self._fill()
        self.query_one("#compare-table").focus()

    def _fill(self) -> None:
        table = self.query_one("#compare-table", DataTable)
        table.clear()
        for label, values, differs in self.rows:
            if self.only_differences and not differs:
                continue
            style = "bold yellow" if differs else ""
            cells = [Text(("≠ " if differs else "  ") + label, style=style)]
            cells += [Text(v, style=style) for v in values]
            table.add_row(*cells, key=label)

    @on(Button.Pressed, "#compare-toggle")
    def action_toggle_same(self) -> None:
        self.only_differences = not self.only_differences
        self.query_one("#compare-toggle", Button).label = "All rows" if self.only_differences else "Only differences"
        self._fill()

    @on(Button.Pressed, "#compare-close")
    def action_close(self) -> None:
        self.dismiss(None)

"""A chart of one profiled column: a histogram for numbers, bars of top values otherwise.

Why this exists: the Data screen shows the distribution of the selected
column straight from its stored profile (no data is loaded to draw it).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from rich.console import RenderableType
from textual_plotext import PlotextPlot

from mlcycle_tui.tui.format import nice_ticks, number, tick_labels
from mlcycle_tui.tui.widgets.plot_ticks import PLOT_ROWS_TAKEN, fit_ticks

MAX_LABEL = 14


def _label(value: Any) -> str:
    text = number(value) if isinstance(value, float) else str(value)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


class ColumnChart(PlotextPlot):
    """Plotext chart fed with a column's profile (`show(column)`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.column: str | None = None
        self.chart_kind = "empty"
        """What is drawn: "histogram", "top", "none" (no chart for this kind) or "empty"."""

    def show(self, col: dict[str, Any] | None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self._xticks: tuple[list[float], list[str]] = ([], [])
        self._yticks: tuple[list[float], list[str]] = ([], [])
        self._one_per_row = False
        self.column = col["name"] if col else None
        if col is None:
            self.chart_kind = "empty"
            plt.title("select a column to see its distribution")
        elif col.get("histogram") and col.get("kind") == "numeric":
            self.chart_kind = "histogram"
            edges, counts = col["histogram"]["edges"], col["histogram"]["counts"]
            centers = [(a + b) / 2 for a, b in pairwise(edges)]
            width = (edges[-1] - edges[0]) / max(1, len(counts))
            plt.bar(centers, counts, width=0.9 * width if width else 0.5)
            xticks = nice_ticks(edges[0], edges[-1], 5)
            self._xticks = (xticks, tick_labels(xticks))
            yticks = [t for t in nice_ticks(0, max(counts or [0]), 4) if float(t).is_integer()]
            if yticks:  # a fixed range: the same picture every time
                plt.ylim(0, max(max(counts), yticks[-1]))
                self._yticks = (yticks, tick_labels(yticks))
            plt.title(f"{col['name']}: histogram ({col.get('missing', 0)} missing)")
        elif col.get("top"):
            self.chart_kind = "top"
            top = list(reversed(col["top"]))  # plotext draws the first bar at the bottom
            names = [_label(t["value"]) for t in top]
            plt.bar(names, [t["count"] for t in top], orientation="horizontal")
            self._yticks = (list(range(1, len(names) + 1)), names)
            self._one_per_row = True
            shown = "" if len(top) >= col.get("unique", 0) else f" (top {len(top)} of {col['unique']})"
            plt.title(f"{col['name']}: counts{shown}")
        else:
            self.chart_kind = "none"
            plt.title(f"{col['name']}: no chart for a {col.get('kind', '?')} column")
        self.refresh()

    def render(self) -> RenderableType:
        """Draw with as many ticks as this size has room for (see `plot_ticks`)."""
        rows = max(1, self.size.height - PLOT_ROWS_TAKEN) if self._one_per_row else None
        fit_ticks(self.plt, self.size.width, self.size.height, self._xticks, self._yticks, rows)
        return super().render()

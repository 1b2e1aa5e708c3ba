"""A chart of one profiled column: a histogram for numbers, bars of top values otherwise.

Why this exists: the Data screen shows the distribution of the selected
column straight from its stored profile (no data is loaded to draw it).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from textual_plotext import PlotextPlot

from mlcycle_tui.tui.format import number

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
            plt.title(f"{col['name']}: histogram ({col.get('missing', 0)} missing)")
        elif col.get("top"):
            self.chart_kind = "top"
            top = list(reversed(col["top"]))  # plotext draws the first bar at the bottom
            plt.bar([_label(t["value"]) for t in top], [t["count"] for t in top], orientation="horizontal")
            shown = "" if len(top) >= col.get("unique", 0) else f" (top {len(top)} of {col['unique']})"
            plt.title(f"{col['name']}: counts{shown}")
        else:
            self.chart_kind = "none"
            plt.title(f"{col['name']}: no chart for a {col.get('kind', '?')} column")
        self.refresh()

"""Plots of the Monitor screen: reference vs current distribution, and drift over time.

Why this exists: a drift verdict is easier to trust when you see it. The
histogram shows the share of the training reference and of the current
window in each bin (numbers) or category (text), side by side; the timeline
shows the share of drifted columns at each stored check, with the policy's
threshold, so a trend or a one-off is visible at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType
from textual_plotext import PlotextPlot

from mlcycle_tui.tui.format import nice_ticks, number, tick_labels
from mlcycle_tui.tui.widgets.plot_ticks import fit_ticks

MAX_LABEL = 10
MAX_BARS = 12


def _label(value: Any) -> str:
    text = number(value) if isinstance(value, float) else str(value)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _merge_bins(edges: Sequence[float], ref: Sequence[float], cur: Sequence[float],
                bars: int) -> tuple[list[str], list[float], list[float]]:
    """Fewer, wider bins (shares add up), so labels stay readable in a terminal."""
    step = max(1, -(-len(ref) // bars))
    labels, r, c = [], [], []
    for i in range(0, len(ref), step):
        j = min(i + step, len(ref))
        labels.append(_label((edges[i] + edges[j]) / 2))
        r.append(sum(ref[i:j]))
        c.append(sum(cur[i:j]))
    return labels, r, c


class DriftHistogram(PlotextPlot):
    """`show(hist)` draws a `Workspace.drift_histogram` result; `message(text)` a note instead."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.column: str | None = None
        self.chart_kind = "empty"
        """"numeric", "categorical", or "empty" (a message is shown)."""

    def show(self, hist: dict[str, Any], note: str = "") -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self._xticks: tuple[list[float], list[str]] = ([], [])
        self._yticks: tuple[list[float], list[str]] = ([], [])
        self.column = str(hist.get("column"))
        ref, cur = list(hist.get("reference") or []), list(hist.get("current") or [])
        if "edges" in hist:
            self.chart_kind = "numeric"
            labels, ref, cur = _merge_bins(hist["edges"], ref, cur, MAX_BARS)
        else:
            self.chart_kind = "categorical"
            labels = [_label(c) for c in hist.get("categories", [])][:MAX_BARS]
            ref, cur = ref[:MAX_BARS], cur[:MAX_BARS]
        if labels:
            plt.multiple_bar(labels, [[100 * v for v in ref], [100 * v for v in cur]],
                             labels=["reference %", "current %"])
            top = 100 * max([*ref, *cur, 0.0])
            yticks = nice_ticks(0, top, 4)
            if yticks:  # a fixed range and ticks: the same picture every time, whatever plotext would pick
                plt.ylim(0, max(top, yticks[-1]))
                self._yticks = (yticks, tick_labels(yticks))
            self._xticks = (list(range(1, len(labels) + 1)), labels)
        plt.title(f"{self.column}: reference vs current{note}")
        self.refresh()

    def render(self) -> RenderableType:
        """Draw with as many ticks as this size has room for (see `plot_ticks`)."""
        fit_ticks(self.plt, self.size.width, self.size.height, self._xticks, self._yticks)
        return super().render()

    def message(self, text: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self._xticks, self._yticks = ([], []), ([], [])
        self.column = None
        self.chart_kind = "empty"
        plt.title(text)
        self.refresh()


class DriftTimeline(PlotextPlot):
    """The share of drifted columns per stored check, oldest left, with the drift threshold."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points = 0

    def show(self, reports: Sequence[dict[str, Any]], threshold: float | None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        ordered = list(reversed(reports))  # stored newest first
        self.points = len(ordered)
        if not ordered:
            plt.title("no checks yet: c runs one now, n schedules them")
            self.refresh()
            return
        xs = list(range(1, len(ordered) + 1))
        shares = [float(r.get("share_drifted") or 0.0) for r in ordered]
        marker = "braille" if len(xs) > 1 else "dot"
        plt.plot(xs, shares, marker=marker, label="share of drifted columns")
        drifted = [(x, s) for x, s, r in zip(xs, shares, ordered, strict=True) if r.get("drift")]
        if drifted:
            plt.scatter([x for x, _ in drifted], [s for _, s in drifted], marker="x", color="red",
                        label="drift")
        if threshold is not None:
            plt.hline(threshold, "orange")
        plt.ylim(0, 1)
        if len(xs) <= 10:
            plt.xticks(xs)
        plt.xlabel("check (oldest → newest)")
        plt.title(f"drift over the last {len(xs)} checks" + (f" (threshold {threshold:g})" if threshold else ""))
        self.refresh()

    def message(self, text: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.points = 0
        plt.title(text)
        self.refresh()


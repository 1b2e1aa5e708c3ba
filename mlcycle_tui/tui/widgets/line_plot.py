"""A line plot of named series (metric by step, ROC and PR curves) with textual-plotext.

Why this exists: the Experiments screen draws a run's metric history and its
evaluation curves; both are "a few labelled x/y series with a title", so one
small widget draws them and remembers what it shows (for tests and for not
redrawing the same thing).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

Series = tuple[str, Sequence[float], Sequence[float]]


class LinePlot(PlotextPlot):
    """`show(title, series)` draws each (label, xs, ys); `message(text)` shows a note instead."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.plot_title = ""
        self.labels: list[str] = []

    def show(self, title: str, series: Sequence[Series], *, xlabel: str = "", ylabel: str = "",
             unit_square: bool = False) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.plot_title = title
        self.labels = []
        for label, xs, ys in series:
            if not xs:
                continue
            marker = "braille" if len(xs) > 1 else "dot"
            plt.plot(list(xs), list(ys), label=label or None, marker=marker)
            self.labels.append(label)
        if unit_square:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        plt.title(title)
        if xlabel:
            plt.xlabel(xlabel)
        if ylabel:
            plt.ylabel(ylabel)
        self.refresh()

    def message(self, text: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.plot_title = text
        self.labels = []
        plt.title(text)
        self.refresh()

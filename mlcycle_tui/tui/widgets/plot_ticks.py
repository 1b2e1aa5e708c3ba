"""Axis ticks that fit the plot they are drawn on, so no two fall on the same cell.

Why this exists: plotext removes duplicate ticks through a `set`, whose order
changes from one Python process to the next (string hashing is randomised);
when two labels land on one cell, which one shows is then a matter of chance.
The chart widgets keep every tick they could show and, each time they are
drawn, pass plotext only as many as the plot's size has room for, evenly
spaced: the same picture every time, and labels never written over each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len

PLOT_ROWS_TAKEN = 5
"""Rows of a plotext figure that are not plot area: the title, the frame, the x ticks and their labels."""


def thin(positions: Sequence[float], labels: Sequence[str], slots: int) -> tuple[list[float], list[str]]:
    """At most `slots` of the ticks, evenly spaced, the first always kept."""
    if not positions:
        return [], []
    step = max(1, -(-len(positions) // max(1, slots)))
    return list(positions[::step]), list(labels[::step])


def x_slots(width: int, labels: Sequence[str], y_label_width: int = 6) -> int:
    """How many x labels fit side by side (each with a space after it) in a plot `width` cells wide."""
    widest = max((cell_len(label) for label in labels), default=1) + 1
    return max(1, (width - y_label_width - 2) // widest)


def y_slots(height: int) -> int:
    """How many y labels fit one under the other, one row apart, in a plot `height` cells high."""
    return max(1, (height - PLOT_ROWS_TAKEN + 1) // 2)


Ticks = tuple[Sequence[float], Sequence[str]]


def fit_ticks(plt: Any, width: int, height: int, xticks: Ticks, yticks: Ticks, y_rows: int | None = None) -> None:
    """Give plotext only the ticks a `width` x `height` plot has room for (`y_rows`: the y slots when
    every row can hold a label, as on a bar chart with one bar per row)."""
    xs, xlabels = xticks
    if xs:
        plt.xticks(*thin(xs, xlabels, x_slots(width, xlabels)))
    ys, ylabels = yticks
    if ys:
        plt.yticks(*thin(ys, ylabels, y_rows if y_rows is not None else y_slots(height)))

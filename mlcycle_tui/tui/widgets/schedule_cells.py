"""Table cells for things that run on their own: when next, when last, and how it went.

Why this exists: the Schedules screen and the Data screen's Sources panel
show the same facts about schedules (next run, last run, last result with
its error in red). Cells are rich `Text` because DataTable sizes its columns
from them.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from mlcycle_tui.tui.format import now_s


def duration(seconds: float) -> str:
    """A span in at most ~4 characters: 42s, 9m, 3.5h, 2d."""
    s = max(0.0, float(seconds))
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s // 60:.0f}m"
    if s < 86400:
        h = s / 3600
        return f"{h:.1f}h" if h < 10 else f"{h:.0f}h"
    return f"{s / 86400:.0f}d"


def next_run(row: dict[str, Any]) -> Text:
    """When the schedule runs next: "in 9m", "due", or why it will not."""
    if row.get("running"):
        return Text("running…", style="bold")
    if row.get("paused"):
        return Text("paused", style="yellow")
    if row.get("next_due") is not None:
        seconds = max(0.0, float(row["next_due"]) - now_s())
    else:
        seconds = float(row.get("next_in_s") or 0.0)
    return Text("due" if seconds < 1 else f"in {duration(seconds)}")


def last_run(epoch: float | None, now: float | None = None) -> Text:
    """A stored epoch time as "never", "12s ago", "3h ago"."""
    if not epoch:
        return Text("never", style="dim")
    return Text(f"{duration((now or now_s()) - float(epoch))} ago")


def last_result(status: str | None, error: str | None, width: int = 48) -> Text:
    """The last status, cut to `width`: an error in red; drift, a partial run or files set aside in yellow;
    ok in green."""
    if not status and not error:
        return Text("-", style="dim")
    text = str(status or f"error: {error}")
    if len(text) > width:
        text = text[: width - 1] + "…"
    lowered = text.lower()
    if lowered.startswith("error") or (error and not lowered.startswith(("ok", "partial"))):
        style = "bold red"
    elif lowered.startswith(("drift", "alarm", "partial", "skipped")) or error or "quarantined" in lowered \
            or "rejected" in lowered:
        style = "yellow"
    else:
        style = "green"
    return Text(text, style=style)

"""Small text formatters shared by the screens.

Why this exists: the screens show times, counts and statistics in many places;
formatting them one way here keeps the UI consistent (and keeps snapshot tests
deterministic: times are shown relative, e.g. "just now", never as clocks).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def ago(iso: str | None, now: datetime | None = None) -> str:
    """A stored UTC ISO time as "just now", "5 min ago", "3 h ago", "2 d ago" or a date."""
    if not iso:
        return "-"
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - then).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 30 * 86400:
        return f"{int(seconds // 86400)} d ago"
    return then.date().isoformat()


def number(value: Any) -> str:
    """A statistic in at most ~8 characters: 3 significant digits, large numbers kept whole."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(f):
        return str(f)
    if f != 0 and (abs(f) >= 1e6 or abs(f) < 1e-3):
        return f"{f:.2e}"
    if abs(f) >= 1000:
        return f"{f:.0f}"
    return f"{f:.3g}"


def share(value: float | None) -> str:
    """A fraction as a percentage, e.g. 0.031 -> "3.1%"."""
    if value is None:
        return "-"
    return f"{value:.1%}" if value else "0%"


def column_stats(col: dict[str, Any]) -> str:
    """One line summarising a profiled column: range and mean, or its top values."""
    if col.get("mean") is not None:
        return f"{number(col.get('min'))} .. {number(col.get('max'))}  mean {number(col.get('mean'))}"
    if col.get("kind") == "datetime":
        return f"{str(col.get('min'))[:10]} .. {str(col.get('max'))[:10]}"
    top = col.get("top") or []
    if top:
        return ", ".join(f"{t['value']} ({t['count']})" for t in top[:3])
    return "-"

"""Small text formatters shared by the screens.

Why this exists: the screens show times, counts and statistics in many places;
formatting them one way here keeps the UI consistent (and keeps snapshot tests
deterministic: times are shown relative, e.g. "just now", never as clocks).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from mlcycle_tui.common.words import plural  # noqa: F401  (re-exported for the screens)

PINNED_NOW: float | None = None
"""When set (snapshot tests), the epoch time every relative time on screen is measured from."""


def now_s() -> float:
    """The current epoch time for relative times on screen ("3 min ago", "in 59m")."""
    return time.time() if PINNED_NOW is None else PINNED_NOW


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
    seconds = ((now or datetime.fromtimestamp(now_s(), UTC)) - then).total_seconds()
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


def clip(text: str, width: int) -> str:
    """`text` in at most `width` cells: cut ones end with "…" (the full text is shown elsewhere)."""
    from rich.cells import cell_len, set_cell_size

    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1).rstrip() + "…"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high]: 0, 20, 40 … rather than 30.950000000000003."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high < low:
        low, high = high, low
    if high == low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10)), key=lambda s: abs(math.log(s / raw)))
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def tick_labels(ticks: list[float]) -> list[str]:
    """Ticks from `nice_ticks` as short text with as many decimals as their step needs ("0.25", "40")."""
    if len(ticks) < 2:
        return [number(t) if not float(t).is_integer() else str(int(t)) for t in ticks]
    step = abs(ticks[1] - ticks[0])
    if max(abs(ticks[0]), abs(ticks[-1])) >= 1e6 or step < 1e-4:
        return [number(t) for t in ticks]
    decimals = len(f"{step:.6f}".rstrip("0").split(".")[1])
    return [f"{t:.{decimals}f}" for t in ticks]

"""Tab-completion of file paths in an Input (accept with → or end).

Why this exists: typing a full path to a data file is the slowest part of an
import; suggesting the rest from the file system makes it a few keystrokes.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester

MAX_LISTED = 500


class PathSuggester(Suggester):
    """Suggests the first (sorted) entry of the typed folder that starts with the typed name."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, _, prefix = expanded.rpartition(os.sep)
        base = Path(folder or ("/" if expanded.startswith(os.sep) else "."))
        try:
            names = sorted(os.listdir(base))[:MAX_LISTED]
        except OSError:
            return None
        for name in names:
            if name.startswith(prefix) and name != prefix and not name.startswith("."):
                suffix = name[len(prefix) :]
                if (base / name).is_dir():
                    suffix += os.sep
                return value + suffix
        return None

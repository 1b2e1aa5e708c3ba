"""The workspace's timeline: what happened, in one table, for the Dashboard and `mlcycle` users.

Why this exists: every stage records what it did (an ingest, a promotion, a drift
alarm) in words a person can read; the Dashboard shows the newest. One small
service, so a stage says `events.log(...)` without knowing where it goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.timeutil import now_iso

if TYPE_CHECKING:
    from mlcycle_tui.storage.db import Database


class Events:
    """Append and read the `events` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def log(self, kind: str, subject: str, message: str) -> None:
        self.db.execute(
            "INSERT INTO events(time, kind, subject, message) VALUES (?, ?, ?, ?)",
            (now_iso(), kind, subject, message),
        )

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` events, newest first."""
        return self.db.query("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,))

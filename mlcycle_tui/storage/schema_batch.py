"""Migrations of the batch component: recorded batch-scoring runs.

Forward-only: append scripts, never edit a shipped one.
"""

from __future__ import annotations

BATCH = [
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY NOT NULL,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        input TEXT NOT NULL,
        output TEXT NOT NULL,
        rows INTEGER NOT NULL DEFAULT 0,
        logged_rows INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        error TEXT,
        started TEXT NOT NULL,
        duration REAL
    );
    CREATE INDEX batches_model ON batches(model, started)
    """,
]

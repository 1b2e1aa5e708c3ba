"""Migrations of the serving component: the prediction log and feedback labels.

Forward-only: append scripts, never edit a shipped one.
"""

from __future__ import annotations

SERVING = [
    """
    CREATE TABLE predictions (
        id TEXT PRIMARY KEY NOT NULL,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        time REAL NOT NULL,
        latency_ms REAL,
        source TEXT NOT NULL DEFAULT 'http',
        request_id TEXT,
        inputs_json TEXT NOT NULL,
        output_json TEXT NOT NULL,
        proba_json TEXT
    ) WITHOUT ROWID;
    CREATE INDEX predictions_model_time ON predictions(model, time);
    CREATE TABLE feedback (
        prediction_id TEXT PRIMARY KEY NOT NULL,
        model TEXT NOT NULL,
        label_json TEXT NOT NULL,
        time REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX feedback_model_time ON feedback(model, time)
    """,
]

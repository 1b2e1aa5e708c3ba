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
    # 2: the log as an ordinary (rowid) table: rows of ~800 bytes keyed by random ids made
    # a WITHOUT ROWID table split pages on every insert (10,000 rows: ~180 ms -> ~60 ms)
    """
    CREATE TABLE predictions_rowid (
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
    );
    INSERT INTO predictions_rowid(id, model, version, time, latency_ms, source, request_id, inputs_json,
        output_json, proba_json)
        SELECT id, model, version, time, latency_ms, source, request_id, inputs_json, output_json, proba_json
        FROM predictions ORDER BY time;
    DROP TABLE predictions;
    ALTER TABLE predictions_rowid RENAME TO predictions;
    CREATE INDEX predictions_model_time ON predictions(model, time)
    """,
]

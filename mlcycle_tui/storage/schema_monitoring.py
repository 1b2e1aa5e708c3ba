"""Migrations of the monitoring component: drift references and reports, schedules, jobs.

Why this exists: the closed loop (check -> report -> job -> retrain -> promote)
must survive restarts and be shared by every process on a workspace, so its
state lives in SQLite. Forward-only: append scripts, never edit a shipped one.

- `drift_references`: the prepared training statistics of a model version
  (a joblib artifact), made at registration or lazily on the first check.
- `drift_reports`: every check, its verdict columns for listing and the full
  report as JSON. `verdict` (2) is "drift", "decay", "no drift" or "not enough
  data"; the last is a check that could not judge and does not count.
- `schedules`: periodic checks. `next_due` is the tick grid; a process claims a
  tick with one `UPDATE ... WHERE next_due <= now AND lease free`, so two
  processes never run the same tick, and `lease_owner`/`lease_until` keep a
  check from running twice at once (an expired lease is free again).
- `jobs`: the retraining queue. The partial unique index allows one open job
  (queued, running or awaiting approval) per model and kind, across processes.
"""

from __future__ import annotations

MONITORING = [
    """
    CREATE TABLE drift_references (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        artifact_sha256 TEXT NOT NULL,
        artifact_path TEXT NOT NULL,
        rows INTEGER NOT NULL,
        created TEXT NOT NULL,
        PRIMARY KEY (model, version)
    );
    CREATE TABLE drift_reports (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        time REAL NOT NULL,
        created TEXT NOT NULL,
        source TEXT NOT NULL,
        rows INTEGER NOT NULL,
        method TEXT NOT NULL,
        drift INTEGER NOT NULL,
        share_drifted REAL NOT NULL,
        prediction_drift INTEGER NOT NULL DEFAULT 0,
        decay INTEGER NOT NULL DEFAULT 0,
        alarm INTEGER NOT NULL DEFAULT 0,
        schedule_id INTEGER,
        job_id INTEGER,
        report_json TEXT NOT NULL
    );
    CREATE INDEX drift_reports_model_time ON drift_reports(model, version, id);
    CREATE TABLE schedules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        every TEXT NOT NULL,
        every_s REAL NOT NULL,
        action TEXT NOT NULL,
        created TEXT NOT NULL,
        next_due REAL NOT NULL,
        lease_owner TEXT,
        lease_until REAL,
        last_run REAL,
        last_status TEXT,
        last_report INTEGER,
        runs INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        report_id INTEGER,
        created TEXT NOT NULL,
        started TEXT,
        finished TEXT,
        result_json TEXT,
        log TEXT NOT NULL DEFAULT '',
        pid INTEGER,
        host TEXT,
        heartbeat REAL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_status ON jobs(status, id);
    CREATE UNIQUE INDEX jobs_one_open ON jobs(model, kind)
        WHERE status IN ('queued', 'running', 'awaiting_approval')
    """,
    # 2: a verdict per check, so that checks that could not judge ("not enough data") are told apart
    # from "no drift". Stored reports get theirs from their flags; one that judged no column (nor the
    # predictions) said "no drift" wrongly and becomes "not enough data".
    """
    ALTER TABLE drift_reports ADD COLUMN verdict TEXT NOT NULL DEFAULT '';
    UPDATE drift_reports SET verdict = CASE
        WHEN drift = 1 THEN 'drift'
        WHEN decay = 1 THEN 'decay'
        WHEN NOT json_valid(report_json) THEN 'no drift'
        WHEN COALESCE(json_extract(report_json, '$.n_columns'), 1) = 0
             AND COALESCE(json_extract(report_json, '$.prediction.verdict'), '') NOT IN ('drift', 'ok')
            THEN 'not enough data'
        ELSE 'no drift' END
    """,
]

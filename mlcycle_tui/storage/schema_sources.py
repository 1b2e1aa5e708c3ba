"""Migrations of the sources component: watched data sources and scheduled batch scoring.

Why this exists: what a source has already ingested (and what a scoring
schedule has already scored) must survive restarts and be shared by every
process on the workspace, or files would be ingested twice. Forward-only:
append scripts, never edit a shipped one.

- `sources`: one watched folder, SQLite query or growing JSON-lines file per
  row, feeding one dataset. `next_due` / `lease_owner` / `lease_until` work as
  in the monitoring `schedules` table (one claim per tick, missed ticks
  coalesce). `cursor` is the incremental position: the last key value (JSON)
  of a SQLite source, the byte offset of a JSON-lines stream.
- `source_files`: every file (or stream chunk, or query batch) a source has
  dealt with: path, size, mtime and sha256 and what became of it (ingested
  into version N, quarantined with a reason, or a duplicate of one already seen).
- `source_runs`: one row per run: the version it made, and the row range of
  the new rows inside it (`base_rows` .. `base_rows + new_rows`), which is what
  a drift check of "the latest arrivals" reads. `plan_json` holds what a
  run is about to record (files, cursor, content hash of the new version), so
  a run killed between making the version and recording its files is
  completed by the next run instead of appending the same rows twice.
- `scoring_schedules` / `scoring_files`: the same for scheduled batch scoring
  of new files in an input folder.
- `schedule_pauses`: paused schedules of any kind (drift checks included,
  whose table belongs to the monitoring component).
"""

from __future__ import annotations

SOURCES = [
    """
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dataset TEXT NOT NULL,
        kind TEXT NOT NULL,
        location TEXT NOT NULL,
        query TEXT,
        key_column TEXT,
        target TEXT,
        time_column TEXT,
        every TEXT NOT NULL,
        every_s REAL NOT NULL,
        settle_s REAL NOT NULL,
        created TEXT NOT NULL,
        next_due REAL NOT NULL,
        cursor TEXT,
        lease_owner TEXT,
        lease_until REAL,
        last_run REAL,
        last_status TEXT,
        last_error TEXT,
        last_version INTEGER,
        runs INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE source_files (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        sha256 TEXT NOT NULL,
        status TEXT NOT NULL,
        dataset_version INTEGER,
        rows INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        quarantine_path TEXT,
        processed TEXT NOT NULL
    );
    CREATE INDEX source_files_path ON source_files(source_id, path);
    CREATE INDEX source_files_sha ON source_files(source_id, sha256);
    CREATE TABLE source_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id INTEGER NOT NULL,
        started TEXT NOT NULL,
        finished TEXT,
        status TEXT NOT NULL,
        files INTEGER NOT NULL DEFAULT 0,
        quarantined INTEGER NOT NULL DEFAULT 0,
        base_version INTEGER,
        base_rows INTEGER NOT NULL DEFAULT 0,
        new_rows INTEGER NOT NULL DEFAULT 0,
        dataset_version INTEGER,
        plan_json TEXT,
        error TEXT
    );
    CREATE INDEX source_runs_source ON source_runs(source_id, id);
    CREATE TABLE scoring_schedules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        input_dir TEXT NOT NULL,
        output_dir TEXT NOT NULL,
        every TEXT NOT NULL,
        every_s REAL NOT NULL,
        settle_s REAL NOT NULL,
        chunk_rows INTEGER NOT NULL,
        created TEXT NOT NULL,
        next_due REAL NOT NULL,
        lease_owner TEXT,
        lease_until REAL,
        last_run REAL,
        last_status TEXT,
        last_error TEXT,
        runs INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE scoring_files (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        schedule_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        sha256 TEXT NOT NULL,
        status TEXT NOT NULL,
        output TEXT,
        batch_id TEXT,
        model TEXT,
        version INTEGER,
        rows INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        processed TEXT NOT NULL
    );
    CREATE INDEX scoring_files_path ON scoring_files(schedule_id, path);
    CREATE TABLE schedule_pauses (
        kind TEXT NOT NULL,
        schedule_id INTEGER NOT NULL,
        paused TEXT NOT NULL,
        PRIMARY KEY (kind, schedule_id)
    )
    """,
]

"""Migrations of the tracking component: experiments, runs and what runs log.

Why this exists: tracking tables are searched far more often than they are
written, so the layout is built for `ws.runs.search(filter=..., sort=...)`: the
latest value of every metric is kept in `metrics_latest` (one row per run and
key) next to the full history in `metrics` (one B-tree keyed by run, key, step
and the order of values logged at one step), and params, tags and latest
metrics each have a `(key, value, run_id)` index so that a filter such as
`metrics.f1 > 0.8` is one index range and a sort by a metric walks an index
instead of sorting. Forward-only: append scripts, never edit a shipped one.
"""

from __future__ import annotations

TRACKING = [
    """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY NOT NULL,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        name TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'killed')),
        created TEXT NOT NULL,
        ended TEXT,
        duration REAL,
        dataset_version_id INTEGER REFERENCES dataset_versions(id),
        split_id TEXT,
        seed INTEGER,
        model TEXT,
        task TEXT,
        versions_json TEXT NOT NULL DEFAULT '{}',
        git_commit TEXT,
        pid INTEGER,
        hostname TEXT,
        heartbeat REAL,
        error TEXT
    );
    CREATE INDEX runs_experiment_created ON runs(experiment_id, created);
    CREATE INDEX runs_created ON runs(created);
    CREATE INDEX runs_status ON runs(status);
    CREATE INDEX runs_running ON runs(hostname) WHERE status = 'running';
    CREATE INDEX runs_duration ON runs(duration);
    CREATE INDEX runs_model ON runs(model);
    CREATE INDEX runs_task ON runs(task);
    CREATE INDEX runs_dataset ON runs(dataset_version_id);
    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX params_key_value ON params(key, value, run_id);
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value REAL,
        step INTEGER NOT NULL,
        timestamp REAL NOT NULL
    );
    CREATE INDEX metrics_run_key_step ON metrics(run_id, key, step);
    CREATE TABLE metrics_latest (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value REAL,
        step INTEGER NOT NULL,
        timestamp REAL NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX metrics_latest_key_value ON metrics_latest(key, value, run_id);
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX tags_key_value ON tags(key, value, run_id);
    CREATE TABLE run_artifacts (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        artifact_sha256 TEXT NOT NULL,
        artifact_path TEXT NOT NULL,
        size INTEGER NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (run_id, name)
    )
    """,
    # 2: each run's params, tags and latest metrics also as one JSON object on its row, kept
    # current by triggers, so a page of search results is one query (200-run search: ~0.54 ->
    # ~0.3 ms). Metric values are text: printf('%!.17g') round-trips doubles below 1e100
    # exactly (SQLite's JSON numbers keep only 15 digits); larger ones say 'table', read there.
    """
    ALTER TABLE runs ADD COLUMN params_json TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE runs ADD COLUMN tags_json TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE runs ADD COLUMN metrics_json TEXT NOT NULL DEFAULT '{}';
    UPDATE runs SET params_json = (SELECT json_group_object(key, value)
        FROM params WHERE run_id = runs.id);
    CREATE TRIGGER params_json_insert AFTER INSERT ON params BEGIN
        UPDATE runs SET params_json = json_patch(params_json, json_object(NEW.key, NEW.value))
        WHERE id = NEW.run_id;
    END;
    CREATE TRIGGER params_json_update AFTER UPDATE OF value ON params BEGIN
        UPDATE runs SET params_json = json_patch(params_json, json_object(NEW.key, NEW.value))
        WHERE id = NEW.run_id;
    END;
    CREATE TRIGGER params_json_delete AFTER DELETE ON params BEGIN
        UPDATE runs SET params_json = (SELECT json_group_object(key, value)
            FROM params WHERE run_id = OLD.run_id) WHERE id = OLD.run_id;
    END;
    UPDATE runs SET tags_json = (SELECT json_group_object(key, value)
        FROM tags WHERE run_id = runs.id);
    CREATE TRIGGER tags_json_insert AFTER INSERT ON tags BEGIN
        UPDATE runs SET tags_json = json_patch(tags_json, json_object(NEW.key, NEW.value))
        WHERE id = NEW.run_id;
    END;
    CREATE TRIGGER tags_json_update AFTER UPDATE OF value ON tags BEGIN
        UPDATE runs SET tags_json = json_patch(tags_json, json_object(NEW.key, NEW.value))
        WHERE id = NEW.run_id;
    END;
    CREATE TRIGGER tags_json_delete AFTER DELETE ON tags BEGIN
        UPDATE runs SET tags_json = (SELECT json_group_object(key, value)
            FROM tags WHERE run_id = OLD.run_id) WHERE id = OLD.run_id;
    END;
    UPDATE runs SET metrics_json = (SELECT json_group_object(key,
            CASE WHEN value IS NULL THEN 'nan' WHEN abs(value) < 1e100
            THEN printf('%!.17g', value) ELSE 'table' END)
        FROM metrics_latest WHERE run_id = runs.id);
    CREATE TRIGGER metrics_latest_json_insert AFTER INSERT ON metrics_latest BEGIN
        UPDATE runs SET metrics_json = json_patch(metrics_json, json_object(NEW.key,
            CASE WHEN NEW.value IS NULL THEN 'nan' WHEN abs(NEW.value) < 1e100
            THEN printf('%!.17g', NEW.value) ELSE 'table' END))
        WHERE id = NEW.run_id;
    END;
    CREATE TRIGGER metrics_latest_json_update AFTER UPDATE OF value ON metrics_latest BEGIN
        UPDATE runs SET metrics_json = json_patch(metrics_json, json_object(NEW.key,
            CASE WHEN NEW.value IS NULL THEN 'nan' WHEN abs(NEW.value) < 1e100
            THEN printf('%!.17g', NEW.value) ELSE 'table' END))
        WHERE id = NEW.run_id;
    END;
    CREATE TRIGGER metrics_latest_json_delete AFTER DELETE ON metrics_latest BEGIN
        UPDATE runs SET metrics_json = (SELECT json_group_object(key,
            CASE WHEN value IS NULL THEN 'nan' WHEN abs(value) < 1e100
            THEN printf('%!.17g', value) ELSE 'table' END)
            FROM metrics_latest WHERE run_id = OLD.run_id) WHERE id = OLD.run_id;
    END;
    """,
    # 3: a logged value writes three B-trees instead of five (1,000 log_metric at synchronous=normal:
    # ~3.8x -> ~2x the time of raw sqlite3's one INSERT and one commit per value). The latest metrics
    # of a run are read from metrics_latest (one query per page of results), so runs.metrics_json and
    # its triggers go. The history becomes one B-tree keyed (run_id, key, step, seq) instead of a
    # table and an index: seq counts the values logged at one step from 0, in the order they were
    # logged, so (step, seq) orders a history as (step, rowid) did and no value is lost. The columns
    # are declared in the key's order: SQLite 3.40.0-3.41.0's quick_check reports false "NULL value"
    # errors for a WITHOUT ROWID table whose key columns are declared in another order.
    """
    DROP TRIGGER metrics_latest_json_insert;
    DROP TRIGGER metrics_latest_json_update;
    DROP TRIGGER metrics_latest_json_delete;
    ALTER TABLE runs DROP COLUMN metrics_json;
    CREATE TABLE metrics_by_step (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        step INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        value REAL,
        timestamp REAL NOT NULL,
        PRIMARY KEY (run_id, key, step, seq)
    ) WITHOUT ROWID;
    INSERT INTO metrics_by_step(run_id, key, step, seq, value, timestamp)
        SELECT run_id, key, step, row_number() OVER (PARTITION BY run_id, key, step ORDER BY rowid) - 1,
            value, timestamp
        FROM metrics;
    DROP TABLE metrics;
    ALTER TABLE metrics_by_step RENAME TO metrics;
    """,
]

"""Forward-only migrations, one list per component.

Each component (data, tracking, registry, serving, monitoring, jobs) owns a
list of SQL scripts; the database records how many of each it has applied.
Add a new script at the end of a list to change the schema; never edit one
that has shipped.
"""

from __future__ import annotations

from mlcycle_tui.storage.schema_batch import BATCH
from mlcycle_tui.storage.schema_monitoring import MONITORING
from mlcycle_tui.storage.schema_registry import REGISTRY
from mlcycle_tui.storage.schema_schedules import SCHEDULES
from mlcycle_tui.storage.schema_serving import SERVING
from mlcycle_tui.storage.schema_sources import SOURCES
from mlcycle_tui.storage.schema_tracking import TRACKING

DATA = [
    """
    CREATE TABLE datasets (
        name TEXT PRIMARY KEY,
        created TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE dataset_versions (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL REFERENCES datasets(name),
        version INTEGER NOT NULL,
        content_sha256 TEXT NOT NULL,
        artifact_sha256 TEXT NOT NULL,
        artifact_path TEXT NOT NULL,
        rows INTEGER NOT NULL,
        columns INTEGER NOT NULL,
        target TEXT,
        time_column TEXT,
        source TEXT NOT NULL DEFAULT '',
        source_format TEXT NOT NULL DEFAULT '',
        schema_json TEXT NOT NULL,
        profile_json TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE(name, version)
    );
    CREATE INDEX dataset_versions_content ON dataset_versions(name, content_sha256);
    CREATE TABLE splits (
        id TEXT PRIMARY KEY,
        dataset_version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
        method TEXT NOT NULL,
        test_size REAL NOT NULL,
        seed INTEGER,
        stratify_column TEXT,
        time_column TEXT,
        train_rows INTEGER NOT NULL,
        test_rows INTEGER NOT NULL,
        artifact_sha256 TEXT NOT NULL,
        artifact_path TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_time ON events(time)
    """,
]

COMPONENTS: dict[str, list[str]] = {
    "data": DATA,
    "tracking": TRACKING,
    "registry": REGISTRY,
    "serving": SERVING,
    "batch": BATCH,
    "monitoring": MONITORING,
    "sources": SOURCES,
    "schedules": SCHEDULES,
}

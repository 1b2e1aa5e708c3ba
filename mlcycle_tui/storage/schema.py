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
    # versions made of parts (a watched source's appends store only the new rows): a version
    # points at its own new file (artifact_*) and at the version whose parts come first
    # (base_id); `parts` counts its files, `part_rows` the rows of its own (NULL: all of them).
    # Existing rows are one-file versions (base_id NULL, parts 1). `dataset_part_digests`
    # keeps each part's row hashes (8 bytes a row, little-endian uint64: the content hash
    # and duplicate count of a longer version are exact without reading the old rows) and,
    # for the newest version of a chain, the summary its profile is merged from.
    """
    ALTER TABLE dataset_versions ADD COLUMN base_id INTEGER REFERENCES dataset_versions(id);
    ALTER TABLE dataset_versions ADD COLUMN parts INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE dataset_versions ADD COLUMN part_rows INTEGER;
    CREATE INDEX dataset_versions_base ON dataset_versions(base_id);
    CREATE TABLE dataset_part_digests (
        version_id INTEGER PRIMARY KEY REFERENCES dataset_versions(id),
        row_hashes BLOB NOT NULL,
        merge_state TEXT
    )
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

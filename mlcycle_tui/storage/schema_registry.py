"""Migrations of the registry component: model versions, aliases and their history.

Forward-only: append scripts, never edit a shipped one.
"""

from __future__ import annotations

REGISTRY = [
    """
    CREATE TABLE models (
        name TEXT PRIMARY KEY,
        created TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE model_versions (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL REFERENCES models(name),
        version INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        kind TEXT,
        task TEXT NOT NULL,
        artifact_sha256 TEXT NOT NULL,
        artifact_path TEXT NOT NULL,
        signature_json TEXT NOT NULL,
        metrics_json TEXT NOT NULL,
        baseline_json TEXT NOT NULL DEFAULT '{}',
        recipe_json TEXT NOT NULL DEFAULT '{}',
        dataset_version_id INTEGER,
        split_id TEXT,
        created TEXT NOT NULL,
        UNIQUE(name, version)
    );
    CREATE TABLE aliases (
        name TEXT NOT NULL REFERENCES models(name),
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated TEXT NOT NULL,
        PRIMARY KEY (name, alias)
    );
    CREATE TABLE alias_history (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER,
        previous INTEGER,
        time TEXT NOT NULL,
        forced INTEGER NOT NULL DEFAULT 0,
        actor TEXT NOT NULL DEFAULT 'user',
        gates_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alias_history_name ON alias_history(name, alias, id)
    """,
    # 2: model versions as NumPy arrays (registry/compiled.py), for scoring without scikit-learn;
    # a row without an artifact records that the version cannot be compiled
    """
    CREATE TABLE compiled_models (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        format INTEGER NOT NULL,
        artifact_sha256 TEXT,
        artifact_path TEXT,
        created TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )
    """,
]

"""The storage layer says what is damaged: SQLite errors about the file, the database check, verified copies."""

from __future__ import annotations

import os
import sqlite3

import pytest

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.storage.artifacts import ArtifactDamaged, ArtifactStore, copy_artifact
from mlcycle_tui.storage.db import Database, DatabaseDamaged, DatabaseUnavailable, check_database, copy_database


def _filled(path):
    db = Database(path)
    db.migrate()
    with db.transaction() as conn:
        conn.executemany("INSERT INTO events(time, kind, subject, message) VALUES (?, ?, ?, ?)",
                         [("2024-01-01T00:00:00", "x", "s", "m" * 200)] * 2_000)
    db.close()
    return path


def test_a_truncated_database_raises_an_error_naming_the_file(tmp_path):
    path = _filled(tmp_path / "w.db")
    os.truncate(path, path.stat().st_size // 2)
    db = Database(path)
    with pytest.raises(DatabaseDamaged) as caught:
        db.query("SELECT COUNT(*), MAX(length(message)) FROM events")
    exc = caught.value
    assert isinstance(exc, MlcycleError) and isinstance(exc, sqlite3.DatabaseError)  # old handlers still match
    assert str(path) in exc.message and "mlcycle restore" in exc.message and exc.code == "database_damaged"
    db.close()


def test_an_error_inside_a_transaction_is_translated_and_rolled_back(tmp_path):
    path = _filled(tmp_path / "w.db")
    db = Database(path)
    db.connection()
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises((DatabaseDamaged, DatabaseUnavailable)), db.transaction() as conn:
        conn.execute("UPDATE events SET message = 'n'")
    assert not db.connection().in_transaction
    db.close()


def test_constraint_errors_stay_sqlite_errors(tmp_path):
    db = Database(tmp_path / "c.db")
    db.migrate()
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES ('a')")
    with pytest.raises(sqlite3.IntegrityError) as caught, db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES ('a')")
    assert not isinstance(caught.value, MlcycleError)
    db.close()


def test_check_database(tmp_path):
    assert check_database(tmp_path / "none.db")["ok"] is True
    healthy = _filled(tmp_path / "ok.db")
    assert check_database(healthy) == {"path": str(healthy), "ok": True, "problem": None, "details": []}

    cut = _filled(tmp_path / "cut.db")
    os.truncate(cut, cut.stat().st_size // 2)
    report = check_database(cut)
    assert report["ok"] is False and "is truncated" in report["problem"] and report["details"]

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"PK\x03\x04 a zip file, not a database" * 100)
    report = check_database(junk)
    assert report["ok"] is False and "is not an SQLite database" in report["problem"]


def test_copy_database_is_one_self_contained_file(tmp_path):
    src = _filled(tmp_path / "src.db")
    copy_database(src, tmp_path / "copy.db")
    conn = sqlite3.connect(tmp_path / "copy.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2_000
    conn.close()


def test_copy_artifact_refuses_damaged_bytes_and_leaves_nothing(tmp_path):
    store = ArtifactStore(tmp_path / "a")
    sha, rel = store.put_bytes(b"hello" * 1000, ".bin")
    assert copy_artifact(store.root, sha, rel, tmp_path / "b") == 5000
    assert (tmp_path / "b" / rel).read_bytes() == b"hello" * 1000

    store.path(rel).write_bytes(b"jello" * 1000)
    with pytest.raises(ArtifactDamaged) as caught:
        copy_artifact(store.root, sha, rel, tmp_path / "c")
    assert caught.value.reason == "checksum" and caught.value.artifact == rel
    assert list((tmp_path / "c").rglob("*.bin*")) == []

    store.path(rel).unlink()
    with pytest.raises(ArtifactDamaged) as caught:
        store.verify(sha, rel)
    assert caught.value.reason == "missing"

"""The storage layer: migrations, transactions across threads, artifacts."""

from __future__ import annotations

import threading

import pytest

from mlcycle_tui.common.errors import IntegrityError
from mlcycle_tui.storage.artifacts import ArtifactStore, sha256_file
from mlcycle_tui.storage.db import Database


def test_migrate_is_idempotent_and_records_versions(tmp_path):
    db = Database(tmp_path / "x.db")
    db.migrate()
    db2 = Database(tmp_path / "x.db")
    db2.migrate()
    versions = {r["component"]: r["version"] for r in db2.query("SELECT * FROM schema_version")}
    assert versions["data"] >= 1
    assert db.scalar("PRAGMA journal_mode") == "wal"
    assert db.scalar("PRAGMA busy_timeout") == 30000


def test_migration_from_two_threads_at_once(tmp_path):
    errors: list[BaseException] = []

    def go() -> None:
        try:
            Database(tmp_path / "y.db").migrate()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_transaction_rolls_back_on_error(tmp_path):
    db = Database(tmp_path / "z.db")
    db.migrate()
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO datasets(name, created) VALUES ('a', 'now')")
        raise RuntimeError("boom")
    assert db.scalar("SELECT COUNT(*) FROM datasets") == 0


def test_each_thread_gets_its_own_connection(tmp_path):
    db = Database(tmp_path / "t.db")
    main = db.connection()
    other: list[object] = []
    t = threading.Thread(target=lambda: other.append(db.connection()))
    t.start()
    t.join()
    assert other[0] is not main
    assert db.connection() is main


def test_artifact_roundtrip_and_corruption_is_refused(tmp_path):
    store = ArtifactStore(tmp_path / "a")
    sha, rel = store.put_bytes(b"hello", ".bin")
    assert rel == f"objects/{sha[:2]}/{sha}.bin"
    assert store.load_bytes(sha, rel) == b"hello"
    assert sha256_file(store.path(rel)) == sha
    # same content: same address, no second file
    assert store.put_bytes(b"hello", ".bin") == (sha, rel)
    store.path(rel).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="corrupted"):
        store.load_bytes(sha, rel)
    store.path(rel).unlink()
    with pytest.raises(IntegrityError, match="missing"):
        store.load_bytes(sha, rel)
    assert list(store.tmp.iterdir()) == []


def test_failed_writer_leaves_no_file(tmp_path):
    store = ArtifactStore(tmp_path / "a")

    def bad_writer(path):
        path.write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.put_with(bad_writer, ".bin")
    assert list(store.iter_objects()) == []
    assert list(store.tmp.iterdir()) == []


def test_connections_of_ended_threads_are_closed(tmp_path):
    db = Database(tmp_path / "c.db")
    db.migrate()
    for _ in range(10):
        t = threading.Thread(target=lambda: db.scalar("SELECT 1"))
        t.start()
        t.join()
    db.connection()
    assert db.open_connections() <= 2


def test_prediction_log_migration_keeps_rows(tmp_path):
    import sqlite3

    from mlcycle_tui.storage import schema

    # a workspace made before the log became a rowid table
    db = Database(tmp_path / "old.db")
    db.migrate(until={"serving": 1})
    conn = db.connection()
    assert schema.COMPONENTS["serving"][1:]  # there is a later serving migration to apply
    conn.execute(
        "INSERT INTO predictions(id, model, version, time, inputs_json, output_json) "
        "VALUES ('a', 'm', 1, 1.0, '{}', '1')"
    )
    db.close()
    db = Database(tmp_path / "old.db")
    db.migrate()
    assert db.scalar("SELECT COUNT(*) FROM predictions") == 1
    ddl = db.scalar("SELECT sql FROM sqlite_master WHERE name = 'predictions'")
    assert "WITHOUT ROWID" not in ddl
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO predictions(id, model, version, time, inputs_json, output_json) "
            "VALUES ('a', 'm', 1, 2.0, '{}', '1')"
        )


def test_file_hashed_while_it_is_written_matches_its_sha256(tmp_path):
    import hashlib
    import os
    import time

    store = ArtifactStore(tmp_path / "store")
    parts = [os.urandom(300_000 + i) for i in range(12)]

    def slow_appender(path):
        with open(path, "wb") as fh:
            for part in parts:  # the follower catches up and waits between writes
                fh.write(part)
                fh.flush()
                time.sleep(0.003)

    sha, rel = store.put_with(slow_appender, ".bin", appends_only=True)
    assert sha == hashlib.sha256(b"".join(parts)).hexdigest() == sha256_file(store.path(rel))

    def replacer(path):  # not an appender after all: writes elsewhere, renames over the file
        other = path.with_suffix(".other")
        other.write_bytes(b"replaced content")
        os.replace(other, path)

    sha2, _ = store.put_with(replacer, ".bin", appends_only=True)
    assert sha2 == hashlib.sha256(b"replaced content").hexdigest()

    def failing(path):
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store.put_with(failing, ".bin", appends_only=True)
    assert list(store.tmp.iterdir()) == []


@pytest.mark.parametrize(("setting", "pragma"), [(None, 1), ('"normal"', 1), ('"full"', 2), ('"FULL"', 2)])
def test_storage_synchronous_setting_reaches_every_connection(tmp_path, setting, pragma):
    """`[storage] synchronous` in config.toml is what SQLite runs at (NORMAL = 1, FULL = 2), on
    the opening thread's connection and on any other thread's; the default is normal."""
    from mlcycle_tui.workspace import Workspace

    home = tmp_path / "ws"
    home.mkdir()
    if setting is not None:
        (home / "config.toml").write_text(f"[storage]\nsynchronous = {setting}\n")
    with Workspace.open(home) as ws:
        assert ws.db.scalar("PRAGMA synchronous") == pragma
        assert ws.db.scalar("PRAGMA journal_mode") == "wal"
        seen: list[int] = []
        t = threading.Thread(target=lambda: seen.append(ws.db.connection().execute("PRAGMA synchronous").fetchone()[0]))
        t.start()
        t.join()
        assert seen == [pragma]


@pytest.mark.parametrize("setting", ['"off"', "2", '""'])
def test_storage_synchronous_refuses_other_values(tmp_path, setting):
    from mlcycle_tui.common.errors import UserError
    from mlcycle_tui.workspace import Workspace

    home = tmp_path / "ws"
    home.mkdir()
    (home / "config.toml").write_text(f"[storage]\nsynchronous = {setting}\n")
    with pytest.raises(UserError, match=r"\[storage\] synchronous must be \"normal\" or \"full\""):
        Workspace.open(home)

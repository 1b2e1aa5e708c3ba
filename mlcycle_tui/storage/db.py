"""The workspace database: one SQLite file, one connection per thread.

Why this exists: every front door (TUI, CLI, server, scheduler) shares one
SQLite file, often from several processes at once. This module makes that safe:
WAL mode, a busy timeout, one `sqlite3` connection per thread (connections
are not thread-safe), short `BEGIN IMMEDIATE`
transactions, and forward-only migrations kept per component in
`storage/schema.py`, applied under a write lock so that two processes starting
at once do not both create the schema.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 30_000


class Database:
    """A handle on the workspace database, usable from any thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        self._migrated = False

    # -- connections -----------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._lock:
                self._close_dead_threads()
                self._all.append((threading.current_thread(), conn))
        return conn

    def _close_dead_threads(self) -> None:
        """Close connections of threads that have ended (thread workers come and go)."""
        alive = []
        for thread, conn in self._all:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
        self._all = alive

    def open_connections(self) -> int:
        with self._lock:
            return len(self._all)

    def close(self) -> None:
        """Close every connection this handle opened (all threads)."""
        with self._lock:
            conns, self._all = self._all, []
        for _thread, conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    # -- statements ------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self.connection().execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.connection().execute(sql, params).fetchall()]

    def query_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> dict[str, Any] | None:
        row = self.connection().execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = self.connection().execute(sql, params).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction; takes the write lock at once."""
        conn = self.connection()
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # -- schema ----------------------------------------------------------
    def migrate(self, until: dict[str, int] | None = None) -> None:
        """Apply every pending migration of every component (idempotent).

        `until` stops the named components at a version (tests build the workspaces of
        older releases this way); such a partial migration can be completed later."""
        if self._migrated:
            return
        from mlcycle_tui.storage.schema import COMPONENTS

        conn = self.connection()
        with self.transaction():
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            current = {
                r["component"]: r["version"]
                for r in conn.execute("SELECT component, version FROM schema_version")
            }
            for component, steps in COMPONENTS.items():
                have = current.get(component, 0)
                for number, script in enumerate(steps, start=1):
                    if number <= have or number > (until or {}).get(component, len(steps)):
                        continue
                    for statement in _split_statements(script):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_version(component, version) VALUES (?, ?) "
                        "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                        (component, number),
                    )
        self._migrated = until is None


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (persistent); retried, as SQLite does not wait for this lock."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _split_statements(script: str) -> list[str]:
    """Split a migration script into statements (a trigger's body stays whole)."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending.strip())
    return statements

"""The workspace database: one SQLite file, one connection per thread.

Why this exists: every front door (TUI, CLI, server, scheduler) shares one
SQLite file, often from several processes at once. This module makes that safe:
WAL mode, a busy timeout, one `sqlite3` connection per thread (connections
are not thread-safe), short `BEGIN IMMEDIATE` transactions, the durability of
a commit (`[storage] synchronous` in config.toml: `normal`, the default, or
`full`), and forward-only migrations kept per component in
`storage/schema.py`, applied under a write lock so that two processes starting
at once do not both create the schema.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlcycle_tui.common.errors import OperationError, UserError

BUSY_TIMEOUT_MS = 30_000
SQLITE_HEADER = b"SQLite format 3\x00"
# primary result codes (https://sqlite.org/rescode.html); Python 3.11 gives the extended one
_READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 8, 10, 11, 13, 14, 26
_READONLY_DBMOVED = 1032
# `PRAGMA synchronous` in WAL mode. normal: a commit is written to the WAL but not flushed to
# the disk (a checkpoint is), so a power cut or an OS crash can lose the last commits, never
# corrupt the file; a crash of the process itself loses nothing. full: every commit is flushed
# (fsync) before it returns, as SQLite's default and MLflow's store do.
SYNCHRONOUS = ("normal", "full")
DEFAULT_SYNCHRONOUS = "normal"


class DatabaseDamaged(OperationError, sqlite3.DatabaseError):
    """The workspace database is not a readable SQLite file (truncated, overwritten, corrupted).

    Also an `sqlite3.DatabaseError`, so code that handled SQLite's error still does."""

    code = "database_damaged"


class DatabaseUnavailable(OperationError, sqlite3.OperationalError):
    """The workspace database cannot be written or opened: read-only, missing folder, disk full."""

    code = "database_unavailable"


def translate_error(exc: BaseException, path: Path) -> BaseException:
    """An SQLite error about the file itself as an error that says which file and what to do;
    any other exception (a constraint, "database is locked", a bug) as it is."""
    if not isinstance(exc, sqlite3.Error) or isinstance(exc, DatabaseDamaged | DatabaseUnavailable):
        return exc
    path = Path(os.path.abspath(path))
    extended = getattr(exc, "sqlite_errorcode", None)
    primary = extended & 0xFF if isinstance(extended, int) else None
    if primary is None:  # older Pythons: the text is all there is
        text = str(exc)
        primary = (_CORRUPT if "malformed" in text else _NOTADB if "not a database" in text
                   else _READONLY if "readonly" in text else None)
    if primary in (_CORRUPT, _NOTADB):
        return DatabaseDamaged(
            f"the workspace database {path} is damaged (SQLite: {exc}): it was truncated, overwritten or "
            "corrupted, so mlcycle cannot read it. Restore it from a backup "
            "(`mlcycle restore BACKUP --to DIR`, see `mlcycle backup`); `mlcycle doctor` shows what "
            "SQLite's integrity check finds"
        )
    if primary == _READONLY:
        if extended == _READONLY_DBMOVED:
            what = f"{path} was moved or deleted while mlcycle had it open"
            todo = "put it back (or restore a backup) and run the command again"
        else:
            what = _read_only_reason(path)
            todo = (f"run mlcycle as the user who owns {path.parent}, or give this user write access to the folder "
                    f"and its files (`chmod -R u+w {path.parent}` by its owner, or `chown -R`), or copy the folder "
                    f"somewhere writable (`cp -a {path.parent} DIR`) and pass `--workspace DIR`")
        return DatabaseUnavailable(
            f"the workspace is read-only: {what}. mlcycle writes to its database for every command that "
            f"records something (predictions, runs, checks) and keeps its journal next to it; {todo}",
            code="read_only",
        )
    if primary == _CANTOPEN:
        return DatabaseUnavailable(
            f"cannot open the workspace database {path} (SQLite: {exc}): {_read_only_reason(path)}; "
            "check that the folder exists and that this user may read and write it",
            code="cannot_open",
        )
    if primary == _FULL:
        return DatabaseUnavailable(
            f"the disk holding the workspace database {path} is full (SQLite: {exc}); free some space and "
            "run the command again (what failed was rolled back)",
            code="disk_full",
        )
    if primary == _IOERR:
        return DatabaseUnavailable(
            f"reading or writing the workspace database {path} failed (SQLite: {exc}); the disk or the file "
            "system reported an error. Check the disk, then run `mlcycle doctor`",
            code="io_error",
        )
    return exc


def _read_only_reason(path: Path) -> str:
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{folder} is on a read-only file system (mounted read-only)"
    except OSError:
        pass
    if path.exists() and not os.access(path, os.W_OK):
        st = path.stat()
        if os.geteuid() == 0 or (st.st_uid == os.geteuid() and st.st_mode & 0o200):
            return (f"{path} cannot be written although its permissions allow it: it is marked immutable "
                    f"(`lsattr {path}`; `chattr -i` lifts it) or sits on a read-only mount")
        return f"{path} is read-only for this user"
    if folder.exists() and not os.access(folder, os.W_OK):
        return (f"the folder {folder} is read-only for this user (SQLite must create {path.name}-wal and "
                f"{path.name}-shm next to the database)")
    if not folder.exists():
        return f"the folder {folder} does not exist"
    return f"{path} cannot be written (a read-only file system or mount, or a file marked immutable?)"


class Database:
    """A handle on the workspace database, usable from any thread."""

    def __init__(self, path: str | Path, synchronous: str = DEFAULT_SYNCHRONOUS) -> None:
        self.path = Path(path)
        self.synchronous = check_synchronous(synchronous)
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        self._migrated = False

    # -- connections -----------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,  # autocommit; transactions are explicit
                    check_same_thread=False,
                )
            except sqlite3.Error as exc:
                raise translate_error(exc, self.path) from exc
            try:
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                _enable_wal(conn)
                conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                conn.close()
                raise translate_error(exc, self.path) from exc
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
    # SQLite errors about the file itself (damaged, read-only, disk full) leave here as
    # `DatabaseDamaged`/`DatabaseUnavailable`, which name the file and what to do.
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        try:
            return self.connection().execute(sql, params)
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path) from exc

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        try:
            return [dict(r) for r in self.connection().execute(sql, params).fetchall()]
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path) from exc

    def query_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> dict[str, Any] | None:
        try:
            row = self.connection().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path) from exc
        return dict(row) if row is not None else None

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        try:
            row = self.connection().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise translate_error(exc, self.path) from exc
        return None if row is None else row[0]

    def transaction(self) -> _Transaction:
        """A short write transaction (`with db.transaction() as conn:`); takes the write lock at
        once, commits on leaving, rolls back on an exception; nested, it joins the outer one."""
        return _Transaction(self)

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


class _Transaction:
    """What `Database.transaction()` returns. A class rather than a `@contextmanager` generator:
    it is entered for every metric a run logs, and a generator costs ~2 us more per entry."""

    __slots__ = ("_conn", "_db", "_outer")

    def __init__(self, db: Database) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._conn = conn = self._db.connection()
        self._outer = conn.in_transaction  # nested: join the outer transaction
        if not self._outer:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate_error(exc, self._db.path) from exc
        return conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if self._outer:
            return False
        conn = self._conn
        if exc is None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise translate_error(error, self._db.path) from error
            return False
        if conn.in_transaction:  # SQLite rolls back by itself after some errors (disk full, corruption)
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        translated = translate_error(exc, self._db.path)
        if translated is exc:
            return False  # the exception goes on as it is
        raise translated from exc


def check_synchronous(value: object) -> str:
    """`value` as one of SYNCHRONOUS (any case), or a UserError that says what to write."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or text not in SYNCHRONOUS:
        raise UserError(f"[storage] synchronous must be \"normal\" or \"full\" in config.toml, got {value!r}: "
                        "normal (the default) may lose the last commits to a power cut, full flushes every "
                        "commit to the disk")
    return text


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


# -- health and copies of the file ------------------------------------------------
def check_database(path: str | Path) -> dict[str, Any]:
    """SQLite's `PRAGMA quick_check` of the file at `path`, also when it cannot even be opened.

    Returns {"path", "ok", "problem", "details"}: `ok` is True for a sound file (or none yet),
    False with `problem` saying what is wrong (not an SQLite file, truncated, damaged pages).
    A file this user may not open or write raises `DatabaseUnavailable`: that is not damage."""
    path = Path(path)
    out: dict[str, Any] = {"path": str(path), "ok": True, "problem": None, "details": []}
    if not path.exists() or path.stat().st_size == 0:
        return out  # a workspace not created yet (an empty file is what SQLite starts from)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        header = fh.read(100)
    if not header.startswith(SQLITE_HEADER):
        out.update(ok=False, problem=f"{path} is not an SQLite database (its first bytes are not SQLite's "
                                     "header): it was overwritten or damaged")
        return out
    expected = _size_in_header(header)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise translate_error(exc, path) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        lines = [r[0] for r in conn.execute("PRAGMA quick_check(20)").fetchall()]
    except sqlite3.Error as exc:
        translated = translate_error(exc, path)
        if not isinstance(translated, DatabaseDamaged):
            raise translated from exc
        lines = [str(exc)]
    finally:
        conn.close()
    if lines == ["ok"]:
        return out
    if expected is not None and size < expected:
        problem = f"{path} is truncated: {size:,} bytes of the {expected:,} its header records"
    elif len(header) < 100:
        problem = f"{path} is truncated: {size:,} bytes, less than SQLite's header"
    else:
        problem = f"{path} is damaged: SQLite's integrity check found {len(lines)} problem(s)"
    out.update(ok=False, problem=problem, details=lines)
    return out


def _size_in_header(header: bytes) -> int | None:
    """The file size SQLite's header records (page size x page count), when the count is valid."""
    if len(header) < 100:
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    valid = header[24:28] == header[92:96]  # the count is current only when both counters agree
    return page_size * pages if valid and pages else None


def copy_database(source: str | Path, target: str | Path, *, read_only: bool = False) -> None:
    """Copy the database at `source` to a new file `target` with SQLite's online backup API.

    The copy is one consistent snapshot (one read transaction) even while other threads and
    processes write: in WAL mode they are not blocked. The copy is switched out of WAL (one
    self-contained file), checked with `PRAGMA quick_check`, and flushed to disk.
    `read_only` opens the source without writing anything next to it (restoring a backup)."""
    source, target = Path(source), Path(target)
    try:
        if read_only:
            src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        else:
            src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise translate_error(exc, source) from exc
    try:
        try:
            src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            dst = sqlite3.connect(target)
        except sqlite3.Error as exc:
            raise translate_error(exc, source) from exc
        try:
            try:
                src.backup(dst)  # all pages in one step: one snapshot, never restarted by writers
            except sqlite3.Error as exc:
                raise translate_error(exc, source) from exc
            dst.execute("PRAGMA journal_mode = DELETE")
            lines = [r[0] for r in dst.execute("PRAGMA quick_check(5)").fetchall()]
            if lines != ["ok"]:
                raise DatabaseDamaged(f"the copy of {source} fails SQLite's integrity check ({'; '.join(lines)}); "
                                      f"run `mlcycle doctor` on the workspace")
        finally:
            dst.close()
    finally:
        src.close()
    with open(target, "rb+") as fh:
        os.fsync(fh.fileno())


def artifact_references(path: str | Path) -> dict[str, str]:
    """relpath -> sha256 of every artifact the database file at `path` points at: the rows of
    every table with `artifact_sha256` and `artifact_path` columns (read-only)."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        refs: dict[str, str] = {}
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({quoted})")}
            if {"artifact_sha256", "artifact_path"} <= columns:
                for rel, sha in conn.execute(f"SELECT artifact_path, artifact_sha256 FROM {quoted} "
                                             "WHERE artifact_path IS NOT NULL"):
                    refs[rel] = sha
        return refs
    except sqlite3.Error as exc:
        raise translate_error(exc, Path(path)) from exc
    finally:
        conn.close()

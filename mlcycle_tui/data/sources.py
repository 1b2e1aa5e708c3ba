"""Watched data sources: new files in a folder, new rows of a SQLite query, a growing JSON-lines file.

Why this exists: in production, data arrives on its own. A source is kept in
the workspace and run on a schedule (by `scheduler/runner.py`, or at once by
`mlcycle data source run`); each run ingests what is new since the last run as
a new version of its dataset. The version is *rolling*: previous version's
rows + the new rows, so the latest version is always the whole history and
the retraining worker ("newest data") sees every arrival. It is stored as the
previous version's parts plus one new part holding only the new rows
(`Data.append`), so a run stores what arrived, not the history again.
Identical content still dedupes (a run with nothing new makes no version).

Rules that keep it safe:
- A file is taken only when complete: dotfiles and `*.part`/`*.tmp` are
  ignored, and its size and mtime must be unchanged across two looks at least
  `settle` seconds after its last modification.
- A file (or stream chunk, or query batch) that cannot be read, fails
  validation or has a different schema than the dataset's latest version
  (schema drift, found with the same checks as `validate(reference=...)`) is
  moved to `<workspace>/quarantine/` with a `.reason.json` beside it, and is
  never half-ingested: a run's good files become one version or nothing.
- What was processed (path, size, mtime, sha256; the cursor of a query or a
  stream) is recorded in SQLite, so nothing is ingested twice across restarts
  and processes; a run is a lease on the source row, as drift schedules are.
- A run that fails (folder gone, query error) records the error on the source
  and changes nothing; the next tick tries again.

No scheduler import here: the CLI, the TUI and tests call these methods directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, OperationError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.config import check_name, parse_duration
from mlcycle_tui.schedules.periodic import MIN_EVERY_S, default_owner

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.data.versions import Data, DatasetVersion
    from mlcycle_tui.events import Events
    from mlcycle_tui.monitoring.checks import Monitoring
    from mlcycle_tui.schedules.periodic import Periodic
    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database

KINDS = ("folder", "sqlite", "jsonl")
WATCHED_SUFFIXES = frozenset({".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json"})
IGNORED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".swp", "~")
DEFAULT_SETTLE = "2s"
QUARANTINE_DIR = "quarantine"


# -- files that are complete ------------------------------------------------------
@dataclass(frozen=True)
class FileState:
    """One look at a file: where, how big, when last modified."""

    path: Path
    size: int
    mtime: float


def list_files(folder: Path, suffixes: Iterable[str]) -> list[FileState]:
    """The visible files of `folder` with one of `suffixes` (not dotfiles, not `*.part`/`*.tmp`), by name."""
    if not folder.exists():
        raise OperationError(f"the watched folder {folder} does not exist (moved, removed or unmounted?); "
                             "create it again or remove the schedule")
    if not folder.is_dir():
        raise OperationError(f"{folder} is not a folder; a folder source watches a folder")
    wanted = {s.lower() for s in suffixes}
    found: list[FileState] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise OperationError(f"cannot list the folder {folder}: {exc.strerror or exc}") from None
    for entry in entries:
        name = entry.name
        if name.startswith((".", "~")) or name.lower().endswith(IGNORED_SUFFIXES):
            continue
        if Path(name).suffix.lower() not in wanted:
            continue
        try:
            if not entry.is_file():
                continue
            st = entry.stat()
        except OSError:  # vanished between listing and stat
            continue
        found.append(FileState(Path(entry.path), st.st_size, st.st_mtime))
    return found


def settled(files: list[FileState], settle_s: float) -> list[FileState]:
    """The files whose size and mtime stay the same across two looks, last modified >= `settle_s` ago.

    Waits (at most `settle_s`) only when a file was modified less than
    `settle_s` ago, so files that sat in the folder for a while go at once.
    """
    if not files:
        return []
    youngest = min(time.time() - f.mtime for f in files)
    if youngest < settle_s:
        time.sleep(min(settle_s, settle_s - youngest) + 0.01)
    now = time.time()
    stable = []
    for f in files:
        try:
            st = f.path.stat()
        except OSError:
            continue
        if st.st_size == f.size and st.st_mtime == f.mtime and f.size > 0 and now - st.st_mtime >= settle_s:
            stable.append(f)
    return stable


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# -- batch checks ---------------------------------------------------------------------
def batch_problems(frame: pd.DataFrame, target: str | None, time_column: str | None,
                   reference: dict[str, Any] | None) -> tuple[str, list[dict[str, Any]], pd.DataFrame | None]:
    """("ok"|"schema_drift"|"invalid", issues, prepared frame or None) for one batch of new rows.

    The checks are `validate_profile(..., reference=latest profile)`, with the
    differences a small batch legitimately has left out: a kind that differs
    but not the dtype family (e.g. an integer column looks like an id in few
    rows), a column that is all missing in this batch, one target class only.
    A new column counts as schema drift too: appending it would leave the
    history without it.
    """
    from mlcycle_tui.data.profiling import profile_frame
    from mlcycle_tui.data.validation import _dtype_family, validate_profile
    from mlcycle_tui.data.versions import prepare_frame

    columns = [str(c) for c in frame.columns]
    missing = [c for c in (target, time_column) if c is not None and c not in columns]
    if missing:
        issues = [{"code": "column_removed", "column": c, "message": f"column {c!r} of the dataset is missing"}
                  for c in missing]
        if reference is not None:
            return "schema_drift", _schema_issues(columns, reference) or issues, None
        return "schema_drift", issues, None
    try:
        frame = prepare_frame(frame, target, time_column)
    except UserError as exc:
        return "invalid", [{"code": "unreadable", "column": None, "message": exc.message}], None
    profile = profile_frame(frame)
    result = validate_profile(profile, target, reference)
    cur = {c["name"]: c for c in profile["columns"]}
    ref = {c["name"]: c for c in reference["columns"]} if reference else {}
    issues = []
    for issue in result["errors"]:
        if issue["code"] == "target_constant":
            continue
        if issue["code"] == "column_retyped":
            c, r = cur[issue["column"]], ref[issue["column"]]
            if c["missing"] == profile["rows"] or _dtype_family(c["dtype"]) == _dtype_family(r["dtype"]):
                continue
        issues.append(issue)
    issues += [w for w in result["warnings"] if w["code"] == "column_added"]
    if not issues:
        return "ok", [], frame
    schema = any(i["code"] in ("column_removed", "column_added", "column_retyped", "target_missing") for i in issues)
    return ("schema_drift" if schema else "invalid"), issues, None


def _schema_issues(columns: list[str], reference: dict[str, Any]) -> list[dict[str, Any]]:
    ref_cols = [c["name"] for c in reference["columns"]]
    issues = [{"code": "column_removed", "column": c, "message": f"column {c!r} of the reference is missing"}
              for c in ref_cols if c not in columns]
    issues += [{"code": "column_added", "column": c, "message": f"column {c!r} is new (not in the reference)"}
               for c in columns if c not in ref_cols]
    return issues


@dataclass
class _Batch:
    """New rows accepted in a run, and the record that says where they came from."""

    frame: pd.DataFrame
    record: dict[str, Any]


@dataclass
class _RunState:
    accepted: list[_Batch] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    cursor: str | None = None
    notes: list[str] = field(default_factory=list)


def _int_id(value: int | str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"bad {what} id {value!r}: ids are whole numbers") from None


_SOURCE_ROWS = ("SELECT s.*, p.every, p.every_s, p.next_due, p.paused, p.lease_owner, p.last_run, p.last_status,"
                " p.last_error, p.runs FROM sources s JOIN periodic p ON p.kind = 'source' AND p.ref_id = s.id")


# -- the workspace methods -------------------------------------------------------------
class Sources:
    """Workspace methods for watched sources (see `Workspace`)."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        home: Path,
        events: Events,
        periodic: Periodic,
        data: Data,
        monitoring: Monitoring,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.home = home
        self.periodic = periodic
        self.events = events
        self.data = data
        self.monitoring = monitoring

    def add(
        self,
        dataset: str,
        *,
        folder: str | os.PathLike[str] | None = None,
        sqlite: str | os.PathLike[str] | None = None,
        query: str | None = None,
        key: str | None = None,
        jsonl: str | os.PathLike[str] | None = None,
        target: str | None = None,
        time_column: str | None = None,
        every: str = "10m",
        settle: str = DEFAULT_SETTLE,
    ) -> dict[str, Any]:
        """Watch a folder, a SQLite query (with an increasing `key` column) or a growing JSON-lines file."""
        check_name(dataset, "dataset name")
        given = [k for k, v in (("folder", folder), ("sqlite", sqlite), ("jsonl", jsonl)) if v is not None]
        if len(given) != 1:
            raise UserError("give exactly one of --folder DIR, --sqlite DB (with --query and --key) or --jsonl FILE")
        kind = given[0]
        location = Path(folder or sqlite or jsonl).expanduser().resolve()  # type: ignore[arg-type]
        if kind == "sqlite":
            if not query or not key:
                raise UserError("a SQLite source needs --query SQL and --key COLUMN (an increasing id or timestamp)")
            if not location.is_file():
                raise NotFoundError(f"no SQLite file at {location}")
        elif query or key:
            raise UserError("--query and --key belong to a --sqlite source")
        if kind == "folder" and not location.is_dir():
            raise NotFoundError(f"no folder at {location}; create it first (files dropped there are ingested)")
        if kind == "jsonl" and location.exists() and not location.is_file():
            raise UserError(f"{location} is not a file; --jsonl watches one growing JSON-lines file")
        seconds = parse_duration(every)
        if seconds < MIN_EVERY_S:
            raise UserError(f"--every {every} is too short; the shortest interval is 1s")
        settle_s = 0.0 if str(settle).strip() in ("0", "0s") else parse_duration(settle)
        existing = self.db.query_one("SELECT id FROM sources WHERE dataset = ?", (dataset,))
        if existing:
            raise UserError(f"dataset {dataset!r} already has source {existing['id']}; one source feeds one "
                            "dataset (each run appends to its latest version)")
        latest = self._latest_version(dataset)
        if latest is not None:
            target = target if target is not None else latest.target
            time_column = time_column if time_column is not None else latest.time_column
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO sources(dataset, kind, location, query, key_column, target, time_column, settle_s,"
                " created) VALUES (?,?,?,?,?,?,?,?,?)",
                (dataset, kind, str(location), query, key, target, time_column, settle_s, now_iso()))
            source_id = int(cur.lastrowid)
            self.periodic.add("source", source_id, str(every), seconds)
        self.events.log("source", dataset, f"source {source_id}: {kind} {location} every {every}")
        return self.get(source_id)

    def list(self) -> list[dict[str, Any]]:
        rows = self.db.query(_SOURCE_ROWS + " ORDER BY s.id")
        return [_source_doc(r) for r in rows]

    def get(self, source_id: int | str) -> dict[str, Any]:
        sid = _int_id(source_id, "source")
        row = self.db.query_one(_SOURCE_ROWS + " WHERE s.id = ?", (sid,))
        if row is None:
            raise NotFoundError(f"no source {source_id}; list them with `mlcycle data source list`")
        return _source_doc(row)

    def remove(self, source_id: int | str) -> dict[str, Any]:
        """Stop watching: the dataset versions stay; the record of processed files goes with the source."""
        doc = self.get(source_id)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sources WHERE id = ?", (doc["source_id"],))
            conn.execute("DELETE FROM source_files WHERE source_id = ?", (doc["source_id"],))
            self.periodic.remove("source", doc["source_id"])
        self.events.log("source", doc["dataset"], f"source {doc['source_id']} removed")
        return doc

    def files(self, source_id: int | str, limit: int = 200) -> list[dict[str, Any]]:
        """What the source did with each file or chunk, newest first."""
        sid = self.get(source_id)["source_id"]
        return self.db.query("SELECT * FROM source_files WHERE source_id = ? ORDER BY id DESC LIMIT ?", (sid, limit))

    def runs(self, source_id: int | str, limit: int = 50) -> list[dict[str, Any]]:
        sid = self.get(source_id)["source_id"]
        rows = self.db.query("SELECT * FROM source_runs WHERE source_id = ? ORDER BY id DESC LIMIT ?", (sid, limit))
        for r in rows:
            r.pop("plan_json", None)
        return rows

    def arrivals(self, source_id: int | str) -> pd.DataFrame:
        """The rows the source's last run that made a version added (the latest arrivals)."""
        src = self.get(source_id)
        run = self.db.query_one(
            "SELECT * FROM source_runs WHERE source_id = ? AND dataset_version IS NOT NULL AND new_rows > 0"
            " ORDER BY id DESC LIMIT 1", (src["source_id"],))
        if run is None:
            raise NotFoundError(f"source {src['source_id']} has not ingested anything yet; "
                                f"run it with `mlcycle data source run {src['source_id']}`")
        return self.data.load_rows(f"{src['dataset']}@{run['dataset_version']}", run["base_rows"],
                                   run["base_rows"] + run["new_rows"])

    def check_arrivals(self, source_id: int | str, model_ref: str, *, method: str = "auto",
                       action: str = "alert") -> dict[str, Any]:
        """A drift check of `model_ref` on the rows the source's last run ingested."""
        src = self.get(source_id)
        report = self.monitoring.check_drift(model_ref, self.arrivals(source_id),
                                  method=method, action=action)
        report["arrivals"] = {"source_id": src["source_id"], "dataset": src["dataset"], "version": src["last_version"]}
        return report

    # -- running --------------------------------------------------------------------
    def run(self, source_id: int | str, owner: str | None = None, *, force: bool = True) -> dict[str, Any]:
        """Run a source now (`force`, the default: "run now") or, for a scheduler, only if its tick is due.

        Returns {"source_id", "status", "version", "new_rows", "files", "quarantined", "error", ...};
        status "busy" when another run holds the lease, "not due" when a tick was not due.
        """
        sid = self.get(source_id)["source_id"]
        owner = owner or default_owner()
        with self.periodic.hold("source", sid, owner, force=force) as lease:
            if lease is None:
                return {"source_id": sid, "status": "busy" if force else "not due", "version": None,
                        "new_rows": 0, "files": [], "quarantined": [], "error": None}
            src = self.get(sid)
            run_id = int(self.db.execute(
                "INSERT INTO source_runs(source_id, started, status) VALUES (?, ?, 'running')", (sid, now_iso())
            ).lastrowid)
            state = _RunState(cursor=src["cursor"])
            result: dict[str, Any] = {"source_id": sid, "dataset": src["dataset"], "run_id": run_id, "version": None,
                                      "new_rows": 0, "files": [], "quarantined": [], "error": None}
            error: str | None = None
            extra: dict[str, Any] = {}
            try:
                self._recover_runs(src, run_id)
                src = self.get(sid)
                state.cursor = src["cursor"]
                collect = {"folder": self._collect_folder, "sqlite": self._collect_sqlite,
                           "jsonl": self._collect_jsonl}[src["kind"]]
                collect(src, state, lease.renew)
                ds, base = self._append(src, run_id, state)
                result["quarantined"] = state.quarantined
                result["files"] = [b.record["path"] for b in state.accepted]
                if ds is not None:
                    result.update(version=ds.version, ref=ds.ref, new_rows=sum(len(b.frame) for b in state.accepted),
                                  rows=ds.rows, existing=ds.existing)
                    extra["last_version"] = ds.version
                parts = []
                if ds is not None:
                    parts.append(f"{ds.ref} +{result['new_rows']} rows" + (f" from {len(state.accepted)} files"
                                                                            if src["kind"] == "folder" else ""))
                if state.quarantined:
                    kinds = sorted({q["kind"].replace("_", " ") for q in state.quarantined})
                    parts.append(f"{len(state.quarantined)} quarantined ({', '.join(kinds)})")
                parts += state.notes
                status = "ok: " + ("; ".join(parts) if parts else "nothing new")
                if base is not None:
                    result["base_version"] = base
            except (UserError, OperationError) as exc:
                error = exc.message
            except OSError as exc:
                error = f"{exc.strerror or exc} ({exc.filename})" if exc.filename else f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # an unexpected failure must not stop the schedule
                error = f"{type(exc).__name__}: {exc}"
            if error is not None:
                status = f"error: {error}"
                result["quarantined"] = state.quarantined
                self.db.execute("UPDATE source_runs SET status = 'failed', finished = ?, error = ? WHERE id = ?"
                                " AND status = 'running'", (now_iso(), error, run_id))
                self.events.log("source", src["dataset"], f"source {sid} run failed: {error}")
            result["status"] = status
            result["error"] = error
            lease.status, lease.error = status, error
            if extra:
                self.db.execute("UPDATE sources SET last_version = ? WHERE id = ?", (extra["last_version"], sid))
            return result

    def _latest_version(self, dataset: str) -> DatasetVersion | None:
        try:
            return self.data.dataset(dataset)
        except NotFoundError:
            return None

    def seen_files(self, table: str, owner_col: str, owner_id: int, f: FileState, statuses: tuple[str, ...]) -> bool:
        marks = ",".join("?" * len(statuses))
        return self.db.query_one(
            f"SELECT 1 FROM {table} WHERE {owner_col} = ? AND path = ? AND size = ? AND mtime = ?"
            f" AND status IN ({marks}) LIMIT 1", (owner_id, str(f.path), f.size, f.mtime, *statuses)) is not None

    def _collect_folder(self, src: dict[str, Any], state: _RunState, renew: Any) -> None:
        from mlcycle_tui.data.readers import read_table

        sid = src["source_id"]
        files = list_files(Path(src["location"]), WATCHED_SUFFIXES)
        fresh = [f for f in files
                 if not self.seen_files("source_files", "source_id", sid, f, ("ingested", "quarantined", "duplicate"))]
        reference = self._reference_profile(src)
        for f in settled(fresh, src["settle_s"]):
            renew()
            try:
                sha = file_sha256(f.path)
            except OSError:
                continue  # vanished or unreadable right now: try again next time
            record = {"path": str(f.path), "size": f.size, "mtime": f.mtime, "sha256": sha}
            if self.db.query_one("SELECT 1 FROM source_files WHERE source_id = ? AND sha256 = ? AND status IN"
                                 " ('ingested', 'quarantined')", (sid, sha)) or \
                    any(b.record["sha256"] == sha for b in state.accepted):
                self._record_file(sid, record, "duplicate", reason="same content as a file already processed")
                state.duplicates += 1
                continue
            try:
                frame = read_table(f.path)
            except UserError as exc:
                self._quarantine(src, state, record, "unreadable", exc.message, [], move=f.path)
                continue
            verdict, issues, prepared = batch_problems(frame, src["target"], src["time_column"], reference)
            if prepared is None:
                self._quarantine(src, state, record, verdict, _issues_text(verdict, issues), issues, move=f.path)
                continue
            if reference is None:
                from mlcycle_tui.data.profiling import profile_frame

                reference = profile_frame(prepared)
            state.accepted.append(_Batch(prepared, record))

    def _collect_jsonl(self, src: dict[str, Any], state: _RunState, renew: Any) -> None:
        from mlcycle_tui.data.readers import read_table

        path = Path(src["location"])
        if not path.exists():
            raise OperationError(f"the JSON-lines file {path} does not exist (yet); it is read once it appears")
        cursor = json.loads(src["cursor"]) if src["cursor"] else {"offset": 0, "inode": None}
        st = path.stat()
        offset = int(cursor.get("offset", 0))
        if cursor.get("inode") not in (None, st.st_ino) or st.st_size < offset:
            state.notes.append("file was replaced or truncated: read from the start")
            offset = 0
        if st.st_size == offset:
            state.cursor = json.dumps({"offset": offset, "inode": st.st_ino})
            return
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(st.st_size - offset)
        end = data.rfind(b"\n")
        if end < 0:
            state.notes.append("waiting for a complete line")
            return
        chunk = data[:end + 1]
        new_offset = offset + end + 1
        state.cursor = json.dumps({"offset": new_offset, "inode": st.st_ino})
        if not chunk.strip():
            return
        record = {"path": f"{path}#bytes={offset}-{new_offset}", "size": len(chunk), "mtime": st.st_mtime,
                  "sha256": hashlib.sha256(chunk).hexdigest()}
        tmp = self._tmp_copy(chunk, f"{path.stem}.{offset}-{new_offset}.jsonl")
        try:
            try:
                frame = read_table(tmp, "jsonl")
            except UserError as exc:
                self._quarantine(src, state, record, "unreadable", exc.message, [], move=tmp)
                return
            verdict, issues, prepared = batch_problems(frame, src["target"], src["time_column"],
                                                       self._reference_profile(src))
            if prepared is None:
                self._quarantine(src, state, record, verdict, _issues_text(verdict, issues), issues, move=tmp)
                return
            state.accepted.append(_Batch(prepared, record))
        finally:
            tmp.unlink(missing_ok=True)

    def _collect_sqlite(self, src: dict[str, Any], state: _RunState, renew: Any) -> None:
        import pandas as pd

        from mlcycle_tui.data.readers import _parse_date_strings

        db = Path(src["location"])
        if not db.is_file():
            raise OperationError(f"the SQLite file {db} does not exist (moved or removed?)")
        key = src["key"]
        quoted = '"' + key.replace('"', '""') + '"'
        query = src["query"].strip().rstrip(";")
        last = json.loads(src["cursor"]) if src["cursor"] else None
        sql = f"SELECT * FROM ({query}) AS mlcycle_source"
        params: tuple[Any, ...] = ()
        if last is not None:
            sql += f" WHERE {quoted} > ?"
            params = (last,)
        sql += f" ORDER BY {quoted}"
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error as exc:
            raise OperationError(f"cannot open the SQLite file {db}: {exc}") from None
        try:
            frame = pd.read_sql_query(sql, conn, params=params)
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            text = str(exc).split(":", 1)[-1].strip() if "Execution failed" in str(exc) else str(exc)
            raise OperationError(f"the query of source {src['source_id']} failed: {text}") from None
        finally:
            conn.close()
        if len(frame) == 0:
            return
        keys = frame[key].dropna()
        if keys.empty:
            raise OperationError(f"the key column {key!r} is empty in the new rows; it must hold increasing ids "
                                 "or timestamps")
        top = keys.max()
        state.cursor = json.dumps(top.item() if hasattr(top, "item") else top, default=str)
        frame = _parse_date_strings(frame)
        content = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
        record = {"path": f"query#{key}>{last}..{state.cursor}", "size": len(frame), "mtime": time.time(),
                  "sha256": content}
        verdict, issues, prepared = batch_problems(frame, src["target"], src["time_column"],
                                                   self._reference_profile(src))
        if prepared is None:
            tmp = self._tmp_frame(frame, f"source{src['source_id']}-{key}-after-{last}.parquet")
            self._quarantine(src, state, record, verdict, _issues_text(verdict, issues), issues, move=tmp)
            return
        state.accepted.append(_Batch(prepared, record))

    def _reference_profile(self, src: dict[str, Any]) -> dict[str, Any] | None:
        latest = self._latest_version(src["dataset"])
        return latest.profile if latest is not None else None

    def _tmp_copy(self, data: bytes, name: str) -> Path:
        tmp = self.artifacts.tmp / f"{os.getpid()}-{time.time_ns()}-{name}"
        tmp.write_bytes(data)
        return tmp

    def _tmp_frame(self, frame: pd.DataFrame, name: str) -> Path:
        tmp = self.artifacts.tmp / f"{os.getpid()}-{time.time_ns()}-{name}"
        frame.to_parquet(tmp, index=False)
        return tmp

    def _quarantine(self, src: dict[str, Any], state: _RunState, record: dict[str, Any], kind: str, reason: str,
                    issues: list[dict[str, Any]], *, move: Path) -> None:
        """Move the bad file (or chunk copy) to `<workspace>/quarantine/source-<id>/` with a reason file."""
        folder = self.home.resolve() / QUARANTINE_DIR / f"source-{src['source_id']}"
        stamp = time.strftime("%Y%m%dT%H%M%S")
        base = Path(record["path"]).name if src["kind"] == "folder" else move.name.split("-", 2)[-1]
        dest = folder / f"{stamp}-{base}"
        doc = {"source_id": src["source_id"], "dataset": src["dataset"], "file": record["path"],
               "kind": kind, "reason": reason, "issues": issues, "sha256": record["sha256"], "time": now_iso()}
        moved: str | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            n = 1
            while dest.exists():
                n += 1
                dest = folder / f"{stamp}-{n}-{base}"
            shutil.move(str(move), dest)
            moved = str(dest)
            doc["quarantine_path"] = moved
            reason_file = dest.with_name(dest.name + ".reason.json")
            reason_file.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        except OSError as exc:  # still remembered (not retried); the reason is in the database
            doc["move_error"] = f"{exc.strerror or exc}"
        self._record_file(src["source_id"], record, "quarantined", reason=f"{kind}: {reason}", quarantine_path=moved)
        state.quarantined.append({"file": record["path"], "kind": kind, "reason": reason, "path": moved})
        self.events.log("quarantine", src["dataset"],
                       f"source {src['source_id']}: {Path(record['path']).name} quarantined ({kind}): {reason}"[:500])

    def _record_file(self, source_id: int, record: dict[str, Any], status: str, *, version: int | None = None,
                     rows: int = 0, reason: str | None = None, quarantine_path: str | None = None,
                     conn: sqlite3.Connection | None = None) -> None:
        (conn or self.db).execute(
            "INSERT INTO source_files(source_id, path, size, mtime, sha256, status, dataset_version, rows, reason,"
            " quarantine_path, processed) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (source_id, record["path"], record["size"], record["mtime"], record["sha256"], status, version, rows,
             reason, quarantine_path, now_iso()))

    def _append(self, src: dict[str, Any], run_id: int, state: _RunState) -> tuple[DatasetVersion | None,
                                                                                      int | None]:
        """Previous version + accepted rows -> one new version (the previous one's parts and a
        new part of the accepted rows); record files, cursor and run together."""
        import pandas as pd

        from mlcycle_tui.data import profiling
        from mlcycle_tui.data.versions import prepare_frame

        sid = src["source_id"]
        if not state.accepted:
            with self.db.transaction() as conn:
                conn.execute("UPDATE sources SET cursor = ? WHERE id = ?", (state.cursor, sid))
                conn.execute("UPDATE source_runs SET status = 'done', finished = ?, quarantined = ? WHERE id = ?",
                             (now_iso(), len(state.quarantined), run_id))
            return None, None
        latest = self._latest_version(src["dataset"])
        frames = [b.frame for b in state.accepted]
        base_rows = latest.rows if latest is not None else 0
        appending = None
        if latest is not None and (latest.target, latest.time_column) == (src["target"], src["time_column"]):
            order = [c["name"] for c in latest.profile["columns"]]
            appending = self.data.plan_append(latest, pd.concat([f[order] for f in frames], ignore_index=True))
        if appending is not None:
            content = appending.content
        else:  # the first version, or new rows that change a column's dtype: the whole data, one file
            if latest is not None:
                previous = self.data.load_frame(latest)
                frames = [previous] + [f[[c for c in previous.columns]] for f in frames]
            else:
                order = list(frames[0].columns)
                frames = [f[order] for f in frames]
            combined = prepare_frame(pd.concat(frames, ignore_index=True), src["target"], src["time_column"])
            content = profiling.content_sha256(combined)
        new_rows = sum(len(b.frame) for b in state.accepted)
        plan = {"content": content, "cursor": state.cursor,
                "files": [b.record | {"rows": len(b.frame)} for b in state.accepted]}
        self.db.execute("UPDATE source_runs SET base_version = ?, base_rows = ?, new_rows = ?, plan_json = ?"
                        " WHERE id = ?", (latest.version if latest else None, base_rows, new_rows,
                                          json.dumps(plan, default=str), run_id))
        if appending is not None:
            ds = self.data.commit_append(appending, source=f"source {sid}")
        else:
            ds = self.data.ingest(combined, src["dataset"], target=src["target"], time_column=src["time_column"])
        self._finish_plan(sid, run_id, plan, ds.version, len(state.quarantined))
        return ds, latest.version if latest else None

    def _finish_plan(self, sid: int, run_id: int, plan: dict[str, Any], version: int, quarantined: int,
                     status: str = "done") -> None:
        with self.db.transaction() as conn:
            for rec in plan["files"]:
                self._record_file(sid, rec, "ingested", version=version, rows=rec["rows"], conn=conn)
            conn.execute("UPDATE sources SET cursor = ? WHERE id = ?", (plan["cursor"], sid))
            conn.execute("UPDATE source_runs SET status = ?, finished = ?, files = ?, quarantined = ?,"
                         " dataset_version = ?, plan_json = NULL WHERE id = ?",
                         (status, now_iso(), len(plan["files"]), quarantined, version, run_id))

    def _recover_runs(self, src: dict[str, Any], current_run: int) -> None:
        """Finish runs that died after making their version but before recording it (we hold the lease now)."""
        rows = self.db.query("SELECT id, plan_json FROM source_runs WHERE source_id = ? AND id != ?"
                             " AND (status = 'running' OR plan_json IS NOT NULL)", (src["source_id"], current_run))
        for row in rows:
            plan = json.loads(row["plan_json"]) if row["plan_json"] else None
            made = plan and self.db.query_one(
                "SELECT version FROM dataset_versions WHERE name = ? AND content_sha256 = ?"
                " ORDER BY version DESC LIMIT 1", (src["dataset"], plan["content"]))
            if made:
                self._finish_plan(src["source_id"], row["id"], plan, made["version"], 0, status="recovered")
            else:
                self.db.execute("UPDATE source_runs SET status = 'abandoned', finished = ?, plan_json = NULL"
                                " WHERE id = ?", (now_iso(), row["id"]))


def _issues_text(kind: str, issues: list[dict[str, Any]]) -> str:
    head = "schema drift against the dataset's latest version" if kind == "schema_drift" else "failed validation"
    return f"{head}: " + "; ".join(i["message"] for i in issues)


def _source_doc(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "source_id": row["id"], "dataset": row["dataset"], "kind": row["kind"], "location": row["location"],
        "query": row["query"], "key": row["key_column"], "target": row["target"], "time_column": row["time_column"],
        "every": row["every"], "every_s": row["every_s"], "settle_s": row["settle_s"], "created": row["created"],
        "next_due": row["next_due"], "cursor": row["cursor"], "last_run": row["last_run"],
        "last_status": row["last_status"], "last_error": row["last_error"], "last_version": row["last_version"],
        "runs": row["runs"], "paused": bool(row.get("paused", 0)), "leased_by": row["lease_owner"],
    }

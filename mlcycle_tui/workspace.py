"""The Workspace: opens a folder and wires the lifecycle's stage services.

Why this exists: every front door (the TUI, the CLI, the server, the scheduler)
opens a `Workspace` and calls its stages: `ws.data.ingest(...)`,
`ws.training.train(...)`, `ws.registry.promote(...)`,
`ws.monitoring.check_drift(...)`. Each stage is a small class that receives
what it uses in its constructor, so reading `__init__` below shows who
depends on whom; none of the front doors touches SQL or artifact files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.config import load_settings, resolve_home
from mlcycle_tui.data.sources import Sources
from mlcycle_tui.data.splits import Splits
from mlcycle_tui.data.versions import Data
from mlcycle_tui.events import Events
from mlcycle_tui.experiments.evaluate import Evaluation
from mlcycle_tui.experiments.tracking import Tracking
from mlcycle_tui.experiments.training import Training
from mlcycle_tui.loop.jobs import Jobs
from mlcycle_tui.monitoring.checks import Monitoring
from mlcycle_tui.monitoring.estimate import Estimates
from mlcycle_tui.monitoring.reports import Reports
from mlcycle_tui.predictions.batch import Batch
from mlcycle_tui.predictions.log import PredictionLog
from mlcycle_tui.predictions.scoring import Scoring
from mlcycle_tui.registry.export import Export
from mlcycle_tui.registry.versions import Registry
from mlcycle_tui.schedules.board import ScheduleBoard
from mlcycle_tui.schedules.drift_checks import DriftSchedules
from mlcycle_tui.schedules.periodic import Periodic
from mlcycle_tui.storage.artifacts import ArtifactStore, fsync_dir
from mlcycle_tui.storage.db import Database

DB_FILE = "mlcycle.db"
PARTIAL_MAX_AGE_S = 3600.0  # `doctor --fix` removes unfinished temporary files older than this


class Workspace:
    """A workspace folder: `mlcycle.db` plus the artifact store, and the stages over them."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.settings: dict[str, Any] = (settings := load_settings(home))
        storage = settings.get("storage")  # [storage] synchronous: how durable each commit is
        self.db = db = Database(home / DB_FILE, synchronous=storage.get("synchronous", "normal")
                                if isinstance(storage, dict) else storage)
        self.artifacts = artifacts = ArtifactStore(home / "artifacts")
        self.events = events = Events(db)
        # data
        self.data = data = Data(db=db, artifacts=artifacts, events=events, settings=settings)
        self.splits = splits = Splits(db=db, artifacts=artifacts, events=events, data=data)
        # experiments
        self.runs = runs = Tracking(db=db, artifacts=artifacts, events=events, data=data, splits=splits)
        self.training = training = Training(db=db, artifacts=artifacts, events=events, data=data, splits=splits,
                                            runs=runs, settings=settings)
        # registry and predictions
        self.registry = registry = Registry(db=db, artifacts=artifacts, settings=settings, events=events, data=data,
                                            splits=splits, runs=runs)
        self.evaluation = Evaluation(data=data, splits=splits, runs=runs, registry=registry)
        self.exports = Export(artifacts=artifacts, events=events, registry=registry)
        self.predictions = predictions = PredictionLog(db=db)
        self.batch = batch = Batch(db=db, events=events, registry=registry, predictions=predictions)
        # the loop and monitoring
        self.jobs = jobs = Jobs(db=db, settings=settings, events=events, data=data, splits=splits, runs=runs,
                                training=training, registry=registry, predictions=predictions)
        self.monitoring = monitoring = Monitoring(db=db, artifacts=artifacts, settings=settings, events=events,
                                                  data=data, splits=splits, registry=registry,
                                                  predictions=predictions, jobs=jobs)
        registry.registered.append(monitoring.on_register)
        self.estimates = Estimates(settings=settings, events=events, splits=splits, registry=registry,
                                   monitoring=monitoring, jobs=jobs)
        self.reports = Reports(artifacts=artifacts, data=data, splits=splits, runs=runs, registry=registry,
                               evaluation=self.evaluation, predictions=predictions, monitoring=monitoring,
                               estimates=self.estimates, folder=home / "reports")
        # periodic work: one mechanism (timing, pause, lease, outcome) for every kind
        self.periodic = periodic = Periodic(db=db, settings=settings)
        self.drift_schedules = drift_schedules = DriftSchedules(db=db, events=events, periodic=periodic,
                                                                registry=registry, monitoring=monitoring,
                                                                estimates=self.estimates)
        self.sources = sources = Sources(db=db, artifacts=artifacts, home=home, events=events,
                                         periodic=periodic, data=data, monitoring=monitoring)
        self.scoring = scoring = Scoring(db=db, events=events, periodic=periodic, registry=registry, batch=batch,
                                         sources=sources)
        self.schedules = ScheduleBoard(periodic=periodic, drift_schedules=drift_schedules, sources=sources,
                                       scoring=scoring)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Workspace:
        """Open (and on first use create) the workspace at `path` or the default place."""
        home = resolve_home(path)
        if home.exists() and not home.is_dir():
            raise UserError(f"workspace path {home} is a file, not a folder; choose another --workspace")
        if not (home / DB_FILE).exists() and not create:
            raise UserError(f"no workspace at {home}; create one with `mlcycle init`")
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the workspace at {home}: {exc.strerror}") from None
        ws = cls(home)
        ws.db.migrate()
        return ws

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.home)!r})"

    # -- health of the workspace -----------------------------------------
    @classmethod
    def doctor_at(cls, path: str | os.PathLike[str] | None = None, fix: bool = False) -> dict[str, Any]:
        """`doctor()` of the workspace at `path`, also when its database cannot be opened at all
        (truncated, overwritten): the report then says what SQLite's check finds and stops there."""
        from mlcycle_tui.storage.db import DatabaseDamaged, check_database

        home = resolve_home(path)
        db_file, objects = home / DB_FILE, home / "artifacts" / "objects"
        try:
            if db_file.is_file() and db_file.stat().st_size == 0 and any(p.is_file() for p in objects.rglob("*")):
                # opening would create a new, empty database over the work the artifacts hold
                database = {"path": str(db_file), "ok": False, "details": [],
                            "problem": f"{db_file} is empty (0 bytes) while artifacts/objects holds files: "
                                       "it was truncated"}
                return _damaged_report(database)
            ws = cls.open(home)
        except DatabaseDamaged:
            database = check_database(db_file)
            if database["ok"]:  # damaged where the check does not look: say what opening said
                raise
            return _damaged_report(database)
        with ws:
            return ws.doctor(fix=fix)

    def doctor(self, fix: bool = False, orphan_grace_s: float = 300.0) -> dict[str, Any]:
        """Check the database (`PRAGMA quick_check`) and every recorded artifact (present, sha256
        matches); list orphans and unfinished temporary files (`*.part`) left by killed writers.

        With `fix`, orphans older than `orphan_grace_s` are removed (a younger one may be a
        file another process has just stored and is about to record), and so are temporary
        files older than an hour (a younger one may belong to a writer still at work).
        """
        import time

        from mlcycle_tui.common.errors import IntegrityError
        from mlcycle_tui.storage.db import DatabaseDamaged, check_database

        database = check_database(self.db.path)
        problems: list[dict[str, str]] = [] if database["ok"] else [_database_problem(database)]
        warnings: list[str] = []
        sha_of: dict[str, str] = {}
        owner_of: dict[str, str] = {}
        try:
            for table, what in self.artifact_tables():
                for row in self.db.query(f"SELECT artifact_sha256, artifact_path, {what} AS owner FROM {table} "
                                         "WHERE artifact_path IS NOT NULL"):
                    sha_of[row["artifact_path"]] = row["artifact_sha256"]
                    owner_of.setdefault(row["artifact_path"], str(row["owner"]))
        except DatabaseDamaged:
            if database["ok"]:
                raise
            warnings.append("the artifact records could not all be read from the damaged database")
        for rel, sha in sha_of.items():
            try:
                self.artifacts.verify(sha, rel)
            except IntegrityError as exc:
                problems.append({"artifact": rel, "owner": owner_of[rel], "problem": exc.message})
        root = self.artifacts.root
        orphans = [p for p in self.artifacts.iter_objects() if str(p.relative_to(root)) not in sha_of]
        removed = 0
        protected = bool(orphans) and not database["ok"]
        if protected:  # with the records unreadable, "orphans" may be the work itself
            warnings.append(f"{len(orphans)} files look orphaned, but the database could not be read whole: "
                            "they are kept (--fix removes no orphans until the database is sound)")
        elif fix:
            cutoff = time.time() - orphan_grace_s
            for path in orphans:
                if path.stat().st_mtime <= cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        partial = self._partial_files()
        removed_partial = removed_tmp = 0
        if fix:
            for item in partial:
                if item["age_s"] > PARTIAL_MAX_AGE_S:
                    try:
                        Path(item["path"]).unlink()
                    except OSError:
                        continue
                    item["removed"] = True
                    removed_partial += 1
                    removed_tmp += item["kind"] == "artifact temporary file"
            removed_tmp += self.artifacts.clean_tmp(older_than_s=PARTIAL_MAX_AGE_S)  # aged since the listing
        return {
            "ok": not problems,
            "database": database,
            "checked": len(sha_of),
            "problems": problems,
            "orphans": [str(p.relative_to(root)) for p in orphans],
            "removed_orphans": removed,
            "orphans_protected": protected,
            "partial_files": partial,
            "removed_partial": removed_partial,
            "removed_tmp": removed_tmp,
            "warnings": warnings,
        }

    def _partial_files(self) -> list[dict[str, Any]]:
        """Unfinished files of killed writers: the artifact store's temporary files and
        `.<output>.<hex>.part` files next to the outputs of recorded batch predictions."""
        import re
        import time

        from mlcycle_tui.storage.db import DatabaseDamaged

        now = time.time()
        found: list[tuple[Path, str]] = [(p, "artifact temporary file") for p in self.artifacts.tmp_files()]
        outputs: dict[Path, set[str]] = {}
        try:
            for row in self.db.query("SELECT DISTINCT output FROM batches"):
                out = Path(row["output"])
                outputs.setdefault(out.parent, set()).add(out.name)
        except DatabaseDamaged:
            pass
        pattern = re.compile(r"^\.(?P<output>.+)\.[0-9a-f]{8}\.part$")  # predictions/batch.py's _Writer
        for folder, names in outputs.items():
            try:
                entries = list(folder.iterdir())
            except OSError:
                continue
            for p in entries:
                m = pattern.match(p.name)
                if m is not None and m["output"] in names and p.is_file():
                    found.append((p, "batch output"))
        out: list[dict[str, Any]] = []
        for path, kind in found:
            try:
                st = path.stat()
            except OSError:
                continue
            out.append({"path": str(path), "kind": kind, "size": st.st_size, "age_s": round(now - st.st_mtime, 1)})
        return out

    # -- backups ---------------------------------------------------------
    def backup(self, dest: str | os.PathLike[str]) -> dict[str, Any]:
        """Copy the workspace to the new folder `dest`, safe while the server and the daemon run.

        The database is copied with SQLite's online backup API (one consistent snapshot;
        writers are not held up), then every artifact that snapshot refers to is copied into
        `dest/artifacts`, its sha256 checked on the way; `config.toml` is copied too. All of it
        is written to a temporary folder next to `dest` that is renamed at the end, so a killed
        backup leaves no `dest`, only a `.<dest>.*.part` folder to delete.
        """
        return _copy_workspace(self.db.path, self.artifacts.root, self.home, Path(dest), read_only=False)

    @classmethod
    def restore(cls, source: str | os.PathLike[str], to: str | os.PathLike[str]) -> dict[str, Any]:
        """Make a new workspace at `to` from the backup (or workspace folder) `source`.

        The backup is read, never written; it is checked as it is copied (the database with
        `PRAGMA quick_check`, every artifact against its sha256), and the new workspace is
        opened once (which applies this release's migrations). `to` must not exist or be empty.
        """
        src = Path(source).expanduser()
        if not (src / DB_FILE).is_file():
            raise UserError(f"{src} holds no {DB_FILE}: give the folder `mlcycle backup` wrote")
        report = _copy_workspace(src / DB_FILE, src / "artifacts", src, Path(to), read_only=True)
        with cls.open(report["path"], create=False):
            pass
        report["restored_from"] = str(src)
        return report

    def artifact_tables(self) -> list[tuple[str, str]]:
        """(table, owner expression) of every table that points at artifacts, from every stage."""
        return [*self.data.artifact_tables(), *self.splits.artifact_tables(), *self.runs.artifact_tables(),
                *self.registry.artifact_tables(), *self.monitoring.artifact_tables()]


def _damaged_report(database: dict[str, Any]) -> dict[str, Any]:
    """`doctor()`'s report for a database that cannot be opened: nothing else can be checked."""
    return {"ok": False, "database": database, "checked": 0, "problems": [_database_problem(database)],
            "orphans": [], "removed_orphans": 0, "orphans_protected": False, "partial_files": [],
            "removed_partial": 0, "removed_tmp": 0, "warnings": []}


def _database_problem(database: dict[str, Any]) -> dict[str, str]:
    return {"artifact": DB_FILE, "owner": "database",
            "problem": f"{database['problem']}. Restore the workspace from a backup "
                       "(`mlcycle restore BACKUP --to DIR`); its artifact files cannot be checked without it"}


def _copy_workspace(db_path: Path, artifacts_root: Path, home: Path, dest: Path, *, read_only: bool) -> dict[str, Any]:
    """The database, the artifacts it points at and `config.toml`, into the new folder `dest`."""
    import shutil
    import tempfile

    from mlcycle_tui.storage.artifacts import ArtifactDamaged, copy_artifact
    from mlcycle_tui.storage.db import artifact_references, copy_database

    dest = dest.expanduser()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest} already exists and is not an empty folder; give a new folder")
    if dest.resolve() == home.resolve() or home.resolve() in dest.resolve().parents:
        raise UserError(f"{dest} is inside the workspace {home}; give a folder outside it")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    except OSError as exc:
        raise UserError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    try:
        os.chmod(tmp, home.stat().st_mode & 0o777)  # as open as the workspace folder, not mkdtemp's 0700
        copy_database(db_path, tmp / DB_FILE, read_only=read_only)
        problems: list[dict[str, str]] = []
        copied = size = 0
        for rel, sha in sorted(artifact_references(tmp / DB_FILE).items()):
            try:
                size += copy_artifact(artifacts_root, sha, rel, tmp / "artifacts")
                copied += 1
            except ArtifactDamaged as exc:
                problems.append({"artifact": rel, "problem": exc.message})
        if (home / "config.toml").is_file():
            shutil.copy2(home / "config.toml", tmp / "config.toml")
        for folder in sorted({p.parent for p in tmp.rglob("*")}, key=lambda p: -len(p.parts)):
            fsync_dir(folder)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.rename(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"path": str(dest), "ok": not problems, "artifacts": copied,
            "bytes": size + (dest / DB_FILE).stat().st_size, "problems": problems}

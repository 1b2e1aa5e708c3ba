"""The Workspace: the one API that the TUI, the CLI, the server and the scheduler use.

Why this exists: there must be one way to do each thing. Every front door
opens a `Workspace` and calls its methods; none of them touches SQL or
artifact files. The methods live in per-stage mixins (data, validation, ...)
so that each stage's code stays in its own module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlcycle_tui.config import load_settings, resolve_home
from mlcycle_tui.core.batch import BatchMixin
from mlcycle_tui.core.data import DataMixin
from mlcycle_tui.core.errors import UserError
from mlcycle_tui.core.export import ExportMixin
from mlcycle_tui.core.jobs import JobsMixin
from mlcycle_tui.core.monitoring import MonitoringMixin
from mlcycle_tui.core.predlog import PredictionLogMixin
from mlcycle_tui.core.registry import RegistryMixin
from mlcycle_tui.core.schedules import SchedulesMixin
from mlcycle_tui.core.scoring import ScheduleBoardMixin, ScoringMixin
from mlcycle_tui.core.sources import SourcesMixin
from mlcycle_tui.core.timeutil import now_iso
from mlcycle_tui.core.tracking import TrackingMixin
from mlcycle_tui.core.training import TrainingMixin
from mlcycle_tui.core.validation import ValidationMixin
from mlcycle_tui.storage.artifacts import ArtifactStore
from mlcycle_tui.storage.db import Database

DB_FILE = "mlcycle.db"


class Workspace(MonitoringMixin, JobsMixin, SchedulesMixin,
                DataMixin, ValidationMixin, TrackingMixin, TrainingMixin, RegistryMixin,
                PredictionLogMixin, BatchMixin, ExportMixin, SourcesMixin, ScoringMixin, ScheduleBoardMixin):
    """A workspace folder: `mlcycle.db` plus the artifact store."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.db = Database(home / DB_FILE)
        self.artifacts = ArtifactStore(home / "artifacts")
        self.settings: dict[str, Any] = load_settings(home)

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

    # -- events (the Dashboard's timeline) -------------------------------
    def log_event(self, kind: str, subject: str, message: str) -> None:
        self.db.execute(
            "INSERT INTO events(time, kind, subject, message) VALUES (?, ?, ?, ?)",
            (now_iso(), kind, subject, message),
        )

    def events(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.db.query("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,))

    # -- health of the workspace -----------------------------------------
    def doctor(self, fix: bool = False, orphan_grace_s: float = 300.0) -> dict[str, Any]:
        """Check every recorded artifact (present, sha256 matches) and list orphans.

        With `fix`, orphans older than `orphan_grace_s` are removed: a younger one may be a
        file another process has just stored and is about to record.
        """
        import time

        from mlcycle_tui.core.errors import IntegrityError

        sha_of: dict[str, str] = {}
        owner_of: dict[str, str] = {}
        for table, what in self._artifact_tables():
            for row in self.db.query(f"SELECT artifact_sha256, artifact_path, {what} AS owner FROM {table} "
                                     "WHERE artifact_path IS NOT NULL"):
                sha_of[row["artifact_path"]] = row["artifact_sha256"]
                owner_of.setdefault(row["artifact_path"], str(row["owner"]))
        problems: list[dict[str, str]] = []
        for rel, sha in sha_of.items():
            try:
                self.artifacts.verify(sha, rel)
            except IntegrityError as exc:
                problems.append({"artifact": rel, "owner": owner_of[rel], "problem": exc.message})
        root = self.artifacts.root
        orphans = [p for p in self.artifacts.iter_objects() if str(p.relative_to(root)) not in sha_of]
        removed = 0
        if fix:
            cutoff = time.time() - orphan_grace_s
            for path in orphans:
                if path.stat().st_mtime <= cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        return {
            "ok": not problems,
            "checked": len(sha_of),
            "problems": problems,
            "orphans": [str(p.relative_to(root)) for p in orphans],
            "removed_orphans": removed,
            "removed_tmp": self.artifacts.clean_tmp(older_than_s=3600.0) if fix else 0,
        }

    def _artifact_tables(self) -> list[tuple[str, str]]:
        """(table, owner expression) of every table that points at artifacts."""
        tables = [
            ("dataset_versions", "name || '@' || version"),
            ("splits", "'split ' || id"),
        ]
        extra = getattr(self, "extra_artifact_tables", None)
        if extra:
            tables.extend(extra())
        return tables

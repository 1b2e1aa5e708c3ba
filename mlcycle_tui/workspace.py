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
from mlcycle_tui.predictions.batch import Batch
from mlcycle_tui.predictions.log import PredictionLog
from mlcycle_tui.predictions.scoring import Scoring
from mlcycle_tui.registry.export import Export
from mlcycle_tui.registry.versions import Registry
from mlcycle_tui.schedules.board import ScheduleBoard
from mlcycle_tui.schedules.drift_checks import DriftSchedules
from mlcycle_tui.schedules.periodic import Periodic
from mlcycle_tui.storage.artifacts import ArtifactStore
from mlcycle_tui.storage.db import Database

DB_FILE = "mlcycle.db"


class Workspace:
    """A workspace folder: `mlcycle.db` plus the artifact store, and the stages over them."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.db = db = Database(home / DB_FILE)
        self.artifacts = artifacts = ArtifactStore(home / "artifacts")
        self.settings: dict[str, Any] = (settings := load_settings(home))
        self.events = events = Events(db)
        # data
        self.data = data = Data(db=db, artifacts=artifacts, events=events)
        self.splits = splits = Splits(db=db, artifacts=artifacts, events=events, data=data)
        # experiments
        self.runs = runs = Tracking(db=db, artifacts=artifacts, events=events, data=data, splits=splits)
        self.training = training = Training(db=db, artifacts=artifacts, events=events, data=data, splits=splits,
                                            runs=runs)
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
        # periodic work: one mechanism (timing, pause, lease, outcome) for every kind
        self.periodic = periodic = Periodic(db=db, settings=settings)
        self.drift_schedules = drift_schedules = DriftSchedules(db=db, events=events, periodic=periodic,
                                                                registry=registry, monitoring=monitoring)
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
    def doctor(self, fix: bool = False, orphan_grace_s: float = 300.0) -> dict[str, Any]:
        """Check every recorded artifact (present, sha256 matches) and list orphans.

        With `fix`, orphans older than `orphan_grace_s` are removed: a younger one may be a
        file another process has just stored and is about to record.
        """
        import time

        from mlcycle_tui.common.errors import IntegrityError

        sha_of: dict[str, str] = {}
        owner_of: dict[str, str] = {}
        for table, what in self.artifact_tables():
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

    def artifact_tables(self) -> list[tuple[str, str]]:
        """(table, owner expression) of every table that points at artifacts, from every stage."""
        return [*self.data.artifact_tables(), *self.splits.artifact_tables(), *self.runs.artifact_tables(),
                *self.registry.artifact_tables(), *self.monitoring.artifact_tables()]

"""Runs the workspace's schedules and the retraining worker in the background (APScheduler 3.x).

Why this exists: the TUI and the headless daemon both need "check these
models every so often and work off the job queue" without blocking. This is
the only module that imports APScheduler; everything it runs is a Workspace
method, so the CLI and tests reach the same code without it.

- One interval job per schedule of any kind (drift check, source, scoring;
  `coalesce`, `max_instances=1`, a misfire grace time), started on the
  schedule's grid (`next_due`) plus a small offset, so every process on the
  workspace tries right after the tick and the lease of the one periodic-job
  mechanism (`schedules/periodic.py`) lets exactly one of them run it.
- A sync job re-reads the schedules every `sync_interval` seconds: schedules
  made elsewhere (CLI, another process) are picked up, removed ones dropped;
  at start all of them are loaded, so they survive restarts.
- A worker job claims and runs queued retraining jobs every `worker_interval`
  seconds; jobs left running by a dead process are requeued at start.
- Paused schedules have no job until resumed (and the claim refuses them too).
- `on_event(kind, message)` is called for checks that found something, for
  skipped or failed checks and checks with not enough data to judge, for
  jobs, for sources that made a version, quarantined a file or failed, and
  for scoring runs, so a UI can notify.

    runner = SchedulerRunner(".mlcycle", on_event=print)
    runner.start()  # returns at once
    ...
    runner.stop()
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.experiments.tracking import hostname

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

    from mlcycle_tui.workspace import Workspace

EventCallback = Callable[[str, str], None]
TICK_OFFSET_S = 0.05  # fire just after the grid point, so next_due <= now holds
log = logging.getLogger(__name__)


class SchedulerRunner:
    """Background drift checks and job worker for one workspace; `start()` / `stop()`."""

    def __init__(
        self,
        workspace: Workspace | str | os.PathLike[str] | None = None,
        *,
        worker: bool = True,
        worker_interval: float = 2.0,
        sync_interval: float = 10.0,
        on_event: EventCallback | None = None,
    ) -> None:
        self._given = workspace
        self.worker = worker
        self.worker_interval = worker_interval
        self.sync_interval = sync_interval
        self.on_event = on_event
        self.owner = f"{hostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ws: Workspace | None = None
        self._own_ws = False
        self._scheduler: BackgroundScheduler | None = None
        self._loaded: dict[tuple[str, int], float] = {}  # (kind, id) -> interval of the job we added
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> SchedulerRunner:
        """Open the workspace (if given a path), requeue orphaned jobs, start the background threads."""
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        if self.running:
            return self
        if self.ws is None:
            from mlcycle_tui.workspace import Workspace

            if isinstance(self._given, str | os.PathLike | Path) or self._given is None:
                self.ws, self._own_ws = Workspace.open(self._given), True
            else:
                self.ws = self._given
        for job_id in self.ws.jobs.reap():
            self._notify("job", f"job {job_id} was running in a process that died; requeued")
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self._scheduler.add_job(self.sync, IntervalTrigger(seconds=self.sync_interval), id="sync")
        if self.worker:
            self._scheduler.add_job(self.work_once, IntervalTrigger(seconds=self.worker_interval), id="worker")
        self._scheduler.start()
        self.sync()
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop the threads (waiting for a running check or job when `wait`); close an owned workspace."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        self._scheduler = None
        self._loaded.clear()
        if self._own_ws and self.ws is not None:
            self.ws.close()
            self.ws = None

    def __enter__(self) -> SchedulerRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- jobs ----------------------------------------------------------------------
    def sync(self) -> None:
        """Make the scheduler's jobs match the schedules (add new, drop removed and paused, follow changes)."""
        from apscheduler.jobstores.base import JobLookupError
        from apscheduler.triggers.interval import IntervalTrigger

        if self._scheduler is None or self.ws is None:
            return
        with self._lock:
            try:
                rows = self.ws.schedules.all()
            except Exception as exc:
                log.warning("cannot read schedules: %s", exc)
                return
            wanted = {(r["kind"], r["id"]): r for r in rows if not r["paused"]}
            for key in list(self._loaded):
                if key not in wanted:
                    try:
                        self._scheduler.remove_job(f"{key[0]}-{key[1]}")
                    except JobLookupError:
                        pass
                    self._loaded.pop(key, None)
            for key, row in wanted.items():
                if self._loaded.get(key) == row["every_s"]:
                    continue
                start = datetime.fromtimestamp(row["next_due"] + TICK_OFFSET_S, UTC)
                self._scheduler.add_job(
                    self.run_tick, IntervalTrigger(seconds=row["every_s"], start_date=start),
                    args=list(key), id=f"{key[0]}-{key[1]}", replace_existing=True,
                    misfire_grace_time=max(1, int(row["every_s"] // 2)),
                )
                self._loaded[key] = row["every_s"]

    def run_tick(self, kind: str, schedule_id: int) -> dict[str, Any] | None:
        """One tick of a schedule of any kind, if it is due, not paused and this process wins its lease."""
        if self.ws is None:
            return None
        try:
            result = self.ws.schedules.tick(kind, schedule_id, self.owner)
        except Exception as exc:  # e.g. the schedule was removed meanwhile
            log.warning("%s %s: %s", kind, schedule_id, exc)
            return None
        if result is None or result.get("status") in ("busy", "not due"):
            return None
        if kind == "drift":
            self._notify_check(schedule_id, result)
        elif result.get("error"):
            self._notify(kind, f"{kind} {schedule_id}: {result['error']}")
        elif kind == "source" and (result.get("version") is not None or result["quarantined"]):
            self._notify(kind, f"source {schedule_id}: {result['status'].removeprefix('ok: ')}")
        elif kind == "scoring" and result["scored"]:
            self._notify(kind, f"scoring {schedule_id}: {result['status'].removeprefix('ok: ')}")
        return result

    def _notify_check(self, schedule_id: int, result: dict[str, Any]) -> None:
        report = result["report"]
        if report is not None and (report["drift"] or report["decay"]):
            what = "decay" if report["decay"] else "drift"
            job = f"; retraining job {report['job_id']}" if report["job_id"] else ""
            self._notify(what, f"{report['model']}@{report['version']}: {what} "
                               f"(share {report['share_drifted']:.2f}){job}")
        elif report is None or not report.get("judged", True):  # skipped, or not enough data to judge
            self._notify("check", f"schedule {schedule_id}: {result['status']}")

    def work_once(self) -> dict[str, Any] | None:
        """Claim and run one queued retraining job."""
        if self.ws is None:
            return None
        try:
            job = self.ws.jobs.run_next()
        except Exception as exc:
            log.warning("job worker: %s", exc)
            return None
        if job is not None:
            summary = (job.get("result") or {}).get("summary") or (job.get("result") or {}).get("error") or ""
            self._notify("job", f"job {job['id']} ({job['model']}) {job['status']}: {summary}")
        return job

    def _notify(self, kind: str, message: str) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, message)
        except Exception as exc:  # a UI callback must not stop the scheduler
            log.warning("on_event callback failed: %s", exc)

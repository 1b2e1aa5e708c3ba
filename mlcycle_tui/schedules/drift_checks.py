"""Periodic drift checks: which model to check, how often, and what to do about drift.

Why this exists: a deployed model should be checked without anyone asking.
A drift schedule is a row in `schedules` (the model reference and the action)
plus its timing row in the one periodic-job mechanism (`schedules/periodic.py`),
which makes each tick run once across every process on the workspace, keeps
the lease while a long check runs, honours pause and records the outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.config import parse_duration
from mlcycle_tui.monitoring.checks import ACTIONS

if TYPE_CHECKING:
    from mlcycle_tui.events import Events
    from mlcycle_tui.monitoring.checks import Monitoring
    from mlcycle_tui.monitoring.estimate import Estimates
    from mlcycle_tui.registry.versions import Registry
    from mlcycle_tui.schedules.periodic import Periodic
    from mlcycle_tui.storage.db import Database

KIND = "drift"
_COLUMNS = ("SELECT s.id, s.model, s.action, s.created, s.last_report, p.every, p.every_s, p.next_due, p.paused,"
            " p.lease_owner, p.last_run, p.last_status, p.last_error, p.runs FROM schedules s"
            " JOIN periodic p ON p.kind = 'drift' AND p.ref_id = s.id")


class DriftSchedules:
    """Add, list and remove periodic drift checks; run one tick of one."""

    def __init__(self, db: Database, events: Events, periodic: Periodic, registry: Registry,
                 monitoring: Monitoring, estimates: Estimates | None = None) -> None:
        self.db = db
        self.events = events
        self.periodic = periodic
        self.registry = registry
        self.monitoring = monitoring
        self.estimates = estimates

    def add(self, model_ref: str, every: str = "1h", action: str = "retrain") -> dict[str, Any]:
        """A periodic drift check of `model_ref` (resolved at each run: `NAME` follows production)."""
        if action not in ACTIONS:
            raise UserError(f"unknown --action {action!r}; use retrain or alert")
        seconds = parse_duration(every)
        self.registry.model_version(model_ref)  # a clear error now rather than at every tick
        with self.db.transaction() as conn:
            cur = conn.execute("INSERT INTO schedules(model, action, created) VALUES (?, ?, ?)",
                               (model_ref, action, now_iso()))
            schedule_id = int(cur.lastrowid)
            self.periodic.add(KIND, schedule_id, every, seconds)
            self.events.log("schedule", model_ref, f"schedule {schedule_id}: check every {every} ({action})")
        return self.get(schedule_id)

    def list(self) -> list[dict[str, Any]]:
        return [_doc(r) for r in self.db.query(_COLUMNS + " ORDER BY s.id")]

    def get(self, schedule_id: int | str) -> dict[str, Any]:
        row = self.db.query_one(_COLUMNS + " WHERE s.id = ?", (_id(schedule_id),))
        if row is None:
            raise NotFoundError(f"no schedule {schedule_id}; list them with `mlcycle monitor schedules`")
        return _doc(row)

    def remove(self, schedule_id: int | str) -> dict[str, Any]:
        doc = self.get(schedule_id)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM schedules WHERE id = ?", (doc["schedule_id"],))
            self.periodic.remove(KIND, doc["schedule_id"])
            self.events.log("schedule", doc["model"], f"schedule {doc['schedule_id']} removed")
        return doc

    def run(self, schedule_id: int | str, owner: str, *, force: bool = False) -> dict[str, Any] | None:
        """One tick of a schedule if this caller wins it (`force`: run now, also when paused or not due);
        {"schedule_id", "status", "tick", "report"}, or None when the tick was not ours to run."""
        sched = self.get(schedule_id)
        sid = sched["schedule_id"]
        with self.periodic.hold(KIND, sid, owner, force=force) as lease:
            if lease is None:
                return {"schedule_id": sid, "status": "busy", "tick": None, "report": None} if force else None
            report = estimate = None
            try:
                report = self.monitoring.check_drift(sched["model"], action=sched["action"],
                                                     schedule={"id": sid, "tick": lease.due, "owner": owner})
                lease.status = _status(report)
                self.db.execute("UPDATE schedules SET last_report = ? WHERE id = ?", (report["report_id"], sid))
                estimate = self._estimate(sched)
            except UserError as exc:  # e.g. no traffic in the window: nothing to check this time
                lease.status = f"skipped: {exc.message}"
            except Exception as exc:
                lease.status = f"error: {type(exc).__name__}: {exc}"
                lease.error = lease.status.removeprefix("error: ")
                self.events.log("schedule", sched["model"], f"schedule {sid} check failed: {lease.status}")
            return {"schedule_id": sid, "status": lease.status, "tick": lease.due, "report": report,
                    "estimate": estimate}

    def _estimate(self, sched: dict[str, Any]) -> dict[str, Any] | None:
        """The tick's performance estimate (`[policy] estimate_on_check`): an alert acts like drift or decay
        (a retraining job when the schedule's action is retrain). None when off; a result with `judged`
        False (and its reason) when it cannot estimate. The drift check stays the tick's verdict."""
        from mlcycle_tui.monitoring.policy import monitoring_policy

        if self.estimates is None or not monitoring_policy(self.monitoring.settings).get("estimate_on_check"):
            return None
        try:
            return self.estimates.estimate(sched["model"], action=sched["action"])
        except UserError as exc:  # e.g. the model's inputs are not in the window
            return {"judged": False, "reason": exc.message}


def _status(report: dict[str, Any]) -> str:
    """The outcome of a tick: "alarm", "drift", "ok", or "not enough data (3 rows; needs 20)"."""
    if not report.get("judged", True):
        return str(report.get("verdict_text") or "not enough data")
    return "alarm" if report["alarm"] else ("drift" if report["drift"] else "ok")


def _id(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"bad schedule id {value!r}: ids are whole numbers (see `mlcycle monitor schedules`)") from None


def _doc(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "schedule_id": row["id"], "model": row["model"], "every": row["every"], "every_s": row["every_s"],
        "action": row["action"], "created": row["created"], "next_due": row["next_due"],
        "last_run": row["last_run"], "last_status": row["last_status"], "last_report": row["last_report"],
        "runs": row["runs"], "leased_by": row["lease_owner"], "paused": row["paused"] is not None,
    }

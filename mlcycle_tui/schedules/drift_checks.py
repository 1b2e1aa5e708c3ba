"""Periodic drift checks kept in the workspace, and the lease that runs each tick once.

Why this exists: schedules must outlive the process that made them and be
shared by every process on the workspace (the TUI, the daemon, both at once).
So a schedule is a row, and running it is a claim on that row: one
`UPDATE ... WHERE next_due <= now AND the lease is free` moves `next_due` to
the next point of its grid (skipping missed points: missed runs coalesce into
one) and takes a lease for `scheduler.lease_seconds`. Whoever updates the row
runs the check; everyone else sees zero rows changed. The lease keeps a slow
check from starting twice; if its process dies the lease simply expires.

The timing (when to try) belongs to `scheduler/runner.py` (APScheduler); this
module has no scheduler import, so the CLI and tests can drive it directly.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.config import parse_duration
from mlcycle_tui.monitoring.checks import ACTIONS

if TYPE_CHECKING:
    from mlcycle_tui.events import Events
    from mlcycle_tui.monitoring.checks import Monitoring
    from mlcycle_tui.registry.versions import Registry
    from mlcycle_tui.storage.db import Database

MIN_EVERY_S = 1.0


class DriftSchedules:
    """Workspace methods for scheduled checks (see `Workspace`)."""

    def __init__(
        self,
        db: Database,
        settings: dict[str, Any],
        events: Events,
        registry: Registry,
        monitoring: Monitoring,
    ) -> None:
        self.db = db
        self.settings = settings
        self.events = events
        self.registry = registry
        self.monitoring = monitoring

    def add(self, model_ref: str, every: str = "1h", action: str = "retrain") -> dict[str, Any]:
        """A periodic drift check of `model_ref` (resolved at each run: `NAME` follows production)."""
        if action not in ACTIONS:
            raise UserError(f"unknown --action {action!r}; use retrain or alert")
        seconds = parse_duration(every)
        if seconds < MIN_EVERY_S:
            raise UserError(f"--every {every} is too short; the shortest interval is 1s")
        self.registry.model_version(model_ref)  # a clear error now rather than at every tick
        now = time.time()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO schedules(model, every, every_s, action, created, next_due) VALUES (?, ?, ?, ?, ?, ?)",
                (model_ref, every.strip(), seconds, action, now_iso(), now + seconds),
            )
            schedule_id = int(cur.lastrowid)
            self.events.log("schedule", model_ref, f"schedule {schedule_id}: check every {every} ({action})")
        return self.get(schedule_id)

    def list(self) -> list[dict[str, Any]]:
        return [_doc(r) for r in self.db.query("SELECT * FROM schedules ORDER BY id")]

    def get(self, schedule_id: int | str) -> dict[str, Any]:
        row = self.db.query_one("SELECT * FROM schedules WHERE id = ?", (_id(schedule_id),))
        if row is None:
            raise NotFoundError(f"no schedule {schedule_id}; list them with `mlcycle monitor schedules`")
        return _doc(row)

    def remove(self, schedule_id: int | str) -> dict[str, Any]:
        doc = self.get(schedule_id)
        self.db.execute("DELETE FROM schedules WHERE id = ?", (doc["schedule_id"],))
        self.events.log("schedule", doc["model"], f"schedule {doc['schedule_id']} removed")
        return doc

    # -- running ticks -----------------------------------------------------------
    def claim(self, schedule_id: int, owner: str, now: float | None = None) -> float | None:
        """Take this tick of the schedule if it is due and not leased; the tick's due time, or None."""
        now = time.time() if now is None else now
        lease = float(self.settings.get("scheduler", {}).get("lease_seconds", 60))
        with self.db.transaction() as conn:
            row = conn.execute("SELECT next_due FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
            cur = conn.execute(
                "UPDATE schedules SET next_due = next_due + every_s * (CAST((? - next_due) / every_s AS INTEGER) + 1),"
                " lease_owner = ?, lease_until = ? WHERE id = ? AND next_due <= ?"
                " AND (lease_until IS NULL OR lease_until < ?)",
                (now, owner, now + lease, schedule_id, now, now),
            )
        return float(row[0]) if cur.rowcount == 1 else None

    def release(self, schedule_id: int, owner: str, status: str, report_id: int | None) -> None:
        self.db.execute(
            "UPDATE schedules SET lease_owner = NULL, lease_until = NULL, last_run = ?, last_status = ?,"
            " last_report = COALESCE(?, last_report), runs = runs + 1 WHERE id = ? AND lease_owner = ?",
            (time.time(), status, report_id, schedule_id, owner),
        )

    def run(self, schedule_id: int, owner: str) -> dict[str, Any] | None:
        """Run one tick of a schedule if this caller wins it; {"status", "report"?} or None."""
        tick = self.claim(schedule_id, owner)
        if tick is None:
            return None
        sched = self.get(schedule_id)
        report, status = None, "ok"
        try:
            report = self.monitoring.check_drift(sched["model"], action=sched["action"],
                                      schedule={"id": schedule_id, "tick": tick, "owner": owner})
            status = _status(report)
        except UserError as exc:  # e.g. no traffic in the window: nothing to check this time
            status = f"skipped: {exc.message}"
        except Exception as exc:
            status = f"error: {type(exc).__name__}: {exc}"
            self.events.log("schedule", sched["model"], f"schedule {schedule_id} check failed: {status}")
        finally:
            self.release(schedule_id, owner, status[:500], report["report_id"] if report else None)
        return {"schedule_id": schedule_id, "status": status, "tick": tick, "report": report}



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
        "runs": row["runs"], "leased_by": row["lease_owner"],
    }

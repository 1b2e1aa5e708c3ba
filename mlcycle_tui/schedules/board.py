"""Every schedule (drift checks, watched sources, scheduled scoring) in one list.

Why this exists: the Schedules screen, `mlcycle schedules` and the scheduler
see every kind of periodic work in one place: list, pause, resume, run now,
remove, and the scheduler's tick, each dispatched to the kind that knows what
to do. The timing, pauses and leases of all of them live in one table
(`schedules/periodic.py`); no SQL in the UI.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlcycle_tui.schedules.periodic import check_kind, default_owner

if TYPE_CHECKING:
    from mlcycle_tui.data.sources import Sources
    from mlcycle_tui.predictions.scoring import Scoring
    from mlcycle_tui.schedules.drift_checks import DriftSchedules
    from mlcycle_tui.schedules.periodic import Periodic


class ScheduleBoard:
    """One list of every schedule, and the actions on any of them."""

    def __init__(self, periodic: Periodic, drift_schedules: DriftSchedules, sources: Sources,
                 scoring: Scoring) -> None:
        self.periodic = periodic
        self.drift_schedules = drift_schedules
        self.sources = sources
        self.scoring = scoring

    def all(self) -> list[dict[str, Any]]:
        """[{kind, id, target, detail, every, next_due, last_run, last_status, last_error, paused, runs, running}]."""
        now = time.time()
        out: list[dict[str, Any]] = []
        for d in self.drift_schedules.list():
            status = d["last_status"]
            out.append(_board("drift", d["schedule_id"], d["model"], f"drift check ({d['action']})", d, now,
                              last_error=status if status and status.startswith("error") else None))
        for s in self.sources.list():
            detail = f"{s['kind']} {s['location']}" + (f" ({s['key']})" if s["key"] else "")
            out.append(_board("source", s["source_id"], s["dataset"], detail, s, now, last_error=s["last_error"]))
        for s in self.scoring.list():
            out.append(_board("scoring", s["schedule_id"], s["model"], f"{s['input_dir']} -> {s['output_dir']}", s,
                              now, last_error=s["last_error"]))
        return out

    def pause(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        """Stop running a schedule on its ticks (run now still works); kept until `resume`."""
        sid = self._id(kind, schedule_id)
        self.periodic.set_paused(kind, sid, True)
        return self._row(kind, sid)

    def resume(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        sid = self._id(kind, schedule_id)
        self.periodic.set_paused(kind, sid, False)
        return self._row(kind, sid)

    def run_now(self, kind: str, schedule_id: int | str, owner: str | None = None) -> dict[str, Any]:
        """Run one schedule of any kind at once, in this thread, paused or not; status "busy" while
        another run holds its lease. Recorded as the schedule's last run."""
        return self._run(kind, schedule_id, owner or default_owner(), force=True) or {}

    def tick(self, kind: str, schedule_id: int | str, owner: str) -> dict[str, Any] | None:
        """The scheduler's attempt at a schedule: runs it if its tick is due, it is not paused and this
        caller wins the lease; None (or status "not due") otherwise."""
        return self._run(kind, schedule_id, owner, force=False)

    def remove(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        sid = self._id(kind, schedule_id)
        if kind == "source":
            return self.sources.remove(sid)
        if kind == "scoring":
            return self.scoring.remove(sid)
        return self.drift_schedules.remove(sid)

    def _run(self, kind: str, schedule_id: int | str, owner: str, *, force: bool) -> dict[str, Any] | None:
        sid = self._id(kind, schedule_id)
        if kind == "source":
            return self.sources.run(sid, owner, force=force)
        if kind == "scoring":
            return self.scoring.run(sid, owner, force=force)
        return self.drift_schedules.run(sid, owner, force=force)

    def _id(self, kind: str, schedule_id: int | str) -> int:
        getter = {"drift": self.drift_schedules.get, "source": self.sources.get,
                  "scoring": self.scoring.get}[check_kind(kind)]
        doc = getter(schedule_id)
        return int(doc["schedule_id"] if "schedule_id" in doc else doc["source_id"])

    def _row(self, kind: str, sid: int) -> dict[str, Any]:
        return next(r for r in self.all() if r["kind"] == kind and r["id"] == sid)


def _board(kind: str, sid: int, target: str, detail: str, doc: dict[str, Any], now: float,
           last_error: str | None) -> dict[str, Any]:
    return {
        "kind": kind, "id": sid, "target": target, "detail": detail, "every": doc["every"],
        "every_s": doc["every_s"], "next_due": doc["next_due"],
        "next_in_s": max(0.0, doc["next_due"] - now), "last_run": doc["last_run"],
        "last_status": doc["last_status"], "last_error": last_error, "paused": bool(doc["paused"]),
        "runs": doc["runs"], "running": doc.get("leased_by") is not None,
    }

"""Every schedule (drift checks, watched sources, scheduled scoring) in one list.

Why this exists: the Schedules screen and `mlcycle schedules` show, pause,
resume, run now and remove every kind of periodic work in one place, with no
SQL in the UI.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.common.timeutil import now_iso

if TYPE_CHECKING:
    from mlcycle_tui.data.sources import Sources
    from mlcycle_tui.monitoring.checks import Monitoring
    from mlcycle_tui.predictions.scoring import Scoring
    from mlcycle_tui.schedules.drift_checks import DriftSchedules
    from mlcycle_tui.storage.db import Database

SCHEDULE_KINDS = ("drift", "source", "scoring")


class ScheduleBoard:
    """Every schedule (drift checks, sources, scoring) in one list, with pause, resume, run now, remove."""

    def __init__(
        self,
        db: Database,
        monitoring: Monitoring,
        drift_schedules: DriftSchedules,
        sources: Sources,
        scoring: Scoring,
    ) -> None:
        self.db = db
        self.monitoring = monitoring
        self.drift_schedules = drift_schedules
        self.sources = sources
        self.scoring = scoring

    def all(self) -> list[dict[str, Any]]:
        """[{kind, id, target, detail, every, next_due, last_run, last_status, last_error, paused, runs, running}]."""
        paused = self.paused()
        now = time.time()
        out: list[dict[str, Any]] = []
        for d in self.drift_schedules.list():
            status = d["last_status"]
            out.append(_board("drift", d["schedule_id"], d["model"], f"drift check ({d['action']})", d, paused, now,
                              last_error=status if status and status.startswith("error") else None))
        for s in self.sources.list():
            detail = f"{s['kind']} {s['location']}" + (f" ({s['key']})" if s["key"] else "")
            out.append(_board("source", s["source_id"], s["dataset"], detail, s, paused, now,
                              last_error=s["last_error"]))
        for s in self.scoring.list():
            out.append(_board("scoring", s["schedule_id"], s["model"], f"{s['input_dir']} -> {s['output_dir']}", s,
                              paused, now, last_error=s["last_error"]))
        return out

    def paused(self) -> set[tuple[str, int]]:
        return {(r["kind"], r["schedule_id"]) for r in self.db.query("SELECT kind, schedule_id FROM schedule_pauses")}

    def pause(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        """Stop running a schedule on its ticks (run now still works); kept until `resume_schedule`."""
        sid = self._board_get(kind, schedule_id)
        self.db.execute("INSERT OR IGNORE INTO schedule_pauses(kind, schedule_id, paused) VALUES (?, ?, ?)",
                        (kind, sid, now_iso()))
        return self._board_row(kind, sid)

    def resume(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        sid = self._board_get(kind, schedule_id)
        self.db.execute("DELETE FROM schedule_pauses WHERE kind = ? AND schedule_id = ?", (kind, sid))
        return self._board_row(kind, sid)

    def run_now(self, kind: str, schedule_id: int | str, owner: str | None = None) -> dict[str, Any]:
        """Run one schedule of any kind at once, in this thread (busy if another run holds its lease)."""
        sid = self._board_get(kind, schedule_id)
        if kind == "source":
            return self.sources.run(sid, owner)
        if kind == "scoring":
            return self.scoring.run(sid, owner)
        sched = self.drift_schedules.get(sid)
        report = self.monitoring.check_drift(sched["model"], action=sched["action"])
        status = "drift" if report["drift"] else "ok" if report.get("judged", True) else report["verdict_text"]
        return {"schedule_id": sid, "status": status, "report": report}

    def remove(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        sid = self._board_get(kind, schedule_id)
        if kind == "source":
            return self.sources.remove(sid)
        if kind == "scoring":
            return self.scoring.remove(sid)
        self.db.execute("DELETE FROM schedule_pauses WHERE kind = 'drift' AND schedule_id = ?", (sid,))
        return self.drift_schedules.remove(sid)

    def _board_get(self, kind: str, schedule_id: int | str) -> int:
        if kind not in SCHEDULE_KINDS:
            raise UserError(f"unknown schedule kind {kind!r}; use one of: {', '.join(SCHEDULE_KINDS)}")
        getter = {"drift": self.drift_schedules.get, "source": self.sources.get, "scoring": self.scoring.get}[kind]
        doc = getter(schedule_id)
        return int(doc["schedule_id"] if "schedule_id" in doc else doc["source_id"])

    def _board_row(self, kind: str, sid: int) -> dict[str, Any]:
        return next(r for r in self.all() if r["kind"] == kind and r["id"] == sid)


def _board(kind: str, sid: int, target: str, detail: str, doc: dict[str, Any], paused: set[tuple[str, int]],
           now: float, last_error: str | None) -> dict[str, Any]:
    return {
        "kind": kind, "id": sid, "target": target, "detail": detail, "every": doc["every"],
        "every_s": doc["every_s"], "next_due": doc["next_due"],
        "next_in_s": max(0.0, doc["next_due"] - now), "last_run": doc["last_run"],
        "last_status": doc["last_status"], "last_error": last_error, "paused": (kind, sid) in paused,
        "runs": doc["runs"], "running": doc.get("leased_by") is not None,
    }

"""Scheduled batch scoring, and every kind of schedule in one list.

Why this exists: batch models are fed by files that land in a folder. A
scoring schedule scores each new complete file of its input folder with the
model's current version (`NAME` follows production) through
`predict_file` (streamed chunks, atomic output `<stem>.predictions.<ext>`,
a recorded batch and a logged input sample for drift checks), and remembers
what it scored (path, size, mtime, sha256) so nothing is scored twice across
restarts. Runs are leases on the schedule row: overlapping or missed ticks
coalesce into one run. A file that fails for a reason of its own (missing
columns, unreadable) is recorded as rejected and left alone until it
changes; a failure of the run's environment (output folder missing or not
writable, disk full) leaves nothing half-written, is shown as `last_error`
and is retried on the next tick.

The second half, `ScheduleBoardMixin`, puts drift checks, sources and scoring
schedules in one list with pause, resume, run now and remove: what a
Schedules panel of the TUI needs, with no SQL in the UI.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.config import parse_duration
from mlcycle_tui.core.errors import NotFoundError, UserError
from mlcycle_tui.core.sources import (
    DEFAULT_SETTLE,
    MIN_EVERY_S,
    _int_id,
    claim_row,
    default_owner,
    file_sha256,
    lease_seconds,
    list_files,
    release_row,
    renew_row,
    settled,
)
from mlcycle_tui.core.timeutil import now_iso

if TYPE_CHECKING:
    from mlcycle_tui.storage.db import Database

SCORABLE_SUFFIXES = frozenset({".csv", ".parquet", ".pq", ".jsonl", ".ndjson"})
SCHEDULE_KINDS = ("drift", "source", "scoring")


def output_name(input_path: Path) -> str:
    """`<stem>.predictions.<ext>`: the output file of one input file."""
    return f"{input_path.stem}.predictions{input_path.suffix.lower()}"


class ScoringMixin:
    """Workspace methods for scheduled batch scoring (see `Workspace`)."""

    db: Database
    settings: dict[str, Any]

    def schedule_scoring(self, model_ref: str, input_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                         *, every: str = "1h", settle: str = DEFAULT_SETTLE, chunk_rows: int = 100_000
                         ) -> dict[str, Any]:
        """Score new files of `input_dir` with `model_ref` every `every`; outputs go to `output_dir`."""
        src, dst = Path(input_dir).expanduser().resolve(), Path(output_dir).expanduser().resolve()
        if not src.is_dir():
            raise NotFoundError(f"no folder at {src}; create the input folder first")
        if src == dst:
            raise UserError("--output-dir must differ from --input-dir (outputs would be scored again)")
        seconds = parse_duration(every)
        if seconds < MIN_EVERY_S:
            raise UserError(f"--every {every} is too short; the shortest interval is 1s")
        settle_s = 0.0 if str(settle).strip() in ("0", "0s") else parse_duration(settle)
        if chunk_rows < 1:
            raise UserError("--chunk-rows must be at least 1")
        self.model_version(model_ref)  # type: ignore[attr-defined]  # a clear error now, not at every tick
        cur = self.db.execute(
            "INSERT INTO scoring_schedules(model, input_dir, output_dir, every, every_s, settle_s, chunk_rows, created,"
            " next_due) VALUES (?,?,?,?,?,?,?,?,?)",
            (model_ref, str(src), str(dst), str(every).strip(), seconds, settle_s, chunk_rows, now_iso(),
             time.time() + seconds))
        sid = int(cur.lastrowid)
        self.log_event("scoring", model_ref, f"scoring schedule {sid}: {src} -> {dst} every {every}")  # type: ignore[attr-defined]
        return self.get_scoring(sid)

    def scoring_schedules(self) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT s.*, EXISTS (SELECT 1 FROM schedule_pauses p WHERE p.kind = 'scoring'"
                             " AND p.schedule_id = s.id) AS paused FROM scoring_schedules s ORDER BY s.id")
        return [_scoring_doc(r) for r in rows]

    def get_scoring(self, schedule_id: int | str) -> dict[str, Any]:
        sid = _int_id(schedule_id, "scoring schedule")
        row = self.db.query_one("SELECT s.*, EXISTS (SELECT 1 FROM schedule_pauses p WHERE p.kind = 'scoring'"
                                " AND p.schedule_id = s.id) AS paused FROM scoring_schedules s WHERE s.id = ?", (sid,))
        if row is None:
            raise NotFoundError(f"no scoring schedule {schedule_id}; list them with `mlcycle scoring list`")
        return _scoring_doc(row)

    def unschedule_scoring(self, schedule_id: int | str) -> dict[str, Any]:
        doc = self.get_scoring(schedule_id)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM scoring_schedules WHERE id = ?", (doc["schedule_id"],))
            conn.execute("DELETE FROM scoring_files WHERE schedule_id = ?", (doc["schedule_id"],))
            conn.execute("DELETE FROM schedule_pauses WHERE kind = 'scoring' AND schedule_id = ?",
                         (doc["schedule_id"],))
        self.log_event("scoring", doc["model"], f"scoring schedule {doc['schedule_id']} removed")  # type: ignore[attr-defined]
        return doc

    def scoring_files(self, schedule_id: int | str, limit: int = 200) -> list[dict[str, Any]]:
        sid = self.get_scoring(schedule_id)["schedule_id"]
        return self.db.query("SELECT * FROM scoring_files WHERE schedule_id = ? ORDER BY id DESC LIMIT ?",
                             (sid, limit))

    def run_scoring(self, schedule_id: int | str, owner: str | None = None, *, force: bool = True) -> dict[str, Any]:
        """Score the new files now (`force`) or, for a scheduler, if the tick is due.

        Returns {"schedule_id", "status", "scored": [...], "rejected": [...], "failed": [...], "error"}.
        """
        sid = self.get_scoring(schedule_id)["schedule_id"]
        owner = owner or default_owner()
        lease = lease_seconds(self.settings)
        result: dict[str, Any] = {"schedule_id": sid, "scored": [], "rejected": [], "failed": [], "error": None}
        if claim_row(self.db, "scoring_schedules", "scoring", sid, owner, lease, force=force) is None:
            return result | {"status": "busy" if force else "not due"}
        sched = self.get_scoring(sid)
        error: str | None = None
        try:
            files = list_files(Path(sched["input_dir"]), SCORABLE_SUFFIXES)
            fresh = [f for f in files if not self._seen("scoring_files", "schedule_id", sid, f,  # type: ignore[attr-defined]
                                                        ("scored", "rejected"))]
            stable = settled(fresh, sched["settle_s"])
            mv = self.model_version(sched["model"]) if stable else None  # type: ignore[attr-defined]
            for f in stable:
                renew_row(self.db, "scoring_schedules", sid, owner, lease)
                out = Path(sched["output_dir"]) / output_name(f.path)
                record = {"path": str(f.path), "size": f.size, "mtime": f.mtime}
                try:
                    record["sha256"] = file_sha256(f.path)
                    done = self.predict_file(mv.ref, f.path, out, chunk_rows=sched["chunk_rows"])  # type: ignore[attr-defined,union-attr]
                except UserError as exc:  # the file's own fault: remembered, not retried until it changes
                    self._record_scoring(sid, record, "rejected", error=exc.message)
                    result["rejected"].append({"file": str(f.path), "error": exc.message})
                except Exception as exc:  # the environment's fault (disk, permissions): retried next tick
                    message = _error_text(exc)
                    result["failed"].append({"file": str(f.path), "error": message})
                else:
                    self._record_scoring(sid, record, "scored", output=done["output"], batch_id=done["batch_id"],
                                         model=done["model"], version=done["version"], rows=done["rows"])
                    result["scored"].append({"file": str(f.path), "output": done["output"], "rows": done["rows"],
                                             "model": done["model"], "version": done["version"],
                                             "batch_id": done["batch_id"], "seconds": done["seconds"]})
        except Exception as exc:
            error = _error_text(exc)
        problems = [f"{Path(x['file']).name}: {x['error']}" for x in result["failed"] + result["rejected"]]
        if error is None and result["failed"]:
            error = "; ".join(problems)
        rows = sum(s["rows"] for s in result["scored"])
        if error is not None and not result["scored"]:
            status = f"error: {error}"
        else:
            scored = (f"scored {len(result['scored'])} files ({rows:,} rows) with {mv.ref}"  # type: ignore[union-attr]
                      if result["scored"] else "nothing new")
            status = ("partial: " if error else "ok: ") + scored
            if result["rejected"]:
                status += f"; {len(result['rejected'])} rejected"
        if result["rejected"] and error is None:
            error = "; ".join(problems)
        if error is not None:
            self.log_event("scoring", sched["model"], f"scoring schedule {sid}: {error}"[:500])  # type: ignore[attr-defined]
        release_row(self.db, "scoring_schedules", sid, owner, status, error)
        return result | {"status": status, "error": error, "rows": rows}

    def _record_scoring(self, sid: int, record: dict[str, Any], status: str, *, output: str | None = None,
                        batch_id: str | None = None, model: str | None = None, version: int | None = None,
                        rows: int = 0, error: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO scoring_files(schedule_id, path, size, mtime, sha256, status, output, batch_id, model,"
            " version, rows, error, processed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (sid, record["path"], record["size"], record["mtime"], record.get("sha256", ""), status, output, batch_id,
             model, version, rows, error, now_iso()))


class ScheduleBoardMixin:
    """Every schedule (drift checks, sources, scoring) in one list, with pause, resume, run now, remove."""

    db: Database

    def all_schedules(self) -> list[dict[str, Any]]:
        """[{kind, id, target, detail, every, next_due, last_run, last_status, last_error, paused, runs, running}]."""
        paused = self.paused_schedules()
        now = time.time()
        out: list[dict[str, Any]] = []
        for d in self.schedules():  # type: ignore[attr-defined]
            status = d["last_status"]
            out.append(_board("drift", d["schedule_id"], d["model"], f"drift check ({d['action']})", d, paused, now,
                              last_error=status if status and status.startswith("error") else None))
        for s in self.sources():  # type: ignore[attr-defined]
            detail = f"{s['kind']} {s['location']}" + (f" ({s['key']})" if s["key"] else "")
            out.append(_board("source", s["source_id"], s["dataset"], detail, s, paused, now,
                              last_error=s["last_error"]))
        for s in self.scoring_schedules():  # type: ignore[attr-defined]
            out.append(_board("scoring", s["schedule_id"], s["model"], f"{s['input_dir']} -> {s['output_dir']}", s,
                              paused, now, last_error=s["last_error"]))
        return out

    def paused_schedules(self) -> set[tuple[str, int]]:
        return {(r["kind"], r["schedule_id"]) for r in self.db.query("SELECT kind, schedule_id FROM schedule_pauses")}

    def pause_schedule(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        """Stop running a schedule on its ticks (run now still works); kept until `resume_schedule`."""
        sid = self._board_get(kind, schedule_id)
        self.db.execute("INSERT OR IGNORE INTO schedule_pauses(kind, schedule_id, paused) VALUES (?, ?, ?)",
                        (kind, sid, now_iso()))
        return self._board_row(kind, sid)

    def resume_schedule(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        sid = self._board_get(kind, schedule_id)
        self.db.execute("DELETE FROM schedule_pauses WHERE kind = ? AND schedule_id = ?", (kind, sid))
        return self._board_row(kind, sid)

    def run_schedule_now(self, kind: str, schedule_id: int | str, owner: str | None = None) -> dict[str, Any]:
        """Run one schedule of any kind at once, in this thread (busy if another run holds its lease)."""
        sid = self._board_get(kind, schedule_id)
        if kind == "source":
            return self.run_source(sid, owner)  # type: ignore[attr-defined]
        if kind == "scoring":
            return self.run_scoring(sid, owner)
        sched = self.get_schedule(sid)  # type: ignore[attr-defined]
        report = self.check_drift(sched["model"], action=sched["action"])  # type: ignore[attr-defined]
        status = "drift" if report["drift"] else "ok" if report.get("judged", True) else report["verdict_text"]
        return {"schedule_id": sid, "status": status, "report": report}

    def remove_schedule(self, kind: str, schedule_id: int | str) -> dict[str, Any]:
        sid = self._board_get(kind, schedule_id)
        if kind == "source":
            return self.remove_source(sid)  # type: ignore[attr-defined]
        if kind == "scoring":
            return self.unschedule_scoring(sid)
        self.db.execute("DELETE FROM schedule_pauses WHERE kind = 'drift' AND schedule_id = ?", (sid,))
        return self.unschedule(sid)  # type: ignore[attr-defined]

    def _board_get(self, kind: str, schedule_id: int | str) -> int:
        if kind not in SCHEDULE_KINDS:
            raise UserError(f"unknown schedule kind {kind!r}; use one of: {', '.join(SCHEDULE_KINDS)}")
        getter = {"drift": "get_schedule", "source": "get_source", "scoring": "get_scoring"}[kind]
        doc = getattr(self, getter)(schedule_id)
        return int(doc["schedule_id"] if "schedule_id" in doc else doc["source_id"])

    def _board_row(self, kind: str, sid: int) -> dict[str, Any]:
        return next(r for r in self.all_schedules() if r["kind"] == kind and r["id"] == sid)


def _board(kind: str, sid: int, target: str, detail: str, doc: dict[str, Any], paused: set[tuple[str, int]],
           now: float, last_error: str | None) -> dict[str, Any]:
    return {
        "kind": kind, "id": sid, "target": target, "detail": detail, "every": doc["every"],
        "every_s": doc["every_s"], "next_due": doc["next_due"],
        "next_in_s": max(0.0, doc["next_due"] - now), "last_run": doc["last_run"],
        "last_status": doc["last_status"], "last_error": last_error, "paused": (kind, sid) in paused,
        "runs": doc["runs"], "running": doc.get("leased_by") is not None,
    }


def _error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    if message:
        return str(message)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return f"{type(exc).__name__}: {exc}"


def _scoring_doc(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "schedule_id": row["id"], "model": row["model"], "input_dir": row["input_dir"],
        "output_dir": row["output_dir"], "every": row["every"], "every_s": row["every_s"],
        "settle_s": row["settle_s"], "chunk_rows": row["chunk_rows"], "created": row["created"],
        "next_due": row["next_due"], "last_run": row["last_run"], "last_status": row["last_status"],
        "last_error": row["last_error"], "runs": row["runs"], "paused": bool(row.get("paused", 0)),
        "leased_by": row["lease_owner"],
    }

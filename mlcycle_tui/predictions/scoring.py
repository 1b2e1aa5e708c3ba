"""Scheduled batch scoring: new files in a folder scored with the production model.

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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.config import parse_duration
from mlcycle_tui.data.sources import (
    DEFAULT_SETTLE,
    _int_id,
    file_sha256,
    list_files,
    settled,
)
from mlcycle_tui.schedules.periodic import MIN_EVERY_S, default_owner

if TYPE_CHECKING:
    from mlcycle_tui.data.sources import Sources
    from mlcycle_tui.events import Events
    from mlcycle_tui.predictions.batch import Batch
    from mlcycle_tui.registry.versions import Registry
    from mlcycle_tui.schedules.periodic import Periodic
    from mlcycle_tui.storage.db import Database

_SCORING_ROWS = ("SELECT s.*, p.every, p.every_s, p.next_due, p.paused, p.lease_owner, p.last_run, p.last_status,"
                 " p.last_error, p.runs FROM scoring_schedules s"
                 " JOIN periodic p ON p.kind = 'scoring' AND p.ref_id = s.id")
SCORABLE_SUFFIXES = frozenset({".csv", ".parquet", ".pq", ".jsonl", ".ndjson"})


def output_name(input_path: Path) -> str:
    """`<stem>.predictions.<ext>`: the output file of one input file."""
    return f"{input_path.stem}.predictions{input_path.suffix.lower()}"


class Scoring:
    """Workspace methods for scheduled batch scoring (see `Workspace`)."""

    def __init__(
        self,
        db: Database,
        events: Events,
        periodic: Periodic,
        registry: Registry,
        batch: Batch,
        sources: Sources,
    ) -> None:
        self.db = db
        self.events = events
        self.periodic = periodic
        self.registry = registry
        self.batch = batch
        self.sources = sources

    def add(self, model_ref: str, input_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str],
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
        self.registry.model_version(model_ref)  # a clear error now, not at every tick
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO scoring_schedules(model, input_dir, output_dir, settle_s, chunk_rows, created)"
                " VALUES (?,?,?,?,?,?)", (model_ref, str(src), str(dst), settle_s, chunk_rows, now_iso()))
            sid = int(cur.lastrowid)
            self.periodic.add("scoring", sid, str(every), seconds)
        self.events.log("scoring", model_ref, f"scoring schedule {sid}: {src} -> {dst} every {every}")
        return self.get(sid)

    def list(self) -> list[dict[str, Any]]:
        rows = self.db.query(_SCORING_ROWS + " ORDER BY s.id")
        return [_scoring_doc(r) for r in rows]

    def get(self, schedule_id: int | str) -> dict[str, Any]:
        sid = _int_id(schedule_id, "scoring schedule")
        row = self.db.query_one(_SCORING_ROWS + " WHERE s.id = ?", (sid,))
        if row is None:
            raise NotFoundError(f"no scoring schedule {schedule_id}; list them with `mlcycle scoring list`")
        return _scoring_doc(row)

    def remove(self, schedule_id: int | str) -> dict[str, Any]:
        doc = self.get(schedule_id)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM scoring_schedules WHERE id = ?", (doc["schedule_id"],))
            conn.execute("DELETE FROM scoring_files WHERE schedule_id = ?", (doc["schedule_id"],))
            self.periodic.remove("scoring", doc["schedule_id"])
        self.events.log("scoring", doc["model"], f"scoring schedule {doc['schedule_id']} removed")
        return doc

    def files(self, schedule_id: int | str, limit: int = 200) -> list[dict[str, Any]]:
        sid = self.get(schedule_id)["schedule_id"]
        return self.db.query("SELECT * FROM scoring_files WHERE schedule_id = ? ORDER BY id DESC LIMIT ?",
                             (sid, limit))

    def run(self, schedule_id: int | str, owner: str | None = None, *, force: bool = True) -> dict[str, Any]:
        """Score the new files now (`force`) or, for a scheduler, if the tick is due.

        Returns {"schedule_id", "status", "scored": [...], "rejected": [...], "failed": [...], "error"}.
        """
        sid = self.get(schedule_id)["schedule_id"]
        owner = owner or default_owner()
        result: dict[str, Any] = {"schedule_id": sid, "scored": [], "rejected": [], "failed": [], "error": None}
        with self.periodic.hold("scoring", sid, owner, force=force) as lease:
            if lease is None:
                return result | {"status": "busy" if force else "not due"}
            sched = self.get(sid)
            error: str | None = None
            try:
                files = list_files(Path(sched["input_dir"]), SCORABLE_SUFFIXES)
                fresh = [f for f in files if not self.sources.seen_files("scoring_files", "schedule_id", sid, f,
                                                            ("scored", "rejected"))]
                stable = settled(fresh, sched["settle_s"])
                mv = self.registry.model_version(sched["model"]) if stable else None
                for f in stable:
                    lease.renew()
                    out = Path(sched["output_dir"]) / output_name(f.path)
                    record = {"path": str(f.path), "size": f.size, "mtime": f.mtime}
                    try:
                        record["sha256"] = file_sha256(f.path)
                        done = self.batch.predict_file(mv.ref, f.path, out, chunk_rows=sched["chunk_rows"])  # type: ignore[union-attr]
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
                self.events.log("scoring", sched["model"], f"scoring schedule {sid}: {error}"[:500])
            lease.status, lease.error = status, error
            return result | {"status": status, "error": error, "rows": rows}

    def _record_scoring(self, sid: int, record: dict[str, Any], status: str, *, output: str | None = None,
                        batch_id: str | None = None, model: str | None = None, version: int | None = None,
                        rows: int = 0, error: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO scoring_files(schedule_id, path, size, mtime, sha256, status, output, batch_id, model,"
            " version, rows, error, processed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (sid, record["path"], record["size"], record["mtime"], record.get("sha256", ""), status, output, batch_id,
             model, version, rows, error, now_iso()))


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

"""The retraining queue and its worker: drift or decay in, a better production model out.

Why this exists: closing the loop must not depend on someone watching. A
drift check queues a job (one open job per model: the partial unique index on
`jobs` makes that hold across processes); any process with a worker (the
daemon, the TUI, `mlcycle jobs run`) claims the oldest queued job in a
`BEGIN IMMEDIATE` transaction, retrains the production version's recipe on the
newest data (latest dataset version plus labelled feedback rows), compares
challenger and champion on the same fresh holdout (the challenger's test
split), registers the challenger and promotes it when it wins by
`policy.win_margin` and passes the gates, or leaves it awaiting approval when
`policy.promotion = "approval"`. A job whose process died while running is
requeued (pid/host check, as for tracked runs) up to `MAX_ATTEMPTS` times.

Statuses: queued -> running -> done | failed | awaiting_approval -> done
(approved) | rejected; queued/awaiting_approval -> cancelled; failed,
cancelled, rejected -> queued again with `retry_job`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.experiments.tracking import _pid_alive, hostname
from mlcycle_tui.monitoring.policy import monitoring_policy

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.data.splits import Splits
    from mlcycle_tui.data.versions import Data, DatasetVersion
    from mlcycle_tui.events import Events
    from mlcycle_tui.experiments.tracking import Tracking
    from mlcycle_tui.experiments.training import Training
    from mlcycle_tui.predictions.log import PredictionLog
    from mlcycle_tui.registry.versions import ModelVersion, Registry
    from mlcycle_tui.storage.db import Database

STATUSES = ("queued", "running", "awaiting_approval", "done", "failed", "cancelled", "rejected")
OPEN = ("queued", "running", "awaiting_approval")
RETRAIN = "retrain"
# What queued a job, as the first word of its reason ("drift: report 3: ..."); `trigger` in a job's document.
TRIGGERS = ("drift", "decay", "estimated_performance")
MAX_ATTEMPTS = 3
STALE_AFTER_S = 6 * 3600  # a running job on another host without a heartbeat for this long is dead
JobProgress = Callable[[str], None]


class JobCancelled(Exception):
    """Raised inside the worker when the job was cancelled while it ran."""


class Jobs:
    """The retraining queue and its worker: retrain, compare with the champion, promote or wait."""

    def __init__(
        self,
        db: Database,
        settings: dict[str, Any],
        events: Events,
        data: Data,
        splits: Splits,
        runs: Tracking,
        training: Training,
        registry: Registry,
        predictions: PredictionLog,
    ) -> None:
        self.db = db
        self.settings = settings
        self.events = events
        self.data = data
        self.splits = splits
        self.runs = runs
        self.training = training
        self.registry = registry
        self.predictions = predictions

    # -- queue -------------------------------------------------------------------
    def enqueue_retrain(self, model: str, reason: str, *, report_id: int | None = None,
                        trigger: str | None = None) -> dict[str, Any]:
        """Queue a retraining job for `model` unless one is open; the job, with "queued" saying which.

        `trigger` (one of TRIGGERS) names what fired; it leads the stored reason and is the job's `trigger`."""
        if trigger is not None:
            if trigger not in TRIGGERS:
                raise UserError(f"unknown trigger {trigger!r}; one of {', '.join(TRIGGERS)}")
            reason = f"{trigger}: {reason}"
        name = self.registry.model_version(model).name
        with self.db.transaction() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO jobs(kind, model, status, reason, report_id, created)"
                    " VALUES (?, ?, 'queued', ?, ?, ?)",
                    (RETRAIN, name, reason, report_id, now_iso()),
                )
            except sqlite3.IntegrityError:
                row = conn.execute(
                    "SELECT id FROM jobs WHERE model = ? AND kind = ? AND status IN ('queued','running',"
                    "'awaiting_approval')", (name, RETRAIN),
                ).fetchone()
                return self.get(row[0]) | {"queued": False}
            job_id = int(cur.lastrowid)
            self._job_log(job_id, f"queued: {reason}")
            self.events.log("job", name, f"retraining job {job_id} queued: {reason}")
        return self.get(job_id) | {"queued": True}

    def list(self, status: str | None = None, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Jobs, newest first (without their logs)."""
        if status is not None and status not in STATUSES:
            raise UserError(f"unknown job status {status!r}; one of {', '.join(STATUSES)}")
        self.reap()
        rows = self.db.query(
            "SELECT * FROM jobs WHERE (? IS NULL OR status = ?) AND (? IS NULL OR model = ?) ORDER BY id DESC LIMIT ?",
            (status, status, model, model, int(limit)),
        )
        return [_doc(r, with_log=False) for r in rows]

    def get(self, job_id: int | str) -> dict[str, Any]:
        row = self.db.query_one("SELECT * FROM jobs WHERE id = ?", (_job_id(job_id),))
        if row is None:
            raise NotFoundError(f"no job {job_id}; list them with `mlcycle jobs list`")
        return _doc(row, with_log=True)

    def _job_log(self, job_id: int, line: str) -> None:
        self.db.execute(
            "UPDATE jobs SET log = log || ?, heartbeat = ? WHERE id = ?",
            (f"{now_iso()} {line}\n", time.time(), job_id),
        )

    def _set_status(self, job_id: int, status: str, *, expect: tuple[str, ...], result: Any = None,
                    finished: bool = False) -> bool:
        marks = ",".join("?" * len(expect))
        cur = self.db.execute(
            f"UPDATE jobs SET status = ?, result_json = COALESCE(?, result_json),"
            f" finished = CASE WHEN ? THEN ? ELSE finished END WHERE id = ? AND status IN ({marks})",
            (status, None if result is None else json.dumps(result, default=str), int(finished), now_iso(),
             job_id, *expect),
        )
        return cur.rowcount == 1

    # -- user actions --------------------------------------------------------------
    def cancel(self, job_id: int | str) -> dict[str, Any]:
        """Cancel a queued or waiting job; a running one stops at its next step."""
        job = self.get(job_id)
        if not self._set_status(job["id"], "cancelled", expect=OPEN, finished=True):
            raise UserError(f"job {job['id']} is {job['status']}; "
                            "only queued, running or waiting jobs can be cancelled")
        self._job_log(job["id"], "cancelled")
        self.events.log("job", job["model"], f"retraining job {job['id']} cancelled")
        return self.get(job["id"])

    def retry(self, job_id: int | str) -> dict[str, Any]:
        """Queue a failed, cancelled or rejected job again."""
        job = self.get(job_id)
        if job["status"] not in ("failed", "cancelled", "rejected"):
            raise UserError(f"job {job['id']} is {job['status']}; only failed, cancelled or rejected jobs are retried")
        try:
            self.db.execute(
                "UPDATE jobs SET status = 'queued', started = NULL, finished = NULL, pid = NULL, host = NULL,"
                " attempts = 0 WHERE id = ?", (job["id"],),
            )
        except sqlite3.IntegrityError:
            raise UserError(f"model {job['model']} already has an open retraining job; "
                            "cancel it first or wait for it") from None
        self._job_log(job["id"], "queued again (retry)")
        self.events.log("job", job["model"], f"retraining job {job['id']} queued again")
        return self.get(job["id"])

    def approve(self, job_id: int | str, actor: str = "user") -> dict[str, Any]:
        """Promote the challenger of a job awaiting approval (it must still pass the gates)."""
        job = self.get(job_id)
        if job["status"] != "awaiting_approval":
            raise UserError(f"job {job['id']} is {job['status']}; only jobs awaiting approval can be approved")
        challenger = job["result"]["challenger"]
        promotion = self.registry.promote(job["model"], challenger["version"], actor=f"{actor} (job {job['id']})")
        result = job["result"] | {"promoted": True, "outcome": "promoted", "promotion": promotion,
                                  "approved_by": actor}
        self._set_status(job["id"], "done", expect=("awaiting_approval",), result=result, finished=True)
        self._job_log(job["id"], f"approved by {actor}: {job['model']}@{challenger['version']} promoted")
        before = "(none)" if promotion["previous"] is None else f"v{promotion['previous']}"
        self.events.log("job", job["model"], f"job {job['id']} approved: {before} -> v{promotion['version']}")
        return self.get(job["id"])

    def reject(self, job_id: int | str, actor: str = "user") -> dict[str, Any]:
        """Keep the champion: the waiting challenger stays registered but is not promoted."""
        job = self.get(job_id)
        if not self._set_status(job["id"], "rejected", expect=("awaiting_approval",), finished=True):
            raise UserError(f"job {job['id']} is {job['status']}; only jobs awaiting approval can be rejected")
        self._job_log(job["id"], f"rejected by {actor}")
        self.events.log("job", job["model"], f"job {job['id']} rejected; the champion stays")
        return self.get(job["id"])

    # -- the worker ----------------------------------------------------------------
    def reap(self) -> list[int]:
        """Requeue running jobs whose process is gone (failed after MAX_ATTEMPTS); their ids."""
        rows = self.db.query("SELECT id, model, pid, host, heartbeat, attempts FROM jobs WHERE status = 'running'")
        host, now, reaped = hostname(), time.time(), []
        for r in rows:
            local_dead = r["host"] == host and not _pid_alive(r["pid"])
            stale = r["heartbeat"] is not None and now - r["heartbeat"] > STALE_AFTER_S
            if not (local_dead or stale):
                continue
            status = "queued" if r["attempts"] < MAX_ATTEMPTS else "failed"
            cur = self.db.execute(
                "UPDATE jobs SET status = ?, pid = NULL, finished = CASE WHEN ? = 'failed' THEN ? END"
                " WHERE id = ? AND status = 'running' AND pid IS ?",
                (status, status, now_iso(), r["id"], r["pid"]),
            )
            if cur.rowcount:
                why = f"its process (pid {r['pid']} on {r['host']}) ended while it ran"
                self._job_log(r["id"], f"{'requeued' if status == 'queued' else 'failed'}: {why}")
                self.events.log("job", r["model"], f"job {r['id']} {'requeued' if status == 'queued' else 'failed'}:"
                               f" {why}")
                reaped.append(r["id"])
        return reaped

    def claim(self) -> dict[str, Any] | None:
        """Atomically take the oldest queued job for this process (BEGIN IMMEDIATE)."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET status = 'running', started = ?, finished = NULL, pid = ?, host = ?, heartbeat = ?,"
                " attempts = attempts + 1 WHERE id = ?",
                (now_iso(), os.getpid(), hostname(), time.time(), row[0]),
            )
        return self.get(row[0])

    def run_next(self, progress: JobProgress | None = None) -> dict[str, Any] | None:
        """Claim and run the oldest queued job; the finished job, or None if the queue is empty."""
        self.reap()
        job = self.claim()
        if job is None:
            return None
        return self._execute(job, progress)

    def _execute(self, job: dict[str, Any], progress: JobProgress | None) -> dict[str, Any]:
        job_id = job["id"]

        def step(message: str) -> None:
            row = self.db.query_one("SELECT status FROM jobs WHERE id = ?", (job_id,))
            if row is None or row["status"] != "running":
                raise JobCancelled()
            self._job_log(job_id, message)
            if progress is not None:
                progress(message)

        self.events.log("job", job["model"], f"retraining job {job_id} started (attempt {job['attempts']})")
        try:
            status, result = self._retrain(job, step)
        except JobCancelled:
            return self.get(job_id)
        except Exception as exc:  # the job fails, the worker goes on
            message = exc.message if hasattr(exc, "message") else f"{type(exc).__name__}: {exc}"
            self._job_log(job_id, f"failed: {message}")
            self._set_status(job_id, "failed", expect=("running",), result={"error": message}, finished=True)
            self.events.log("job", job["model"], f"retraining job {job_id} failed: {message}")
            return self.get(job_id)
        self._set_status(job_id, status, expect=("running",), result=result, finished=status != "awaiting_approval")
        self._job_log(job_id, f"{status}: {result['summary']}")
        self.events.log("job", job["model"], f"retraining job {job_id} {status.replace('_', ' ')}: {result['summary']}")
        return self.get(job_id)

    def _retrain(self, job: dict[str, Any], step: JobProgress) -> tuple[str, dict[str, Any]]:
        """Train the champion's recipe on the newest data; compare; register; promote or wait."""
        from mlcycle_tui.experiments.evaluation import primary_metric_of
        from mlcycle_tui.registry.gates import compare

        name = job["model"]
        champion = self.registry.model_version(name)  # production, else the latest version
        rec = champion.recipe
        if rec.get("source") == "mlflow" or "dataset" not in rec:
            raise UserError(f"{champion.ref} was trained outside mlcycle (logged with MLflow): retrain it with its "
                            "own script, or train an mlcycle run on its data and register that")
        latest = self.data.dataset(rec.get("dataset_name") or rec["dataset"].split("@")[0])
        feedback = self.feedback_training_rows(champion, latest)
        step(f"champion {champion.ref} ({rec['model']}, trained on {rec['dataset']}); newest data {latest.ref} "
             f"({latest.rows} rows) + {len(feedback)} labelled feedback rows")
        trained_on = {"dataset": latest.ref, "rows": latest.rows, "feedback_rows": len(feedback)}
        seen = int(self.runs.get(champion.run_id)["tags"].get("feedback_rows") or 0)
        if latest.id == champion.dataset_version_id and len(feedback) <= seen:
            summary = (f"nothing new to train on: {latest.ref} is the champion's data and no new feedback labels "
                       "arrived; ingest a new version or send feedback")
            return "done", {"promoted": False, "outcome": "nothing_new", "summary": summary,
                            "champion": {"version": champion.version}, "trained_on": trained_on}
        split = self._retrain_split(latest, rec)
        step(f"training {rec['model']} on {latest.ref} (split {split})")
        run = self.training.retrain(
            rec, latest.ref, split=split, extra_train=feedback if len(feedback) else None,
            tags={"retrain_of": champion.ref, "job": str(job["id"]), "feedback_rows": str(len(feedback))},
        )
        if run["feedback_left_out"]:
            step(f"{run['feedback_left_out']} feedback rows left out of training: their inputs are in the new holdout")
        step(f"trained run {run['run_id'][:12]}; registering the challenger")
        challenger = self.registry.register(run["run_id"], name)
        policy = monitoring_policy(self.settings)
        holdout = self.registry.compare_with_champion(champion, challenger)
        step(f"holdout: {holdout['rows']} of {holdout['test_rows']} test rows unseen by both models "
             f"({holdout['left_out']} left out as training rows of either)")
        if holdout["judged"]:
            verdict = compare(challenger.task, holdout["challenger"], holdout["champion"],
                              margin=policy["win_margin"], metric=primary_metric_of(challenger))
            verdict["reason"] += f" ({holdout['reason']})"
        else:
            verdict = {"challenger_wins": False, "winner": None, "reason": holdout["reason"]}
        gates = self.registry.gate_check(challenger)
        step(f"challenger {challenger.ref}: {verdict['reason']}; gates {'passed' if gates['passed'] else 'failed'}")
        result: dict[str, Any] = {
            "champion": {"version": champion.version, "metrics": holdout["champion"]},
            "challenger": {"version": challenger.version, "run_id": challenger.run_id,
                           "metrics": holdout["challenger"], "test_metrics": challenger.metrics},
            "holdout": {"split_id": challenger.split_id, "dataset": latest.ref, "same_for_both": holdout["judged"],
                        "rows": holdout["rows"], "test_rows": holdout["test_rows"],
                        "left_out": holdout["left_out"], "min_rows": holdout["min_rows"]},
            "trained_on": trained_on,
            "feedback_left_out": run["feedback_left_out"],
            "comparison": verdict,
            "gates": gates,
            "promotion_policy": policy["promotion"],
            "promoted": False,
        }
        if not holdout["judged"]:
            return "done", result | {"outcome": "cannot_judge",
                                     "summary": f"{challenger.ref} registered, not promoted ({holdout['reason']})"}
        if not verdict["challenger_wins"] or not gates["passed"]:
            why = verdict["reason"] if not verdict["challenger_wins"] else "gates: " + "; ".join(gates["reasons"])
            return "done", result | {"outcome": "champion_kept",
                                     "summary": f"{challenger.ref} registered, not promoted ({why})"}
        if policy["promotion"] == "approval":
            return "awaiting_approval", result | {
                "outcome": "awaiting_approval",
                "summary": f"{challenger.ref} wins ({verdict['reason']}); approve with `mlcycle jobs approve "
                           f"{job['id']}`"}
        step(f"promoting {challenger.ref}")
        promotion = self.registry.promote(name, challenger.version, actor="retrain-job")
        return "done", result | {"promoted": True, "outcome": "promoted", "promotion": promotion,
                                 "summary": f"{challenger.ref} promoted to production (was v{champion.version}): "
                                            f"{verdict['reason']}"}

    def _retrain_split(self, latest: DatasetVersion, rec: dict[str, Any]) -> str:
        """A split of the newest data made the same way as the champion's."""
        sp = rec.get("split") or {}
        time_column = sp.get("time_column")
        if time_column and latest.column(time_column) is None:
            time_column = None
        try:
            made = self.splits.create(latest, test_size=float(sp.get("test_size") or 0.2),
                              stratify=bool(sp.get("stratify")) and not time_column,
                              time_column=time_column, seed=int(sp.get("seed") or 42),
                              stratify_column=rec.get("target"))
        except UserError:
            made = self.training.default_split(latest, rec.get("target"))
        return made.split_id

    def feedback_training_rows(self, champion: ModelVersion, latest: DatasetVersion) -> pd.DataFrame:
        """Labelled logged predictions of the model as rows shaped like `latest` (label as target)."""
        import pandas as pd

        target = champion.recipe.get("target") or latest.target
        logged = self.predictions.frame(champion.name, with_feedback=True)
        if logged.empty or not target:
            return pd.DataFrame()
        logged = logged[logged["_label"].notna()]
        out = pd.DataFrame(index=logged.index)
        for col in latest.schema:
            name, kind = col["name"], col["kind"]
            values = logged["_label"] if name == target else logged.get(name, pd.Series(None, index=logged.index))
            if kind == "numeric" or (name == target and champion.task == "regression"):
                values = pd.to_numeric(values, errors="coerce")
            elif kind == "datetime":
                values = pd.to_datetime(values, errors="coerce")
                if getattr(values.dt, "tz", None) is not None:
                    values = values.dt.tz_localize(None)
            out[name] = values
        return out.reset_index(drop=True)


def _job_id(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"bad job id {value!r}: job ids are whole numbers (see `mlcycle jobs list`)") from None


def _trigger(reason: str | None) -> str | None:
    """The trigger that queued a job (the first word of its reason), or None for one queued by hand."""
    head = (reason or "").split(":", 1)[0]
    return head if head in TRIGGERS else None


def _doc(row: dict[str, Any], *, with_log: bool) -> dict[str, Any]:
    doc = {
        "id": row["id"], "kind": row["kind"], "status": row["status"], "model": row["model"],
        "reason": row["reason"], "trigger": _trigger(row["reason"]), "created": row["created"],
        "started": row["started"],
        "finished": row["finished"], "result": json.loads(row["result_json"]) if row["result_json"] else None,
        "attempts": row["attempts"], "pid": row["pid"], "host": row["host"], "report_id": row["report_id"],
    }
    if with_log:
        doc["log"] = row["log"]
    return doc

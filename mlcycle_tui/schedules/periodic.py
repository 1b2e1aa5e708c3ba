"""The one mechanism for periodic work: timing, pause, lease and last outcome of every schedule.

Why this exists: drift checks, watched sources and scheduled scoring all run
"every so often", from whichever process is up (the TUI, `mlcycle daemon`,
both at once), and each tick must run once. Their timing lives in one table,
`periodic`, one row per schedule (`kind`, `ref_id` naming the kind's own row
with what to do):

- `claim` takes a due tick with one `UPDATE ... WHERE next_due <= now AND the
  lease is free AND not paused`: `next_due` moves to the next point of the
  grid (missed points coalesce into one run) and the caller holds a lease for
  `scheduler.lease_seconds`. Everyone else sees zero rows changed. "Run now"
  (`force`) takes the lease without moving the grid and also when paused.
- `hold` is how a kind runs a tick: it claims, renews the lease from a
  background thread every third of the lease while the work runs (a long
  tick keeps it), and releases it with the outcome (`last_run`,
  `last_status`, `last_error`, `runs`).
- A holder that dies stops renewing; once its lease expires any other
  process may claim the schedule (reclaim needs no clean-up).

The timing of attempts (when to try) belongs to `scheduler/runner.py`; this
module has no scheduler import, so the CLI and tests can drive it directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso

if TYPE_CHECKING:
    from mlcycle_tui.storage.db import Database

KINDS = ("drift", "source", "scoring")
MIN_EVERY_S = 1.0
DEFAULT_LEASE_S = 60.0


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UserError(f"unknown schedule kind {kind!r}; use one of: {', '.join(KINDS)}")
    return kind


class Lease:
    """A claimed tick: set `status` (and `error`) while working; `hold` records them at the end."""

    def __init__(self, periodic: Periodic, kind: str, ref_id: int, owner: str, due: float) -> None:
        self.periodic = periodic
        self.kind = kind
        self.ref_id = ref_id
        self.owner = owner
        self.due = due
        self.status = "ok"
        self.error: str | None = None
        self._stop = threading.Event()

    def renew(self) -> None:
        """Push the lease's end a full lease ahead (the keeper thread does this by itself)."""
        self.periodic.renew(self.kind, self.ref_id, self.owner)

    def _keep(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.renew()
            except Exception:  # the database is busy or closing: try again on the next beat
                continue


class Periodic:
    """Every schedule's row in `periodic`: add, list, pause, claim, renew, release."""

    def __init__(self, db: Database, settings: dict[str, Any]) -> None:
        self.db = db
        self.settings = settings

    @property
    def lease_s(self) -> float:
        return float(self.settings.get("scheduler", {}).get("lease_seconds", DEFAULT_LEASE_S))

    # -- rows ------------------------------------------------------------------
    def add(self, kind: str, ref_id: int, every: str, every_s: float, *, first_due: float | None = None) -> None:
        """The timing row of a new schedule (inside the caller's transaction, if any)."""
        if every_s < MIN_EVERY_S:
            raise UserError(f"--every {every} is too short; the shortest interval is 1s")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO periodic(kind, ref_id, every, every_s, next_due, created) VALUES (?, ?, ?, ?, ?, ?)",
                (check_kind(kind), int(ref_id), every.strip(), float(every_s),
                 time.time() + every_s if first_due is None else first_due, now_iso()),
            )

    def remove(self, kind: str, ref_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM periodic WHERE kind = ? AND ref_id = ?", (kind, int(ref_id)))

    def get(self, kind: str, ref_id: int) -> dict[str, Any]:
        row = self.db.query_one("SELECT * FROM periodic WHERE kind = ? AND ref_id = ?", (kind, int(ref_id)))
        if row is None:
            raise NotFoundError(f"no {kind} schedule {ref_id}; list them with `mlcycle schedules`")
        return _doc(row)

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM periodic WHERE (? IS NULL OR kind = ?) ORDER BY kind, ref_id",
                             (kind, kind))
        return [_doc(r) for r in rows]

    def set_paused(self, kind: str, ref_id: int, paused: bool) -> None:
        """Pause (ticks do not run; "run now" still does) or resume a schedule."""
        self.get(kind, ref_id)
        self.db.execute(
            "UPDATE periodic SET paused = CASE WHEN ? THEN COALESCE(paused, ?) END WHERE kind = ? AND ref_id = ?",
            (int(paused), now_iso(), kind, int(ref_id)),
        )

    # -- leases ----------------------------------------------------------------
    def claim(self, kind: str, ref_id: int, owner: str, *, force: bool = False,
              now: float | None = None) -> float | None:
        """Take the schedule's lease: the due tick's time (the grid moves on, missed ticks coalesce);
        with `force` ("run now") whatever the tick and a pause. None when not due, paused or busy."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            row = conn.execute("SELECT next_due FROM periodic WHERE kind = ? AND ref_id = ?",
                               (kind, int(ref_id))).fetchone()
            if row is None:
                raise NotFoundError(f"no {kind} schedule {ref_id}; list them with `mlcycle schedules`")
            if force:
                cur = conn.execute(
                    "UPDATE periodic SET lease_owner = ?, lease_until = ? WHERE kind = ? AND ref_id = ?"
                    " AND (lease_until IS NULL OR lease_until < ?)",
                    (owner, now + self.lease_s, kind, int(ref_id), now))
            else:
                cur = conn.execute(
                    "UPDATE periodic SET next_due = next_due + every_s * (CAST((? - next_due) / every_s AS INTEGER)"
                    " + 1), lease_owner = ?, lease_until = ? WHERE kind = ? AND ref_id = ? AND next_due <= ?"
                    " AND (lease_until IS NULL OR lease_until < ?) AND paused IS NULL",
                    (now, owner, now + self.lease_s, kind, int(ref_id), now, now))
        if cur.rowcount != 1:
            return None
        return now if force else float(row[0])

    def renew(self, kind: str, ref_id: int, owner: str) -> bool:
        """Extend a held lease; False when `owner` no longer holds it."""
        cur = self.db.execute(
            "UPDATE periodic SET lease_until = ? WHERE kind = ? AND ref_id = ? AND lease_owner = ?",
            (time.time() + self.lease_s, kind, int(ref_id), owner))
        return cur.rowcount == 1

    def release(self, kind: str, ref_id: int, owner: str, status: str, error: str | None = None) -> None:
        """Record the tick's outcome and free the lease (only if `owner` still holds it)."""
        self.db.execute(
            "UPDATE periodic SET lease_owner = NULL, lease_until = NULL, last_run = ?, last_status = ?,"
            " last_error = ?, runs = runs + 1 WHERE kind = ? AND ref_id = ? AND lease_owner = ?",
            (time.time(), status[:500], None if error is None else error[:2000], kind, int(ref_id), owner))

    @contextmanager
    def hold(self, kind: str, ref_id: int, owner: str, *, force: bool = False) -> Iterator[Lease | None]:
        """Claim a tick and hold it while the body runs: None when it was not claimed.

        The lease is renewed every third of `scheduler.lease_seconds` from a background
        thread, so a tick longer than the lease keeps it; at the end the body's
        `lease.status` / `lease.error` are recorded (an exception records its text and
        propagates).
        """
        due = self.claim(kind, ref_id, owner, force=force)
        if due is None:
            yield None
            return
        lease = Lease(self, kind, int(ref_id), owner, due)
        keeper = threading.Thread(target=lease._keep, args=(max(0.2, self.lease_s / 3),),
                                  name=f"lease-{kind}-{ref_id}", daemon=True)
        keeper.start()
        try:
            yield lease
        except BaseException as exc:
            lease.status = f"error: {getattr(exc, 'message', None) or f'{type(exc).__name__}: {exc}'}"
            lease.error = lease.error or lease.status.removeprefix("error: ")
            raise
        finally:
            lease._stop.set()
            keeper.join()
            self.release(kind, ref_id, owner, lease.status, lease.error)


def _doc(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": row["kind"], "ref_id": row["ref_id"], "every": row["every"], "every_s": row["every_s"],
        "next_due": row["next_due"], "paused": row["paused"] is not None, "paused_since": row["paused"],
        "leased_by": row["lease_owner"], "lease_until": row["lease_until"], "last_run": row["last_run"],
        "last_status": row["last_status"], "last_error": row["last_error"], "runs": row["runs"],
        "created": row["created"],
    }


def default_owner() -> str:
    """The lease owner of a run started by hand ("run now") in this process."""
    import os

    from mlcycle_tui.experiments.tracking import hostname

    return f"{hostname()}:{os.getpid()}:now"

"""Migrations of the schedules component: the timing of every periodic job in one table.

Why this exists: drift checks, watched sources and scheduled scoring used to
keep their own timing columns and leases in three tables (and pauses in a
fourth); one table means one claim, one renewal, one pause and one record of
the last outcome for every kind (`schedules/periodic.py`). Forward-only:
append scripts, never edit a shipped one.

- `periodic`: one row per schedule, keyed by (`kind`, `ref_id`): `drift`
  rows point at `schedules` (the model and action to check), `source` rows
  at `sources`, `scoring` rows at `scoring_schedules`. `next_due` is the tick
  grid, `lease_owner`/`lease_until` the running tick's lease (an expired
  lease is free again), `paused` when the schedule was paused.
- Script 1 moves the timing of existing schedules into it, with their pauses,
  leases and last outcomes, and drops the old columns and `schedule_pauses`.
"""

from __future__ import annotations

_COPY = """
    INSERT INTO periodic(kind, ref_id, every, every_s, next_due, paused, lease_owner, lease_until, last_run,
                         last_status, last_error, runs, created)
    SELECT '{kind}', t.id, t.every, t.every_s, t.next_due, p.paused, t.lease_owner, t.lease_until, t.last_run,
           t.last_status, {error}, t.runs, t.created
    FROM {table} t LEFT JOIN schedule_pauses p ON p.kind = '{kind}' AND p.schedule_id = t.id;
"""
_TIMING = ("every", "every_s", "next_due", "lease_owner", "lease_until", "last_run", "last_status", "runs")


def _drop(table: str, columns: tuple[str, ...]) -> str:
    return "".join(f"ALTER TABLE {table} DROP COLUMN {c};\n" for c in columns)


SCHEDULES = [
    """
    CREATE TABLE periodic (
        kind TEXT NOT NULL,
        ref_id INTEGER NOT NULL,
        every TEXT NOT NULL,
        every_s REAL NOT NULL,
        next_due REAL NOT NULL,
        paused TEXT,
        lease_owner TEXT,
        lease_until REAL,
        last_run REAL,
        last_status TEXT,
        last_error TEXT,
        runs INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,
        PRIMARY KEY (kind, ref_id)
    );
    """
    + _COPY.format(kind="drift", table="schedules",
                   error="CASE WHEN t.last_status LIKE 'error%' THEN t.last_status END")
    + _COPY.format(kind="source", table="sources", error="t.last_error")
    + _COPY.format(kind="scoring", table="scoring_schedules", error="t.last_error")
    + "DROP TABLE schedule_pauses;\n"
    + _drop("schedules", _TIMING)
    + _drop("sources", (*_TIMING, "last_error"))
    + _drop("scoring_schedules", (*_TIMING, "last_error")),
]

"""Experiment tracking: runs with params, metric histories, tags and artifacts.

Why this exists: every training run, from `mlcycle train`, the TUI or a
user's own script (`with ws.runs.start() as run: ...`), is recorded here with
what is needed to trust and reproduce it: dataset version, split, seed,
library versions, git commit. It is built to be fast on one machine: each
logging call is one short SQLite transaction (batches use executemany), the
latest value of each metric is kept beside its history so that searching
100,000 runs with a filter and a sort stays an index walk, and a process that
dies mid-run is noticed (pid + host + heartbeat) and shown as `killed`
instead of `running` forever.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso, parse_iso
from mlcycle_tui.config import NAME_RE, check_name
from mlcycle_tui.experiments.search_expr import (
    ATTRIBUTES,
    SortKey,
    compile_node,
    conjuncts,
    leaf_source,
    parse_filter,
    parse_sort,
)

if TYPE_CHECKING:
    from mlcycle_tui.data.splits import Splits
    from mlcycle_tui.data.versions import Data
    from mlcycle_tui.events import Events
    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database

STATUSES = ("running", "finished", "failed", "killed")
HEARTBEAT_INTERVAL_S = 60.0
STALE_AFTER_S = 600.0
MIN_PREFIX = 6
MAX_KEY_LENGTH = 250
_RUN_ID_RE = re.compile(r"[0-9a-f]{1,32}")
_SQL_CHUNK = 500

_UPSERT_LATEST = (
    "INSERT INTO metrics_latest(run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
    "timestamp = excluded.timestamp WHERE excluded.step >= metrics_latest.step"
)
# seq: how many values this key has at this step already (0 for the first), so that a history reads
# in the order it was logged at each step; a search of the primary key, on the page the row goes to
_INSERT_METRIC = (
    "INSERT INTO metrics(run_id, key, value, step, timestamp, seq) VALUES (?1, ?2, ?3, ?4, ?5, "
    "coalesce((SELECT max(seq) + 1 FROM metrics WHERE run_id = ?1 AND key = ?2 AND step = ?4), 0))"
)
# the latest value of a key already logged (nearly every call of log_metric): one search of the
# primary key, where the upsert first tries an insert; the same row as _UPSERT_LATEST's
_UPDATE_LATEST = (
    "UPDATE metrics_latest SET value = ?3, step = ?4, timestamp = ?5 WHERE run_id = ?1 AND key = ?2 AND step <= ?4"
)
_UPSERT_PARAM = (
    "INSERT INTO params(run_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value"
)
_UPSERT_TAG = (
    "INSERT INTO tags(run_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value"
)


# -- where a run was made ------------------------------------------------------
@functools.cache
def library_versions() -> dict[str, str | None]:
    """Versions of python and the libraries a model depends on (cached per process)."""
    from mlcycle_tui.common.version import __version__

    versions: dict[str, str | None] = {"python": platform.python_version(), "mlcycle": __version__}
    for key, dist, module in (("sklearn", "scikit-learn", "sklearn"), ("pandas", "pandas", "pandas"),
                              ("numpy", "numpy", "numpy")):
        loaded = sys.modules.get(module)
        version = getattr(loaded, "__version__", None) if loaded is not None else None
        if version is None:
            try:
                version = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                version = None
        versions[key] = version
    return versions


@functools.cache
def hostname() -> str:
    return socket.gethostname()


def git_commit(start: str | Path | None = None) -> str | None:
    """The commit checked out in the git repository holding `start` (cwd), read from .git files."""
    try:
        gitdir = _find_gitdir(Path(start or Path.cwd()).resolve())
        if gitdir is None:
            return None
        head = (gitdir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head if re.fullmatch(r"[0-9a-f]{40,64}", head) else None
        ref = head[4:].strip()
        common = gitdir
        if (gitdir / "commondir").is_file():
            common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
        for base in (gitdir, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name.strip() == ref:
                    return sha
    except (OSError, UnicodeDecodeError):
        return None
    return None  # a branch without commits yet


def _find_gitdir(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        dotgit = candidate / ".git"
        if dotgit.is_dir():
            return dotgit
        if dotgit.is_file():  # worktree or submodule: "gitdir: <path>"
            text = dotgit.read_text().strip()
            if text.startswith("gitdir:"):
                return (candidate / text[7:].strip()).resolve()
    return None


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


# -- heartbeat: one daemon thread per process for all open runs ----------------
class _Heartbeat:
    """Refreshes `runs.heartbeat` of this process's open runs every minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Path] = {}
        self._thread: threading.Thread | None = None

    def add(self, db_path: Path, run_id: str) -> None:
        with self._lock:
            self._runs[run_id] = db_path
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mlcycle-heartbeat", daemon=True)
                self._thread.start()

    def remove(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._runs = {}
        self._thread = None

    def _loop(self) -> None:
        while True:
            time.sleep(HEARTBEAT_INTERVAL_S)
            with self._lock:
                by_db: dict[Path, list[str]] = {}
                for run_id, path in self._runs.items():
                    by_db.setdefault(path, []).append(run_id)
            for path, ids in by_db.items():
                self._beat(path, ids)

    @staticmethod
    def _beat(path: Path, ids: list[str]) -> None:
        try:
            conn = sqlite3.connect(path, timeout=10)
            try:
                # still open in this process, so alive: undo a reaping by mistake
                conn.executemany(
                    "UPDATE runs SET heartbeat = ?, status = 'running', ended = NULL, duration = NULL, "
                    "error = NULL WHERE id = ? AND (status = 'running' OR error LIKE 'reaped:%')",
                    [(time.time(), run_id) for run_id in ids],
                )
                conn.commit()
            finally:
                conn.close()
        except sqlite3.Error:
            pass


_HEARTBEAT = _Heartbeat()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_HEARTBEAT.reset_after_fork)


# -- values --------------------------------------------------------------------
def _key(key: Any, what: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise UserError(f"{what} name must be non-empty text of at most {MAX_KEY_LENGTH} characters, got {key!r}")
    return key


def _number(key: str, value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"metric {key!r} must be a number, got {value!r}") from None
    return None if math.isnan(number) else number  # NaN is stored as NULL


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _pairs(values: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    if values is None:
        return []
    return list(values.items()) if isinstance(values, Mapping) else [tuple(p) for p in values]  # type: ignore[misc]


def _epoch(iso: str | None) -> float | None:
    return parse_iso(iso).timestamp() if iso else None


def _comparison_warnings(runs: list[dict[str, Any]]) -> list[str]:
    """Why the metrics of these runs may not be comparable (different test rows)."""
    splits = {r.get("split_id") for r in runs}
    if len(splits) <= 1 or not any(r.get("metrics") for r in runs):
        return []
    named = sorted(str(s) for s in splits if s is not None)
    text = (f"the runs were scored on {len(splits)} different test splits ({', '.join(named) or 'none'}"
            + (", and some on none" if None in splits else "") + "): their metrics are not measured on the same "
            "rows; compare runs of one split, or evaluate them on one dataset with `mlcycle evaluate RUN --data REF`")
    return [text]


# -- a run being recorded ------------------------------------------------------
class Run:
    """An open run. Use as `with ws.runs.start(...) as run:`; `run.id` is its id."""

    def __init__(self, tracking: Tracking, run_id: str, experiment: str) -> None:
        self.tracking = tracking
        self.id = run_id
        self.experiment = experiment
        self.status = "running"
        self._t0 = time.monotonic()
        self._steps: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Run({self.id!r}, experiment={self.experiment!r}, status={self.status!r})"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if self.status == "running":
            if exc_type is None:
                self.end("finished")
            elif issubclass(exc_type, KeyboardInterrupt):
                self.end("killed", error="interrupted (KeyboardInterrupt)")
            else:
                self.end("failed", error=f"{exc_type.__name__}: {exc}")
        return False

    # -- params and tags -------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.log_batch(params=params)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.log_batch(tags=tags)

    # -- metrics ---------------------------------------------------------
    def _step(self, key: str, step: int | None) -> int:
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif not isinstance(step, int) or isinstance(step, bool):
            try:
                step = int(step)
            except (TypeError, ValueError):
                raise UserError(f"step of metric {key!r} must be an integer, got {step!r}") from None
        if step > self._steps.get(key, -1):
            self._steps[key] = step
        return step

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Record one value; without `step`, the step after this key's last one (from 0)."""
        row = (self.id, _key(key, "metric"), _number(key, value), self._step(key, step), time.time())
        with self.tracking.db.transaction() as conn:  # committed (durable) before this returns
            conn.execute(_INSERT_METRIC, row)
            if not conn.execute(_UPDATE_LATEST, row).rowcount:  # a new key, or an older step than the latest
                conn.execute(_UPSERT_LATEST, row)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self.log_batch(metrics=[(k, v, step) for k, v in metrics.items()])

    def log_batch(
        self,
        metrics: Iterable[Sequence[Any]] | Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        tags: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    ) -> None:
        """Metrics as (key, value[, step]) tuples (or a dict), params and tags: one transaction."""
        now = time.time()
        metric_rows = []
        items = list(metrics.items()) if isinstance(metrics, Mapping) else list(metrics or [])
        for item in items:
            key, value, step = (*item, None)[:3]
            metric_rows.append((self.id, _key(key, "metric"), _number(key, value), self._step(key, step), now))
        param_rows = [(self.id, _key(k, "param"), _text(v)) for k, v in _pairs(params)]
        tag_rows = [(self.id, _key(k, "tag"), _text(v)) for k, v in _pairs(tags)]
        latest: dict[str, tuple[Any, ...]] = {}
        for row in metric_rows:
            if row[1] not in latest or row[3] >= latest[row[1]][3]:
                latest[row[1]] = row
        with self.tracking.db.transaction() as conn:
            if metric_rows:
                conn.executemany(_INSERT_METRIC, metric_rows)
                conn.executemany(_UPSERT_LATEST, latest.values())
            if param_rows:
                conn.executemany(_UPSERT_PARAM, param_rows)
            if tag_rows:
                conn.executemany(_UPSERT_TAG, tag_rows)

    # -- descriptive columns ---------------------------------------------
    def set_info(self, *, model: str | None = None, task: str | None = None, seed: int | None = None) -> None:
        """Set the model kind, task and seed shown in `runs list` (None leaves a value alone)."""
        self.tracking.db.execute(
            "UPDATE runs SET model = coalesce(?, model), task = coalesce(?, task), seed = coalesce(?, seed) "
            "WHERE id = ?",
            (model, task, seed, self.id),
        )

    # -- artifacts -------------------------------------------------------
    def log_model(self, model: Any, name: str = "model") -> dict[str, Any]:
        """Store a fitted estimator or pipeline (joblib, sha256-checked on load)."""
        check_name(name, "artifact name")
        sha, rel = self.tracking.artifacts.put_joblib(model)
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        with self.tracking.db.transaction():
            info = self._record_artifact(name, "model", sha, rel)
            self.tracking.db.execute(
                "UPDATE runs SET model = coalesce(model, ?) WHERE id = ?", (type(final).__name__, self.id)
            )
        return info

    def log_artifact(self, source: str | os.PathLike[str] | bytes, name: str | None = None) -> dict[str, Any]:
        """Store a file (by path) or bytes under `name` (default: the file's name)."""
        if isinstance(source, bytes | bytearray):
            if name is None:
                raise UserError("log_artifact(bytes) needs a name, e.g. name='report.html'")
            check_name(name, "artifact name")
            sha, rel = self.tracking.artifacts.put_bytes(bytes(source), Path(name).suffix)
        else:
            src = Path(source)
            if not src.is_file():
                raise UserError(f"cannot log artifact {str(src)!r}: no such file")
            name = name or src.name
            check_name(name, "artifact name")
            sha, rel = self.tracking.artifacts.put_with(lambda p: shutil.copyfile(src, p), Path(name).suffix)
        return self._record_artifact(name, "file", sha, rel)

    def _record_artifact(self, name: str, kind: str, sha: str, rel: str) -> dict[str, Any]:
        size = self.tracking.artifacts.path(rel).stat().st_size
        self.tracking.db.execute(
            "INSERT INTO run_artifacts(run_id, name, kind, artifact_sha256, artifact_path, size, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, name) DO UPDATE SET kind = excluded.kind, "
            "artifact_sha256 = excluded.artifact_sha256, artifact_path = excluded.artifact_path, "
            "size = excluded.size, created = excluded.created",
            (self.id, name, kind, sha, rel, size, now_iso()),
        )
        return {"name": name, "kind": kind, "sha256": sha, "path": rel, "size": size}

    # -- the end ---------------------------------------------------------
    def end(self, status: str = "finished", error: str | None = None) -> None:
        """Close the run as finished, failed or killed, with its end time and duration."""
        if status not in STATUSES or status == "running":
            raise UserError(f"a run ends as finished, failed or killed, not {status!r}")
        duration = time.monotonic() - self._t0
        _HEARTBEAT.remove(self.id)
        with self.tracking.db.transaction():
            self.tracking.db.execute(
                "UPDATE runs SET status = ?, ended = ?, duration = ?, error = ?, heartbeat = ? WHERE id = ?",
                (status, now_iso(), duration, error, time.time(), self.id),
            )
            self.tracking.events.log(
                "run", self.id, f"run {self.id[:8]} {status} in {self.experiment} after {duration:.1f}s"
                + (f": {error}" if error else ""),
            )
        self.status = status

    # -- what a run logged from elsewhere records (the MLflow tracking API, an import) ----------
    def log_metric_values(self, rows: Iterable[Sequence[Any]], skip_existing: bool = False) -> int:
        """Metric values as (key, value, step, timestamp in epoch seconds): one transaction.

        For values that carry their own step and time (MLflow sends both with every value;
        an imported history keeps them). With `skip_existing`, a value already recorded with the
        same key, step and time is not stored again (as MLflow's stores do). Returns how many
        values were stored."""
        metric_rows = []
        for key, value, step, timestamp in rows:
            if isinstance(step, bool) or not isinstance(step, int):
                try:
                    step = int(step)
                except (TypeError, ValueError):
                    raise UserError(f"step of metric {key!r} must be an integer, got {step!r}") from None
            metric_rows.append((self.id, _key(key, "metric"), _number(key, value), step, float(timestamp)))
        if skip_existing and metric_rows:
            keys = sorted({r[1] for r in metric_rows})
            seen = {(r[0], r[1], r[2], r[3]) for r in self.tracking.db.connection().execute(
                f"SELECT key, value, step, timestamp FROM metrics WHERE run_id = ? AND key IN "
                f"({','.join('?' * len(keys))}) AND step IN ({','.join('?' * len({r[3] for r in metric_rows}))})",
                [self.id, *keys, *sorted({r[3] for r in metric_rows})])}
            metric_rows = [r for r in metric_rows if (r[1], r[2], r[3], r[4]) not in seen]
        latest: dict[str, tuple[Any, ...]] = {}
        for row in metric_rows:
            if row[1] not in latest or (row[3], row[4]) >= (latest[row[1]][3], latest[row[1]][4]):
                latest[row[1]] = row
        if metric_rows:
            with self.tracking.db.transaction() as conn:
                conn.executemany(_INSERT_METRIC, metric_rows)
                conn.executemany(_UPSERT_LATEST, latest.values())
        return len(metric_rows)

    def delete_tag(self, key: str) -> bool:
        """Remove a tag; False when the run had no such tag."""
        return self.tracking.db.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", (self.id, key)).rowcount > 0

    def log_file(self, path: str, source: bytes | Any, kind: str = "file") -> dict[str, Any]:
        """Store bytes or a readable binary stream as the artifact at relative `path` (`model/MLmodel`).

        Each part of the path is checked like a name (letters, digits, `_ . -` and spaces; no `..`),
        so a path never reaches outside the run; a new file at the same path replaces the old one."""
        check_artifact_path(path)
        suffix = Path(path).suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", Path(path).suffix) else ""
        if isinstance(source, bytes | bytearray | memoryview):
            sha, rel = self.tracking.artifacts.put_bytes(bytes(source), suffix)
        else:
            def copy(target: Path) -> None:
                with open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)

            sha, rel = self.tracking.artifacts.put_with(copy, suffix, appends_only=True)
        return self._record_artifact(path, kind, sha, rel)

    def touch(self) -> None:
        """A sign of life from a run logged by another process (an MLflow client over HTTP): its
        heartbeat moves `grace` seconds ahead, and a run reaped while it was quiet runs again."""
        self.tracking.db.execute(
            "UPDATE runs SET heartbeat = ?, status = 'running', ended = NULL, duration = NULL, error = NULL "
            "WHERE id = ? AND (status = 'running' OR error LIKE 'reaped:%')",
            (time.time() + REMOTE_GRACE_S - STALE_AFTER_S, self.id),
        )

    def close_at(self, status: str, ended: str | None = None, error: str | None = None) -> None:
        """Close a run opened elsewhere with its own end time (ISO; now when None); `running` reopens it."""
        if status not in STATUSES:
            raise UserError(f"a run's status is one of {', '.join(STATUSES)}, not {status!r}")
        if status == "running":
            self.tracking.db.execute(
                "UPDATE runs SET status = 'running', ended = NULL, duration = NULL, error = NULL WHERE id = ?",
                (self.id,))
            self.touch()
            self.status = status
            return
        ended = ended or now_iso()
        created = self.tracking.db.scalar("SELECT created FROM runs WHERE id = ?", (self.id,))
        duration = max(0.0, (parse_iso(ended) - parse_iso(created)).total_seconds()) if created else None
        with self.tracking.db.transaction():
            self.tracking.db.execute(
                "UPDATE runs SET status = ?, ended = ?, duration = ?, error = ?, heartbeat = ? WHERE id = ?",
                (status, ended, duration, error, time.time(), self.id),
            )
            self.tracking.events.log("run", self.id, f"run {self.id[:8]} {status} in {self.experiment}"
                                     + (f" after {duration:.1f}s" if duration is not None else ""))
        self.status = status


# A run logged by another process over HTTP (the MLflow tracking API) has no heartbeat thread here: each
# of its calls is its sign of life, and it is reaped as killed only after this long without one.
REMOTE_GRACE_S = 24 * 3600.0
MAX_ARTIFACT_PATH = 1000


def check_artifact_path(path: Any) -> str:
    """A relative artifact path such as `model/MLmodel`: parts of printable text, no `.`, `..` or empty part."""
    parts = path.split("/") if isinstance(path, str) else []
    if (not parts or len(path) > MAX_ARTIFACT_PATH or any(p in ("", ".", "..") or len(p) > 255 for p in parts)
            or any(ord(ch) < 32 or ch == "\\" for ch in path)):
        raise UserError(f"invalid artifact path {path!r}: give a relative path such as 'plots/loss.png' "
                        f"(parts separated by '/', none empty, '.' or '..'; at most {MAX_ARTIFACT_PATH} characters)")
    return path


# -- the Workspace side --------------------------------------------------------
class Tracking:
    """Experiments and runs: start and log, search, compare, load what a run stored."""

    def __init__(self, db: Database, artifacts: ArtifactStore, events: Events, data: Data, splits: Splits) -> None:
        self.db = db
        self.artifacts = artifacts
        self.events = events
        self.data = data
        self.splits = splits

    # -- writing ---------------------------------------------------------
    def start(
        self,
        experiment: str = "default",
        *,
        name: str | None = None,
        dataset: Any = None,
        split: Any = None,
        seed: int | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        model: str | None = None,
        task: str | None = None,
    ) -> Run:
        """Open a run (a context manager); `dataset` is a DatasetVersion or ref, `split` a split id."""
        check_name(experiment, "experiment name")
        if name is not None:
            check_name(name, "run name")
        dataset_id, split_id = self._run_inputs(dataset, split)
        run_id = uuid.uuid4().hex
        import json

        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO experiments(name, created) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                (experiment, now_iso()),
            )
            exp_id = conn.execute("SELECT id FROM experiments WHERE name = ?", (experiment,)).fetchone()[0]
            conn.execute(
                "INSERT INTO runs(id, experiment_id, name, status, created, dataset_version_id, split_id, seed, "
                "model, task, versions_json, git_commit, pid, hostname, heartbeat) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, exp_id, name, now_iso(), dataset_id, split_id, seed, model, task,
                 json.dumps(library_versions()), git_commit(), os.getpid(), hostname(), time.time()),
            )
            run = Run(self, run_id, experiment)
            if params or tags:
                run.log_batch(params=params, tags=tags)
        _HEARTBEAT.add(self.db.path, run_id)
        return run

    def _run_inputs(self, dataset: Any, split: Any) -> tuple[int | None, str | None]:
        dataset_id = split_id = None
        if split is not None:
            sp = self.splits.get(getattr(split, "split_id", split))
            split_id, dataset_id = sp.split_id, sp.dataset_version_id
        if dataset is not None:
            dv = self.data.dataset(dataset)
            if dataset_id is not None and dataset_id != dv.id:
                raise UserError(f"split {split_id} was made from another dataset version than {dv.ref}")
            dataset_id = dv.id
        return dataset_id, split_id

    def reap(self) -> list[str]:
        """Mark as killed the running runs whose process is gone; returns their ids.

        Gone means: on this host, its pid no longer exists; on any host, no
        heartbeat for STALE_AFTER_S (live runs beat every minute).
        """
        rows = self.db.query("SELECT id, pid, hostname, heartbeat, created FROM runs WHERE status = 'running'")
        if not rows:
            return []
        now, host = time.time(), hostname()
        dead = []
        for row in rows:
            beat = row["heartbeat"] or _epoch(row["created"]) or now
            local_dead = row["hostname"] == host and not _pid_alive(row["pid"])
            if local_dead or now - beat > STALE_AFTER_S:
                why = "its process ended" if local_dead else f"no heartbeat for {int(now - beat)} s"
                error = f"reaped: {why} without closing the run (pid {row['pid']} on {row['hostname']})"
                ended = datetime.fromtimestamp(beat, UTC).isoformat(timespec="milliseconds")
                start = _epoch(row["created"]) or beat
                dead.append(("killed", ended, max(0.0, beat - start), error, row["id"]))
        if dead:
            with self.db.transaction() as conn:
                conn.executemany(
                    "UPDATE runs SET status = ?, ended = ?, duration = ?, error = ? "
                    "WHERE id = ? AND status = 'running'",
                    dead,
                )
        return [d[-1] for d in dead]

    # -- reading ---------------------------------------------------------
    def experiments(self) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT e.name, e.created, count(r.id) AS runs, max(r.created) AS last_run FROM experiments e "
            "LEFT JOIN runs r ON r.experiment_id = e.id GROUP BY e.id ORDER BY e.name"
        )

    def _experiment_id(self, name: str) -> int:
        exp_id = self.db.scalar("SELECT id FROM experiments WHERE name = ?", (name,))
        if exp_id is None:
            known = ", ".join(e["name"] for e in self.experiments()) or "none yet"
            raise NotFoundError(f"no experiment {name!r}; known experiments: {known}")
        return int(exp_id)

    def _terms(self, experiment: str | None, filter: str | None) -> _Terms:
        """The filter's top-level AND terms (probe SQL) and which of them can drive a search."""
        tree = parse_filter(filter) if filter is not None and filter.strip() else None
        terms = _Terms()
        if experiment is not None:
            exp_id = self._experiment_id(experiment)
            source = ("SELECT id AS run_id FROM runs WHERE experiment_id = ?", [exp_id])
            terms.add("r.experiment_id = ?", [exp_id], source)
        for node in conjuncts(tree):
            params: list[Any] = []
            terms.add(compile_node(node, params), params, leaf_source(node))
        return terms

    def count(self, experiment: str | None = None, filter: str | None = None) -> int:
        self.reap()
        terms = self._terms(experiment, filter)
        driver = _choose_driver(self.db, terms, wanted=None)
        if driver is None:
            where, params = terms.where()
            return int(self.db.scalar(f"SELECT count(*) FROM runs r WHERE {where}", params))
        where, params = terms.where(skip=driver.index)
        return int(self.db.scalar(
            f"SELECT count(*) FROM ({driver.sql}) d CROSS JOIN runs r ON r.id = d.run_id WHERE {where}",
            [*driver.params, *params],
        ))

    def search(
        self,
        experiment: str | None = None,
        filter: str | None = None,
        sort: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Runs matching `filter` (see experiments/search_expr.py), ordered by `sort` (default -created)."""
        if not isinstance(limit, int) or not isinstance(offset, int) or limit < 0 or offset < 0:
            raise UserError(f"limit and offset must be whole numbers >= 0, got {limit!r} and {offset!r}")
        self.reap()
        sort_key = parse_sort(sort)
        ids = _search_ids(self.db, self._terms(experiment, filter), sort_key, limit, offset)
        return self._hydrate(ids)

    def best_recent(self, limit: int = 50) -> dict[str, Any] | None:
        """The best of the `limit` newest runs by their task's primary metric (`evaluation.best_run`)."""
        from mlcycle_tui.experiments.evaluation import best_run  # numpy and pandas: only when asked

        return best_run(self.search(limit=limit))

    def resolve_id(self, ref: str) -> str:
        """The full id of a run given its id or a unique prefix of at least 6 characters."""
        text = ref.strip().lower() if isinstance(ref, str) else ""
        if not _RUN_ID_RE.fullmatch(text):
            raise UserError(f"{ref!r} is not a run id: run ids are 32 hex characters (a prefix of 6 or more works)")
        if len(text) < MIN_PREFIX:
            raise UserError(f"run id prefix {ref!r} is too short: give at least {MIN_PREFIX} characters")
        ids = [r["id"] for r in self.db.query(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 5", (text, text + "g"))]
        if not ids:
            raise NotFoundError(f"no run {ref!r}; list runs with `mlcycle runs list`")
        if len(ids) > 1:
            shown = ", ".join(i[:12] for i in ids[:4]) + (", ..." if len(ids) > 4 else "")
            raise UserError(f"run id prefix {ref!r} is ambiguous: it matches {shown}; give more characters")
        return ids[0]

    def get(self, run_ref: str) -> dict[str, Any]:
        """One run with everything recorded about it (id or unique prefix >= 6 chars)."""
        import json

        self.reap()
        run_id = self.resolve_id(run_ref)
        doc = self._hydrate([run_id])[0]
        row = self.db.query_one(
            "SELECT versions_json, git_commit, pid, hostname, heartbeat, error FROM runs WHERE id = ?", (run_id,)
        ) or {}
        doc.update(
            versions=json.loads(row.get("versions_json") or "{}"),
            git_commit=row.get("git_commit"),
            pid=row.get("pid"),
            hostname=row.get("hostname"),
            error=row.get("error"),
            metric_steps={r["key"]: r["step"] for r in self.db.query(
                "SELECT key, step FROM metrics_latest WHERE run_id = ?", (run_id,))},
            artifacts=self.list_artifacts(run_id),
        )
        return doc

    def metric_history(self, run_ref: str, key: str) -> list[dict[str, Any]]:
        """Every value of one metric of a run: [{"step","value","timestamp"}] by step."""
        run_id = self.resolve_id(run_ref)
        rows = self.db.query(
            "SELECT step, value, timestamp FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, seq",
            (run_id, key),
        )
        for r in rows:
            r["value"] = math.nan if r["value"] is None else r["value"]
        return rows

    def compare(self, run_refs: Sequence[str]) -> dict[str, Any]:
        """Runs side by side: values per run for each attribute, param and metric, and which differ."""
        if not run_refs:
            raise UserError("compare needs at least one run id")
        runs = [self.get(ref) for ref in run_refs]
        out: dict[str, Any] = {"runs": runs, "differences": []}
        attrs = ["experiment", "status", "dataset", "split_id", "seed", "model", "task", "duration"]
        out["attributes"] = {a: [r.get(a) for r in runs] for a in attrs}
        for section in ("params", "metrics", "tags"):
            keys = sorted({k for r in runs for k in r[section]})
            out[section] = {k: [r[section].get(k) for r in runs] for k in keys}
        for section in ("attributes", "params", "metrics", "tags"):
            for key, values in out[section].items():
                if key != "duration" and len({repr(v) for v in values}) > 1:
                    out["differences"].append(key if section == "attributes" else f"{section}.{key}")
        out["warnings"] = _comparison_warnings(runs)
        return out

    def list_artifacts(self, run_ref: str) -> list[dict[str, Any]]:
        run_id = self.resolve_id(run_ref)
        return self.db.query(
            "SELECT name, kind, artifact_sha256 AS sha256, artifact_path AS path, size, created "
            "FROM run_artifacts WHERE run_id = ? ORDER BY name",
            (run_id,),
        )

    def load_model(self, run_ref: str, name: str = "model") -> Any:
        """The estimator stored by `run.log_model` (sha256 checked before unpickling)."""
        run_id = self.resolve_id(run_ref)
        row = self.db.query_one(
            "SELECT artifact_sha256, artifact_path FROM run_artifacts WHERE run_id = ? AND name = ?",
            (run_id, name),
        )
        if row is None:
            raise NotFoundError(f"run {run_id[:12]} has no artifact {name!r}")
        return self.artifacts.load_joblib(row["artifact_sha256"], row["artifact_path"])

    def recipe(self, run_ref: str) -> dict[str, Any]:
        """The training recipe a run recorded (`recipe.json`): what `reproduce` and retraining redo."""
        run_id = self.resolve_id(run_ref)
        row = self.db.query_one(
            "SELECT artifact_sha256, artifact_path FROM run_artifacts WHERE run_id = ? AND name = 'recipe.json'",
            (run_id,),
        )
        if row is None:
            raise UserError(
                f"run {run_id[:12]} has no training recipe (it was not made by `mlcycle train`); "
                "only trained runs can be reproduced or retrained"
            )
        return json.loads(self.artifacts.load_bytes(row["artifact_sha256"], row["artifact_path"]))

    def artifact_tables(self) -> list[tuple[str, str]]:
        """(table, owner expression) of this stage's tables that point at artifacts, for `doctor()`."""
        return [("run_artifacts", "'run ' || run_id || ' ' || name")]

    # -- helpers ---------------------------------------------------------
    def _hydrate(self, ids: list[str]) -> list[dict[str, Any]]:
        """Summaries of runs in the order of `ids`: two queries per 500 runs (the runs with their params
        and tags as JSON, then their latest metrics, current while a run logs)."""
        import orjson

        docs: dict[str, dict[str, Any]] = {}
        cursor = self.db.connection().cursor()
        cursor.row_factory = None  # plain tuples: hundreds of rows per page
        for start in range(0, len(ids), _SQL_CHUNK):
            chunk = ids[start : start + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in cursor.execute(
                "SELECT r.id, r.name, e.name, r.status, r.created, r.ended, r.duration, "
                "v.name || '@' || v.version, r.split_id, r.seed, r.model, r.task, "
                "r.params_json, r.tags_json "
                "FROM runs r JOIN experiments e ON e.id = r.experiment_id "
                f"LEFT JOIN dataset_versions v ON v.id = r.dataset_version_id WHERE r.id IN ({marks})",
                chunk,
            ):
                doc = dict(zip(_SUMMARY_FIELDS, row[:12], strict=True))
                doc["metrics"] = {}
                doc["params"] = dict(sorted(orjson.loads(row[12]).items())) if row[12] != "{}" else {}
                doc["tags"] = dict(sorted(orjson.loads(row[13]).items())) if row[13] != "{}" else {}
                docs[row[0]] = doc
            # in key order per run: the primary key's order, the IN list walked sorted (no sort step)
            for run_id, key, value in cursor.execute(
                f"SELECT run_id, key, value FROM metrics_latest WHERE run_id IN ({marks}) ORDER BY run_id, key",
                chunk,
            ):
                if run_id in docs:
                    docs[run_id]["metrics"][key] = math.nan if value is None else value
        return [docs[i] for i in ids if i in docs]


    # -- runs made elsewhere (the MLflow tracking API, `mlcycle import mlflow`) --------------------
    def record_run(
        self,
        experiment: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        status: str = "running",
        created: str | None = None,
        ended: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        commit: str | None = None,
    ) -> Run:
        """A run made by another program (no heartbeat thread, pid or host of this process).

        With `run_id` (32 hex digits) the run keeps the id it had elsewhere; an id already
        recorded is a UserError. `name` is kept when it is a valid run name (free-text names
        stay in the caller's tags). `created` and `ended` are ISO times (now by default)."""
        check_name(experiment, "experiment name")
        if status not in STATUSES:
            raise UserError(f"a run's status is one of {', '.join(STATUSES)}, not {status!r}")
        run_id = run_id.lower() if run_id else uuid.uuid4().hex
        if not re.fullmatch(r"[0-9a-f]{32}", run_id):
            raise UserError(f"run id {run_id!r} is not 32 hex characters")
        if name is not None and (not isinstance(name, str) or not NAME_RE.match(name) or ".." in name):
            name = None
        created = created or now_iso()
        duration = max(0.0, (parse_iso(ended) - parse_iso(created)).total_seconds()) if ended else None
        beat = time.time() + (REMOTE_GRACE_S - STALE_AFTER_S if status == "running" else 0.0)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None:
                raise UserError(f"a run with id {run_id} is already recorded")
            conn.execute(
                "INSERT INTO experiments(name, created) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                (experiment, created),
            )
            exp_id = conn.execute("SELECT id FROM experiments WHERE name = ?", (experiment,)).fetchone()[0]
            conn.execute(
                "INSERT INTO runs(id, experiment_id, name, status, created, ended, duration, git_commit, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, exp_id, name, status, created, ended if status != "running" else None,
                 duration if status != "running" else None, commit, beat),
            )
            run = Run(self, run_id, experiment)
            run.status = status
            if params or tags:
                run.log_batch(params=params, tags=tags)
        return run

    def open_run(self, run_ref: str) -> Run:
        """A handle on a recorded run, to log into it (from another request or process)."""
        run_id = self.resolve_id(run_ref)
        row = self.db.query_one(
            "SELECT e.name AS experiment, r.status FROM runs r JOIN experiments e ON e.id = r.experiment_id "
            "WHERE r.id = ?", (run_id,))
        if row is None:
            raise NotFoundError(f"no run {run_ref!r}; list runs with `mlcycle runs list`")
        run = Run(self, run_id, row["experiment"])
        run.status = row["status"]
        return run

    def create_experiment(self, name: str) -> tuple[int, bool]:
        """(id, created) of the experiment `name`, made now unless it exists."""
        check_name(name, "experiment name")
        with self.db.transaction() as conn:
            cur = conn.execute("INSERT INTO experiments(name, created) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                               (name, now_iso()))
            exp_id = conn.execute("SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()[0]
        return int(exp_id), cur.rowcount > 0

    def experiment_rows(self, *, name: str | None = None, exp_id: int | None = None) -> list[dict[str, Any]]:
        """Experiments as {"id", "name", "created", "last_run"}: all, or the one of this name or id."""
        return self.db.query(
            "SELECT e.id, e.name, e.created, max(r.created) AS last_run FROM experiments e "
            "LEFT JOIN runs r ON r.experiment_id = e.id WHERE (? IS NULL OR e.name = ?) AND (? IS NULL OR e.id = ?) "
            "GROUP BY e.id ORDER BY e.id", (name, name, exp_id, exp_id))

    def delete(self, run_ref: str) -> str:
        """Delete a run and what it logged (its artifact files stay until `mlcycle doctor --fix`);
        refused while a model version was registered from it. Returns its id."""
        run_id = self.resolve_id(run_ref)
        used = self.db.query("SELECT name, version FROM model_versions WHERE run_id = ? ORDER BY name, version",
                             (run_id,))
        if used:
            refs = ", ".join(f"{u['name']}@{u['version']}" for u in used)
            raise UserError(f"run {run_id[:12]} is the source of model version {refs}: it is kept so that the "
                            "version keeps its lineage")
        _HEARTBEAT.remove(run_id)
        with self.db.transaction() as conn:
            for table in ("metrics", "metrics_latest", "params", "tags", "run_artifacts"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            self.events.log("run", run_id, f"run {run_id[:8]} deleted")
        return run_id

    def latest_metric_rows(self, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Per run, the latest value of each metric with its step and time: [{"key","value","step","timestamp"}]."""
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in run_ids}
        for start in range(0, len(run_ids), _SQL_CHUNK):
            chunk = list(run_ids[start : start + _SQL_CHUNK])
            marks = ",".join("?" * len(chunk))
            for r in self.db.query(
                f"SELECT run_id, key, value, step, timestamp FROM metrics_latest WHERE run_id IN ({marks}) "
                "ORDER BY run_id, key", chunk,
            ):
                out[r.pop("run_id")].append(r)
        return out

    def artifact_rows(self, run_ids: Sequence[str] | None = None, *, kinds: Sequence[str] | None = None,
                      name: str | None = None) -> list[dict[str, Any]]:
        """Artifact records {"run_id","name","kind","sha256","path","size","created"} of these runs (all runs
        when None), of these kinds, of this name."""
        where, params = ["1"], []
        if run_ids is not None:
            if not run_ids:
                return []
            where.append(f"run_id IN ({','.join('?' * len(run_ids))})")
            params += list(run_ids)
        if kinds is not None:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            params += list(kinds)
        if name is not None:
            where.append("name = ?")
            params.append(name)
        return self.db.query(
            "SELECT run_id, name, kind, artifact_sha256 AS sha256, artifact_path AS path, size, created "
            f"FROM run_artifacts WHERE {' AND '.join(where)} ORDER BY run_id, name", params)

    def artifact_file(self, run_ref: str, name: str) -> Path:
        """The stored file of a run's artifact, once its sha256 matches the record."""
        run_id = self.resolve_id(run_ref)
        row = self.db.query_one(
            "SELECT artifact_sha256, artifact_path FROM run_artifacts WHERE run_id = ? AND name = ?", (run_id, name))
        if row is None:
            raise NotFoundError(f"run {run_id[:12]} has no artifact {name!r}")
        return self.artifacts.verify(row["artifact_sha256"], row["artifact_path"])


    def summaries(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Run summaries (as `search` returns them) of these ids, in their order; unknown ids are left out."""
        return self._hydrate(list(run_ids))


_SUMMARY_FIELDS = ("run_id", "name", "experiment", "status", "created", "ended", "duration", "dataset",
                   "split_id", "seed", "model", "task")


# -- searching -----------------------------------------------------------------
# A search either *walks* the sort order (an index on the sort key) testing each
# run against the filter until the page is full, which is cheap when many runs
# match, or is *driven* by its most selective term (an index range of run ids)
# and sorts what matches, which is cheap when few do. Index range counts are
# cheap, so the choice is made per query from them.
_NULLABLE_ATTRS = {"name", "ended", "duration", "model", "task", "seed", "split_id", "dataset"}
_WALKABLE_ATTRS = {"created", "duration", "run_id", "model", "task", "status"}  # indexed
_SORT_EXPR = {
    **ATTRIBUTES,
    "experiment": "(SELECT name FROM experiments WHERE id = r.experiment_id)",
    "dataset": "(SELECT name || '@' || version FROM dataset_versions WHERE id = r.dataset_version_id)",
}
_SORT_TABLES = {"metric": "metrics_latest", "param": "params", "tag": "tags"}


@dataclass
class _Source:
    index: int  # which term it replaces
    sql: str
    params: list[Any]
    count: int


@dataclass
class _Terms:
    """Top-level AND terms of a search: probe SQL over `runs r`, and optional id sources."""

    sql: list[tuple[str, list[Any]]] = field(default_factory=list)
    sources: list[tuple[int, str, list[Any]]] = field(default_factory=list)

    def add(self, sql: str, params: list[Any], source: tuple[str, list[Any]] | None) -> None:
        if source is not None:
            self.sources.append((len(self.sql), *source))
        self.sql.append((sql, params))

    def where(self, skip: int | None = None) -> tuple[str, list[Any]]:
        parts = [(s, p) for i, (s, p) in enumerate(self.sql) if i != skip]
        if not parts:
            return "1", []
        return " AND ".join(f"({s})" for s, _ in parts), [v for _, p in parts for v in p]


def _choose_driver(db: Database, terms: _Terms, wanted: int | None, walkable: bool = True) -> _Source | None:
    """The source to drive from, or None to walk the sort order (see above)."""
    if not terms.sources:
        return None
    sources = [_Source(i, sql, p, int(db.scalar(f"SELECT count(*) FROM ({sql})", p))) for i, sql, p in terms.sources]
    best = min(sources, key=lambda s: s.count)
    if wanted is None or not walkable:
        return best
    total = max(1, int(db.scalar("SELECT count(*) FROM runs")))
    matching = float(total)
    for src in sources:  # assume independent terms
        matching *= src.count / total
    walk_rows = wanted * total / max(matching, 1e-9)
    return best if best.count <= walk_rows else None


def _sort_parts(sort: SortKey) -> tuple[str, str, list[Any], str]:
    """(sort expression, join, join params, tie-breaker) for a sort key."""
    field_ = sort.field
    if field_.kind == "attr":
        return _SORT_EXPR[field_.name], "", [], "r.rowid"
    join = f"LEFT JOIN {_SORT_TABLES[field_.kind]} s ON s.run_id = r.id AND s.key = ?"
    return "s.value", join, [field_.name], "r.id"  # params and tags sort as text (as in MLflow)


def _search_ids(db: Database, terms: _Terms, sort: SortKey, limit: int, offset: int) -> list[str]:
    """Ids of matching runs in sort order; runs without the sort value come last."""
    walkable = sort.field.kind != "attr" or sort.field.name in _WALKABLE_ATTRS
    driver = _choose_driver(db, terms, limit + offset, walkable)
    direction = "DESC" if sort.descending else "ASC"
    expr, join, join_params, tie = _sort_parts(sort)
    if driver is not None:
        where, params = terms.where(skip=driver.index)
        rows = db.query(
            f"SELECT r.id FROM ({driver.sql}) d CROSS JOIN runs r ON r.id = d.run_id {join} WHERE {where} "
            f"ORDER BY ({expr}) IS NULL, {expr} {direction}, {tie} {direction} LIMIT ? OFFSET ?",
            [*driver.params, *join_params, *params, limit, offset],
        )
        return [r["id"] for r in rows]
    where, params = terms.where()
    if sort.field.kind == "attr" and sort.field.name not in _NULLABLE_ATTRS:
        rows = db.query(
            f"SELECT r.id FROM runs r WHERE {where} ORDER BY {expr} {direction}, {tie} {direction} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [r["id"] for r in rows]
    if sort.field.kind == "attr":
        first = (f"SELECT r.id FROM runs r WHERE {expr} IS NOT NULL AND ({where}) "
                 f"ORDER BY {expr} {direction}, {tie} {direction}", params)
        second = (f"SELECT r.id FROM runs r WHERE {expr} IS NULL AND ({where}) ORDER BY {tie} {direction}", params)
        return _two_phase(db, first, second, limit, offset)
    table = _SORT_TABLES[sort.field.kind]
    first = (
        f"SELECT r.id FROM {table} s JOIN runs r ON r.id = s.run_id "
        f"WHERE s.key = ? AND s.value IS NOT NULL AND ({where}) ORDER BY {expr} {direction}, s.run_id {direction}",
        [sort.field.name, *params],
    )
    second = (
        f"SELECT r.id FROM runs r WHERE NOT EXISTS (SELECT 1 FROM {table} s WHERE s.run_id = r.id "
        f"AND s.key = ? AND s.value IS NOT NULL) AND ({where}) ORDER BY r.id {direction}",
        [sort.field.name, *params],
    )
    return _two_phase(db, first, second, limit, offset)


def _two_phase(
    db: Database, first: tuple[str, list[Any]], second: tuple[str, list[Any]], limit: int, offset: int
) -> list[str]:
    """Page through `first` then `second` as if they were one ordered list."""
    ids = [r["id"] for r in db.query(first[0] + " LIMIT ? OFFSET ?", [*first[1], limit, offset])]
    if len(ids) >= limit:
        return ids
    in_first = offset + len(ids) if ids else int(db.scalar(f"SELECT count(*) FROM ({first[0]})", first[1]))
    more = db.query(
        second[0] + " LIMIT ? OFFSET ?", [*second[1], limit - len(ids), max(0, offset - in_first)]
    )
    return ids + [r["id"] for r in more]

"""Dataset versions: ingest, append, list, show and load.

Why this exists: data enters the lifecycle here, once, as an immutable,
content-hashed version. Identical content returns the existing version;
changed content makes a new one. The file is written (Parquet, in the artifact
store) before its row, inside one short transaction, so a killed process
leaves no half-made version.

A version is one file, or (made by `append`, as watched sources do) the parts
of the version it extends followed by one new file of the new rows: nothing
stored twice. Its row points at its own new part and at the version it extends
(`base_id`); `parts(ref)` lists the files in row order and `load_frame` reads
them all, each checked against its sha256. The content hash and the duplicate
count stay exactly those of the whole data (each part's row hashes are kept,
8 bytes a row); the profile is merged from a summary of the base (see
`profiling.STATE_CAP` for what is exact and what is estimated).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.config import check_name, parse_ref

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.events import Events
    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database

Progress = Callable[[float, str], None]


def _no_progress(_fraction: float, _message: str) -> None:
    return None


@dataclass
class DatasetVersion:
    """One immutable version of a dataset."""

    id: int
    name: str
    version: int
    rows: int
    columns: int
    sha256: str
    artifact_sha256: str
    artifact_path: str
    target: str | None
    time_column: str | None
    source: str
    created: str
    profile: dict[str, Any] = field(repr=False)
    existing: bool = False
    parts: int = 1
    base_id: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def schema(self) -> list[dict[str, str]]:
        from mlcycle_tui.data.profiling import schema_of

        return schema_of(self.profile)

    def column(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.profile["columns"] if c["name"] == name), None)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "rows": self.rows,
            "columns": self.columns,
            "sha256": self.sha256,
            "created": self.created,
            "target": self.target,
            "time_column": self.time_column,
            "existing": self.existing,
        }

    def describe(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "source": self.source,
            "duplicate_rows": self.profile.get("duplicate_rows", 0),
            "parts": self.parts,
            "columns": self.profile["columns"],
        }

    @classmethod
    def from_row(cls, row: dict[str, Any], existing: bool = False) -> DatasetVersion:
        return cls(
            id=row["id"],
            name=row["name"],
            version=row["version"],
            rows=row["rows"],
            columns=row["columns"],
            sha256=row["content_sha256"],
            artifact_sha256=row["artifact_sha256"],
            artifact_path=row["artifact_path"],
            target=row["target"],
            time_column=row["time_column"],
            source=row["source"],
            created=row["created"],
            profile=json.loads(row["profile_json"]),
            existing=existing,
            parts=row.get("parts") or 1,
            base_id=row.get("base_id"),
        )


@dataclass
class AppendPlan:
    """A version about to be made of `base`'s parts and the new rows `part` (`Data.plan_append`):
    its content hash is known before anything is written (sources record it first)."""

    base: DatasetVersion
    part: pd.DataFrame = field(repr=False)
    content: str
    profile: dict[str, Any] = field(repr=False)
    state: dict[str, Any] = field(repr=False)
    hashes: Any = field(repr=False)  # the new rows' row hashes
    base_hashes: Any = field(repr=False)  # a one-file base's, to record with it (None: recorded)
    factorized: dict[str, Any] = field(repr=False, default_factory=dict)


# the versions a version is built on, itself first (depth 0), back to its first part
_CHAIN = (
    "WITH RECURSIVE chain(id, base_id, depth) AS ("
    " SELECT id, base_id, 0 FROM dataset_versions WHERE id = ?"
    " UNION ALL SELECT v.id, v.base_id, c.depth + 1 FROM dataset_versions v JOIN chain c ON v.id = c.base_id)"
)


def prepare_frame(frame: pd.DataFrame, target: str | None, time_column: str | None) -> pd.DataFrame:
    """Check the target and time column exist; parse the time column."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    if repeated:
        raise UserError(
            f"the data has duplicate column names: {', '.join(repeated)}; rename them and ingest again"
        )
    frame.columns = columns
    for option, col in (("--target", target), ("--time-column", time_column)):
        if col is not None and col not in columns:
            raise UserError(
                f"{option} {col!r} is not a column of the data; columns are: {', '.join(columns)}"
            )
    for name in columns:
        if frame[name].dtype == object and pd.api.types.infer_dtype(frame[name], skipna=True).startswith(
            "mixed"
        ):  # numbers and text in one column (a DataFrame source): one text column, as from CSV
            frame[name] = frame[name].map(lambda v: v if pd.isna(v) else str(v)).astype("str")
    if time_column is not None:
        series = frame[time_column]
        if not (
            pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_numeric_dtype(series)
        ):
            parsed = pd.to_datetime(series, errors="coerce", format="mixed")
            bad = int((parsed.isna() & series.notna()).sum())
            if bad or parsed.notna().sum() == 0:
                example = series[parsed.isna() & series.notna()].head(1).tolist()
                raise UserError(
                    f"--time-column {time_column!r} could not be read as dates or times "
                    f"({bad} unparseable values, e.g. {example}); choose a date, time or "
                    "numeric column"
                )
            frame[time_column] = parsed
    return frame


class Data:
    """Workspace methods for dataset versions (see `Workspace`; uses its `log_event`)."""

    def __init__(self, db: Database, artifacts: ArtifactStore, events: Events,
                 settings: dict[str, Any] | None = None) -> None:
        self.db = db
        self.artifacts = artifacts
        self.events = events
        self.settings = settings if settings is not None else {}

    def ingest(
        self,
        source: str | Path | pd.DataFrame,
        name: str,
        *,
        target: str | None = None,
        time_column: str | None = None,
        format: str | None = None,
        table: str | None = None,
        progress: Progress | None = None,
        stream: bool | None = None,
        block_bytes: int | None = None,
    ) -> DatasetVersion:
        """Import a file (or a DataFrame) as a dataset version.

        A CSV is streamed (read, written and profiled block by block, in bounded memory; see
        `streaming`) when `stream` is True, or when it is None and the file is large: above
        `[ingest] stream_above_mb` or a quarter of the free memory. Either way it is the same
        version. `block_bytes` sets the CSV bytes per block of a streamed ingest."""
        from mlcycle_tui.data import profiling
        from mlcycle_tui.data.readers import read_table

        report = progress or _no_progress
        check_name(name, "dataset name")
        report(0.05, "reading")
        if isinstance(source, str | Path) and self._streams(Path(source), format, stream):
            return self._ingest_streamed(Path(source), name, target, time_column, block_bytes, report)
        if isinstance(source, str | Path):
            frame = read_table(source, format, table)
            source_text, fmt = str(Path(source).resolve()), format or Path(source).suffix.lstrip(".")
        else:
            frame = source.copy()
            if len(frame) == 0:
                raise UserError("the data frame has no rows; nothing to ingest")
            source_text, fmt = "<dataframe>", "dataframe"
        frame = prepare_frame(frame, target, time_column)
        frame = frame.reset_index(drop=True)
        # Parquet encoding and writing (Arrow and hashlib, GIL released) overlap with hashing
        # and profiling; when the content turns out to be known, the file is the existing
        # artifact (same bytes, same address)
        with ThreadPoolExecutor(profiling.worker_threads(), thread_name_prefix="mlcycle-ingest") as pool:
            # text columns are factorised once, first: for their profile, their row hashes and
            # the file (handed to the Parquet writer already dictionary-encoded)
            factorized = {
                name: pool.submit(profiling.factorize_text, frame[name])
                for name in frame.columns
                if profiling.is_text(frame[name])
            }
            written = pool.submit(self.artifacts.put_parquet, frame, factorized)
            report(0.45, "profiling")
            # the columns queue behind the file on the same threads: whichever is free takes
            # the next column, so every core stays busy until the end
            profile, content = profiling.profile_and_digest(frame, pool, factorized)
            found = self._find_version(name, content, target, time_column)
            report(0.8, "writing")
            art_sha, rel = written.result()
            if found is not None:
                report(1.0, "unchanged")
                return found
        report(0.95, "recording")
        version = self._record(name, content, art_sha, rel, len(frame), frame.shape[1], target, time_column,
                               source_text, fmt, profile)
        report(1.0, "done")
        return version

    def _streams(self, path: Path, fmt: str | None, stream: bool | None) -> bool:
        """Whether `ingest` streams this file (a CSV; see `ingest`)."""
        from mlcycle_tui.data.readers import detect_format
        from mlcycle_tui.data.streaming import should_stream

        if stream is False or not path.is_file() or path.stat().st_size == 0 or detect_format(path, fmt) != "csv":
            return False  # (read_table says what is wrong with a missing or empty file)
        if stream:
            return True
        section = self.settings.get("ingest")
        threshold = section.get("stream_above_mb", 1024) if isinstance(section, dict) else 1024
        return should_stream(path, float(threshold))

    def _ingest_streamed(self, path: Path, name: str, target: str | None, time_column: str | None,
                         block_bytes: int | None, report: Progress) -> DatasetVersion:
        """`ingest` of a CSV block by block: the file is complete (renamed into the store) before
        its row is written, and removed again when the content turns out to be known."""
        from mlcycle_tui.data.streaming import DEFAULT_BLOCK_BYTES, stream_csv

        done = stream_csv(path, self.artifacts, target=target, time_column=time_column,
                          block_bytes=block_bytes or DEFAULT_BLOCK_BYTES, report=report)
        report(0.95, "recording")
        version = self._record(name, done.content, done.artifact_sha256, done.artifact_path, done.rows,
                               done.columns, target, time_column, str(path.resolve()), "csv", done.profile)
        if version.existing and version.artifact_path != done.artifact_path:
            self._drop_unreferenced(done.artifact_path)
        report(1.0, "unchanged" if version.existing else "done")
        return version

    def _drop_unreferenced(self, rel: str) -> None:
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM dataset_versions WHERE artifact_path = ?", (rel,)).fetchone() is None:
                self.artifacts.path(rel).unlink(missing_ok=True)

    def _record(self, name: str, content: str, art_sha: str, rel: str, rows: int, columns: int,
                target: str | None, time_column: str | None, source_text: str, fmt: str,
                profile: dict[str, Any]) -> DatasetVersion:
        """The row of a new one-file version (or the existing version of the same content)."""
        from mlcycle_tui.data import profiling

        with self.db.transaction() as conn:
            again = self._find_version(name, content, target, time_column)
            if again is not None:
                return again
            now = now_iso()
            conn.execute("INSERT OR IGNORE INTO datasets(name, created) VALUES (?, ?)", (name, now))
            version = 1 + (
                conn.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE name = ?", (name,)
                ).fetchone()[0]
            )
            conn.execute(
                "INSERT INTO dataset_versions(name, version, content_sha256, artifact_sha256,"
                " artifact_path, rows, columns, target, time_column, source, source_format,"
                " schema_json, profile_json, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    name,
                    version,
                    content,
                    art_sha,
                    rel,
                    rows,
                    columns,
                    target,
                    time_column,
                    source_text,
                    fmt,
                    json.dumps(profiling.schema_of(profile)),
                    json.dumps(profile),
                    now,
                ),
            )
            self.events.log("ingest", f"{name}@{version}", f"{rows} rows x {columns} columns")
        return self.dataset(f"{name}@{version}")

    def sqlite_tables(self, path: str | Path) -> list[dict[str, Any]]:
        """The tables and views of a SQLite file, to choose `table=` for `ingest`: each with
        its name, kind ("table" or "view"), column names and row count."""
        from mlcycle_tui.data.readers import sqlite_tables

        return sqlite_tables(path)

    def format_of(self, path: str | Path) -> str | None:
        """The format a file's name says ("csv", "parquet", "jsonl", "sqlite"), or None."""
        from mlcycle_tui.data.readers import format_from_name

        return format_from_name(path)

    def _find_version(
        self, name: str, content: str, target: str | None, time_column: str | None
    ) -> DatasetVersion | None:
        row = self.db.query_one(
            "SELECT * FROM dataset_versions WHERE name = ? AND content_sha256 = ?"
            " AND target IS ? AND time_column IS ? ORDER BY version DESC LIMIT 1",
            (name, content, target, time_column),
        )
        return DatasetVersion.from_row(row, existing=True) if row else None

    def datasets(self) -> list[DatasetVersion]:
        """The latest version of every dataset."""
        rows = self.db.query(
            "SELECT v.* FROM dataset_versions v JOIN ("
            " SELECT name, MAX(version) AS version FROM dataset_versions GROUP BY name"
            ") m ON m.name = v.name AND m.version = v.version ORDER BY v.name"
        )
        return [DatasetVersion.from_row(r) for r in rows]

    def versions(self, name: str) -> list[DatasetVersion]:
        rows = self.db.query(
            "SELECT * FROM dataset_versions WHERE name = ? ORDER BY version DESC", (name,)
        )
        return [DatasetVersion.from_row(r) for r in rows]

    def dataset(self, ref: str | DatasetVersion) -> DatasetVersion:
        """Resolve `NAME` (latest) or `NAME@VERSION`."""
        if isinstance(ref, DatasetVersion):
            return ref
        parsed = parse_ref(ref, "dataset reference")
        if parsed.version is None:
            row = self.db.query_one(
                "SELECT * FROM dataset_versions WHERE name = ? ORDER BY version DESC LIMIT 1",
                (parsed.name,),
            )
        else:
            row = self.db.query_one(
                "SELECT * FROM dataset_versions WHERE name = ? AND version = ?",
                (parsed.name, parsed.version),
            )
        if row is None:
            known = ", ".join(d.ref for d in self.datasets()) or "none yet"
            raise NotFoundError(
                f"no dataset {ref!r}; known datasets: {known} (import one with `mlcycle data ingest`)"
            )
        return DatasetVersion.from_row(row)

    def dataset_by_id(self, version_id: int) -> DatasetVersion:
        row = self.db.query_one("SELECT * FROM dataset_versions WHERE id = ?", (version_id,))
        if row is None:
            raise NotFoundError(f"no dataset version with id {version_id}")
        return DatasetVersion.from_row(row)

    def artifact_tables(self) -> list[tuple[str, str]]:
        """(table, owner expression) of this stage's tables that point at artifacts, for `doctor()`.

        Every part of a multi-part version is the own file of the version that added it, so
        `dataset_versions` lists each file once (owned by that version)."""
        return [("dataset_versions", "name || '@' || version")]

    def validate(self, ref: Any, reference: Any | None = None) -> dict[str, Any]:
        """Errors and warnings for a version's profile (and schema changes against `reference`)."""
        from mlcycle_tui.data.validation import validate_profile

        ds = self.dataset(ref)
        ref_profile = self.dataset(reference).profile if reference is not None else None
        result = validate_profile(ds.profile, ds.target, ref_profile)
        result["dataset"] = ds.ref
        if reference is not None:
            result["reference"] = self.dataset(reference).ref
        return result

    def load_frame(self, ref: str | DatasetVersion, columns: list[str] | None = None) -> pd.DataFrame:
        """The version's data, after the SHA-256 of each of its files was checked."""
        ds = self.dataset(ref)
        if ds.parts == 1:
            return self.artifacts.load_parquet(ds.artifact_sha256, ds.artifact_path, columns=columns)
        return self._read_parts(self.parts(ds), columns)

    def load_rows(
        self, ref: str | DatasetVersion, start: int, stop: int, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Rows `start` to `stop` of the version, reading only the parts that hold them."""
        ds = self.dataset(ref)
        if ds.parts == 1:
            return self.load_frame(ds, columns).iloc[start:stop].reset_index(drop=True)
        wanted = [p for p in self.parts(ds) if p["start"] < stop and p["start"] + p["rows"] > start]
        if not wanted:
            return self.load_frame(ds, columns).iloc[0:0]
        frame = self._read_parts(wanted, columns)
        first = wanted[0]["start"]
        return frame.iloc[start - first : stop - first].reset_index(drop=True)

    def parts(self, ref: str | DatasetVersion) -> list[dict[str, Any]]:
        """The files a version is made of, in row order: each with the version that added it,
        its sha256, path, first row and number of rows (a one-file version: one entry)."""
        ds = self.dataset(ref)
        if ds.parts == 1:
            return [{"version": ds.version, "sha256": ds.artifact_sha256, "path": ds.artifact_path,
                     "start": 0, "rows": ds.rows}]
        rows = self.db.query(
            _CHAIN + " SELECT v.version, v.artifact_sha256, v.artifact_path, v.rows, v.part_rows"
            " FROM chain c JOIN dataset_versions v ON v.id = c.id ORDER BY c.depth DESC",
            (ds.id,),
        )
        out, start = [], 0
        for r in rows:
            count = r["part_rows"] if r["part_rows"] is not None else r["rows"]
            out.append({"version": r["version"], "sha256": r["artifact_sha256"], "path": r["artifact_path"],
                        "start": start, "rows": count})
            start += count
        return out

    def _read_parts(self, parts: list[dict[str, Any]], columns: list[str] | None) -> pd.DataFrame:
        import pandas as pd

        frames = [self.artifacts.load_parquet(p["sha256"], p["path"], columns=columns) for p in parts]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    # -- versions made of parts ---------------------------------------------------------
    def append(
        self, base: str | DatasetVersion, rows: pd.DataFrame, *, source: str = "<dataframe>"
    ) -> DatasetVersion:
        """A new version: `base`'s rows followed by `rows`, storing only `rows` (one new part).

        Rows whose columns would change dtype for the whole history (an integer column
        given a missing value, text mixed with numbers in an object column, a dtype the
        merged profile does not handle) are stored with the history as one new file, as
        `ingest` of the concatenation would: the result is the same data either way."""
        import pandas as pd

        ds = self.dataset(base)
        plan = self.plan_append(ds, rows)
        if plan is not None:
            return self.commit_append(plan, source=source)
        previous = self.load_frame(ds)
        combined = pd.concat([previous, rows[list(previous.columns)]], ignore_index=True)
        return self.ingest(combined, ds.name, target=ds.target, time_column=ds.time_column)

    def plan_append(self, base: str | DatasetVersion, rows: pd.DataFrame) -> AppendPlan | None:
        """What `append` would record (content hash, merged profile), or None when the rows
        cannot be a part of `base` (see `append`); nothing is written."""
        import numpy as np
        import pandas as pd

        from mlcycle_tui.data import profiling

        ds = self.dataset(base)
        names = [c["name"] for c in ds.profile["columns"]]
        rows = rows.copy()
        rows.columns = [str(c) for c in rows.columns]
        if len(rows) == 0:
            raise UserError("no new rows to append")
        if sorted(rows.columns) != sorted(names):
            raise UserError(f"the new rows have the columns {', '.join(rows.columns)}; "
                            f"{ds.ref} has {', '.join(names)}")
        rows = rows[names].reset_index(drop=True)
        if ds.time_column is not None and not (pd.api.types.is_datetime64_any_dtype(rows[ds.time_column])
                                               or pd.api.types.is_numeric_dtype(rows[ds.time_column])):
            rows[ds.time_column] = prepare_frame(rows[[ds.time_column]], None, ds.time_column)[ds.time_column]
        part = _aligned(rows, ds.profile)
        if part is None:
            return None
        base_hashes, base_state = self._digests(ds)
        reads_base = base_hashes is None or base_state is None
        big = max(len(part), ds.rows if reads_base else 0) >= 50_000  # else threads cost more than they save
        with (ThreadPoolExecutor(profiling.worker_threads(), thread_name_prefix="mlcycle-append") if big
              else _InlineExecutor()) as pool:
            if reads_base:  # a one-file base: read once, then recorded
                whole = self.load_frame(ds)
                texts = {n: pool.submit(profiling.factorize_text, whole[n])
                         for n in whole.columns if profiling.is_text(whole[n])}
                whole_state, whole_hashes = profiling.state_and_hashes(whole, pool, texts)
                del whole, texts
                if base_hashes is None:
                    if ds.parts != 1:
                        return None  # a part without its row hashes (not made by `append`)
                    base_hashes = whole_hashes
                if base_state is None:
                    if whole_state is None:
                        return None
                    base_state = whole_state
                    for col, known in zip(base_state["columns"], ds.profile["columns"], strict=True):
                        col["kind"] = known["kind"]
            pending = {n: pool.submit(profiling.factorize_text, part[n])
                       for n in part.columns if profiling.is_text(part[n])}
            part_state, hashes = profiling.state_and_hashes(part, pool, pending)
            factorized = {n: f.result() for n, f in pending.items()}
        merged = profiling.merge_states(base_state, part_state) if part_state is not None else None
        if merged is None or any(c.get("inferred") == "mixed" for c in merged["columns"]):
            return None  # (as ingest of the whole would: mixed text and numbers become text)
        for col in merged["columns"]:
            if col["family"] == "number" and col["integer"] and col["all_distinct"] is None \
                    and profiling.looks_like_id(col["name"]):
                # both sides distinct, ranges overlapping: whether the id column stays an id
                # is decided on its values (this one column of the history, read once)
                old = self.load_frame(ds, columns=[col["name"]])[col["name"]].to_numpy()
                col["all_distinct"] = not bool(pd.Index(old).isin(part[col["name"]].to_numpy()).any())
        distinct = pd.unique(hashes)
        # the history is scanned once against a hash table of the new rows (numpy's isin sorts)
        seen = pd.unique(base_hashes[pd.Index(base_hashes).isin(distinct)]).size
        fresh = distinct.size - seen
        duplicates = int(ds.profile.get("duplicate_rows", 0)) + len(part) - fresh
        profile = profiling.profile_from_state(merged, duplicates)
        content = profiling.content_sha256(part, np.concatenate([base_hashes, hashes]))
        recorded = base_hashes if self._needs_digest(ds) else None
        return AppendPlan(ds, part, content, profile, merged, hashes, recorded, factorized)

    def commit_append(self, plan: AppendPlan, *, source: str = "<dataframe>") -> DatasetVersion:
        """Make the version `plan` describes: the new part is written, then its row (and the
        new part's row hashes and merged summary) in one transaction. Known content returns
        the existing version."""
        from mlcycle_tui.data import profiling

        ds = plan.base
        found = self._find_version(ds.name, plan.content, ds.target, ds.time_column)
        if found is not None:
            return found
        art_sha, rel = self.artifacts.put_parquet(plan.part, plan.factorized)
        rows, new_rows = ds.rows + len(plan.part), len(plan.part)
        with self.db.transaction() as conn:
            again = self._find_version(ds.name, plan.content, ds.target, ds.time_column)
            if again is not None:
                return again
            version = 1 + conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE name = ?", (ds.name,)
            ).fetchone()[0]
            cur = conn.execute(
                "INSERT INTO dataset_versions(name, version, content_sha256, artifact_sha256,"
                " artifact_path, rows, columns, target, time_column, source, source_format,"
                " schema_json, profile_json, created, base_id, parts, part_rows)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ds.name, version, plan.content, art_sha, rel, rows, ds.columns, ds.target, ds.time_column,
                 source, "parts", json.dumps(profiling.schema_of(plan.profile)), json.dumps(plan.profile),
                 now_iso(), ds.id, ds.parts + 1, new_rows),
            )
            if plan.base_hashes is not None:
                conn.execute("INSERT OR IGNORE INTO dataset_part_digests(version_id, row_hashes) VALUES (?, ?)",
                             (ds.id, _hash_bytes(plan.base_hashes)))
            # the summary is kept for the newest version only: the next append starts there
            conn.execute("UPDATE dataset_part_digests SET merge_state = NULL WHERE version_id = ?", (ds.id,))
            conn.execute("INSERT INTO dataset_part_digests(version_id, row_hashes, merge_state) VALUES (?, ?, ?)",
                         (int(cur.lastrowid), _hash_bytes(plan.hashes), json.dumps(plan.state)))
            self.events.log("ingest", f"{ds.name}@{version}",
                            f"{rows} rows x {ds.columns} columns: {ds.ref} + {new_rows} rows (part {ds.parts + 1})")
        return self.dataset(f"{ds.name}@{version}")

    def _needs_digest(self, ds: DatasetVersion) -> bool:
        return self.db.query_one("SELECT 1 FROM dataset_part_digests WHERE version_id = ?", (ds.id,)) is None

    def _digests(self, ds: DatasetVersion) -> tuple[Any, dict[str, Any] | None]:
        """(row hashes of the whole version or None, its merge summary or None)."""
        import numpy as np

        rows = self.db.query(
            _CHAIN + " SELECT d.row_hashes, c.depth, d.merge_state FROM chain c"
            " LEFT JOIN dataset_part_digests d ON d.version_id = c.id ORDER BY c.depth DESC",
            (ds.id,),
        )
        state = next((json.loads(r["merge_state"]) for r in rows if r["depth"] == 0 and r["merge_state"]), None)
        if any(r["row_hashes"] is None for r in rows):
            return None, state
        return np.concatenate([np.frombuffer(r["row_hashes"], dtype="<u8") for r in rows]).astype("uint64"), state


class _InlineExecutor:
    """`submit` runs the task at once on the calling thread (small appends)."""

    def __enter__(self) -> _InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        done: Future[Any] = Future()
        done.set_result(fn(*args))
        return done


def _hash_bytes(hashes: Any) -> bytes:
    import numpy as np

    return np.ascontiguousarray(hashes, dtype="<u8").tobytes()


def _aligned(rows: pd.DataFrame, profile: dict[str, Any]) -> pd.DataFrame | None:
    """`rows` converted as concatenating them after data of `profile`'s dtypes would convert
    them (an int column into a float one...), or None when that would change a dtype."""
    import pandas as pd

    probe = {}
    for col in profile["columns"]:
        try:
            dtype = pd.api.types.pandas_dtype(col["dtype"])
        except (TypeError, ValueError):
            return None
        if str(dtype) != col["dtype"]:
            return None
        probe[col["name"]] = pd.Series([], dtype=dtype)
    part = pd.concat([pd.DataFrame(probe), rows], ignore_index=True)
    if [str(t) for t in part.dtypes] != [c["dtype"] for c in profile["columns"]]:
        return None
    return part

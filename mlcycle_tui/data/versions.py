"""Dataset versions: ingest, list, show and load.

Why this exists: data enters the lifecycle here, once, as an immutable,
content-hashed version. Identical content returns the existing version;
changed content makes a new one. The file is written (Parquet, in the artifact
store) before its row, inside one short transaction, so a killed process
leaves no half-made version.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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

    def __init__(self, db: Database, artifacts: ArtifactStore, events: Events) -> None:
        self.db = db
        self.artifacts = artifacts
        self.events = events

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
    ) -> DatasetVersion:
        """Import a file (or a DataFrame) as a dataset version."""
        from mlcycle_tui.data import profiling
        from mlcycle_tui.data.readers import read_table

        report = progress or _no_progress
        check_name(name, "dataset name")
        report(0.05, "reading")
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
                    len(frame),
                    frame.shape[1],
                    target,
                    time_column,
                    source_text,
                    fmt,
                    json.dumps(profiling.schema_of(profile)),
                    json.dumps(profile),
                    now,
                ),
            )
            self.events.log(
                "ingest", f"{name}@{version}", f"{len(frame)} rows x {frame.shape[1]} columns"
            )
        report(1.0, "done")
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
        """(table, owner expression) of this stage's tables that point at artifacts, for `doctor()`."""
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
        """The version's data, after its SHA-256 was checked."""
        ds = self.dataset(ref)
        return self.artifacts.load_parquet(ds.artifact_sha256, ds.artifact_path, columns=columns)

"""Reproducible splits: random, stratified or by time, recorded with their exact rows.

Why this exists: a split records its seed and the exact row membership, so a
split id always yields the same rows: training, evaluation, the promotion
gates and the drift reference all read the same train and test parts.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlcycle_tui.data.versions import Data
    from mlcycle_tui.events import Events
    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database


@dataclass
class Split:
    """A recorded train/test split of one dataset version."""

    split_id: str
    dataset: str
    method: str
    test_size: float
    seed: int | None
    stratify_column: str | None
    time_column: str | None
    train_rows: int
    test_rows: int
    created: str
    dataset_version_id: int
    artifact_sha256: str
    artifact_path: str
    existing: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "split_id": self.split_id,
            "dataset": self.dataset,
            "method": self.method,
            "test_size": self.test_size,
            "seed": self.seed,
            "stratify_column": self.stratify_column,
            "time_column": self.time_column,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "created": self.created,
            "existing": self.existing,
        }


def compute_split(
    frame: pd.DataFrame,
    *,
    method: str,
    test_size: float,
    seed: int,
    stratify_column: str | None,
    time_column: str | None,
) -> np.ndarray:
    """Sorted row positions of the test part."""
    import numpy as np

    n = len(frame)
    if not 0.0 < test_size < 1.0:
        raise UserError(f"--test-size must be between 0 and 1 (exclusive), got {test_size}")
    n_test = round(n * test_size)
    if n_test < 1 or n_test >= n:
        raise UserError(
            f"a test size of {test_size} leaves {n_test} of {n} rows for testing; "
            "choose a test size that leaves rows on both sides"
        )
    if method == "time":
        assert time_column is not None
        order = np.argsort(frame[time_column].to_numpy(), kind="stable")
        return np.sort(order[n - n_test :]).astype(np.int64)
    if method == "stratified":
        from sklearn.model_selection import train_test_split

        assert stratify_column is not None
        y = frame[stratify_column]
        if y.isna().any():
            raise UserError(
                f"cannot stratify on {stratify_column!r}: it has missing values; "
                "drop them or split without --stratify"
            )
        counts = y.value_counts()
        if (counts < 2).any():
            rare = ", ".join(map(str, counts[counts < 2].index[:5]))
            raise UserError(
                f"cannot stratify on {stratify_column!r}: classes with a single row ({rare}); "
                "split without --stratify or add rows"
            )
        _, test = train_test_split(
            np.arange(n), test_size=n_test, random_state=seed, stratify=y.astype(str).to_numpy()
        )
        return np.sort(test).astype(np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(n)[:n_test]).astype(np.int64)


class Splits:
    """Reproducible train/test splits of dataset versions, recorded with their exact rows."""

    def __init__(self, db: Database, artifacts: ArtifactStore, events: Events, data: Data) -> None:
        self.db = db
        self.artifacts = artifacts
        self.events = events
        self.data = data

    def artifact_tables(self) -> list[tuple[str, str]]:
        """(table, owner expression) of this stage's tables that point at artifacts, for `doctor()`."""
        return [("splits", "'split ' || id")]

    def create(
        self,
        ref: Any,
        *,
        test_size: float = 0.2,
        stratify: bool = False,
        time_column: str | None = None,
        seed: int = 42,
        stratify_column: str | None = None,
    ) -> Split:
        """Record a reproducible split (same inputs give the same split back).

        `stratify` stratifies on `stratify_column`, by default the dataset's target
        (a run may train on another target: `mlcycle train --target`)."""
        import numpy as np

        ds = self.data.dataset(ref)
        columns = [c["name"] for c in ds.profile["columns"]]
        if time_column is not None and time_column not in columns:
            raise UserError(
                f"--time-column {time_column!r} is not a column of {ds.ref}; "
                f"columns are: {', '.join(columns)}"
            )
        if time_column is not None:
            method, stratify_column = "time", None
        elif stratify:
            chosen = stratify_column or ds.target
            if chosen is None:
                raise UserError(
                    f"{ds.ref} has no target to stratify on; ingest it with --target "
                    "or split without --stratify"
                )
            if chosen not in columns:
                raise UserError(f"cannot stratify on {chosen!r}: it is not a column of {ds.ref}")
            method, stratify_column = "stratified", chosen
        else:
            method, stratify_column = "random", None
        seed_used = None if method == "time" else int(seed)
        existing = self.db.query_one(
            "SELECT id FROM splits WHERE dataset_version_id = ? AND method = ? AND test_size = ?"
            " AND seed IS ? AND stratify_column IS ? AND time_column IS ?",
            (ds.id, method, float(test_size), seed_used, stratify_column, time_column),
        )
        if existing:
            found = self.get(existing["id"])
            found.existing = True
            return found
        frame = self.data.load_frame(ds, columns=[c for c in (stratify_column, time_column) if c] or None)
        test_idx = compute_split(
            frame,
            method=method,
            test_size=float(test_size),
            seed=int(seed),
            stratify_column=stratify_column,
            time_column=time_column,
        )
        buf = io.BytesIO()
        np.save(buf, test_idx, allow_pickle=False)
        sha, rel = self.artifacts.put_bytes(buf.getvalue(), ".npy")
        split_id = uuid.uuid4().hex[:12]
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO splits(id, dataset_version_id, method, test_size, seed, stratify_column,"
                " time_column, train_rows, test_rows, artifact_sha256, artifact_path, created)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    split_id,
                    ds.id,
                    method,
                    float(test_size),
                    seed_used,
                    stratify_column,
                    time_column,
                    ds.rows - len(test_idx),
                    len(test_idx),
                    sha,
                    rel,
                    now_iso(),
                ),
            )
            self.events.log("split", ds.ref, f"{method} split {split_id}: {len(test_idx)} test rows")
        return self.get(split_id)

    def get(self, split_id: str) -> Split:
        row = self.db.query_one(
            "SELECT s.*, v.name || '@' || v.version AS dataset FROM splits s"
            " JOIN dataset_versions v ON v.id = s.dataset_version_id WHERE s.id = ?",
            (split_id,),
        )
        if row is None:
            raise NotFoundError(f"no split {split_id!r}; list splits with `mlcycle data splits REF`")
        return Split(
            split_id=row["id"],
            dataset=row["dataset"],
            method=row["method"],
            test_size=row["test_size"],
            seed=row["seed"],
            stratify_column=row["stratify_column"],
            time_column=row["time_column"],
            train_rows=row["train_rows"],
            test_rows=row["test_rows"],
            created=row["created"],
            dataset_version_id=row["dataset_version_id"],
            artifact_sha256=row["artifact_sha256"],
            artifact_path=row["artifact_path"],
        )

    def list(self, ref: Any | None = None) -> list[Split]:
        if ref is None:
            rows = self.db.query("SELECT id FROM splits ORDER BY created DESC")
        else:
            ds = self.data.dataset(ref)
            rows = self.db.query(
                "SELECT id FROM splits WHERE dataset_version_id = ? ORDER BY created DESC", (ds.id,)
            )
        return [self.get(r["id"]) for r in rows]

    def indices(self, split_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(train positions, test positions) of a recorded split."""
        import numpy as np

        sp = self.get(split_id)
        test = np.load(io.BytesIO(self.artifacts.load_bytes(sp.artifact_sha256, sp.artifact_path)))
        mask = np.ones(sp.train_rows + sp.test_rows, dtype=bool)
        mask[test] = False
        return np.flatnonzero(mask), test

    def frames(self, split_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The (train, test) rows of a recorded split."""
        sp = self.get(split_id)
        frame = self.data.load_frame(self.data.dataset_by_id(sp.dataset_version_id))
        train, test = self.indices(split_id)
        return (
            frame.iloc[train].reset_index(drop=True),
            frame.iloc[test].reset_index(drop=True),
        )

"""Quality and schema checks with clear verdicts, and reproducible splits.

Why this exists: a model is only as good as the data it saw. Validation turns
a version's stored profile (and, optionally, a reference version's) into
errors and warnings that name columns; splits record their seed and the exact
row membership so that a split id always yields the same rows.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlcycle_tui.core.errors import NotFoundError, UserError
from mlcycle_tui.core.timeutil import now_iso

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database

HIGH_CARDINALITY = 50
HIGH_CARDINALITY_SHARE = 0.5


def _issue(code: str, message: str, column: str | None = None) -> dict[str, Any]:
    return {"code": code, "column": column, "message": message}


def validate_profile(
    profile: dict[str, Any],
    target: str | None,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Errors and warnings for one profile (and its reference, if given)."""
    errors: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    rows = profile["rows"]
    columns = {c["name"]: c for c in profile["columns"]}
    if rows == 0:
        errors.append(_issue("empty", "the data has no rows"))
    if target is None:
        warnings.append(
            _issue("no_target", "no target column is set; training needs one (ingest with --target)")
        )
    elif target not in columns:
        errors.append(_issue("target_missing", f"target column {target!r} is not in the data", target))
    else:
        t = columns[target]
        if t["missing"] == rows and rows:
            errors.append(_issue("target_null", f"target {target!r} has no values at all", target))
        elif t["missing"]:
            warnings.append(
                _issue(
                    "target_nulls",
                    f"target {target!r} is missing in {t['missing']} rows; those rows are "
                    "left out of training",
                    target,
                )
            )
        if t["unique"] == 1:
            errors.append(
                _issue("target_constant", f"target {target!r} has a single value; nothing to learn", target)
            )
    for name, c in columns.items():
        if rows and c["missing"] == rows:
            warnings.append(_issue("all_null", f"column {name!r} is empty (all values missing)", name))
        elif c["unique"] == 1 and name != target:
            warnings.append(_issue("constant", f"column {name!r} has a single value", name))
        if c["kind"] == "categorical" and c["unique"] > HIGH_CARDINALITY and (
            c["unique"] > HIGH_CARDINALITY_SHARE * max(1, rows - c["missing"])
        ):
            warnings.append(
                _issue(
                    "high_cardinality",
                    f"column {name!r} has {c['unique']} distinct values for {rows} rows; "
                    "it is encoded ordinally, consider dropping it",
                    name,
                )
            )
        share = c.get("numeric_share")
        if share is not None and 0.05 <= share < 1.0:
            warnings.append(
                _issue(
                    "mixed_types",
                    f"column {name!r} mixes numbers and text ({share:.0%} of values are numeric)",
                    name,
                )
            )
    dupes = profile.get("duplicate_rows", 0)
    if dupes:
        warnings.append(_issue("duplicates", f"{dupes} rows are exact duplicates of another row"))
    if reference is not None:
        _compare_with_reference(columns, reference, errors, warnings)
    return {"ok": not errors, "errors": errors, "warnings": warnings}


def _compare_with_reference(
    columns: dict[str, dict[str, Any]],
    reference: dict[str, Any],
    errors: list[dict[str, Any]],
    warnings: list[dict[str, Any]],
) -> None:
    ref_cols = {c["name"]: c for c in reference["columns"]}
    for name in ref_cols.keys() - columns.keys():
        errors.append(_issue("column_removed", f"column {name!r} of the reference is missing", name))
    for name in columns.keys() - ref_cols.keys():
        warnings.append(_issue("column_added", f"column {name!r} is new (not in the reference)", name))
    for name in columns.keys() & ref_cols.keys():
        cur, ref = columns[name], ref_cols[name]
        if cur["kind"] != ref["kind"] or _dtype_family(cur["dtype"]) != _dtype_family(ref["dtype"]):
            errors.append(
                _issue(
                    "column_retyped",
                    f"column {name!r} changed type: {ref['kind']} ({ref['dtype']}) -> "
                    f"{cur['kind']} ({cur['dtype']})",
                    name,
                )
            )
            continue
        lo, hi = ref.get("min"), ref.get("max")
        if isinstance(lo, int | float) and isinstance(hi, int | float):
            cmin, cmax = cur.get("min"), cur.get("max")
            if (cmin is not None and cmin < lo) or (cmax is not None and cmax > hi):
                warnings.append(
                    _issue(
                        "out_of_range",
                        f"column {name!r} has values outside the reference range [{lo:g}, {hi:g}] "
                        f"(now [{cmin:g}, {cmax:g}])",
                        name,
                    )
                )
        ref_cats = ref.get("categories")
        cur_cats = cur.get("categories")
        if ref_cats is not None and cur_cats is not None:
            unseen = sorted(set(map(str, cur_cats)) - set(map(str, ref_cats)))
            if unseen:
                shown = ", ".join(unseen[:5]) + (" …" if len(unseen) > 5 else "")
                warnings.append(
                    _issue(
                        "unseen_categories",
                        f"column {name!r} has {len(unseen)} categories not in the reference: {shown}",
                        name,
                    )
                )


def _dtype_family(dtype: str) -> str:
    d = dtype.lower()
    if d.startswith(("int", "uint", "float")):
        return "number"
    if d.startswith("datetime"):
        return "datetime"
    if d.startswith("bool"):
        return "bool"
    return "text"


# -- splits ------------------------------------------------------------------
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


class ValidationMixin:
    """Workspace methods for validation and splits (see `Workspace`).

    Uses `dataset`, `dataset_by_id`, `load_frame` (DataMixin) and `log_event`.
    """

    db: Database
    artifacts: ArtifactStore

    def validate(self, ref: Any, reference: Any | None = None) -> dict[str, Any]:
        ds = self.dataset(ref)
        ref_profile = self.dataset(reference).profile if reference is not None else None
        result = validate_profile(ds.profile, ds.target, ref_profile)
        result["dataset"] = ds.ref
        if reference is not None:
            result["reference"] = self.dataset(reference).ref
        return result

    def split(
        self,
        ref: Any,
        *,
        test_size: float = 0.2,
        stratify: bool = False,
        time_column: str | None = None,
        seed: int = 42,
    ) -> Split:
        """Record a reproducible split (same inputs give the same split back)."""
        import numpy as np

        ds = self.dataset(ref)
        columns = [c["name"] for c in ds.profile["columns"]]
        if time_column is not None and time_column not in columns:
            raise UserError(
                f"--time-column {time_column!r} is not a column of {ds.ref}; "
                f"columns are: {', '.join(columns)}"
            )
        stratify_column = None
        if time_column is not None:
            method = "time"
        elif stratify:
            if ds.target is None:
                raise UserError(
                    f"{ds.ref} has no target to stratify on; ingest it with --target "
                    "or split without --stratify"
                )
            method, stratify_column = "stratified", ds.target
        else:
            method = "random"
        seed_used = None if method == "time" else int(seed)
        existing = self.db.query_one(
            "SELECT id FROM splits WHERE dataset_version_id = ? AND method = ? AND test_size = ?"
            " AND seed IS ? AND stratify_column IS ? AND time_column IS ?",
            (ds.id, method, float(test_size), seed_used, stratify_column, time_column),
        )
        if existing:
            found = self.get_split(existing["id"])
            found.existing = True
            return found
        frame = self.load_frame(ds, columns=[c for c in (stratify_column, time_column) if c] or None)
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
            self.log_event("split", ds.ref, f"{method} split {split_id}: {len(test_idx)} test rows")
        return self.get_split(split_id)

    def get_split(self, split_id: str) -> Split:
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

    def splits(self, ref: Any | None = None) -> list[Split]:
        if ref is None:
            rows = self.db.query("SELECT id FROM splits ORDER BY created DESC")
        else:
            ds = self.dataset(ref)
            rows = self.db.query(
                "SELECT id FROM splits WHERE dataset_version_id = ? ORDER BY created DESC", (ds.id,)
            )
        return [self.get_split(r["id"]) for r in rows]

    def split_indices(self, split_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(train positions, test positions) of a recorded split."""
        import numpy as np

        sp = self.get_split(split_id)
        test = np.load(io.BytesIO(self.artifacts.load_bytes(sp.artifact_sha256, sp.artifact_path)))
        mask = np.ones(sp.train_rows + sp.test_rows, dtype=bool)
        mask[test] = False
        return np.flatnonzero(mask), test

    def split_frames(self, split_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The (train, test) rows of a recorded split."""
        sp = self.get_split(split_id)
        frame = self.load_frame(self.dataset_by_id(sp.dataset_version_id))
        train, test = self.split_indices(split_id)
        return (
            frame.iloc[train].reset_index(drop=True),
            frame.iloc[test].reset_index(drop=True),
        )

"""Quality and schema checks with clear verdicts.

Why this exists: a model is only as good as the data it saw. Validation turns
a version's stored profile (and, optionally, a reference version's) into
errors and warnings that name columns. Pure functions over profiles: the Data
stage calls them (`ws.data.validate`).
"""

from __future__ import annotations

from typing import Any

from mlcycle_tui.common.words import plural

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
                        f"column {name!r} has {plural(len(unseen), 'category')} not in the reference: {shown}",
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

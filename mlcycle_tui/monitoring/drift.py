"""Data drift: per-column statistics, size-aware thresholds, a dataset verdict.

Why this module exists: the monitor compares what a model sees now with what
it was trained on, and retraining is queued when they differ. Classic tests
cry wolf: a KS p-value flags a trivial shift on a million rows and a fixed
distance threshold flags noise on twenty. Here each decision uses a distance
(normalised Wasserstein for numbers, Jensen-Shannon for categories) against
the larger of a fixed floor and the 99th percentile of that distance under no
drift: pairs of samples drawn from the reference, one of the window's size and
one of the reference's (fixed seed; cached per column and size). Numbers: 100
bootstrap pairs; above 1,000 values the samples are capped and the quantile is
scaled by sqrt(1/n + 1/n_ref).

Categories need more care, because a reference is an incomplete picture of a
long-tailed column (ids, agents, cities): a random half of one period holds
dozens of categories the other half never saw, and a no-drift simulation that
draws only the reference's categories, at the reference's shares, finds far
smaller distances than such halves really show (on real tables, columns with
many singletons were flagged on 46-100% of random halves; see
bench/bench_drift_false_alarms.py). Two things make the categorical null sound:
- the samples are drawn from the population the reference estimates, not from
  the reference itself: Chao & Jost's coverage-adjusted "bootstrap assemblage"
  (as iNEXT builds it), in which the categories the reference never saw get
  the Good-Turing share f1/n (refined with f2) and the observed rare ones are
  shrunk to make room (``drift_stats.estimated_population``);
- the decision distance merges the categories with fewer than RARE_COUNT (10)
  values in both samples together into one level, in the data and in every
  simulated pair alike. Their shares are mostly noise (a category seen once
  cannot say whether it moved), while their total share is well estimated: a
  flood of new or rare categories still moves that level. The rule uses the
  pooled count, which is the same whichever side a value came from, so it
  does not favour either side; with equal sizes about five values per side
  remain, the usual chi-square condition. Categories that are new but
  frequent keep a level of their own.
399 pairs are drawn and the 4th largest distance is the threshold: under no
drift a distance reaches it with chance 4/400, a Monte Carlo test at the 1%
level (the 99th percentile of only 100 draws is reached about twice as often).
A numeric column with exactly two values in the reference (a 0/1 flag) is a
category for the ``auto``, ``js`` and ``chi2`` rules: its distribution is two
shares, not a scale a distance in standard deviations means something on
(Evidently's defaults, too, test few-valued numbers as categories).

The reference is summarised once (``prepare_reference``; a picklable
dataclass the registry stores beside the model) and ``check_drift`` only reads
the current data. Pure NumPy/SciPy/pandas; no database, web or UI. Statistic
functions live in ``drift_stats``.

Decision rules by ``method`` (for a column kind the method does not apply to,
the ``auto`` rule of that kind is used; each column reports what it used):
- ``auto``: numeric, Wasserstein distance / reference std >= max(0.1, null p99);
  categorical, boolean and two-valued numeric, Jensen-Shannon distance (base 2)
  with rare categories merged >= max(0.1, null 99% point).
- ``wasserstein`` / ``js``: Wasserstein / std, and Jensen-Shannon on every
  category (nothing merged), against the fixed 0.1 only.
- ``ks``: KS p-value < 0.05 (numeric). ``chi2``: chi-square homogeneity p < 0.05
  (categorical). ``psi``: PSI >= 0.2 (numeric: 10 reference-quantile bins).
- ``evidently``: Evidently 0.7 ``DataDriftPreset`` defaults, see ``_evidently_*``.
For p-value tests ``statistic`` is the p-value and drift is *below* the
threshold (``score_type`` says which). A changed missing share and unseen
categories are reported per column but do not decide ``drifted``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcycle_tui.common.words import plural
from mlcycle_tui.monitoring import drift_stats as st

if TYPE_CHECKING:
    import pandas as pd

METHODS = ("auto", "ks", "psi", "wasserstein", "js", "chi2", "evidently")
CHECKED_KINDS = ("numeric", "categorical", "boolean")
WASSERSTEIN_FLOOR = 0.1  # normalised Wasserstein: a tenth of a reference std
JS_FLOOR = 0.1  # Jensen-Shannon distance, base 2 (0 = same, 1 = disjoint)
P_VALUE_ALPHA = 0.05
PSI_THRESHOLD = 0.2  # the usual "significant shift" level
PSI_BINS = 10
MISSING_CHANGE = 0.1  # absolute change of the missing share that gets flagged
MIN_ROWS = 5  # fewer non-missing values on a side: too few to judge
N_RESAMPLES = 100
CATEGORY_RESAMPLES = 399  # categorical null: its 4th largest distance is a test at level 4/400
NULL_QUANTILE = 0.99
RESAMPLE_MAX_SIZE = 1000  # larger windows: resample at this size, scale by sqrt(size ratio)
RESAMPLE_SEED = 20_240_601
MAX_EXACT_REFERENCE = 200_000  # above: a fixed-size sorted random sample is kept
SMALL_VALUE_SET = 20  # numeric columns with at most this many values keep their counts
NULL_CACHE_SIZE = 512
MAX_NEW_CATEGORIES = 50
RARE_COUNT = 10  # categories with fewer values in both samples together are merged (auto rule)
NULL_BATCH_CELLS = 2_000_000  # counts per side held at once while simulating a categorical null
CATEGORY_METHODS = ("auto", "js", "chi2")  # methods under which a 0/1 numeric column is a category
PREDICTION = "prediction"


@dataclass
class NumericReference:
    """What a check needs to know about one numeric reference column."""

    kind: str
    rows: int
    missing: int
    n: int  # non-missing values in the full reference
    values: np.ndarray  # sorted non-missing values (a sorted sample above MAX_EXACT_REFERENCE)
    std: float  # of all non-missing values, ddof=0
    psi_edges: np.ndarray
    psi_shares: np.ndarray
    n_unique: int  # in ``values``
    small_counts: dict[float, int] | None  # full-data value counts for few-valued columns


@dataclass
class CategoricalReference:
    """Category counts (keys as strings) of one categorical or boolean column."""

    kind: str
    rows: int
    missing: int
    n: int
    counts: dict[str, int]


ColumnReference = NumericReference | CategoricalReference


@dataclass
class Reference:
    """Prepared reference statistics; picklable, stored as an artifact by the registry."""

    columns: list[dict[str, str]]
    stats: dict[str, ColumnReference]
    rows: int
    prediction: ColumnReference | None = None
    null_cache: dict[tuple[str, int], float] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["null_cache"] = {}  # keep the pickled bytes (and their sha256) stable
        return state


# --------------------------------------------------------------------------- preparation


def prepare_reference(
    frame: pd.DataFrame, columns: list[dict[str, str]], predictions: Any = None
) -> Reference:
    """Summarise the reference once: sorted values, counts, missing shares, std, PSI bins."""
    import pandas as pd

    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    stats: dict[str, ColumnReference] = {}
    for col in columns:
        if col["kind"] not in CHECKED_KINDS or col["name"] not in frame.columns:
            continue
        stats[col["name"]] = _prepare_column(frame[col["name"]], col["kind"])
    prediction = None
    if predictions is not None:
        series = pd.Series(np.asarray(predictions).ravel())
        prediction = _prepare_column(series, infer_kind(series))
    return Reference(
        columns=[dict(c) for c in columns], stats=stats, rows=len(frame), prediction=prediction
    )


def infer_kind(series: pd.Series) -> str:
    """Simple kind inference: numbers with more than 10 distinct values are numeric."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series) and series.nunique() > 10:
        return "numeric"
    return "categorical"


def infer_columns(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Column descriptions with ``infer_kind``; the project's profiler does better."""
    return [
        {"name": str(name), "dtype": str(frame[name].dtype), "kind": infer_kind(frame[name])}
        for name in frame.columns
    ]


def _prepare_column(series: pd.Series, kind: str) -> ColumnReference:
    if kind == "numeric":
        return _prepare_numeric(series)
    counts, missing = _category_counts(series)
    return CategoricalReference(
        kind=kind, rows=len(series), missing=missing, n=sum(counts.values()), counts=counts
    )


def _prepare_numeric(series: pd.Series) -> NumericReference:
    values = _finite_values(series)
    std = float(values.std()) if values.size else 0.0
    if values.size > MAX_EXACT_REFERENCE:
        rng = np.random.default_rng(RESAMPLE_SEED)
        sample = values[rng.choice(values.size, MAX_EXACT_REFERENCE, replace=False)]
    else:
        sample = values
    sample = np.sort(sample)
    n_unique = _n_unique_sorted(sample)
    edges = st.psi_edges(sample, PSI_BINS)
    return NumericReference(
        kind="numeric",
        rows=len(series),
        missing=len(series) - values.size,
        n=int(values.size),
        values=sample,
        std=std,
        psi_edges=edges,
        psi_shares=st.bin_shares(sample, edges),
        n_unique=n_unique,
        small_counts=_value_counts(np.sort(values)) if n_unique <= SMALL_VALUE_SET else None,
    )


def _finite_values(series: pd.Series) -> np.ndarray:
    """Non-missing, finite float64 values (inf counts as missing, as in Evidently)."""
    import pandas as pd

    numbers = pd.to_numeric(series, errors="coerce")
    arr = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return arr[np.isfinite(arr)]


def _n_unique_sorted(sorted_values: np.ndarray) -> int:
    if sorted_values.size == 0:
        return 0
    return int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1]) + 1)


def _value_counts(sorted_values: np.ndarray) -> dict[float, int]:
    uniq, counts = np.unique(sorted_values, return_counts=True)
    return {float(u): int(c) for u, c in zip(uniq, counts, strict=True)}


def _category_key(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _category_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """Counts of non-missing values keyed by a canonical string; and the missing count."""
    counts: dict[str, int] = {}
    for value, count in series.value_counts(dropna=True, sort=False).items():
        key = _category_key(value)
        counts[key] = counts.get(key, 0) + int(count)
    return counts, int(len(series) - sum(counts.values()))


# --------------------------------------------------------------------------- checking


def check_drift(
    reference: Reference,
    current_frame: pd.DataFrame,
    *,
    method: str = "auto",
    drift_share: float = 0.5,
    current_predictions: Any = None,
) -> dict[str, Any]:
    """Compare a current window with the prepared reference; a JSON-serialisable report."""
    import pandas as pd

    if method not in METHODS:
        raise ValueError(f"unknown drift method {method!r}; choose one of {', '.join(METHODS)}")
    frame = current_frame if isinstance(current_frame, pd.DataFrame) else pd.DataFrame(current_frame)
    results = [_check_described(reference, frame, col, method) for col in reference.columns]
    judged = [r for r in results if r["verdict"] in ("drift", "ok")]
    n_drifted = sum(1 for r in judged if r["drifted"])
    share = n_drifted / len(judged) if judged else 0.0
    return {
        "drift": bool(judged) and share >= drift_share,
        "share_drifted": float(share),
        "n_columns": len(judged),
        "n_drifted": n_drifted,
        "drift_share": float(drift_share),
        "method": method,
        "rows_reference": int(reference.rows),
        "rows_current": len(frame),
        "columns": results,
        "prediction_drift": _check_predictions(reference, current_predictions, method),
    }


def _check_described(
    reference: Reference, frame: pd.DataFrame, col: dict[str, str], method: str
) -> dict[str, Any]:
    name, kind = col["name"], col["kind"]
    ref = reference.stats.get(name)
    if kind not in CHECKED_KINDS or ref is None:
        reason = (
            f"{kind} columns are not checked for drift"
            if kind not in CHECKED_KINDS
            else "column absent from the reference data"
        )
        return _skipped(name, kind, reason)
    if name in frame.columns:
        series = frame[name]
    else:
        import pandas as pd

        series = pd.Series([None] * len(frame), dtype=object)
    return check_column(reference, name, ref, series, method)


def _check_predictions(reference: Reference, predictions: Any, method: str) -> dict | None:
    if reference.prediction is None or predictions is None:
        return None
    import pandas as pd

    series = pd.Series(np.asarray(predictions).ravel())
    return check_column(reference, PREDICTION, reference.prediction, series, method)


def _skipped(name: str, kind: str, reason: str) -> dict[str, Any]:
    return {
        "column": name,
        "kind": kind,
        "method": "skipped",
        "verdict": "skipped",
        "score_type": "distance",
        "statistic": 0.0,
        "threshold": 0.0,
        "drifted": False,
        "missing_reference": 0.0,
        "missing_current": 0.0,
        "missing_changed": False,
        "new_categories": [],
        "message": reason,
    }


def check_column(
    reference: Reference, name: str, ref: ColumnReference, series: pd.Series, method: str
) -> dict[str, Any]:
    """Check one column (or the predictions) of the current window against ``ref``."""
    if isinstance(ref, NumericReference):
        current = np.sort(_finite_values(series))
        base = _base_result(name, ref, len(series), current.size)
        early = _early_verdict(base, ref.n, current.size, len(series))
        if early is not None:
            return early
        return _check_numeric(reference, name, ref, current, method, base)
    counts, _missing = _category_counts(series)
    base = _base_result(name, ref, len(series), sum(counts.values()))
    base["new_categories"] = _new_categories(ref.counts, counts)
    early = _early_verdict(base, ref.n, sum(counts.values()), len(series))
    if early is not None:
        return early
    return _check_categorical(reference, name, ref, counts, method, base)


def _base_result(name: str, ref: ColumnReference, rows: int, n_current: int) -> dict[str, Any]:
    miss_ref = ref.missing / ref.rows if ref.rows else 0.0
    miss_cur = (rows - n_current) / rows if rows else 0.0
    return {
        "column": name,
        "kind": ref.kind,
        "method": "",
        "verdict": "ok",
        "score_type": "distance",
        "statistic": 0.0,
        "threshold": 0.0,
        "drifted": False,
        "n_reference": int(ref.n),
        "n_current": int(n_current),
        "missing_reference": float(miss_ref),
        "missing_current": float(miss_cur),
        "missing_changed": bool(rows > 0 and abs(miss_cur - miss_ref) > MISSING_CHANGE),
        "new_categories": [],
        "message": "",
    }


def _early_verdict(
    base: dict[str, Any], n_ref: int, n_cur: int, rows_current: int
) -> dict[str, Any] | None:
    """Verdicts for windows and columns without enough values to compare."""
    floor = JS_FLOOR if base["kind"] != "numeric" else WASSERSTEIN_FLOOR
    if rows_current < MIN_ROWS:
        msg = f"only {rows_current} row(s) in the current window; at least {MIN_ROWS} needed"
        return base | {"method": "none", "verdict": "insufficient data", "message": msg}
    if n_ref == 0 and n_cur == 0:
        msg = "all values are missing in both the reference and the current window"
        return base | {"method": "none", "verdict": "skipped", "message": msg}
    if n_cur == 0:
        msg = "all values are missing in the current window (present in the reference)"
        return base | _one_side_empty(floor, msg)
    if n_ref == 0:
        msg = f"the reference had no values; the current window has {n_cur}"
        return base | _one_side_empty(floor, msg)
    if n_ref < MIN_ROWS or n_cur < MIN_ROWS:
        msg = f"{min(n_ref, n_cur)} non-missing value(s) on one side; at least {MIN_ROWS} needed"
        return base | {"method": "none", "verdict": "insufficient data", "message": msg}
    return None


def _one_side_empty(floor: float, msg: str) -> dict[str, Any]:
    return {
        "method": "none",
        "verdict": "drift",
        "drifted": True,
        "statistic": 1.0,
        "threshold": floor,
        "message": msg,
    }


# --------------------------------------------------------------------------- numeric


def _check_numeric(
    reference: Reference,
    name: str,
    ref: NumericReference,
    current: np.ndarray,
    method: str,
    base: dict[str, Any],
) -> dict[str, Any]:
    d, w = st.ks_wasserstein_sorted(ref.values, current)
    result = base | {
        "ks_statistic": _num(d),
        "ks_p_value": _num(st.ks_pvalue(d, ref.values.size, current.size), 1.0),
        "psi": _num(st.psi(ref.psi_shares, st.bin_shares(current, ref.psi_edges))),
        "wasserstein_norm": _num(w / ref.std) if ref.std > 0 else 0.0,
    }
    if method == "evidently":
        return _finish(result, *_evidently_numeric(ref, current, d, w))
    if ref.std == 0:
        return _finish(result, *_constant_reference(ref, current))
    ref_counts = _two_value_counts(ref)
    if ref_counts is not None and method in CATEGORY_METHODS:
        cur_counts = {_category_key(v): c for v, c in _value_counts(current).items()}
        result["new_categories"] = _new_categories(ref_counts, cur_counts)
        note = "two-valued numeric column, checked as a category"
        return _categorical_decision(
            reference, name, ref, ref_counts, cur_counts, method, result, note
        )
    if method == "ks":
        return _finish(result, "ks", "p_value", result["ks_p_value"], P_VALUE_ALPHA)
    if method == "psi":
        return _finish(result, "psi", "distance", result["psi"], PSI_THRESHOLD)
    threshold = WASSERSTEIN_FLOOR
    if method != "wasserstein":
        threshold = max(WASSERSTEIN_FLOOR, _null_threshold(reference, name, ref, current.size))
    return _finish(result, "wasserstein", "distance", result["wasserstein_norm"], threshold)


def _constant_reference(
    ref: NumericReference, current: np.ndarray
) -> tuple[str, str, float, float, str]:
    value = float(ref.values[0])
    changed = float(np.count_nonzero(current != value) / current.size)
    note = f"reference is constant ({value:g}); share of current values that differ"
    return "constant", "distance", changed, WASSERSTEIN_FLOOR, note


def _two_value_counts(ref: NumericReference) -> dict[str, int] | None:
    """Category counts of a numeric reference with exactly two values (a 0/1 flag), else None."""
    if ref.small_counts is None or len(ref.small_counts) != 2:
        return None
    return {_category_key(v): c for v, c in ref.small_counts.items()}


def _null_threshold(reference: Reference, name: str, ref: ColumnReference, n: int) -> float:
    """99th percentile of the decision distance between two samples of no-drift data, one
    of size ``n`` and one of the reference's (cached per column and size)."""
    key = (name, int(n))
    cached = reference.null_cache.get(key)
    if cached is not None:
        return cached
    counts = ref.counts if isinstance(ref, CategoricalReference) else _two_value_counts(ref)
    value = _numeric_null(ref, n) if counts is None else _categorical_null(counts, n)
    if len(reference.null_cache) >= NULL_CACHE_SIZE:
        reference.null_cache.pop(next(iter(reference.null_cache)))
    reference.null_cache[key] = value
    return value


def _numeric_null(ref: NumericReference, n: int) -> float:
    """Bootstrap: pairs of samples drawn from the reference, one of the window's size and
    one of the reference's (each capped at RESAMPLE_MAX_SIZE; beyond the cap the quantile
    is scaled by the two-sample rate sqrt(1/n + 1/n_ref))."""
    n_ref = ref.values.size
    m, m_ref = min(n, RESAMPLE_MAX_SIZE), min(n_ref, RESAMPLE_MAX_SIZE)
    rng = np.random.default_rng(RESAMPLE_SEED)
    current = rng.integers(0, n_ref, size=(N_RESAMPLES, m))
    reference = rng.integers(0, n_ref, size=(N_RESAMPLES, m_ref))
    dists = st.wasserstein_resamples(ref.values, reference, current) / ref.std
    q = float(np.quantile(dists, NULL_QUANTILE))
    return _num(q * math.sqrt((1 / n + 1 / n_ref) / (1 / m + 1 / m_ref)))


# --------------------------------------------------------------------------- categorical


def _check_categorical(
    reference: Reference,
    name: str,
    ref: CategoricalReference,
    counts: dict[str, int],
    method: str,
    base: dict[str, Any],
) -> dict[str, Any]:
    if method == "evidently":
        result = base | _category_statistics(ref.counts, counts)
        return _finish(result, *_evidently_counts(ref.counts, counts))
    return _categorical_decision(reference, name, ref, ref.counts, counts, method, base)


def _category_statistics(ref_counts: dict[str, int], counts: dict[str, int]) -> dict[str, Any]:
    ref_vec, cur_vec = _aligned_counts(ref_counts, counts)
    chi2, chi2_p, _dof = st.chi2_contingency(ref_vec, cur_vec)
    ref_merged, cur_merged = st.merge_rare_rows(ref_vec, cur_vec, RARE_COUNT)
    return {
        "js": _num(st.jensenshannon(ref_vec, cur_vec, base=2.0)),
        "js_rare_merged": _num(st.jensenshannon(ref_merged, cur_merged, base=2.0)),
        "rare_categories": int(np.count_nonzero(ref_vec + cur_vec < RARE_COUNT)),
        "chi2": _num(chi2),
        "chi2_p_value": _num(chi2_p, 1.0),
        "psi": _num(st.psi(ref_vec / ref_vec.sum(), cur_vec / cur_vec.sum())),
    }


def _categorical_decision(
    reference: Reference,
    name: str,
    ref: ColumnReference,
    ref_counts: dict[str, int],
    counts: dict[str, int],
    method: str,
    result: dict[str, Any],
    note: str = "",
) -> dict[str, Any]:
    """The categorical rules (``chi2``, ``psi``, ``js``, else ``auto``) on two count dicts."""
    result = result | _category_statistics(ref_counts, counts)
    if method == "chi2":
        return _finish(result, "chi2", "p_value", result["chi2_p_value"], P_VALUE_ALPHA, note)
    if method == "psi":
        return _finish(result, "psi", "distance", result["psi"], PSI_THRESHOLD, note)
    if method == "js":
        return _finish(result, "js", "distance", result["js"], JS_FLOOR, note)
    threshold = max(JS_FLOOR, _null_threshold(reference, name, ref, int(sum(counts.values()))))
    if result["rare_categories"] > 1:
        merged = (
            f"{result['rare_categories']} categories with fewer than {RARE_COUNT} values"
            " in both samples together merged into one"
        )
        note = f"{note}; {merged}" if note else merged
    return _finish(result, "js", "distance", result["js_rare_merged"], threshold, note)


def _aligned_counts(ref: dict, cur: dict) -> tuple[np.ndarray, np.ndarray]:
    keys = list(ref) + [k for k in cur if k not in ref]
    ref_vec = np.array([ref.get(k, 0) for k in keys], dtype=np.float64)
    cur_vec = np.array([cur.get(k, 0) for k in keys], dtype=np.float64)
    return ref_vec, cur_vec


def _new_categories(ref: dict[str, int], cur: dict[str, int]) -> list[str]:
    new = sorted((k for k in cur if k not in ref), key=lambda k: (-cur[k], k))
    return new[:MAX_NEW_CATEGORIES]


def _categorical_null(counts: dict[str, int], n: int) -> float:
    """Pairs of samples (the window's size and the reference's) drawn from the population
    the reference estimates, with the share of categories it never saw as one more level
    (``drift_stats.estimated_population``); rare categories merged as in the observed
    statistic, unseen ones always (drawn at most a few times each, they would be). Drawn
    in batches of at most NULL_BATCH_CELLS counts per side."""
    ref_vec = np.array(list(counts.values()), dtype=np.float64)
    n_ref = int(ref_vec.sum())
    shares, unseen_mass = st.estimated_population(ref_vec)
    pvals = np.append(shares, unseen_mass)
    pvals /= pvals.sum()
    always = np.zeros(pvals.size, dtype=bool)
    always[-1] = True
    rng = np.random.default_rng(RESAMPLE_SEED)
    batch = max(1, min(CATEGORY_RESAMPLES, NULL_BATCH_CELLS // pvals.size))
    dists = []
    for start in range(0, CATEGORY_RESAMPLES, batch):
        size = min(batch, CATEGORY_RESAMPLES - start)
        current = rng.multinomial(n, pvals, size=size)
        reference = rng.multinomial(n_ref, pvals, size=size)
        merged_ref, merged_cur = st.merge_rare_rows(reference, current, RARE_COUNT, always)
        dists.append(st.jensenshannon_rows(merged_ref, merged_cur))
    # the k-th largest: a no-drift distance reaches it with chance k / (CATEGORY_RESAMPLES + 1)
    k = max(1, round((1.0 - NULL_QUANTILE) * (CATEGORY_RESAMPLES + 1)))
    return _num(float(np.sort(np.concatenate(dists))[-k]))


# --------------------------------------------------------------------------- Evidently rule
# Evidently 0.7 DataDriftPreset defaults (legacy stattests registry, _get_default_stattest):
# missing and infinite values are dropped; n_values = distinct values of both sides.
# Reference <= 1000 values: numeric with n_values > 5 -> KS p <= 0.05; otherwise
# chi-square goodness of fit p < 0.05 (n_values > 2) or two-proportion z-test p < 0.05.
# Reference > 1000: numeric with n_values > 5 -> Wasserstein / max(std, 0.001) >= 0.1;
# otherwise Jensen-Shannon distance (natural log) >= 0.1. Dataset: share >= drift_share.

EVIDENTLY_SMALL_REFERENCE = 1000
EVIDENTLY_FEW_VALUES = 5


def _evidently_numeric(
    ref: NumericReference, current: np.ndarray, d: float, w: float
) -> tuple[str, str, float, float, str]:
    few = ref.n_unique <= EVIDENTLY_FEW_VALUES and _n_unique_sorted(current) <= EVIDENTLY_FEW_VALUES
    if few and ref.small_counts is not None:
        cur_counts = _value_counts(current)
        n_values = len(set(ref.small_counts) | set(cur_counts))
        if n_values <= EVIDENTLY_FEW_VALUES:
            return _evidently_counts(ref.small_counts, cur_counts, ref.n)
    if ref.n <= EVIDENTLY_SMALL_REFERENCE:
        p = st.ks_pvalue(d, ref.values.size, current.size)
        drifted_note = "evidently rule: reference <= 1000 values, KS p-value <= 0.05"
        return "evidently:ks", "p_value_inclusive", _num(p, 1.0), P_VALUE_ALPHA, drifted_note
    score = w / max(ref.std, 0.001)
    note = "evidently rule: reference > 1000 values, Wasserstein / max(std, 0.001) >= 0.1"
    return "evidently:wasserstein", "distance", _num(score), 0.1, note


def _evidently_counts(
    ref: dict, cur: dict, n_ref: int | None = None
) -> tuple[str, str, float, float, str]:
    n_ref = sum(ref.values()) if n_ref is None else n_ref
    ref_vec, cur_vec = _aligned_counts(ref, cur)
    n_values = int(np.count_nonzero(ref_vec + cur_vec))
    if n_ref > EVIDENTLY_SMALL_REFERENCE:
        js = st.jensenshannon(ref_vec, cur_vec, base=None)
        note = "evidently rule: reference > 1000 values, Jensen-Shannon (natural log) >= 0.1"
        return "evidently:js", "distance", _num(js), 0.1, note
    if n_values > 2:
        f_exp = ref_vec * (cur_vec.sum() / ref_vec.sum())
        p = st.chisquare_pvalue(cur_vec, f_exp)
        note = "evidently rule: reference <= 1000 values, chi-square p-value < 0.05"
        return "evidently:chisquare", "p_value", _num(p, 1.0), P_VALUE_ALPHA, note
    p = _evidently_z(ref, cur, ref_vec, cur_vec)
    note = "evidently rule: reference <= 1000 values, two values, z-test p-value < 0.05"
    return "evidently:z", "p_value", _num(p, 1.0), P_VALUE_ALPHA, note


def _evidently_z(ref: dict, cur: dict, ref_vec: np.ndarray, cur_vec: np.ndarray) -> float:
    keys = list(ref) + [k for k in cur if k not in ref]
    if len(keys) < 2:
        return 1.0
    first = keys.index(min(keys))  # Evidently codes the smallest value as 0, the rest as 1
    n_a, n_b = int(ref_vec.sum()), int(cur_vec.sum())
    ones_a, ones_b = n_a - int(ref_vec[first]), n_b - int(cur_vec[first])
    return st.proportions_ztest_pvalue(ones_a, n_a, ones_b, n_b)


# --------------------------------------------------------------------------- results


def _finish(
    result: dict[str, Any],
    method: str,
    score_type: str,
    statistic: float,
    threshold: float,
    note: str = "",
) -> dict[str, Any]:
    statistic, threshold = _num(statistic), _num(threshold)
    if score_type == "p_value":
        drifted = statistic < threshold
    elif score_type == "p_value_inclusive":
        drifted, score_type = statistic <= threshold, "p_value"
    else:
        drifted = statistic >= threshold
    result |= {
        "method": method,
        "score_type": score_type,
        "statistic": statistic,
        "threshold": threshold,
        "drifted": bool(drifted),
        "verdict": "drift" if drifted else "ok",
    }
    result["message"] = _message(result, note)
    return result


_LABELS = {
    "wasserstein": "normalised Wasserstein distance",
    "js": "Jensen-Shannon distance",
    "ks": "KS p-value",
    "chi2": "chi-square p-value",
    "psi": "PSI",
    "constant": "changed share",
}


def _message(result: dict[str, Any], note: str) -> str:
    label = _LABELS.get(result["method"], result["method"])
    if result["score_type"] == "p_value":
        op = "<" if result["drifted"] else ">="
    else:
        op = ">=" if result["drifted"] else "<"
    head = "drift" if result["drifted"] else "no drift"
    parts = [f"{head}: {label} {result['statistic']:.4g} {op} {result['threshold']:.4g}"]
    if note:
        parts.append(note)
    if result["missing_changed"]:
        parts.append(
            f"missing share changed {result['missing_reference']:.1%} -> "
            f"{result['missing_current']:.1%}"
        )
    if result["new_categories"]:
        shown = ", ".join(result["new_categories"][:5])
        parts.append(f"{plural(len(result['new_categories']), 'unseen category', 'unseen categories')} ({shown})")
    return "; ".join(parts)


def _num(value: float, default: float = 0.0) -> float:
    """A JSON-safe float: NaN and infinities become ``default`` (or a large finite value)."""
    value = float(value)
    if math.isnan(value):
        return default
    if math.isinf(value):
        return math.copysign(1e300, value)
    return value


# --------------------------------------------------------------------------- plotting data


def histogram_pair(
    reference: Reference, current_frame: pd.DataFrame, column: str, bins: int = 20
) -> dict[str, Any]:
    """Reference vs current distribution of one column, for plotting.

    Numeric: shared, equal-width edges over both ranges and the share of each
    side's non-missing values per bin. Categorical: the ``bins`` most common
    categories (both sides together), the rest summed as ``(other)``.
    """
    ref = reference.stats.get(column)
    if column == PREDICTION and reference.prediction is not None:
        ref = reference.prediction
    if ref is None:
        raise ValueError(f"column {column!r} has no drift reference (unknown or not checked)")
    series = _current_series(current_frame, column)
    if isinstance(ref, NumericReference):
        return _numeric_histogram(column, ref, np.sort(_finite_values(series)), bins)
    return _categorical_histogram(column, ref, _category_counts(series)[0], bins)


def _current_series(current_frame: Any, column: str) -> pd.Series:
    import pandas as pd

    if isinstance(current_frame, pd.DataFrame):
        if column in current_frame.columns:
            return current_frame[column]
        return pd.Series([], dtype=object)
    return pd.Series(np.asarray(current_frame).ravel())  # e.g. an array of predictions


def _numeric_histogram(
    column: str, ref: NumericReference, current: np.ndarray, bins: int
) -> dict[str, Any]:
    both = [a for a in (ref.values, current) if a.size]
    lo = min((float(a[0]) for a in both), default=0.0)
    hi = max((float(a[-1]) for a in both), default=1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    return {
        "column": column,
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "reference": _histogram_shares(ref.values, edges),
        "current": _histogram_shares(current, edges),
    }


def _histogram_shares(sorted_values: np.ndarray, edges: np.ndarray) -> list[float]:
    """Like ``np.histogram(values, edges)[0] / len(values)`` (last bin closed)."""
    cuts = np.searchsorted(sorted_values, edges[1:-1], side="left")
    counts = np.diff(np.concatenate([[0], cuts, [sorted_values.size]]))
    total = max(sorted_values.size, 1)
    return [float(c / total) for c in counts]


def _categorical_histogram(
    column: str, ref: CategoricalReference, current: dict[str, int], bins: int
) -> dict[str, Any]:
    ref_total = max(sum(ref.counts.values()), 1)
    cur_total = max(sum(current.values()), 1)
    keys = set(ref.counts) | set(current)
    score = {k: ref.counts.get(k, 0) / ref_total + current.get(k, 0) / cur_total for k in keys}
    top = sorted(keys, key=lambda k: (-score[k], k))[:bins]
    ref_shares = [ref.counts.get(k, 0) / ref_total for k in top]
    cur_shares = [current.get(k, 0) / cur_total for k in top]
    if len(keys) > len(top):
        top = [*top, "(other)"]
        ref_shares.append(max(0.0, 1.0 - sum(ref_shares)))
        cur_shares.append(max(0.0, 1.0 - sum(cur_shares)))
    return {
        "column": column,
        "kind": ref.kind,
        "categories": top,
        "reference": [float(s) for s in ref_shares],
        "current": [float(s) for s in cur_shares],
    }

"""Two-sample drift statistics in plain NumPy, fast on sorted arrays.

Why this module exists: a drift check compares every monitored column of a
window with the training reference, often on a schedule and on millions of
rows. SciPy's functions re-sort both samples on every call; here the
reference is sorted once (see ``drift.prepare_reference``) and each statistic
is computed from sorted arrays with one merge or a few ``searchsorted`` calls.
Every function with a SciPy counterpart returns the same number (tests check
agreement to 1e-9): ``ks_2samp``, ``wasserstein_distance``,
``scipy.spatial.distance.jensenshannon`` and ``chi2_contingency``. Two have
none: ``estimated_population`` (a category sample's population, unseen
categories included) and ``merge_rare_rows``, both for the categorical null.

SciPy is imported lazily, only for distribution functions (p-values).
"""

from __future__ import annotations

import math

import numpy as np

KS_MAX_EXACT_N = 10_000  # scipy.stats.ks_2samp(method="auto") is exact up to here
PSI_EPS = 1e-4  # share given to an empty bin so that PSI stays finite


def _sorted_float(values: np.ndarray, assume_sorted: bool) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr if assume_sorted else np.sort(arr)


def merged_ecdfs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge two sorted samples; return merged values and both ECDFs at each point.

    The ECDF values are exact at the last element of each run of equal values,
    which is where the KS statistic is evaluated; for the Wasserstein integral
    the width between equal values is zero, so the other positions never count.
    """
    n1, n2 = a.size, b.size
    merged = np.concatenate([a, b])
    order = np.argsort(merged, kind="stable")  # timsort: a linear merge of two runs
    values = merged[order]
    count_a = np.cumsum(order < n1)
    count_b = np.arange(1, n1 + n2 + 1) - count_a
    return values, count_a / n1, count_b / n2


def ks_wasserstein_sorted(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """KS statistic and Wasserstein-1 distance of two sorted, non-empty samples, one merge."""
    values, cdf_a, cdf_b = merged_ecdfs(a, b)
    diff = cdf_a - cdf_b
    widths = np.diff(values)
    wasserstein = float(np.sum(np.abs(diff[:-1]) * widths))
    run_end = np.empty(values.size, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=run_end[:-1])
    run_end[-1] = True
    at_ends = diff[run_end]
    d = max(float(at_ends.max()), float(np.clip(-at_ends.min(), 0.0, 1.0)))
    return d, wasserstein


def ks_pvalue(d: float, n1: int, n2: int, method: str = "auto") -> float:
    """Two-sided p-value for a KS statistic, with ``scipy.stats.ks_2samp``'s mode logic.

    ``auto`` is exact when both samples have at most 10,000 values and
    asymptotic (``kstwo.sf(d, round(n1*n2/(n1+n2)))``) above; ``asymp`` forces
    the latter. The exact branch uses SciPy's own routine; if a SciPy release
    moves it, the asymptotic formula is used instead.
    """
    if method not in ("auto", "exact", "asymp"):
        raise ValueError(f"unknown KS method {method!r}")
    if method == "auto":
        method = "exact" if max(n1, n2) <= KS_MAX_EXACT_N else "asymp"
    if method == "exact":
        exact = _ks_exact_pvalue(d, n1, n2)
        if exact is not None:
            return exact
    from scipy.stats import kstwo

    m, n = sorted([float(n1), float(n2)], reverse=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = float(kstwo.sf(d, np.round(m * n / (m + n))))
    if not math.isfinite(prob):  # one value per side: the asymptotic formula has no answer
        return 1.0
    return float(np.clip(prob, 0.0, 1.0))


def _ks_exact_pvalue(d: float, n1: int, n2: int) -> float | None:
    try:
        import warnings

        from scipy.stats._stats_py import _attempt_exact_2kssamp
    except ImportError:  # pragma: no cover - depends on the SciPy release
        return None
    g = math.gcd(n1, n2)
    if n1 // g >= np.iinfo(np.int32).max / (n2 // g):
        return None
    try:  # a private SciPy function: a release that changes it falls back to the asymptotic p-value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            success, _d, prob = _attempt_exact_2kssamp(n1, n2, g, d, "two-sided")
        prob = float(prob)
    except (TypeError, ValueError, AttributeError):
        return None
    if not success or not np.isfinite(prob):
        return None
    return float(np.clip(prob, 0.0, 1.0))


def ks_2samp(
    u: np.ndarray, v: np.ndarray, *, method: str = "auto", assume_sorted: bool = False
) -> tuple[float, float]:
    """Two-sided two-sample KS test: ``(statistic, p_value)`` as ``scipy.stats.ks_2samp``."""
    a, b = _sorted_float(u, assume_sorted), _sorted_float(v, assume_sorted)
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_2samp needs two non-empty samples")
    d, _ = ks_wasserstein_sorted(a, b)
    return d, ks_pvalue(d, a.size, b.size, method)


def wasserstein_distance(u: np.ndarray, v: np.ndarray, *, assume_sorted: bool = False) -> float:
    """Wasserstein-1 distance of two samples, as ``scipy.stats.wasserstein_distance``."""
    a, b = _sorted_float(u, assume_sorted), _sorted_float(v, assume_sorted)
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein_distance needs two non-empty samples")
    return ks_wasserstein_sorted(a, b)[1]


def jensenshannon(p: np.ndarray, q: np.ndarray, base: float | None = 2.0) -> float:
    """Jensen-Shannon distance of two count or share vectors (normalised here).

    Same as ``scipy.spatial.distance.jensenshannon(p, q, base)``; note the
    default base here is 2, which bounds the distance by 1.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2.0
    js = _kl_terms(p, m) + _kl_terms(q, m)
    if base is not None:
        js /= math.log(base)
    return float(math.sqrt(max(js / 2.0, 0.0)))


def jensenshannon_rows(p: np.ndarray, q: np.ndarray, base: float | None = 2.0) -> np.ndarray:
    """Jensen-Shannon distance between matching rows of two count matrices (or a vector
    ``p`` against every row of ``q``)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    js = (left + right).sum(axis=-1)
    if base is not None:
        js /= math.log(base)
    return np.sqrt(np.maximum(js / 2.0, 0.0))


def estimated_population(counts: np.ndarray) -> tuple[np.ndarray, float]:
    """The population a sample of category counts was drawn from, categories it missed
    included: ``(shares of the observed categories, total share of the unseen ones)``.

    This is the "bootstrap assemblage" of Chao & Jost (2012) and Chao et al. (2014), as
    iNEXT builds it (Hsieh, Ma & Chao 2016, ``EstiBootComm.Ind``). With n values, f1
    categories seen once and f2 seen twice, Chao1 puts f0 = (n-1)/n * f1^2 / (2 f2)
    (f1 (f1-1) / 2 when f2 = 0) categories out of sight, and Good-Turing, as refined by
    Chao & Jost, gives them the share 1 - C = f1/n * n f0 / (n f0 + f1), which is
    f1/n * (n-1) f1 / ((n-1) f1 + 2 f2). The observed shares x/n are shrunk by
    1 - w (1 - x/n)^n, most for the rarest, with w chosen so that all shares sum to one.
    Without singletons this is the empirical distribution.
    """
    x = np.asarray(counts, dtype=np.float64)
    n = float(x.sum())
    empirical = x / n
    f1 = int(np.count_nonzero(x == 1))
    f2 = int(np.count_nonzero(x == 2))
    if f1 == 0 or n <= 1:
        return empirical, 0.0
    f0 = (n - 1) / n * (f1 * f1 / (2.0 * f2) if f2 > 0 else f1 * (f1 - 1) / 2.0)
    if f0 <= 0:  # one singleton and no doubleton: nothing to go on
        return empirical, 0.0
    unseen = f1 / n * (n * f0 / (n * f0 + f1))
    with np.errstate(divide="ignore"):
        miss = np.exp(n * np.log1p(-empirical))  # (1 - x/n)^n: chance to miss it in n draws
    w = unseen / float(np.sum(empirical * miss))
    shares = np.clip(empirical * (1.0 - w * miss), 0.0, None)
    return shares, float(unseen)


def merge_rare_rows(
    p_counts: np.ndarray, q_counts: np.ndarray, min_count: int, always: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Merge, row by row, the categories with fewer than ``min_count`` values in both
    samples together (and the columns flagged in ``always``) into one last "other" column.

    Works on two count vectors or two matrices of matching rows; merged cells become 0.
    """
    p = np.asarray(p_counts, dtype=np.float64)
    q = np.asarray(q_counts, dtype=np.float64)
    rare = (p + q) < min_count
    if always is not None:
        rare = rare | always
    p_kept, q_kept = np.where(rare, 0.0, p), np.where(rare, 0.0, q)
    p_other = (p - p_kept).sum(axis=-1, keepdims=True)
    q_other = (q - q_kept).sum(axis=-1, keepdims=True)
    return np.concatenate([p_kept, p_other], axis=-1), np.concatenate([q_kept, q_other], axis=-1)


def wasserstein_resamples(
    sorted_values: np.ndarray, idx_a: np.ndarray, idx_b: np.ndarray
) -> np.ndarray:
    """Wasserstein-1 distance between matching rows of two index matrices into one sorted
    array (bootstrap resamples of a reference).

    Sorting integer keys ``index * 2 + side`` merges both samples of a row at once,
    which is several times faster than an argsort of the float values.
    """
    m1, m2 = idx_a.shape[1], idx_b.shape[1]
    keys = np.concatenate([idx_a * 2, idx_b * 2 + 1], axis=1)
    keys.sort(axis=1)
    values = sorted_values[keys >> 1]
    count_b = np.cumsum(keys & 1, axis=1)
    count_a = np.arange(1, m1 + m2 + 1) - count_b
    gap = np.abs(count_a / m1 - count_b / m2)[:, :-1]
    return np.sum(gap * np.diff(values, axis=1), axis=1)


def _kl_terms(p: np.ndarray, m: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / m[mask])))


def chi2_contingency(
    counts_a: np.ndarray, counts_b: np.ndarray, *, correction: bool = True
) -> tuple[float, float, int]:
    """Chi-square test of homogeneity on the 2 x K table ``[counts_a; counts_b]``.

    Returns ``(statistic, p_value, dof)`` like ``scipy.stats.chi2_contingency``
    (Yates' correction when dof == 1 and ``correction``). Categories absent from
    both rows must be dropped by the caller.
    """
    from scipy.stats import chi2

    observed = np.vstack([counts_a, counts_b]).astype(np.float64)
    total = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    dof = observed.shape[1] - 1
    if dof == 0:
        return 0.0, 1.0, 0
    if dof == 1 and correction:
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return stat, float(chi2.sf(stat, dof)), dof


def chisquare_pvalue(f_obs: np.ndarray, f_exp: np.ndarray) -> float:
    """Goodness-of-fit chi-square p-value (``scipy.stats.chisquare``); a zero expected
    count with observations gives p = 0."""
    from scipy.stats import chi2

    f_obs = np.asarray(f_obs, dtype=np.float64)
    f_exp = np.asarray(f_exp, dtype=np.float64)
    dof = f_obs.size - 1
    if dof < 1:
        return 1.0
    if np.any((f_exp == 0) & (f_obs > 0)):
        return 0.0
    keep = f_exp > 0
    stat = float(np.sum((f_obs[keep] - f_exp[keep]) ** 2 / f_exp[keep]))
    return float(chi2.sf(stat, dof))


def proportions_ztest_pvalue(ones_a: int, n_a: int, ones_b: int, n_b: int) -> float:
    """Two-sided pooled z-test for the difference of two proportions."""
    from scipy.stats import norm

    p_a, p_b = ones_a / n_a, ones_b / n_b
    pooled = (ones_a + ones_b) / (n_a + n_b)
    var = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if var <= 0.0:
        return 1.0
    z = (p_a - p_b) / math.sqrt(var)
    return float(2.0 * norm.sf(abs(z)))


def psi_edges(sorted_reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Interior bin edges at reference quantiles (duplicates removed)."""
    if sorted_reference.size == 0:
        return np.empty(0)
    quantiles = np.quantile(sorted_reference, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(quantiles)


def bin_shares(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of a sorted sample in the bins (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    cuts = np.searchsorted(sorted_values, edges, side="right")
    counts = np.diff(np.concatenate([[0], cuts, [sorted_values.size]]))
    return counts / max(sorted_values.size, 1)


def psi(reference_shares: np.ndarray, current_shares: np.ndarray, eps: float = PSI_EPS) -> float:
    """Population stability index, sum((c - r) * ln(c / r)), empty shares floored at ``eps``."""
    r = np.maximum(np.asarray(reference_shares, dtype=np.float64), eps)
    c = np.maximum(np.asarray(current_shares, dtype=np.float64), eps)
    return float(np.sum((c - r) * np.log(c / r)))

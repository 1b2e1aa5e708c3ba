"""Tests for the drift engine: SciPy agreement, verdicts on real data, edge cases."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
from scipy.spatial.distance import jensenshannon as scipy_js

from mlcycle_tui.monitoring import drift
from mlcycle_tui.monitoring import drift_stats as st

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
TOL = 1e-9


def kinds(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Simple kinds for the tests: numbers with > 10 distinct values are numeric."""
    out = []
    for name in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[name]) and frame[name].nunique() > 10
        out.append(
            {
                "name": name,
                "dtype": str(frame[name].dtype),
                "kind": "numeric" if numeric else "categorical",
            }
        )
    return out


def assert_json_clean(report: dict) -> None:
    json.dumps(report, allow_nan=False)  # raises on NaN / inf


@pytest.fixture(scope="module")
def seattle() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "seattle_weather.csv", parse_dates=["date"])


@pytest.fixture(scope="module")
def bikeshare() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "bikeshare.csv", parse_dates=["timestamp"])


# --------------------------------------------------------------------------- SciPy agreement

SIZES = [(1, 1), (1, 7), (5, 3), (40, 60), (300, 300), (999, 1000), (12_000, 3_000), (20_000, 20_000)]


def samples(n1: int, n2: int, ties: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + n1 * 7 + n2)
    a, b = rng.normal(size=n1), rng.normal(0.2, 1.3, size=n2)
    if ties:
        a, b = np.round(a, 1), np.round(b, 1)
    return a, b


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # SciPy, n1 = n2 = 1
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("n1", "n2"), SIZES)
def test_ks_matches_scipy_auto_and_asymp(n1: int, n2: int, ties: bool) -> None:
    a, b = samples(n1, n2, ties)
    d, p = st.ks_2samp(a, b)
    ref = ss.ks_2samp(a, b)
    assert abs(d - ref.statistic) < TOL
    assert abs(p - ref.pvalue) < TOL
    d2, p2 = st.ks_2samp(a, b, method="asymp")
    ref2 = ss.ks_2samp(a, b, method="asymp")
    assert abs(d2 - ref2.statistic) < TOL
    if np.isfinite(ref2.pvalue):
        assert abs(p2 - ref2.pvalue) < TOL
    else:
        assert p2 == 1.0  # SciPy has no asymptotic answer for one value per side


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("n1", "n2"), SIZES)
def test_wasserstein_matches_scipy(n1: int, n2: int, ties: bool) -> None:
    a, b = samples(n1, n2, ties, seed=3)
    assert abs(st.wasserstein_distance(a, b) - ss.wasserstein_distance(a, b)) < TOL
    sa, sb = np.sort(a), np.sort(b)
    assert abs(st.wasserstein_distance(sa, sb, assume_sorted=True) - ss.wasserstein_distance(a, b)) < TOL


def test_bootstrap_wasserstein_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    values = np.sort(np.round(rng.gamma(2.0, size=3000), 2))
    ia, ib = rng.integers(0, 3000, size=(20, 400)), rng.integers(0, 3000, size=(20, 250))
    got = st.wasserstein_resamples(values, ia, ib)
    for i in range(20):
        assert abs(got[i] - ss.wasserstein_distance(values[ia[i]], values[ib[i]])) < TOL


@pytest.mark.parametrize(
    ("p", "q"),
    [
        ([10, 20, 30], [30, 20, 10]),
        ([5, 0, 5, 1], [0, 4, 4, 9]),
        ([1, 0], [0, 1]),
        ([0.2, 0.8], [0.2, 0.8]),
    ],
)
def test_jensenshannon_matches_scipy(p: list[float], q: list[float]) -> None:
    assert abs(st.jensenshannon(p, q) - scipy_js(p, q, base=2)) < TOL
    assert abs(st.jensenshannon(p, q, base=None) - scipy_js(p, q)) < TOL
    rows = st.jensenshannon_rows(np.array(p), np.array([q, p]))
    assert abs(rows[0] - scipy_js(p, q, base=2)) < TOL
    assert rows[1] < 1e-7


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([10, 20], [3, 40]),  # 2 x 2: Yates' correction
        ([10, 20, 5], [3, 40, 1]),
        ([500, 300, 200, 1], [480, 320, 190, 10]),
        ([7], [9]),  # one category: nothing to test
    ],
)
def test_chi2_contingency_matches_scipy(a: list[int], b: list[int]) -> None:
    stat, p, dof = st.chi2_contingency(np.array(a), np.array(b))
    ref = ss.chi2_contingency(np.vstack([a, b]))
    assert abs(stat - ref.statistic) < TOL
    assert abs(p - ref.pvalue) < TOL
    assert dof == ref.dof


def test_chisquare_and_z_match_scipy() -> None:
    obs, exp = np.array([12.0, 30, 8]), np.array([15.0, 25, 10])
    assert abs(st.chisquare_pvalue(obs, exp) - ss.chisquare(obs, exp).pvalue) < TOL
    assert st.chisquare_pvalue(np.array([3.0, 2]), np.array([5.0, 0])) == 0.0
    # z-test: compare with a 2 x 2 chi-square without correction (z^2 == chi^2)
    table = np.array([[30, 70], [45, 55]])
    ref = ss.chi2_contingency(table, correction=False).pvalue
    assert abs(st.proportions_ztest_pvalue(70, 100, 55, 100) - ref) < TOL


def test_psi_and_bins() -> None:
    rng = np.random.default_rng(2)
    ref = np.sort(rng.normal(size=5000))
    edges = st.psi_edges(ref, 10)
    shares = st.bin_shares(ref, edges)
    assert len(shares) == 10
    assert np.allclose(shares, 0.1, atol=1e-3)
    cur = np.sort(rng.normal(0.5, 1, size=5000))
    cur_shares = st.bin_shares(cur, edges)
    expected = np.sum((cur_shares - shares) * np.log(cur_shares / shares))
    assert abs(st.psi(shares, cur_shares) - expected) < TOL
    assert st.psi(shares, shares) == 0.0


# --------------------------------------------------------------------------- real data


def seattle_features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["date"])


def bike_features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["timestamp", "casual", "registered"])


def test_seattle_winter_vs_summer_is_drift(seattle: pd.DataFrame) -> None:
    d = seattle["date"]
    winter = seattle_features(seattle[(d >= "2012-01-01") & (d < "2012-04-01")])
    summer = seattle_features(seattle[(d >= "2012-07-01") & (d < "2012-10-01")])
    ref = drift.prepare_reference(winter, kinds(winter))
    report = drift.check_drift(ref, summer)
    assert_json_clean(report)
    assert report["drift"] is True
    verdicts = {c["column"]: c["drifted"] for c in report["columns"]}
    assert verdicts["temp_max"] and verdicts["temp_min"]


def test_bikeshare_winter_vs_summer_is_drift(bikeshare: pd.DataFrame) -> None:
    month = bikeshare["timestamp"].dt.month
    winter = bike_features(bikeshare[month.isin([1, 2, 3])])
    summer = bike_features(bikeshare[month.isin([6, 7, 8])])
    ref = drift.prepare_reference(winter, kinds(winter))
    report = drift.check_drift(ref, summer)
    assert_json_clean(report)
    assert report["drift"] is True
    assert {c["column"]: c["drifted"] for c in report["columns"]}["temp"]


def false_alarms(frame: pd.DataFrame, splits: int = 100) -> int:
    columns = kinds(frame)
    rng = np.random.default_rng(42)
    alarms = 0
    for _ in range(splits):
        order = rng.permutation(len(frame))
        half = len(frame) // 2
        ref = drift.prepare_reference(frame.iloc[order[:half]], columns)
        alarms += drift.check_drift(ref, frame.iloc[order[half:]])["drift"]
    return alarms


@pytest.mark.slow
def test_random_halves_rarely_alarm(seattle: pd.DataFrame, bikeshare: pd.DataFrame) -> None:
    assert false_alarms(seattle_features(seattle)) <= 1
    assert false_alarms(bike_features(bikeshare)) <= 1


# --------------------------------------------------------------------------- size awareness

NUM = [{"name": "x", "dtype": "float64", "kind": "numeric"}]
CAT = [{"name": "c", "dtype": "object", "kind": "categorical"}]


def test_small_windows_do_not_cry_wolf() -> None:
    rng = np.random.default_rng(7)
    ref = drift.prepare_reference(pd.DataFrame({"x": rng.lognormal(size=5000)}), NUM)
    drifted = 0
    for _ in range(50):
        window = pd.DataFrame({"x": rng.lognormal(size=12)})
        drifted += drift.check_drift(ref, window)["columns"][0]["drifted"]
    assert drifted <= 2
    small = drift.check_drift(ref, pd.DataFrame({"x": rng.lognormal(size=12)}))["columns"][0]
    assert small["threshold"] > drift.WASSERSTEIN_FLOOR  # the size-aware part is above the floor


def test_huge_windows_ignore_trivial_shifts_but_catch_real_ones() -> None:
    rng = np.random.default_rng(8)
    ref = drift.prepare_reference(pd.DataFrame({"x": rng.normal(size=300_000)}), NUM)
    trivial = drift.check_drift(ref, pd.DataFrame({"x": rng.normal(0.03, 1, size=300_000)}))
    col = trivial["columns"][0]
    assert col["ks_p_value"] < 1e-6  # a p-value test would cry wolf here
    assert not col["drifted"]
    assert col["threshold"] == drift.WASSERSTEIN_FLOOR
    real = drift.check_drift(ref, pd.DataFrame({"x": rng.normal(0.3, 1, size=300_000)}))
    assert real["columns"][0]["drifted"]
    assert ref.stats["x"].values.size == drift.MAX_EXACT_REFERENCE  # a fixed-size sample


def test_thresholds_are_deterministic_and_cached() -> None:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(list("abc"), size=2000)})
    cols = NUM + CAT
    window = frame.sample(300, random_state=1)
    first = drift.check_drift(drift.prepare_reference(frame, cols), window)
    ref = drift.prepare_reference(frame, cols)
    second = drift.check_drift(ref, window)
    assert first == second
    assert ("x", 300) in ref.null_cache and ("c", 300) in ref.null_cache
    assert drift.check_drift(ref, window) == second


def test_categorical_small_window_threshold_is_higher() -> None:
    rng = np.random.default_rng(10)
    frame = pd.DataFrame({"c": rng.choice(list("abcdefgh"), size=5000)})
    ref = drift.prepare_reference(frame, CAT)
    small = drift.check_drift(ref, frame.sample(20, random_state=2))["columns"][0]
    large = drift.check_drift(ref, frame.sample(4000, random_state=2))["columns"][0]
    assert small["threshold"] > large["threshold"] >= drift.JS_FLOOR
    assert not small["drifted"] and not large["drifted"]


# --------------------------------------------------------------------------- edge cases


def check_one(ref_values: list, cur_values: list, columns: list[dict]) -> dict:
    name = columns[0]["name"]
    ref = drift.prepare_reference(pd.DataFrame({name: ref_values}), columns)
    report = drift.check_drift(ref, pd.DataFrame({name: cur_values}))
    assert_json_clean(report)
    return report["columns"][0]


def test_constant_columns() -> None:
    same = check_one([3.0] * 50, [3.0] * 40, NUM)
    assert same["verdict"] == "ok" and same["statistic"] == 0.0
    moved = check_one([3.0] * 50, [3.0] * 20 + [4.0] * 20, NUM)
    assert moved["drifted"] and "constant" in moved["message"]
    cat = check_one(["a"] * 50, ["a"] * 30, CAT)
    assert cat["verdict"] == "ok"


def test_all_missing_either_side() -> None:
    nan = float("nan")
    both = check_one([nan] * 10, [nan] * 10, NUM)
    assert both["verdict"] == "skipped" and "missing" in both["message"]
    cur = check_one([1.0, 2, 3, 4, 5, 6], [nan] * 10, NUM)
    assert cur["drifted"] and cur["missing_current"] == 1.0 and cur["missing_changed"]
    ref = check_one([None] * 10, ["a"] * 10, CAT)
    assert ref["drifted"] and "reference had no values" in ref["message"]


def test_one_row_and_empty_windows() -> None:
    one = check_one(list(range(100)), [5], NUM)
    assert one["verdict"] == "insufficient data" and not one["drifted"]
    assert "1 row" in one["message"]
    ref = drift.prepare_reference(pd.DataFrame({"x": np.arange(100.0)}), NUM)
    empty = drift.check_drift(ref, pd.DataFrame({"x": []}))
    assert empty["drift"] is False and empty["n_columns"] == 0
    assert_json_clean(empty)


def test_unseen_categories_and_missing_rate() -> None:
    ref_values = ["a", "b", "c"] * 100
    cur_values = ["a", "b", "c"] * 20 + ["z"] * 5 + [None] * 30
    col = check_one(ref_values, cur_values, CAT)
    assert col["new_categories"] == ["z"]
    assert col["missing_reference"] == 0.0
    assert abs(col["missing_current"] - 30 / 95) < 1e-12
    assert col["missing_changed"] is True
    assert "unseen" in col["message"] and "missing share" in col["message"]


def test_skipped_kinds_and_absent_columns() -> None:
    frame = pd.DataFrame(
        {"when": pd.date_range("2024-01-01", periods=30), "x": np.arange(30.0), "id": range(30)}
    )
    columns = [
        {"name": "when", "dtype": "datetime64[ns]", "kind": "datetime"},
        {"name": "x", "dtype": "float64", "kind": "numeric"},
        {"name": "id", "dtype": "int64", "kind": "id"},
    ]
    ref = drift.prepare_reference(frame, columns)
    report = drift.check_drift(ref, frame[["when", "id"]])
    by_name = {c["column"]: c for c in report["columns"]}
    assert by_name["when"]["verdict"] == "skipped" and "datetime" in by_name["when"]["message"]
    assert by_name["id"]["verdict"] == "skipped"
    assert by_name["x"]["drifted"]  # absent from the current frame: all missing
    assert report["n_columns"] == 1
    assert_json_clean(report)


def test_booleans_and_numeric_categories_are_normalised() -> None:
    b = [{"name": "flag", "dtype": "bool", "kind": "boolean"}]
    col = check_one([True, False] * 50, [True, False] * 40, b)
    assert col["kind"] == "boolean" and col["verdict"] == "ok" and col["new_categories"] == []
    # integers in the reference, floats (because of a missing value) in the window
    col = check_one([1, 2, 3] * 30, [1.0, 2.0, 3.0] * 10 + [None], CAT)
    assert col["new_categories"] == []


def test_unknown_method_is_refused() -> None:
    ref = drift.prepare_reference(pd.DataFrame({"x": np.arange(10.0)}), NUM)
    with pytest.raises(ValueError, match="unknown drift method"):
        drift.check_drift(ref, pd.DataFrame({"x": np.arange(10.0)}), method="magic")


@pytest.mark.parametrize("method", drift.METHODS)
def test_every_method_reports_clean_json(method: str, seattle: pd.DataFrame) -> None:
    frame = seattle_features(seattle)
    ref = drift.prepare_reference(frame.iloc[:700], kinds(frame))
    report = drift.check_drift(ref, frame.iloc[700:], method=method)
    assert_json_clean(report)
    assert report["method"] == method
    for col in report["columns"]:
        for key in ("column", "kind", "method", "statistic", "threshold", "drifted", "message"):
            assert key in col
    numeric = next(c for c in report["columns"] if c["kind"] == "numeric")
    assert {"ks_statistic", "ks_p_value", "psi", "wasserstein_norm"} <= set(numeric)
    categorical = next(c for c in report["columns"] if c["kind"] == "categorical")
    assert {"js", "chi2", "chi2_p_value"} <= set(categorical)


def test_reported_statistics_equal_scipy(seattle: pd.DataFrame) -> None:
    frame = seattle_features(seattle)
    a, b = frame.iloc[:500], frame.iloc[500:]
    ref = drift.prepare_reference(a, kinds(frame))
    cols = {c["column"]: c for c in drift.check_drift(ref, b)["columns"]}
    wind = cols["wind"]
    ks = ss.ks_2samp(a["wind"], b["wind"])
    assert abs(wind["ks_statistic"] - ks.statistic) < TOL
    assert abs(wind["ks_p_value"] - ks.pvalue) < TOL
    w = ss.wasserstein_distance(a["wind"], b["wind"]) / a["wind"].std(ddof=0)
    assert abs(wind["wasserstein_norm"] - w) < TOL
    cats = sorted(set(a["weather"]) | set(b["weather"]))
    table = np.array([[(s == c).sum() for c in cats] for s in (a["weather"], b["weather"])])
    assert abs(cols["weather"]["chi2_p_value"] - ss.chi2_contingency(table).pvalue) < TOL
    assert abs(cols["weather"]["js"] - scipy_js(table[0], table[1], base=2)) < TOL


# --------------------------------------------------------------------------- evidently rule


def test_evidently_rule_small_reference() -> None:
    rng = np.random.default_rng(11)
    ref_frame = pd.DataFrame(
        {
            "x": rng.normal(size=800),
            "c": rng.choice(list("abc"), size=800),
            "f": rng.choice([0, 1], size=800),
        }
    )
    cur = pd.DataFrame(
        {
            "x": rng.normal(0.2, 1, size=500),
            "c": rng.choice(list("abc"), size=500, p=[0.5, 0.3, 0.2]),
            "f": rng.choice([0, 1], size=500, p=[0.4, 0.6]),
        }
    )
    cols = [*NUM, *CAT, {"name": "f", "dtype": "int64", "kind": "categorical"}]
    report = drift.check_drift(drift.prepare_reference(ref_frame, cols), cur, method="evidently")
    by = {c["column"]: c for c in report["columns"]}
    assert by["x"]["method"] == "evidently:ks"
    assert abs(by["x"]["statistic"] - ss.ks_2samp(ref_frame["x"], cur["x"]).pvalue) < TOL
    assert by["c"]["method"] == "evidently:chisquare"
    ref_counts = ref_frame["c"].value_counts().sort_index().to_numpy()
    cur_counts = cur["c"].value_counts().sort_index().to_numpy()
    expected = ss.chisquare(cur_counts, ref_counts * 500 / 800).pvalue
    assert abs(by["c"]["statistic"] - expected) < TOL
    assert by["f"]["method"] == "evidently:z"


def test_evidently_rule_large_reference() -> None:
    rng = np.random.default_rng(12)
    ref_frame = pd.DataFrame(
        {"x": rng.normal(size=3000), "c": rng.choice(list("abc"), size=3000), "k": rng.integers(0, 3, 3000)}
    )
    cur = pd.DataFrame(
        {"x": rng.normal(0.5, 1, size=2000), "c": rng.choice(list("abc"), size=2000), "k": rng.integers(0, 3, 2000)}
    )
    cols = [*NUM, *CAT, {"name": "k", "dtype": "int64", "kind": "numeric"}]
    report = drift.check_drift(drift.prepare_reference(ref_frame, cols), cur, method="evidently")
    by = {c["column"]: c for c in report["columns"]}
    assert by["x"]["method"] == "evidently:wasserstein" and by["x"]["drifted"]
    w = ss.wasserstein_distance(ref_frame["x"], cur["x"]) / np.std(ref_frame["x"])
    assert abs(by["x"]["statistic"] - w) < TOL
    assert by["c"]["method"] == "evidently:js" and not by["c"]["drifted"]
    assert by["k"]["method"] == "evidently:js"  # numeric with <= 5 values


# --------------------------------------------------------------------------- storage, predictions, plots


def test_reference_pickles_and_keeps_its_bytes_stable(tmp_path: Path, seattle: pd.DataFrame) -> None:
    frame = seattle_features(seattle)
    ref = drift.prepare_reference(frame.iloc[:600], kinds(frame))
    before = pickle.dumps(ref)
    report = drift.check_drift(ref, frame.iloc[600:])
    assert ref.null_cache  # thresholds were cached ...
    assert pickle.dumps(ref) == before  # ... but are not part of the stored artifact
    joblib.dump(ref, tmp_path / "ref.joblib")
    loaded = joblib.load(tmp_path / "ref.joblib")
    assert drift.check_drift(loaded, frame.iloc[600:]) == report


def test_prediction_drift_labels_and_values() -> None:
    rng = np.random.default_rng(13)
    frame = pd.DataFrame({"x": rng.normal(size=1000)})
    labels = rng.choice(["yes", "no"], size=1000, p=[0.3, 0.7])
    ref = drift.prepare_reference(frame, NUM, predictions=labels)
    shifted = rng.choice(["yes", "no"], size=500, p=[0.7, 0.3])
    report = drift.check_drift(ref, frame.iloc[:500], current_predictions=shifted)
    pred = report["prediction_drift"]
    assert pred["column"] == "prediction" and pred["kind"] == "categorical" and pred["drifted"]
    assert drift.check_drift(ref, frame.iloc[:500])["prediction_drift"] is None
    values = rng.normal(10, 2, size=1000)
    ref = drift.prepare_reference(frame, NUM, predictions=values)
    same = drift.check_drift(ref, frame, current_predictions=rng.normal(10, 2, size=800))
    assert same["prediction_drift"]["kind"] == "numeric"
    assert not same["prediction_drift"]["drifted"]
    assert_json_clean(same)


def test_histogram_pair(seattle: pd.DataFrame) -> None:
    frame = seattle_features(seattle)
    ref = drift.prepare_reference(frame.iloc[:700], kinds(frame))
    cur = frame.iloc[700:]
    numeric = drift.histogram_pair(ref, cur, "temp_max", bins=15)
    assert len(numeric["edges"]) == 16 and len(numeric["reference"]) == 15
    assert abs(sum(numeric["reference"]) - 1) < 1e-9 and abs(sum(numeric["current"]) - 1) < 1e-9
    counts, _ = np.histogram(cur["temp_max"], bins=np.array(numeric["edges"]))
    assert np.allclose(numeric["current"], counts / len(cur))
    cat = drift.histogram_pair(ref, cur, "weather", bins=3)
    assert cat["categories"][-1] == "(other)" and len(cat["categories"]) == 4
    assert abs(sum(cat["current"]) - 1) < 1e-9
    with pytest.raises(ValueError):
        drift.histogram_pair(ref, cur, "nope")
    json.dumps([numeric, cat], allow_nan=False)


def test_module_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mlcycle_tui.monitoring.drift; "
        "print(any(m in sys.modules for m in ('scipy', 'scipy.stats', 'pandas')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ks_p_value_falls_back_when_scipys_private_exact_routine_changes(monkeypatch):
    """`_attempt_exact_2kssamp` is private: a SciPy that moves, re-signs or breaks it gives the
    asymptotic p-value (the one SciPy itself uses for large samples), never an error."""
    import scipy.stats._stats_py as private
    from scipy.stats import kstwo

    from mlcycle_tui.monitoring import drift_stats

    exact = drift_stats.ks_pvalue(0.3, 40, 50)
    asymptotic = float(kstwo.sf(0.3, round(40 * 50 / 90)))
    assert exact != pytest.approx(asymptotic, rel=1e-6)  # the exact routine really runs today
    monkeypatch.setattr(private, "_attempt_exact_2kssamp", lambda n1, n2, g, d: (True, d, 0.5))  # new signature
    assert drift_stats.ks_pvalue(0.3, 40, 50) == pytest.approx(asymptotic)
    monkeypatch.delattr(private, "_attempt_exact_2kssamp")  # removed
    assert drift_stats.ks_pvalue(0.3, 40, 50) == pytest.approx(asymptotic)

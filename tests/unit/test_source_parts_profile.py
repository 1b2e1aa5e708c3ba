"""Merged profiles: the profile of a version made of parts, from summaries of its parts.

Exact where the summary keeps the values (at most STATE_CAP distinct values per column, and
counts, missing, min/max, mean/std always); sketches with stated error bounds beyond that.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle_tui.data import profiling

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


def merged_profile(frame: pd.DataFrame, cuts: list[int]) -> dict:
    """The profile of `frame` merged from the pieces between `cuts`, each summary through JSON
    (as stored), duplicates counted from the row hashes."""
    bounds = [0, *cuts, len(frame)]
    state = None
    for lo, hi in itertools.pairwise(bounds):
        piece = profiling.frame_state(frame.iloc[lo:hi].reset_index(drop=True))
        state = piece if state is None else profiling.merge_states(state, piece)
        state = json.loads(json.dumps(state))
    hashes = profiling.row_hashes(frame)
    return profiling.profile_from_state(state, len(hashes) - np.unique(hashes).size)


def assert_close(got, want, where=""):
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), (where, set(got) ^ set(want))
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    else:
        assert got == want, where


def test_a_frame_summary_gives_its_profile_exactly():
    penguins = pd.read_csv(SAMPLES / "penguins.csv")
    assert merged_profile(penguins, []) == profiling.profile_frame(penguins)


@pytest.mark.parametrize("cuts", [[1], [100, 101, 250], list(range(20, 340, 20))])
def test_merged_pieces_give_the_profile_of_the_whole(cuts):
    """Columns with few distinct values: every statistic as profiling the whole frame gives it."""
    penguins = pd.read_csv(SAMPLES / "penguins.csv")
    penguins["when"] = pd.Timestamp("2024-03-01") + pd.to_timedelta(np.arange(len(penguins)) % 50, unit="D")
    penguins["flag"] = penguins["sex"].eq("male")
    penguins.loc[5, "flipper_length_mm"] = np.inf
    frame = pd.concat([penguins, penguins.iloc[:7]], ignore_index=True)  # 7 duplicate rows
    want = profiling.profile_frame(frame)
    got = merged_profile(frame, cuts)
    assert got["duplicate_rows"] == want["duplicate_rows"] == 7
    assert_close(got, want)


def test_many_distinct_values_are_estimated_within_bounds():
    rng = np.random.default_rng(5)
    n = 30_000
    frame = pd.DataFrame({
        "user_id": np.arange(n),  # increasing ids: the id stays exact
        "amount": rng.lognormal(3, 1, n),
        "score": rng.normal(500, 10, n),  # a large offset: rank error, not relative error
        "word": pd.Series([f"w{int(v)}" for v in rng.zipf(1.3, n) % 20_000], dtype="str"),
        "seen": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), unit="s"),
    })
    want = profiling.profile_frame(frame)
    got = merged_profile(frame, list(range(500, n, 500)))
    by_name = {c["name"]: c for c in got["columns"]}
    for col in want["columns"]:
        mine = by_name[col["name"]]
        for key in ("kind", "dtype", "missing", "min", "max"):
            assert mine.get(key) == col.get(key), (col["name"], key)
        assert mine["unique"] == pytest.approx(col["unique"], rel=0.05), col["name"]
        if "quantiles" in col:
            assert mine["mean"] == pytest.approx(col["mean"], rel=1e-9)
            assert mine["std"] == pytest.approx(col["std"], rel=1e-9)
            values = np.sort(frame[col["name"]].to_numpy(dtype=float))
            for key, q in (("p01", 0.01), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p99", 0.99)):
                rank = np.searchsorted(values, mine["quantiles"][key]) / n
                assert abs(rank - q) < 0.015, (col["name"], key, rank)
            assert mine["histogram"]["edges"] == col["histogram"]["edges"]
            assert sum(mine["histogram"]["counts"]) == n
            off = np.abs(np.subtract(mine["histogram"]["counts"], col["histogram"]["counts"])).max()
            assert off < 0.015 * n, col["name"]
    assert (by_name["user_id"]["kind"], by_name["user_id"]["unique"]) == ("id", n)
    assert by_name["seen"]["unique"] == n  # increasing times: exact too
    # the most frequent words are listed, counts no higher than the true ones
    true_top = frame["word"].value_counts()
    listed = by_name["word"]["top"]
    assert [t["value"] for t in listed[:3]] == true_top.index[:3].tolist()
    assert all(t["count"] <= true_top[t["value"]] for t in listed)
    assert by_name["word"]["mean_length"] == pytest.approx(frame["word"].str.len().mean())


def test_whether_an_integer_column_stays_all_distinct():
    """Exact while the value counts are kept; past them, by the ranges: apart is distinct, a
    repeat inside a piece is not, overlapping ranges are unknown to the summary (`Data`
    then reads the column's values once)."""
    def merged(first, second):
        state = profiling.merge_states(profiling.frame_state(pd.DataFrame({"order_id": first})),
                                       profiling.frame_state(pd.DataFrame({"order_id": second})))
        return state["columns"][0]["all_distinct"], profiling.profile_from_state(state, 0)["columns"][0]

    assert merged(np.arange(100), np.arange(90, 120))[0] is False  # counts kept: exact
    assert merged(np.arange(100), np.arange(100, 120))[1]["kind"] == "id"
    flag, col = merged(np.arange(2000), np.arange(3000, 3100))
    assert (flag, col["kind"], col["unique"]) == (True, "id", 2100)
    flag, col = merged(np.arange(2000), np.r_[np.arange(3000, 3100), 3000])
    assert flag is False and col["kind"] == "numeric" and col["unique"] < 2101
    assert merged(np.arange(2000), np.array([5000, 10]))[0] is None


def test_an_estimate_near_a_kind_threshold_keeps_the_kind():
    words = pd.Series([f"word {i % 3000}" for i in range(6000)], dtype="str")  # ratio exactly 0.5
    frame = pd.DataFrame({"note": words})
    want = profiling.profile_frame(frame)["columns"][0]
    assert want["kind"] == "categorical"
    state = profiling.frame_state(frame.iloc[:3000])
    state["columns"][0]["kind"] = "categorical"  # as Data seeds it from the stored profile
    merged = profiling.merge_states(state, profiling.frame_state(frame.iloc[3000:].reset_index(drop=True)))
    assert profiling.profile_from_state(merged, 0)["columns"][0]["kind"] == "categorical"


def test_dtypes_without_a_summary_and_mismatched_columns():
    assert profiling.frame_state(pd.DataFrame({"c": pd.Categorical(["a", "b"])})) is None
    assert profiling.frame_state(pd.DataFrame({"n": pd.array([1, None], dtype="Int64")})) is None
    assert profiling.frame_state(pd.DataFrame({"o": pd.Series([[1], [2]], dtype=object)})) is None
    ints = profiling.frame_state(pd.DataFrame({"x": [1, 2]}))
    floats = profiling.frame_state(pd.DataFrame({"x": [1.5, 2.5]}))
    assert profiling.merge_states(ints, floats) is None

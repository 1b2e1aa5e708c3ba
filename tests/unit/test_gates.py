"""Promotion gates and champion/challenger comparison: pass and fail cases."""

from __future__ import annotations

import json

import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.registry.gates import check_gates, compare

CANDIDATE = {"f1": 0.80, "accuracy": 0.85, "roc_auc": None}
BASELINE = {"f1": 0.30, "accuracy": 0.60}


def _rules(result: dict) -> list[tuple[str, str, bool]]:
    return [(c["rule"], c["metric"], c["passed"]) for c in result["checks"]]


def test_no_rules_no_references_passes_with_an_explanation() -> None:
    result = check_gates("classification", CANDIDATE)
    assert result["passed"] is True and result["checks"] == []
    assert "no gate applies" in result["reasons"][0]
    json.dumps(result, allow_nan=False)


def test_min_and_max_rules() -> None:
    ok = check_gates("classification", CANDIDATE, rules={"min": {"accuracy": 0.8}})
    assert ok["passed"] and _rules(ok) == [("min", "accuracy", True)]
    assert ok["checks"][0]["value"] == 0.85 and ok["checks"][0]["threshold"] == 0.8
    bad = check_gates("classification", CANDIDATE, rules={"min": {"accuracy": 0.9}})
    assert not bad["passed"]
    assert bad["reasons"] == ["accuracy 0.85 < min 0.9"]
    reg = check_gates("regression", {"rmse": 12.0}, rules={"max": {"rmse": 10.0}})
    assert not reg["passed"] and reg["reasons"] == ["rmse 12 > max 10"]
    assert check_gates("regression", {"rmse": 9.5}, rules={"max": {"rmse": 10}})["passed"]


def test_missing_metric_fails_its_check() -> None:
    result = check_gates("classification", CANDIDATE, rules={"min": {"roc_auc": 0.7}})
    assert not result["passed"]
    assert "roc_auc is not available" in result["reasons"][0]


def test_must_beat_the_baseline() -> None:
    ok = check_gates("classification", CANDIDATE, baseline_metrics=BASELINE)
    assert ok["passed"] and _rules(ok) == [("beat_baseline", "f1", True)]
    assert ok["reasons"] == ["f1 0.8 beats the baseline 0.3"]
    worse = check_gates("classification", {"f1": 0.3}, baseline_metrics=BASELINE)
    assert not worse["passed"]  # a tie does not beat the baseline
    # the {"model", "baseline"} shape from evaluate_with_baseline works as the candidate
    regression = {"model": {"rmse": 50.0}, "baseline": {"rmse": 40.0}}
    result = check_gates("regression", regression)
    assert not result["passed"] and "does not beat the baseline" in result["reasons"][0]
    assert check_gates("regression", regression, rules={"beat_baseline": False})["passed"]


def test_champion_margin() -> None:
    champion = {"f1": 0.805}
    ok = check_gates("classification", CANDIDATE, champion)  # 0.005 worse, margin 0.01
    assert ok["passed"]
    check = ok["checks"][0]
    assert check["rule"] == "max_regression" and check["threshold"] == pytest.approx(0.795)
    bad = check_gates("classification", CANDIDATE, {"f1": 0.82})
    assert not bad["passed"] and "champion stays" in bad["reasons"][0]
    loose = check_gates("classification", CANDIDATE, {"f1": 0.82}, {"max_regression": 0.05})
    assert loose["passed"]
    exact = check_gates("classification", {"f1": 0.79}, {"f1": 0.80})  # exactly the margin
    assert exact["passed"]
    rmse = check_gates("regression", {"rmse": 10.5}, {"rmse": 10.0}, {"max_regression": 1.0})
    assert rmse["passed"]
    assert not check_gates("regression", {"rmse": 11.5}, {"rmse": 10.0},
                           {"max_regression": 1.0})["passed"]


def test_all_rules_together_report_only_failures() -> None:
    result = check_gates(
        "classification", {"model": CANDIDATE, "baseline": BASELINE}, {"f1": 0.9},
        {"min": {"accuracy": 0.5}, "metric": "accuracy"},
    )
    assert _rules(result) == [("min", "accuracy", True), ("beat_baseline", "accuracy", True),
                              ("max_regression", "accuracy", True)]
    assert result["passed"]  # the champion has no accuracy: the challenger wins on it
    failed = check_gates("classification", CANDIDATE, {"f1": 0.95},
                         {"min": {"accuracy": 0.5}}, baseline_metrics=BASELINE)
    assert not failed["passed"] and len(failed["reasons"]) == 1
    assert "f1 0.8 vs champion 0.95" in failed["reasons"][0]


def test_bad_rules_are_user_errors() -> None:
    with pytest.raises(UserError, match="unknown gate rule"):
        check_gates("classification", CANDIDATE, rules={"minimum": {"f1": 0.5}})
    with pytest.raises(UserError, match="needs a number"):
        check_gates("classification", CANDIDATE, rules={"min": {"f1": "high"}})
    with pytest.raises(UserError, match="max_regression"):
        check_gates("classification", CANDIDATE, {"f1": 0.8}, {"max_regression": "1%"})
    with pytest.raises(UserError, match="unknown task"):
        check_gates("ranking", CANDIDATE)


def test_compare() -> None:
    win = compare("classification", {"f1": 0.82}, {"f1": 0.80}, margin=0.0)
    assert win["challenger_wins"] and win["winner"] == "challenger"
    assert win["delta"] == pytest.approx(0.02) and win["metric"] == "f1"
    assert "challenger wins" in win["reason"]
    tie = compare("classification", {"f1": 0.8}, {"f1": 0.8})
    assert tie["challenger_wins"]  # ties go to the fresher model
    need_more = compare("classification", {"f1": 0.82}, {"f1": 0.80}, margin=0.05)
    assert not need_more["challenger_wins"] and need_more["winner"] == "champion"
    lower = compare("regression", {"rmse": 9.0}, {"rmse": 10.0})
    assert lower["challenger_wins"] and lower["delta"] == 1.0
    assert not compare("regression", {"rmse": 11.0}, {"rmse": 10.0})["challenger_wins"]
    assert compare("regression", {"rmse": 11.0}, None)["challenger_wins"]
    assert not compare("regression", {}, {"rmse": 10.0})["challenger_wins"]
    by_auc = compare("classification", {"roc_auc": 0.9, "f1": 0.1}, {"roc_auc": 0.8, "f1": 0.9},
                     metric="roc_auc")
    assert by_auc["challenger_wins"]
    json.dumps(by_auc, allow_nan=False)

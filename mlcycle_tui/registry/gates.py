"""Promotion gates: may a candidate model become the production model?

Pure functions over metrics dicts (as produced by `core.evaluation`), so the
registry, the retraining worker, the CLI and the TUI reach the same verdict
and show the same reasons. No database, no model, no I/O.

Rules (all optional; `rules=None` means the defaults):
    {"min": {"accuracy": 0.6},        # metric must be >= threshold
     "max": {"rmse": 10.0},           # metric must be <= threshold
     "beat_baseline": True,           # primary metric strictly better than the dummy
     "max_regression": 0.01,          # may be worse than the champion by at most this
     "min_unseen_rows": 30,           # rows neither model trained on, needed to compare them
     "metric": "f1"}                  # overrides the task's primary metric
The baseline check runs only when baseline metrics are given (as
`baseline_metrics=`, or as the "baseline" part of an
`evaluate_with_baseline` result passed as the candidate); the champion check
only when champion metrics are given. `max_regression` is an absolute
difference in the metric's own units. The registry compares a candidate with
the champion on rows neither trained on (`with_champion_check`); too few
such rows is a failed check ("cannot compare"), never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments.evaluation import higher_is_better, primary_metric

DEFAULT_MAX_REGRESSION = 0.01
# Test rows that neither the champion nor the candidate trained on, needed to compare them.
DEFAULT_MIN_UNSEEN_ROWS = 30
RULE_KEYS = frozenset({"min", "max", "beat_baseline", "max_regression", "metric", "min_unseen_rows"})
_EPSILON = 1e-12  # float noise: a loss of exactly the margin still passes
def _split(metrics: Mapping[str, Any] | None) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """(model metrics, baseline metrics) from a flat dict or {"model","baseline"}."""
    if metrics is None:
        return {}, None
    if isinstance(metrics.get("model"), Mapping):
        baseline = metrics.get("baseline")
        return metrics["model"], baseline if isinstance(baseline, Mapping) else None
    return metrics, None


def _value(metrics: Mapping[str, Any] | None, metric: str) -> float | None:
    if metrics is None:
        return None
    value = metrics.get(metric.removeprefix("metrics."))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _check(rule: str, metric: str, value: float | None, threshold: float | None,
           passed: bool, text: str) -> dict[str, Any]:
    return {"rule": rule, "metric": metric, "value": value, "threshold": threshold,
            "passed": passed, "reason": text}


def _bound_checks(kind: str, bounds: Mapping[str, Any], metrics: Mapping[str, Any]
                  ) -> list[dict[str, Any]]:
    checks = []
    for metric, threshold in bounds.items():
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise UserError(f"gate {kind}.{metric} needs a number, got {threshold!r}")
        value = _value(metrics, metric)
        if value is None:
            checks.append(_check(kind, metric, None, float(threshold), False,
                                 f"{metric} is not available for the candidate"))
            continue
        ok = value >= threshold if kind == "min" else value <= threshold
        op = (">=" if ok else "<") if kind == "min" else ("<=" if ok else ">")
        checks.append(_check(kind, metric, value, float(threshold), ok,
                             f"{metric} {_fmt(value)} {op} {kind} {_fmt(threshold)}"))
    return checks


def _baseline_check(metric: str, candidate: Mapping[str, Any],
                    baseline: Mapping[str, Any]) -> dict[str, Any]:
    value, base = _value(candidate, metric), _value(baseline, metric)
    if value is None or base is None:
        return _check("beat_baseline", metric, value, base, False,
                      f"{metric} is not available for the candidate or the baseline")
    ok = value > base if higher_is_better(metric) else value < base
    verb = "beats" if ok else "does not beat"
    return _check("beat_baseline", metric, value, base, ok,
                  f"{metric} {_fmt(value)} {verb} the baseline {_fmt(base)}")


def _validate_rules(rules: Mapping[str, Any]) -> None:
    unknown = sorted(set(rules) - RULE_KEYS)
    if unknown:
        raise UserError(f"unknown gate rule(s) {', '.join(unknown)}; "
                        f"valid rules: {', '.join(sorted(RULE_KEYS))}")
    for key in ("min", "max"):
        if not isinstance(rules.get(key, {}), Mapping):
            raise UserError(f"gate rule {key!r} must map metric names to numbers")
    margin = rules.get("max_regression", DEFAULT_MAX_REGRESSION)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or margin < 0:
        raise UserError(f"gate rule max_regression must be a number >= 0, got {margin!r}")


def check_gates(task: str, candidate_metrics: Mapping[str, Any],
                champion_metrics: Mapping[str, Any] | None = None,
                rules: Mapping[str, Any] | None = None, *,
                baseline_metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Whether a candidate passes every gate.

    Returns {"passed", "reasons", "checks"}: each check is
    {"rule","metric","value","threshold","passed","reason"}; `reasons` holds
    the failed checks' reasons when the gate fails, and every check's reason
    when it passes (so a promotion can say why it happened).
    """
    rules = dict(rules or {})
    _validate_rules(rules)
    metric = str(rules.get("metric") or primary_metric(task))
    candidate, embedded_baseline = _split(candidate_metrics)
    champion, _ = _split(champion_metrics)
    baseline = baseline_metrics if baseline_metrics is not None else embedded_baseline

    checks = _bound_checks("min", rules.get("min", {}), candidate)
    checks += _bound_checks("max", rules.get("max", {}), candidate)
    if baseline is not None and rules.get("beat_baseline", True):
        checks.append(_baseline_check(metric, candidate, baseline))
    if champion_metrics is not None:
        margin = float(rules.get("max_regression", DEFAULT_MAX_REGRESSION))
        verdict = compare(task, candidate, champion, margin=-margin, metric=metric)
        checks.append(_check("max_regression", metric, verdict["challenger"],
                             verdict["threshold"], verdict["challenger_wins"],
                             verdict["reason"]))
    failed = [c["reason"] for c in checks if not c["passed"]]
    passed = not failed
    reasons = [c["reason"] for c in checks] if passed else failed
    if passed and not checks:
        reasons = ["no gate applies (no rules, baseline or champion given)"]
    return {"passed": passed, "reasons": reasons, "checks": checks}


def with_champion_check(verdict: Mapping[str, Any], task: str, comparison: Mapping[str, Any],
                        rules: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`verdict` (from `check_gates` without a champion) plus the champion check.

    `comparison` holds both models' metrics on the same rows, which neither trained on
    ({"judged", "champion", "challenger", "rows", "reason"}, from the registry). When it
    could not be judged the check fails with its reason: a gate that cannot see must not pass.
    """
    rules = dict(rules or {})
    metric = str(rules.get("metric") or primary_metric(task))
    if comparison.get("judged"):
        margin = float(rules.get("max_regression", DEFAULT_MAX_REGRESSION))
        result = compare(task, comparison["challenger"], comparison["champion"], margin=-margin, metric=metric)
        check = _check("max_regression", metric, result["challenger"], result["threshold"],
                       result["challenger_wins"], f"{result['reason']} {comparison['reason']}")
    else:
        check = _check("max_regression", metric, None, None, False, str(comparison.get("reason")))
    check["rows"] = comparison.get("rows")
    checks = [*verdict.get("checks", []), check]
    failed = [c["reason"] for c in checks if not c["passed"]]
    out = dict(verdict)
    out.update(passed=not failed, reasons=failed or [c["reason"] for c in checks], checks=checks,
               comparison=dict(comparison))
    return out


def compare(task: str, challenger_metrics: Mapping[str, Any],
            champion_metrics: Mapping[str, Any] | None, margin: float = 0.0, *,
            metric: str | None = None) -> dict[str, Any]:
    """Does the challenger win against the champion on one metric?

    `margin` is the improvement (absolute, in the metric's units) the
    challenger needs: with 0 a tie goes to the challenger (it was trained on
    newer data); a positive margin asks for a real improvement; a negative
    margin tolerates a small loss. A missing champion value means the
    challenger wins; a missing challenger value means it loses.

    Returns {"challenger_wins", "winner", "metric", "challenger", "champion",
    "delta" (improvement, positive = challenger better), "margin",
    "threshold" (the value the challenger had to reach), "reason"}.
    """
    metric = metric or primary_metric(task)
    challenger, _ = _split(challenger_metrics)
    champion, _ = _split(champion_metrics)
    new, old = _value(challenger, metric), _value(champion, metric)
    higher = higher_is_better(metric)
    delta = threshold = None
    if new is None:
        wins, reason = False, f"the challenger has no {metric}"
    elif old is None:
        wins, reason = True, f"the champion has no {metric}; the challenger wins"
    else:
        delta = new - old if higher else old - new
        threshold = old + margin if higher else old - margin
        wins = delta >= margin - _EPSILON
        better = "better" if delta > 0 else "worse" if delta < 0 else "equal"
        need = f"needed {'>=' if higher else '<='} {_fmt(threshold)}"
        reason = (f"{metric} {_fmt(new)} vs champion {_fmt(old)} ({better}, "
                  f"{need}): {'challenger wins' if wins else 'champion stays'}")
    return {"challenger_wins": wins, "winner": "challenger" if wins else "champion",
            "metric": metric, "challenger": new, "champion": old, "delta": delta,
            "margin": margin, "threshold": threshold, "reason": reason}

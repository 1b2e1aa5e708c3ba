"""Per-row contributions of a served prediction on request (`?explain=true`, issue 16 item 2)."""

from __future__ import annotations

import pytest

from .helpers import ROW

PREDICT = "/v1/models/penguins/predict"


def test_explain_true_answers_contributions_per_row(client) -> None:
    small_bill = dict(ROW, bill_length_mm=36.0, flipper_length_mm=185)  # an Adelie-looking bird
    status, out = client.post(PREDICT + "?explain=true", {"instances": [ROW, small_bill]})
    assert status == 200, out
    # a random forest: exact TreeSHAP, whose contributions add up to the answered probability
    assert out["contributions_method"] == "tree_shap" and out["contributions_of"] == "P(predicted class)"
    assert len(out["contributions"]) == 2 and set(out["contributions"][0]) <= {c for c in ROW}
    for row, base, proba in zip(out["contributions"], out["contributions_base"], out["probabilities"], strict=True):
        assert sum(row.values()) + base == pytest.approx(max(proba), abs=1e-6)
    assert "bill_length_mm" in out["reference"]
    # the same answer as without explain, plus the contributions; bill length matters to this forest
    plain_status, plain = client.post(PREDICT, {"instances": [ROW, small_bill]})
    assert plain_status == 200 and plain["predictions"] == out["predictions"] and "contributions" not in plain
    assert any(abs(row["bill_length_mm"]) > 0.01 for row in out["contributions"])


def test_explain_refuses_a_bad_value_and_too_many_rows(client) -> None:
    status, out = client.post(PREDICT + "?explain=maybe", {"instances": [ROW]})
    assert status == 400 and "explain must be given once, as true or false" in out["message"]
    status, out = client.post(PREDICT + "?explain=true", {"instances": [ROW] * 101})
    assert status == 400 and "at most 100 rows" in out["message"]
    status, out = client.post(PREDICT + "?explain=false", {"instances": [ROW]})
    assert status == 200 and "contributions" not in out


def test_a_logistic_version_is_explained_exactly_in_log_odds(client) -> None:
    status, out = client.post("/v1/models/penguins/predict?version=2&explain=true", {"instances": [ROW]})
    assert status == 200, out
    assert out["version"] == 2 and out["contributions_method"] == "linear"
    assert out["contributions_of"] == "score of the predicted class"
    assert len(out["contributions_base"]) == 1 and any(abs(v) > 1e-3 for v in out["contributions"][0].values())

"""The filter and sort language: parsing, parameterised SQL, clear errors."""

from __future__ import annotations

import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments.search_expr import (
    BoolOp,
    Comparison,
    Field,
    Not,
    compile_filter,
    conjuncts,
    parse_filter,
    parse_sort,
    tokenize,
)


def test_simple_and() -> None:
    tree = parse_filter('metrics.f1 > 0.8 and params.model = "rf"')
    assert isinstance(tree, BoolOp) and tree.op == "AND"
    first, second = tree.items
    assert first.field == Field("metric", "f1") and first.op == ">" and first.value == 0.8
    assert second.field == Field("param", "model") and second.value == "rf"


def test_or_binds_looser_than_and_and_parentheses() -> None:
    tree = parse_filter("status = 'failed' or metrics.acc >= 1 and tags.team = 'ml'")
    assert tree.op == "OR" and tree.items[1].op == "AND"
    tree = parse_filter("(status = 'failed' or metrics.acc >= 1) and tags.team = 'ml'")
    assert tree.op == "AND" and tree.items[0].op == "OR"
    assert len(conjuncts(tree)) == 2


def test_not_like_and_quoted_names() -> None:
    tree = parse_filter("not params.model like 'rf%' and metrics.`val loss` < 1e-3 and params.\"my p\" != 'x'")
    assert isinstance(tree.items[0], Not)
    assert tree.items[1].field == Field("metric", "val loss") and tree.items[1].value == 0.001
    assert tree.items[2].field == Field("param", "my p")
    cmp = parse_filter("tags.owner not like 'a%'")
    assert isinstance(cmp, Comparison) and cmp.op == "not like"


def test_attributes_and_negative_numbers() -> None:
    for attr in ("status", "experiment", "model", "task", "created", "duration", "run_id"):
        assert parse_filter(f"{attr} != 'x'").field == Field("attr", attr)
    assert parse_filter("metrics.delta > -0.5").value == -0.5


def test_values_and_keys_are_parameters_never_sql_text() -> None:
    evil = "x'); DROP TABLE runs; --"
    sql, params = compile_filter(f'params.model = "{evil}" and metrics.`a"b` > 1')
    assert evil not in sql and "DROP" not in sql and 'a"b' not in sql
    assert evil in params and 'a"b' in params


def test_empty_filter_matches_all() -> None:
    assert compile_filter(None) == ("1", [])
    assert compile_filter("   ") == ("1", [])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.f1 >", "character 13"),
        ("metrics.f1 0.8", "expected an operator"),
        ("bogus = 1", "unknown key 'bogus'"),
        ("metrics.f1 = 'high'", "metrics are numbers"),
        ("metrics.f1 like '1%'", "like"),
        ("(status = 'x'", "expected ')'"),
        ("status = 'x' and", "expected a key"),
        ("status = 'x' status", "expected 'and', 'or'"),
        ("status ~ 'x'", "unexpected character '~'"),
        ("params.model = 'unterminated", "unexpected character"),
    ],
)
def test_bad_filters_name_the_position_and_show_the_grammar(text: str, fragment: str) -> None:
    with pytest.raises(UserError) as info:
        parse_filter(text)
    message = info.value.message
    assert fragment in message
    assert "filters look like" in message and "\n" not in message


def test_sort_keys() -> None:
    assert parse_sort("-metrics.f1").field == Field("metric", "f1")
    assert parse_sort("-metrics.f1").descending
    assert not parse_sort("metrics.f1").descending
    assert parse_sort("metrics.f1 DESC").descending
    assert parse_sort("-duration").field == Field("attr", "duration")
    assert parse_sort("params.model").field == Field("param", "model")
    assert parse_sort(None).field == Field("attr", "created") and parse_sort(None).descending
    with pytest.raises(UserError, match="bad sort key"):
        parse_sort("metrics.f1 > 2")
    with pytest.raises(UserError, match="unknown key"):
        parse_sort("-nonsense")


def test_tokens_keep_positions() -> None:
    tokens = tokenize("metrics.f1>=0.5")
    assert [(t.kind, t.pos) for t in tokens] == [("word", 0), ("op", 10), ("number", 12), ("eof", 15)]

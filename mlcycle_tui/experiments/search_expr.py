"""The run filter and sort language, compiled to parameterised SQL.

Why this exists: `mlcycle runs list --filter 'metrics.f1 > 0.8 and params.model = "rf"'`,
`ws.runs.search(filter=...)` and the TUI's search box must all mean the same thing,
and a user's text must never be spliced into SQL. This module tokenizes and
parses the expression into a small tree and compiles it into a WHERE clause
over the `runs` table (alias `r`) whose every user value *and key name* is a
bound parameter; only operators from a fixed whitelist appear in the SQL text.

Grammar (case-insensitive keywords):

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := key op literal
    key        := metrics.NAME | params.NAME | tags.NAME | ATTRIBUTE
                  (NAME may be quoted: metrics.`val loss`)
    op         := = | == | != | <> | < | <= | > | >= | like | ilike | not like
    literal    := 'text' | "text" | number

`like` uses `%` and `_` wildcards and ignores ASCII case (SQLite LIKE).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from mlcycle_tui.common.errors import UserError

GRAMMAR_HINT = (
    'filters look like: metrics.f1 > 0.8 and (params.model = "rf" or tags.team like "ml%"); '
    "keys: metrics.X, params.X, tags.X, " + "{attributes}; operators: = != < <= > >= like"
)

# attribute name -> SQL expression over `runs r` (fixed text, never user input)
ATTRIBUTES: dict[str, str] = {
    "run_id": "r.id",
    "name": "r.name",
    "status": "r.status",
    "created": "r.created",
    "ended": "r.ended",
    "duration": "r.duration",
    "model": "r.model",
    "task": "r.task",
    "seed": "r.seed",
    "split_id": "r.split_id",
    "experiment": "r.experiment_id",
    "dataset": "r.dataset_version_id",
}
# attributes stored as ids: compared through a lookup table
_LOOKUPS = {
    "experiment": "SELECT id FROM experiments WHERE name {op} ?",
    "dataset": "SELECT id FROM dataset_versions WHERE name || '@' || version {op} ?",
}
_PREFIXES = {"metrics": "metric", "metric": "metric", "params": "param", "param": "param", "tags": "tag", "tag": "tag"}
_TABLES = {"metric": "metrics_latest", "param": "params", "tag": "tags"}
_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
        "like": "LIKE", "ilike": "LIKE", "not like": "NOT LIKE"}
_ORDERING = {"<", "<=", ">", ">="}

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<op><=|>=|==|!=|<>|=|<|>)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<word>[A-Za-z_][\w.\-/:]*)
  | (?P<quoted_name>`[^`]*`)
    """,
    re.VERBOSE,
)


def _hint() -> str:
    return GRAMMAR_HINT.format(attributes=", ".join(ATTRIBUTES))


def _bad(text: str, pos: int, problem: str) -> UserError:
    near = text[pos : pos + 20] if pos < len(text) else "end of filter"
    return UserError(f"bad filter at character {pos + 1} (near {near!r}): {problem}; {_hint()}")


@dataclass(frozen=True)
class Token:
    kind: str  # lparen rparen op number string word eof
    value: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise _bad(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "word" and value.endswith(".") and pos + len(value) < len(text):
            # a quoted key name: metrics.`val loss` or params."my param"
            q = _TOKEN_RE.match(text, m.end())
            if q is not None and q.lastgroup in ("string", "quoted_name"):
                name = _unquote(q.group()) if q.lastgroup == "string" else q.group()[1:-1]
                tokens.append(Token("word", value + "\0" + name, pos))
                pos = q.end()
                continue
        if kind == "string":
            value = _unquote(value)
        if kind == "quoted_name":
            raise _bad(text, pos, "a `quoted` name must follow metrics., params. or tags.")
        if kind != "ws":
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("eof", "", len(text)))
    return tokens


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


# -- the tree ------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """A key in a filter or sort: kind is metric, param, tag or attr."""

    kind: str
    name: str


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # a key of _OPS, normalised
    value: str | float
    literal: str  # the literal as written (for text comparison of numbers)
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


def parse_field(word: str, text: str, pos: int) -> Field:
    """`metrics.f1` -> Field('metric', 'f1'); `status` -> Field('attr', 'status')."""
    if "\0" in word:
        prefix, name = word.split("\0", 1)
        prefix = prefix.rstrip(".")
    elif "." in word:
        prefix, name = word.split(".", 1)
    else:
        if word.lower() in ATTRIBUTES:
            return Field("attr", word.lower())
        if word.lower() in ("attribute", "attributes", "attr"):
            raise _bad(text, pos, "write the attribute name alone, e.g. status")
        raise _bad(text, pos, f"unknown key {word!r}")
    low = prefix.lower()
    if low in _PREFIXES and name:
        return Field(_PREFIXES[low], name)
    if low in ("attribute", "attributes", "attr", "run") and name.lower() in ATTRIBUTES:
        return Field("attr", name.lower())
    raise _bad(text, pos, f"unknown key {word.replace(chr(0), '')!r}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "word" and tok.value.lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Any:
        if self.peek().kind == "eof":
            raise _bad(self.text, 0, "the filter is empty")
        node = self.expr()
        tok = self.peek()
        if tok.kind != "eof":
            raise _bad(self.text, tok.pos, f"expected 'and', 'or' or the end, found {tok.value!r}")
        return node

    def expr(self) -> Any:
        items = [self.term()]
        while self.keyword("or"):
            items.append(self.term())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def term(self) -> Any:
        items = [self.factor()]
        while self.keyword("and"):
            items.append(self.factor())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def factor(self) -> Any:
        if self.keyword("not"):
            return Not(self.factor())
        tok = self.peek()
        if tok.kind == "lparen":
            self.next()
            node = self.expr()
            close = self.next()
            if close.kind != "rparen":
                raise _bad(self.text, close.pos, "expected ')'")
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        tok = self.next()
        if tok.kind != "word" or tok.value.lower() in ("and", "or", "not", "like", "ilike"):
            raise _bad(self.text, tok.pos, "expected a key such as metrics.f1, params.model or status")
        field = parse_field(tok.value, self.text, tok.pos)
        op_tok = self.next()
        op = op_tok.value.lower()
        if op_tok.kind == "word" and op == "not":
            if not self.keyword("like"):
                raise _bad(self.text, self.peek().pos, "expected 'like' after 'not'")
            op = "not like"
        elif not (op_tok.kind == "op" or (op_tok.kind == "word" and op in ("like", "ilike"))):
            raise _bad(self.text, op_tok.pos, "expected an operator (= != < <= > >= like)")
        lit = self.next()
        if lit.kind == "number":
            value: str | float = float(lit.value)
        elif lit.kind == "string":
            value = lit.value
        else:
            raise _bad(self.text, lit.pos, "expected a number or a quoted string")
        return _checked(Comparison(field, op, value, lit.value, tok.pos), self.text)


def _checked(cmp: Comparison, text: str) -> Comparison:
    like = "like" in cmp.op
    if cmp.field.kind == "metric":
        if like:
            raise _bad(text, cmp.pos, "metrics are numbers: 'like' does not apply")
        if isinstance(cmp.value, str):
            raise _bad(text, cmp.pos, f"metrics are numbers: compare metrics.{cmp.field.name} with a number")
    if like and not isinstance(cmp.value, str):
        raise _bad(text, cmp.pos, "'like' needs a quoted pattern such as \"rf%\"")
    return cmp


@functools.lru_cache(maxsize=256)  # the tree is immutable (frozen dataclasses)
def parse_filter(text: str) -> Any:
    """The expression tree of a filter (UserError naming the position when bad)."""
    if not isinstance(text, str):
        raise UserError(f"a filter must be text, not {type(text).__name__}")
    return _Parser(text).parse()


# -- compiling -----------------------------------------------------------------
# Every comparison compiles to a test of one run `r` (an EXISTS probe on the
# (run_id, key) primary key for metrics/params/tags); a comparison that is a
# top-level AND term can also be a *source*: the run ids it matches, read from
# the (key, value, run_id) index. The search planner in experiments/tracking.py picks
# the cheapest source to drive the query (or walks the sort index instead).
def compile_filter(text: str | None) -> tuple[str, list[Any]]:
    """(WHERE clause over `runs r`, parameters); ("1", []) for no filter."""
    if text is None or not text.strip():
        return "1", []
    params: list[Any] = []
    return compile_node(parse_filter(text), params), params


def conjuncts(node: Any) -> list[Any]:
    """The terms joined by the top-level AND (one term when there is none)."""
    if node is None:
        return []
    return list(node.items) if isinstance(node, BoolOp) and node.op == "AND" else [node]


def compile_node(node: Any, params: list[Any]) -> str:
    if isinstance(node, BoolOp):
        return "(" + f" {node.op} ".join(compile_node(i, params) for i in node.items) + ")"
    if isinstance(node, Not):
        return f"(NOT {compile_node(node.item, params)})"
    if node.field.kind == "attr":
        return _compile_attr(node, params)
    table, cond = _value_test(node, params)
    return f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.id AND x.key = ? AND {cond})"


def leaf_source(node: Any) -> tuple[str, list[Any]] | None:
    """(SELECT run_id ... , params) for a metric/param/tag comparison, else None."""
    if not isinstance(node, Comparison) or node.field.kind == "attr":
        return None
    params: list[Any] = []
    table, cond = _value_test(node, params)
    return f"SELECT run_id FROM {table} WHERE key = ? AND {cond}", params


def _compile_attr(cmp: Comparison, params: list[Any]) -> str:
    op = _OPS[cmp.op]
    name = cmp.field.name
    if name in _LOOKUPS:
        params.append(cmp.literal if isinstance(cmp.value, float) else cmp.value)
        return f"{ATTRIBUTES[name]} IN ({_LOOKUPS[name].format(op=op)})"
    params.append(cmp.value)
    return f"{ATTRIBUTES[name]} {op} ?"


def _value_test(cmp: Comparison, params: list[Any]) -> tuple[str, str]:
    """(table, condition on its `value`) with [key, values...] appended to params."""
    op = _OPS[cmp.op]
    table = _TABLES[cmp.field.kind]
    params.append(cmp.field.name)
    if cmp.field.kind == "metric":
        params.append(cmp.value)
        return table, f"value {op} ?"
    # params and tags hold text
    if isinstance(cmp.value, float) and op in _ORDERING:
        params.append(cmp.value)
        return table, f"CAST(value AS REAL) {op} ?"
    if isinstance(cmp.value, float):  # = or != a number: "1", "1.0" and "1e0" all match 1
        params += [cmp.literal, cmp.value]
        return table, f"{'NOT ' if op == '!=' else ''}(value = ? OR CAST(value AS REAL) = ?)"
    params.append(cmp.value)
    return table, f"value {op} ?"


# -- sorting -------------------------------------------------------------------
@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool


DEFAULT_SORT = SortKey(Field("attr", "created"), descending=True)


@functools.lru_cache(maxsize=256)
def parse_sort(text: str | None) -> SortKey:
    """`-metrics.f1`, `metrics.f1 desc`, `created`, `+duration` -> SortKey."""
    if text is None or not text.strip():
        return DEFAULT_SORT
    raw = text.strip()
    descending = False
    if raw[0] in "+-":
        descending = raw[0] == "-"
        raw = raw[1:].strip()
    words = raw.rsplit(None, 1)
    if len(words) == 2 and words[1].lower() in ("asc", "desc"):
        descending = words[1].lower() == "desc"
        raw = words[0]
    tokens = tokenize(raw)
    if len(tokens) != 2 or tokens[0].kind != "word":
        raise UserError(
            f"bad sort key {text!r}: use one key such as -metrics.f1 (descending), "
            f"metrics.f1, created, -duration or params.model; keys: metrics.X, params.X, tags.X, "
            + ", ".join(ATTRIBUTES)
        )
    return SortKey(parse_field(tokens[0].value, raw, 0), descending)

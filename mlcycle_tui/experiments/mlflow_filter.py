"""MLflow's run filter and order_by syntax, translated into mlcycle's (experiments/search_expr.py).

Why this exists: `MlflowClient.search_runs(filter_string="metrics.acc > 0.5 and params.p = 'a'",
order_by=["metrics.acc DESC"])` must find the same runs in mlcycle's workspace as in an MLflow
store. Rather than a second search engine, MLflow's expression is parsed here and written out in
mlcycle's own filter language, so that the one search planner and its indexes (tracking.py) answer
both. MLflow's grammar (`mlflow.utils.search_utils.SearchUtils`): comparisons joined by AND; keys
`metrics.K`, `params.K`, `tags.K`, `attributes.K` (also `metric`, `param`, `parameter`, `tag`,
`attribute`, `attr`, `run` prefixes; names quoted with backticks or double quotes); strings in single
or double quotes; `IN (...)` / `NOT IN (...)` for run ids and status. What translates:

    metrics.K op NUMBER            -> metrics."K" op NUMBER
    params.K / tags.K op 'v'       -> params."K" op "v"   (LIKE / ILIKE -> like, case-insensitive)
    attributes.status op 'X'       -> status op "x"       (mlcycle's statuses are lower case)
    attributes.run_name op 'v'     -> tags."mlflow.runName" op "v"
    attributes.user_id op 'v'      -> tags."mlflow.user" op "v"
    attributes.run_id op / IN      -> run_id = ... (or-ed)
    attributes.start_time op MS    -> created op "ISO time"   (end_time -> ended)
    attributes.lifecycle_stage     -> always 'active' (mlcycle deletes runs for good)

`datasets.*` and anything else is refused with a message that says what is supported.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mlcycle_tui.common.errors import UserError

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<lparen>\() | (?P<rparen>\)) | (?P<comma>,)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<key>[A-Za-z_][\w]*\.(?:`[^`]*`|"(?:[^"\\]|\\.)*"|[\w.\-/:]+))
      | (?P<word>[A-Za-z_][\w]*)
    )""",
    re.VERBOSE,
)
_TYPES = {"metric": "metric", "metrics": "metric", "param": "param", "params": "param", "parameter": "param",
          "parameters": "param", "tag": "tag", "tags": "tag", "attribute": "attr", "attributes": "attr",
          "attr": "attr", "run": "attr", "dataset": "dataset", "datasets": "dataset"}
_ATTR_ALIASES = {"run_name": "run_name", "status": "status", "run_id": "run_id", "run_uuid": "run_id",
                 "user_id": "user_id", "start_time": "start_time", "created": "start_time",
                 "creation_time": "start_time", "end_time": "end_time", "lifecycle_stage": "lifecycle_stage",
                 "artifact_uri": "artifact_uri"}
_BARE_ATTRS = set(_ATTR_ALIASES)
_NUMERIC_OPS = {"=", "!=", ">", ">=", "<", "<="}
_STRING_OPS = {"=", "!=", "like", "ilike"}
SUPPORTED = ("metrics.K (= != < <= > >= number), params.K and tags.K (= != LIKE ILIKE 'text'), "
             "attributes.status / run_name / user_id (= != LIKE ILIKE 'text', status also IN), "
             "attributes.run_id (= != IN NOT IN), attributes.start_time / end_time (= != < <= > >= ms), "
             "joined by AND")


def ms_to_iso(ms: int | float) -> str:
    """Epoch milliseconds as the workspace's ISO time (UTC, milliseconds), exactly."""
    whole = int(ms)
    return (datetime.fromtimestamp(whole // 1000, UTC) + timedelta(milliseconds=whole % 1000)).isoformat(
        timespec="milliseconds")


def iso_to_ms(text: str | None) -> int | None:
    if not text:
        return None
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return round(stamp.timestamp() * 1000)


def _bad(text: str, problem: str) -> UserError:
    return UserError(f"cannot read the filter {text!r}: {problem}. mlcycle understands {SUPPORTED}")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _bad(text, f"unexpected text at character {pos + 1}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _split_key(token: str, text: str) -> tuple[str, str]:
    prefix, _, name = token.partition(".")
    kind = _TYPES.get(prefix.lower())
    if kind is None:
        raise _bad(text, f"unknown key {token!r}")
    if name[:1] == "`":
        name = name[1:-1]
    elif name[:1] == '"':
        name = _unquote(name)
    if not name:
        raise _bad(text, f"key {token!r} has no name")
    return kind, name


def translate_filter(text: str | None) -> str | None:
    """mlcycle's filter for MLflow's `text` (None when there is nothing to filter on)."""
    if text is not None and not isinstance(text, str):
        raise UserError(f"a filter is text, got {text!r}")
    if text is None or not text.strip():
        return None
    tokens = _tokens(text)
    clauses: list[str] = []
    i = 0
    while i < len(tokens):
        clause, i = _comparison(tokens, i, text)
        if clause:
            clauses.append(clause)
        if i < len(tokens):
            kind, value = tokens[i]
            if kind == "word" and value.lower() == "and":
                i += 1
                if i >= len(tokens):
                    raise _bad(text, "it ends with AND")
                continue
            if kind == "word" and value.lower() == "or":
                raise _bad(text, "MLflow's filter joins comparisons with AND only")
            raise _bad(text, f"expected AND, found {value!r}")
    if not clauses:
        return None
    return " and ".join(f"({c})" if " or " in c else c for c in clauses)


def _comparison(tokens: list[tuple[str, str]], i: int, text: str) -> tuple[str, int]:
    kind, value = tokens[i]
    if kind == "key":
        key_kind, name = _split_key(value, text)
    elif kind == "word" and value.lower() in _BARE_ATTRS:
        key_kind, name = "attr", value
    else:
        raise _bad(text, f"expected a key such as metrics.acc, found {value!r}")
    i += 1
    if i >= len(tokens):
        raise _bad(text, f"{value} has no comparison")
    op_kind, op = tokens[i]
    op = op.lower()
    if op_kind == "word" and op == "not" and i + 1 < len(tokens) and tokens[i + 1][1].lower() == "in":
        op, i = "not in", i + 2
    elif op_kind == "word" and op == "not" and i + 1 < len(tokens) and tokens[i + 1][1].lower() in ("like", "ilike"):
        op, i = "not " + tokens[i + 1][1].lower(), i + 2
    elif op_kind == "op" or (op_kind == "word" and op in ("like", "ilike", "in")):
        op, i = {"==": "=", "<>": "!="}.get(op, op), i + 1
    else:
        raise _bad(text, f"expected a comparison after {value}, found {op!r}")
    if op in ("in", "not in"):
        values, i = _value_list(tokens, i, text)
    else:
        if i >= len(tokens) or tokens[i][0] not in ("string", "number"):
            raise _bad(text, f"{value} {op} needs a quoted string or a number")
        lit_kind, lit = tokens[i]
        values = [_unquote(lit) if lit_kind == "string" else lit]
        i += 1
    return _clause(key_kind, name, op, values, tokens[i - 1][0] if op not in ("in", "not in") else "list", text), i


def _value_list(tokens: list[tuple[str, str]], i: int, text: str) -> tuple[list[str], int]:
    if i >= len(tokens) or tokens[i][0] != "lparen":
        raise _bad(text, "IN needs a list such as ('a', 'b')")
    i += 1
    values = []
    while i < len(tokens) and tokens[i][0] != "rparen":
        if tokens[i][0] != "string":
            raise _bad(text, "the values of IN (...) are quoted strings")
        values.append(_unquote(tokens[i][1]))
        i += 1
        if i < len(tokens) and tokens[i][0] == "comma":
            i += 1
    if i >= len(tokens):
        raise _bad(text, "IN (...) is not closed")
    if not values:
        raise _bad(text, "IN () is empty")
    return values, i + 1


def _clause(kind: str, name: str, op: str, values: list[str], literal_kind: str, text: str) -> str:
    if kind == "dataset":
        raise _bad(text, f"mlcycle does not filter runs on datasets.{name}")
    if kind == "metric":
        if op not in _NUMERIC_OPS or literal_kind != "number":
            raise _bad(text, f"metrics.{name} compares with = != < <= > >= and a number")
        return f"metrics.{_quote(name)} {op} {values[0]}"
    if kind in ("param", "tag"):
        return _text_clause(f"{kind}s.{_quote(name)}", op, values, text)
    attr = _ATTR_ALIASES.get(name.lower())
    if attr is None:
        raise _bad(text, f"unknown attribute {name!r}")
    if attr == "status":
        return _text_clause("status", op, [v.lower() for v in values], text)
    if attr == "run_name":
        return _text_clause('tags."mlflow.runName"', op, values, text)
    if attr == "user_id":
        return _text_clause('tags."mlflow.user"', op, values, text)
    if attr == "run_id":
        if op not in ("=", "!=", "in", "not in"):
            raise _bad(text, "attributes.run_id compares with = != IN or NOT IN")
        return _text_clause("run_id", op, [v.lower() for v in values], text)
    if attr in ("start_time", "end_time"):
        if op not in _NUMERIC_OPS or literal_kind != "number":
            raise _bad(text, f"attributes.{attr} compares with = != < <= > >= and epoch milliseconds")
        column = "created" if attr == "start_time" else "ended"
        return f"{column} {op} {_quote(ms_to_iso(float(values[0])))}"
    if attr == "lifecycle_stage":
        if op != "=" or values[0].lower() not in ("active", "deleted"):
            raise _bad(text, "attributes.lifecycle_stage compares with = 'active' or 'deleted'")
        return "" if values[0].lower() == "active" else 'run_id = ""'  # deleted runs are gone
    raise _bad(text, f"mlcycle does not filter runs on attributes.{attr}")


def _text_clause(key: str, op: str, values: list[str], text: str) -> str:
    if op in ("in", "not in"):
        joined = (" or " if op == "in" else " and ").join(
            f"{key} {'=' if op == 'in' else '!='} {_quote(v)}" for v in values)
        return joined if len(values) == 1 else f"({joined})"
    if op in ("not like", "not ilike"):
        return f"{key} not like {_quote(values[0])}"
    if op in ("like", "ilike"):
        return f"{key} like {_quote(values[0])}"
    if op in ("=", "!="):
        return f"{key} {op} {_quote(values[0])}"
    raise _bad(text, f"{key} compares with = != LIKE or ILIKE and a quoted string, not {op}")


def translate_order_by(order_by: list[str] | None) -> str | None:
    """mlcycle's sort key for MLflow's `order_by` (one key: mlcycle sorts by one)."""
    if isinstance(order_by, str):
        order_by = [order_by]
    if order_by is not None and (not isinstance(order_by, list) or not all(isinstance(k, str) for k in order_by)):
        raise UserError(f"order_by is a list of keys such as ['metrics.acc DESC'], got {order_by!r}")
    keys = [k for k in (order_by or []) if k.strip()]
    if not keys:
        return None
    if len(keys) > 1:
        raise UserError(f"mlcycle sorts runs by one key; order_by gives {len(keys)} ({', '.join(keys)}): "
                        "keep the first")
    text = keys[0].strip()
    descending = False
    words = text.rsplit(None, 1)
    if len(words) == 2 and words[1].lower() in ("asc", "desc"):
        descending, text = words[1].lower() == "desc", words[0]
    tokens = _tokens(text)
    if len(tokens) != 1 or tokens[0][0] not in ("key", "word"):
        raise UserError(f"cannot sort by {keys[0]!r}: give one key such as 'metrics.acc DESC' or 'start_time'")
    kind, value = tokens[0]
    if kind == "key":
        key_kind, name = _split_key(value, keys[0])
    else:
        key_kind, name = "attr", value
    if key_kind in ("metric", "param", "tag"):
        field = f"{key_kind}s.{_quote(name)}"
    else:
        attr = _ATTR_ALIASES.get(name.lower())
        field = {"start_time": "created", "end_time": "ended", "status": "status", "run_id": "run_id",
                 "run_name": 'tags."mlflow.runName"', "user_id": 'tags."mlflow.user"'}.get(attr or "", "")
        if not field:
            raise UserError(f"cannot sort runs by {keys[0]!r}: sort by metrics.K, params.K, tags.K, "
                            "attributes.start_time, end_time, status, run_name or run_id")
    return f"{field} {'desc' if descending else 'asc'}"


def experiment_filter(text: str | None) -> tuple[str, str] | None:
    """(op, value) of a `name = 'x'` / `name LIKE 'x%'` experiment filter (the only kind mlcycle reads)."""
    if text is not None and not isinstance(text, str):
        raise UserError(f"a filter is text, got {text!r}")
    if text is None or not text.strip():
        return None
    tokens = _tokens(text)
    if (len(tokens) == 3 and tokens[0][1].lower() in ("name", "attribute.name", "attributes.name")
            and tokens[1][1].lower() in ("=", "like", "ilike", "!=") and tokens[2][0] == "string"):
        return tokens[1][1].lower(), _unquote(tokens[2][1])
    raise UserError(f"cannot read the experiment filter {text!r}: mlcycle filters experiments by "
                    "name = 'x', name != 'x' or name LIKE 'x%'")


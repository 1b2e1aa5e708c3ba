"""Fast, strict JSON answers.

Why this exists: predictions can be 10,000 rows; Flask's `jsonify` sorts keys
and pretty-checks types, which costs milliseconds we do not need to spend.
NaN or infinity (a regression model can produce them) become null so the
answer is always valid JSON.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def dumps(document: Any) -> str:
    try:
        return json.dumps(document, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError):
        return json.dumps(_clean(document), allow_nan=False, separators=(",", ":"), default=str)


def json_response(document: Any, status: int = 200) -> Response:
    return Response(dumps(document), status=status, mimetype="application/json")

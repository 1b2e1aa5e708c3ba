"""Fast, strict JSON answers.

Why this exists: predictions can be 10,000 rows; Flask's `jsonify` sorts keys
and pretty-checks types, which costs milliseconds we do not need to spend;
orjson encodes 10,000 predictions with probabilities in about a millisecond.
NaN or infinity (a regression model can produce them) become null so the
answer is always valid JSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response

from mlcycle_tui.common.jsonsafe import json_safe

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinity become null; odd values (big ints, sets...) go the careful way."""
    try:
        return orjson.dumps(document, option=_OPTIONS)
    except TypeError:
        return json.dumps(json_safe(document), allow_nan=False, separators=(",", ":"), default=str).encode()


def json_response(document: Any, status: int = 200) -> Response:
    return Response(dumps(document), status=status, mimetype="application/json")

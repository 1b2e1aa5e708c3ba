"""Request bodies to frames: JSON (in slices when large), CSV and Parquet, in about 3x the body's memory.

Why this exists: MLflow's scoring protocol takes `application/json`, `text/csv` and
`application/vnd.apache.parquet` bodies at `/invocations`, and bodies of tens of MiB.
Read whole, a JSON body of numbers becomes Python objects six to eight times its
size, so:
- a JSON body of `SLICED_FROM` bytes or more is cut at row boundaries (the brackets
  outside strings, found with NumPy) and parsed one slice of about `SLICE_BYTES` at a
  time into frames; what cannot be cut that way (not an object, UTF-16, thousands of
  escaped quotes, a rows array under half of the body, invalid JSON) is parsed whole,
  as small bodies are, so the answer (or the error) is the same either way;
- CSV is read by pandas straight from the request stream;
- Parquet is read from the body's bytes, and refused (413) when its columns decode to
  more than `PARQUET_EXPANSION` times the body limit (a small file can hold a lot).
The frames then go through `inputs.conform` like any other body.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import orjson
import pandas as pd
from flask import current_app, request
from werkzeug.exceptions import HTTPException

from mlcycle_tui.server.errors import RAISE_THE_LIMIT, ApiError
from mlcycle_tui.server.inputs import body_frame, body_key, value_frame

CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
SLICED_FROM = 4 * 2**20  # JSON bodies from this size are parsed in slices
SLICE_BYTES = 2**20  # about this much JSON text per slice (some 8 MiB of Python objects at most)
PARQUET_EXPANSION = 1  # a Parquet body may decode to this many times the body limit (the rows of a CSV that size)
_MAX_ESCAPED_QUOTES = 100_000  # more than this many `\"` and the body is parsed whole (each is looked at in Python)
_BLOCK = 8 * 2**20  # bytes compared at a time when looking for brackets (bounds the temporary arrays)
_TEXT_DTYPES = ("str", "string", "object", "category")


def loads(raw: bytes) -> Any:
    """`raw` as JSON (NaN and Infinity literals are accepted, as Python does).

    orjson parses 3 MB in about a third of the time of `json`; bodies it refuses (NaN
    literals, integers over 64 bits, invalid JSON) get a second chance with `json`, whose
    message is the one shown for invalid JSON. A lone UTF-16 surrogate is a 400 either way.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if _may_hold_surrogates(raw):
        _refuse_lone_surrogates(body)
    return body


def _may_hold_surrogates(raw: bytes) -> bool:
    """Whether `json` may have read a lone UTF-16 surrogate: an escape `\\uD800`-`\\uDFFF`, the same
    written as (invalid) UTF-8, or a UTF-16/32 body (NUL bytes). Finding bytes is quick; the check is not."""
    return b"\\ud" in raw or b"\\uD" in raw or b"\xed" in raw or b"\x00" in raw


def _refuse_lone_surrogates(body: Any) -> None:
    """400 for a string holding half of a UTF-16 pair (orjson refuses those; `json` reads them).

    Such a string is not text: pandas, SQLite and the log cannot encode it (a 500 otherwise).
    """
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end].encode("unicode_escape").decode()
        raise ApiError(400, f"the body holds a lone UTF-16 surrogate ({bad} without its pair), which is not "
                            "text; send valid Unicode") from None
    except (ValueError, RecursionError) as exc:  # read by `json`, so unlikely; never a 500
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None


def read_bytes(what: str) -> bytes:
    """The whole body (413 over the size limit, 400 when empty)."""
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
    if not raw:
        raise ApiError(400, f"the body is empty; send {what}")
    return raw


def read_json() -> Any:
    """The JSON body (415 when the request does not say JSON)."""
    if not request.is_json:
        raise ApiError(415, f"send JSON with `Content-Type: application/json` (got {request.mimetype or 'none'})")
    return loads(read_bytes("a JSON object"))


def json_frame(columns: Sequence[str], *, numeric: bool = False,
               light: Callable[[Any], Any] | None = None) -> Any:
    """The rows of a JSON body (see `inputs.body_frame`), parsed in slices when the body is large.
    `light` (server/light.py, for a model served compiled) may take a small body's rows as they are."""
    if not request.is_json:
        raise ApiError(415, f"send JSON with `Content-Type: application/json` (got {request.mimetype or 'none'})")
    raw = read_bytes("a JSON object")
    bool_free = b"true" not in raw and b"false" not in raw  # lets many rows of numbers take a shortcut
    if len(raw) >= SLICED_FROM:
        frames = sliced_json_frames(raw, columns, numeric=numeric, bool_free=bool_free)
        if frames is not None:
            del raw  # the only reference (read with cache=False): the text goes before the frames are joined
            return join(frames)
    body = loads(raw)
    if light is not None:
        rows = light(body)
        if rows is not None:
            return rows
    return body_frame(body, columns, numeric=numeric, bool_free=bool_free)


def join(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames of a body read in slices, as one frame (rows numbered from 0)."""
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True, sort=False)


def invocation_frame(inputs: Sequence[dict[str, Any]], *, numeric: bool = False) -> pd.DataFrame:
    """The rows of an `/invocations` body, read by its content type as MLflow's scoring server does:
    JSON, `text/csv` or Parquet, UTF-8 only (415 for another charset or an unknown parameter)."""
    header = request.headers.get("Content-Type", "")
    parts = [p.strip() for p in header.split(";")]
    mime = parts[0].lower()
    params = {}
    for part in parts[1:]:
        if part:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
    charset = params.pop("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, f"the body is said to be in {charset!r}; the scoring server reads UTF-8 only: "
                            "send it as UTF-8 with `charset=utf-8` (or no charset)")
    if params:
        names = ", ".join(sorted(params))
        raise ApiError(415, f"unrecognized content type parameter(s) {names[:100]} in {header[:200]!r}: only "
                            "charset is read (MLflow 2 and later dropped `format=pandas-split` and the like; put "
                            'the shape in the JSON body instead, e.g. {"dataframe_split": ...})')
    columns = [c["name"] for c in inputs]
    if mime == CSV:
        return csv_frame(inputs)
    if mime == PARQUET:
        return parquet_frame()
    if request.is_json:
        return json_frame(columns, numeric=numeric)
    raise ApiError(415, f"/invocations takes application/json, {CSV} or {PARQUET} bodies (got "
                        f"{header[:200] or 'no Content-Type'}); set the Content-Type header to one of them")


def csv_frame(inputs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A CSV body with a header row, read from the stream; text columns of the signature stay text
    ("02134" is not 2134), the others are read as pandas infers them and checked by `conform`."""
    text = {c["name"]: str for c in inputs
            if c.get("kind") not in ("numeric", "datetime") and str(c.get("dtype", "")).lower() in _TEXT_DTYPES}
    if request.content_length == 0:
        raise ApiError(400, "the body is empty; send CSV with a header row naming the columns")
    try:
        frame = pd.read_csv(request.stream, dtype=text or None, encoding="utf-8-sig")  # -sig: a BOM is no name
    except HTTPException:
        raise
    except pd.errors.EmptyDataError:
        raise ApiError(400, "the body is empty; send CSV with a header row naming the columns") from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ApiError(400, f"the body is not CSV pandas can read ({exc}); send UTF-8 CSV with a header row, "
                            "as `DataFrame.to_csv(index=False)` writes it") from None
    if len(frame) == 0:
        raise ApiError(400, "the CSV body holds a header and no rows; send at least one row")
    return frame


def parquet_frame() -> pd.DataFrame:
    """A Parquet body, refused (413) when its columns decode to more than `PARQUET_EXPANSION` x the body limit."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw = read_bytes("a Parquet file, as `DataFrame.to_parquet()` writes it")
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    try:
        parquet = pq.ParquetFile(pa.BufferReader(raw))
        meta = parquet.metadata
        # what its columns take once read: 8 bytes a value at least (a float, or a string's offset and
        # some text); the file's own figure for larger values (dictionary pages make it small for repeats)
        decoded = max(sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)),
                      8 * meta.num_rows * meta.num_columns)
        if limit and decoded > PARQUET_EXPANSION * limit:
            raise ApiError(413, f"the Parquet body decodes to {decoded / 2**20:,.1f} MiB or more, over the body "
                                f"limit of {PARQUET_EXPANSION * limit / 2**20:g} MiB; send fewer rows "
                                f"per request, or {RAISE_THE_LIMIT}")
        table = parquet.read()
        frame = table.to_pandas()
    except ApiError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise ApiError(400, f"the body is not a Parquet file pandas can read ({exc}); send what "
                            "`DataFrame.to_parquet()` writes") from None
    del table
    if len(frame) == 0:
        raise ApiError(400, "the Parquet body holds no rows; send at least one")
    return frame.reset_index(drop=True)


# -- JSON in slices ----------------------------------------------------------------------------
def sliced_json_frames(raw: bytes, columns: Sequence[str], *, numeric: bool = False,
                       bool_free: bool = False) -> list[pd.DataFrame] | None:
    """The rows of a large JSON body as frames of a slice each (`join` makes them one); None when the
    body cannot be cut (parse it whole).

    Three shapes are cut: a list of rows (`{"instances"|"dataframe_records"|"inputs": [row, ...]}`),
    `{"dataframe_split": {"columns": [...], "data": [row, ...]}}` and columns
    (`{"inputs"|"instances": {"col": [values], ...}}`, one column at a time).
    """
    if b"\x00" in raw:  # UTF-16 or UTF-32: `json` reads those whole
        return None
    found = _structure(raw)
    if found is None:
        return None
    marks, opening, depth = found
    if not len(marks) or raw[marks[0]] != 0x7B or raw[:marks[0]].strip(b" \t\r\n\xef\xbb\xbf") \
            or raw[marks[-1] + 1:].strip() or int(np.argmax(depth == 0)) != len(marks) - 1 or (depth < 0).any():
        return None  # not one object (or not balanced): the whole parse says what is wrong
    outer = _containers(raw, marks, opening, depth, 2, 0, len(raw))
    if outer is None or not len(outer[0]):
        return None
    big = int(np.argmax(outer[1] - outer[0]))
    start, end = int(outer[0][big]), int(outer[1][big])
    if 2 * (end - start) < len(raw):
        return None
    sentinel = uuid.uuid4().hex
    quoted = f'"{sentinel}"'.encode()
    try:
        if raw[start] == 0x5B:  # a list of rows
            key, value = body_key(loads(raw[:start] + quoted + raw[end + 1:]))
            if value != sentinel:
                return None  # the key is given twice (or the rows are not where the scan found them)
            return _in_slices(raw, start, end, _containers(raw, marks, opening, depth, 3, start, end),
                              lambda rows, first: value_frame(key, rows, columns, numeric=numeric,
                                                              bool_free=bool_free, first_row=first))
        inner = _containers(raw, marks, opening, depth, 3, start, end)
        if inner is None or not len(inner[0]):
            return None
        arrays = [(int(a), int(b)) for a, b in zip(*inner, strict=True) if raw[a] == 0x5B]
        biggest = max(arrays, key=lambda ab: ab[1] - ab[0], default=None)
        if biggest is not None and 2 * (biggest[1] - biggest[0]) >= len(raw):
            a, b = biggest
            key, value = body_key(loads(raw[:a] + quoted + raw[b + 1:]))
            if key == "dataframe_split" and isinstance(value, dict) and value.get("data") == sentinel:
                return _in_slices(raw, a, b, _containers(raw, marks, opening, depth, 4, a, b),
                                  lambda rows, first: value_frame(key, {**value, "data": rows}, columns,
                                                                  numeric=numeric, bool_free=bool_free,
                                                                  first_row=first))
            if key == "dataframe_split":
                return None
        return _columns(raw, arrays)
    except ApiError as exc:
        if exc.status == 400 and exc.message.startswith("the body is not valid JSON"):
            return None  # the whole parse gives the message with the right line and column
        raise


def _columns(raw: bytes, arrays: list[tuple[int, int]]) -> list[pd.DataFrame] | None:
    """`{"inputs": {"col": [values], ...}}` with the columns parsed one at a time."""
    if not arrays or 2 * sum(b - a for a, b in arrays) < len(raw):
        return None
    pieces, last = [], 0
    for a, b in arrays:
        pieces += [raw[last:a], b"[]"]
        last = b + 1
    pieces.append(raw[last:])
    key, value = body_key(loads(b"".join(pieces)))
    if key not in ("inputs", "instances") or not isinstance(value, dict) or len(value) != len(arrays) \
            or any(v != [] for v in value.values()):
        return None  # a key given twice, or not every column is one of the arrays found
    frame_columns = {}
    for name, (a, b) in zip(value, arrays, strict=True):
        frame_columns[name] = loads(raw[a:b + 1])
        frame_columns[name] = pd.Series(frame_columns[name])  # the list's objects go as soon as it is a Series
    if len({len(c) for c in frame_columns.values()}) > 1:
        raise ApiError(400, f'the columns of "{key}" have different lengths')
    frame = pd.DataFrame(frame_columns)
    if len(frame) == 0:
        raise ApiError(400, f'"{key}" holds no rows; send at least one')
    return [frame]


def _in_slices(raw: bytes, start: int, end: int, rows: tuple[np.ndarray, np.ndarray] | None,
               frame_of: Callable[[list[Any], int], pd.DataFrame]) -> list[pd.DataFrame] | None:
    """The rows array `raw[start:end + 1]` parsed a slice of rows at a time, a frame per slice."""
    if rows is None or not len(rows[0]):
        return None  # no rows, or rows that are not arrays or objects: the whole parse decides
    starts, ends = rows
    if raw[start + 1:int(starts[0])].strip() or raw[int(ends[-1]) + 1:end].strip():
        return None  # something before the first row or after the last
    if len(np.unique(np.frombuffer(raw, dtype=np.uint8)[starts])) > 1:
        return None  # objects and lists mixed: an error the whole parse words (a slice may hold one kind only)
    bucket = (starts - starts[0]) // SLICE_BYTES
    bounds = [0, *(np.flatnonzero(np.diff(bucket)) + 1).tolist(), len(starts)]
    frames = []
    for a, b in pairwise(bounds):
        if a and raw[int(ends[a - 1]) + 1:int(starts[a])].strip() != b",":
            return None  # a value between two rows where the slices meet: the whole parse decides
        part = loads(b"[" + raw[int(starts[a]):int(ends[b - 1]) + 1] + b"]")
        frames.append(frame_of(part, a))
        del part
    return frames


def _structure(raw: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The positions of the brackets and braces outside strings, whether each opens, and the depth after it."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    quotes = _find(buf, (0x22,))
    if len(quotes):
        maybe = np.flatnonzero(buf[np.maximum(quotes, 1) - 1] == 0x5C)  # right after a backslash
        if len(maybe) > _MAX_ESCAPED_QUOTES:
            return None
        escaped = [j for j in maybe.tolist() if quotes[j] > 0 and _escaped(raw, int(quotes[j]))]
        if escaped:
            quotes = np.delete(quotes, escaped)
    if len(quotes) % 2:
        return None
    marks = _find(buf, (0x5B, 0x5D, 0x7B, 0x7D))
    marks = marks[np.searchsorted(quotes, marks) % 2 == 0]  # an even number of quotes before: outside strings
    chars = buf[marks]
    opening = (chars == 0x5B) | (chars == 0x7B)
    depth = np.cumsum(np.where(opening, np.int32(1), np.int32(-1)), dtype=np.int32)
    return marks, opening, depth


def _escaped(raw: bytes, at: int) -> bool:
    """Whether the quote at `at` follows an odd number of backslashes."""
    n = 0
    while at - n - 1 >= 0 and raw[at - n - 1] == 0x5C:
        n += 1
    return n % 2 == 1


def _find(buf: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
    """Where `buf` holds any of `values`, block by block (the temporary masks stay small)."""
    dtype = np.int32 if len(buf) < 2**31 else np.int64
    found = []
    for a in range(0, len(buf), _BLOCK):
        block = buf[a:a + _BLOCK]
        hit = block == values[0]
        for v in values[1:]:
            hit |= block == v
        found.append((np.flatnonzero(hit) + a).astype(dtype))
    return np.concatenate(found) if found else np.empty(0, dtype=dtype)


def _containers(raw: bytes, marks: np.ndarray, opening: np.ndarray, depth: np.ndarray, level: int,
                lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The (start, end) positions of the arrays and objects at `level` between `lo` and `hi`;
    None when the brackets do not pair up there (invalid JSON)."""
    inside = (marks > lo) & (marks < hi)
    opens = marks[inside & opening & (depth == level)]
    closes = marks[inside & ~opening & (depth == level - 1)]
    if len(opens) != len(closes) or (len(opens) and ((closes < opens).any() or (opens[1:] < closes[:-1]).any())):
        return None
    same_kind = np.frombuffer(raw, dtype=np.uint8)[closes] - np.frombuffer(raw, dtype=np.uint8)[opens] == 2
    if not same_kind.all():  # `[` closes with `]` (0x5B, 0x5D) and `{` with `}` (0x7B, 0x7D)
        return None
    return opens, closes

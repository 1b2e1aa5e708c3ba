"""Reading user files into data frames, with a clear error for every bad input.

Why this exists: ingest accepts CSV (delimiter and encoding detected, dates
parsed, quoted fields), Parquet, JSON lines and a table of a SQLite file. A
user's file can be wrong in many ways (empty, header only, ragged, binary, in
an unknown encoding, with duplicate column names); each becomes one
`UserError` line that names the problem and what to do, and nothing is stored.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import warnings
from pathlib import Path
from typing import Any

from mlcycle_tui.common.errors import NotFoundError, UserError

FORMATS = ("csv", "parquet", "jsonl", "sqlite")
_SNIFF_BYTES = 64 * 1024
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db": "sqlite",
}


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise UserError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
        return fmt
    guess = _EXTENSIONS.get(path.suffix.lower())
    if guess is None:
        with open(path, "rb") as fh:
            head = fh.read(16)
        if head.startswith(b"PAR1"):
            return "parquet"
        if head.startswith(b"SQLite format 3"):
            return "sqlite"
        return "csv"
    return guess


def read_table(path: str | Path, fmt: str | None = None, table: str | None = None) -> Any:
    """Read `path` into a pandas DataFrame; UserError for anything unusable."""
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"no such file: {p}; check the path and try again")
    if p.is_dir():
        raise UserError(f"{p} is a folder; give the path of a CSV, Parquet, JSON lines or SQLite file")
    fmt = detect_format(p, fmt)
    if p.stat().st_size == 0:
        raise UserError(f"{p} is empty (0 bytes); nothing to ingest")
    if fmt == "csv":
        frame = _read_csv(p)
    elif fmt == "parquet":
        frame = _read_parquet(p)
    elif fmt == "jsonl":
        frame = _read_jsonl(p)
    else:
        frame = _read_sqlite(p, table)
    _check_columns(list(frame.columns), p)
    if len(frame) == 0:
        raise UserError(f"{p} has columns but no rows; add data rows and ingest again")
    return frame


# -- CSV ------------------------------------------------------------------
def _detect_encoding(head: bytes, path: Path) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        raise UserError(
            f"{path} looks like a binary file (it contains NUL bytes), not CSV text; "
            "give a CSV, Parquet, JSON lines or SQLite file, or pass --format"
        )
    for enc in ("utf-8", "cp1252"):
        try:
            _decode_prefix(head, enc)
            return enc
        except UnicodeDecodeError:
            continue
    raise UserError(
        f"{path} is not in a text encoding mlcycle recognises (tried UTF-8, UTF-16, "
        "Windows-1252); convert it to UTF-8 and ingest again"
    )


def _decode_prefix(head: bytes, enc: str) -> str:
    """Decode a prefix that may end in the middle of a multi-byte character."""
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode(enc)
        except UnicodeDecodeError:
            if cut == 3 or len(head) < _SNIFF_BYTES:
                raise
    raise AssertionError("unreachable")


def _sniff_delimiter(text: str) -> str:
    lines = text.splitlines()[:50]
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in ",;\t|"} if lines else {}
        best = max(counts, key=lambda d: counts[d]) if counts else ","
        return best if counts.get(best) else ","


def sniff_csv(path: Path) -> tuple[str, str]:
    """(encoding, delimiter) of a CSV, after checking its header; UserError when unusable."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    encoding = _detect_encoding(head, path)
    text = _decode_prefix(head, encoding).lstrip("\ufeff")
    if not text.strip():
        raise UserError(f"{path} contains only blank lines; nothing to ingest")
    delimiter = _sniff_delimiter(text)
    header = next(csv.reader(io.StringIO(text.splitlines()[0]), delimiter=delimiter))
    _check_columns(header, path)
    return encoding, delimiter


def csv_options(path: Path) -> tuple[Any, Any, Any]:
    """pyarrow (read, parse, convert) options for a CSV: encoding and delimiter detected."""
    import pyarrow.csv as pacsv

    encoding, delimiter = sniff_csv(path)
    read_opts = pacsv.ReadOptions(encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding)
    parse_opts = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert_opts = pacsv.ConvertOptions(
        strings_can_be_null=True,
        timestamp_parsers=[pacsv.ISO8601, "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"],
    )
    return read_opts, parse_opts, convert_opts


def _read_csv(path: Path) -> Any:
    """pandas' C parser (the fastest here), with the delimiter and encoding detected first."""
    import pandas as pd

    encoding, delimiter = sniff_csv(path)
    try:
        with warnings.catch_warnings():
            # chunked typing (low_memory) is twice as fast; columns it finds mixed are made text below
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(path, sep=delimiter, encoding=encoding, engine="c")
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty; nothing to ingest") from None
    except pd.errors.ParserError as exc:
        raise UserError(_explain_csv_error(str(exc), path)) from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path} mixes text encodings (it is not valid {encoding} throughout); "
            "convert it to UTF-8 and ingest again"
        ) from None
    if frame.shape[1] > 1 and len(frame) and frame.iloc[:, -1].isna().any():
        _check_short_rows(path, encoding, delimiter, frame.shape[1])
    for name in [c for c in frame.columns if frame[c].dtype == "object"]:
        frame[name] = frame[name].astype("str")  # numbers and text mixed: one text column
    return _parse_date_strings(frame)


def _check_short_rows(path: Path, encoding: str, delimiter: str, width: int) -> None:
    """pandas pads rows with too few fields; a missing last value may hide one, so look."""
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        next(reader, None)
        for row in reader:
            if row and len(row) < width:
                raise UserError(
                    f"{path}: ragged rows at line {reader.line_num}: expected {width} fields, found {len(row)}; "
                    "fix that line (or quote fields that contain the delimiter) and ingest again"
                )


def _explain_csv_error(message: str, path: Path) -> str:
    m = re.search(r"Expected (\d+) columns, got (\d+)", message) or re.search(
        r"Expected (\d+) fields in line \d+, saw (\d+)", message
    )
    if m:
        row = re.search(r"Row #(\d+)", message) or re.search(r"in line (\d+)", message)
        where = f" at line {row.group(1)}" if row else ""
        return (
            f"{path}: ragged rows{where}: expected {m.group(1)} fields, found {m.group(2)}; "
            "fix that line (or quote fields that contain the delimiter) and ingest again"
        )
    if "Empty CSV file" in message:
        return f"{path} is empty; nothing to ingest"
    if "invalid UTF8" in message or "UTF8" in message:
        return (
            f"{path} is not valid UTF-8 throughout (a later part uses another encoding); "
            "convert it to UTF-8 and ingest again"
        )
    first = message.strip().splitlines()[0] if message.strip() else "unreadable CSV"
    return f"{path} could not be read as CSV: {first}; check the file and try again"


_PARALLEL_DATES = 100_000  # values from which a date column is parsed in two halves at once
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?(\.\d+)?)?")


def _parse_date_strings(frame: Any) -> Any:
    """Turn string columns whose values all look like dates into datetimes."""
    import pandas as pd

    for name in frame.columns:
        col = frame[name]
        if not (pd.api.types.is_string_dtype(col) or col.dtype == object):
            continue
        sample = col.dropna().head(200).astype(str)
        if sample.empty or not sample.map(lambda v: bool(_DATE_LIKE.match(v))).all():
            continue
        parsed = _iso_datetimes(col)
        if parsed is None:
            parsed = pd.to_datetime(col, errors="coerce")
        if parsed.notna().sum() >= 0.98 * col.notna().sum():
            frame[name] = parsed
    return frame


def _iso_datetimes(col: Any) -> Any | None:
    """Arrow's ISO-8601 parser (about 8x faster than pandas'), or None when any value is
    not plain ISO (other layouts, time zones): pandas then decides."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(col, from_pandas=True, type=pa.large_string())
        if isinstance(text, pa.Array):
            text = pa.chunked_array([text])
        if len(text) < _PARALLEL_DATES:
            parsed = pc.cast(text, pa.timestamp("us"))
        else:  # two halves at once: Arrow's cast releases the GIL
            from concurrent.futures import ThreadPoolExecutor

            half = len(text) // 2
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlcycle-dates") as side:
                first = side.submit(pc.cast, text.slice(0, half), pa.timestamp("us"))
                second = pc.cast(text.slice(half), pa.timestamp("us"))
                parsed = pa.chunked_array(first.result().chunks + second.chunks, type=second.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return pd.Series(parsed.to_pandas(), index=col.index, name=col.name)


def _arrow_to_pandas(table: Any) -> Any:
    """Arrow table -> pandas, with dates as datetime64 (not Python date objects)."""
    import pyarrow as pa

    fields = []
    changed = False
    for f in table.schema:
        if pa.types.is_date(f.type):
            fields.append(pa.field(f.name, pa.timestamp("s")))
            changed = True
        else:
            fields.append(f)
    if changed:
        table = table.cast(pa.schema(fields))
    return table.to_pandas()


# -- other formats ----------------------------------------------------------
def _read_parquet(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return _arrow_to_pandas(pq.read_table(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path} could not be read as Parquet: {exc}; check the file") from None


def _read_jsonl(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.json as pajson

    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    _detect_encoding(head, path)
    if head.lstrip().startswith(b"["):
        raise UserError(
            f"{path} is a JSON array, not JSON lines; write one JSON object per line and try again"
        )
    try:
        table = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=1 << 24))
    except pa.ArrowInvalid as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(
            f"{path} could not be read as JSON lines ({first}); each line must be one JSON object"
        ) from None
    return _parse_date_strings(_arrow_to_pandas(table))


def _read_sqlite(path: Path, table: str | None) -> Any:
    import pandas as pd

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UserError(f"{path} could not be opened as SQLite: {exc}") from None
    try:
        try:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table','view') ORDER BY name"
                )
            ]
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path} is not a SQLite database ({exc})") from None
        if not table:
            if len(names) == 1:
                table = names[0]
            else:
                listed = ", ".join(names) or "none"
                raise UserError(f"{path} holds several tables; choose one with --table (tables: {listed})")
        if table not in names:
            listed = ", ".join(names) or "none"
            raise UserError(f"{path} has no table {table!r}; tables there: {listed}")
        quoted = '"' + table.replace('"', '""') + '"'
        return _parse_date_strings(pd.read_sql_query(f"SELECT * FROM {quoted}", conn))
    finally:
        conn.close()


def _check_columns(columns: list[Any], path: Path) -> None:
    names = [str(c) for c in columns]
    if not names:
        raise UserError(f"{path} has no columns; nothing to ingest")
    blank = [i + 1 for i, n in enumerate(names) if not n.strip()]
    if blank and len(names) > 1:
        raise UserError(
            f"{path}: column {blank[0]} has an empty name; give every column a header and try again"
        )
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise UserError(
            f"{path} has duplicate column names: {', '.join(dupes)}; rename them and ingest again"
        )

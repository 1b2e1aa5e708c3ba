"""Reading user files into data frames, with a clear error for every bad input.

Why this exists: ingest accepts CSV (delimiter and encoding detected, dates
parsed, quoted fields), Parquet, JSON lines and a table of a SQLite file
(`sqlite_tables` lists them). The encoding holds for the whole file, not just
its start: UTF-8 is checked end to end, a code page comes from
charset-normalizer and is checked end to end too, and a file that mixes
encodings is refused with the line of its first bad byte. A
user's file can be wrong in many ways (empty, header only, ragged, binary, in
an unknown encoding, with duplicate column names); each becomes one
`UserError` line that names the problem and what to do, and nothing is stored.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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


def format_from_name(path: str | Path) -> str | None:
    """The format a file's name says (csv, parquet, jsonl, sqlite), or None: no reading."""
    return _EXTENSIONS.get(Path(str(path).strip()).suffix.lower())


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
_SCAN_BYTES = 4 << 20  # read size of the whole-file decode checks
_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}


def _detect_encoding(path: Path, head: bytes) -> str:
    """The encoding of the whole file (`head` is its first bytes); UserError when none fits.

    UTF-8 is decided by decoding the whole file, which no detector beats. A file that is
    not UTF-8 gets its code page from charset-normalizer over blocks from its beginning,
    middle and end and around its first non-UTF-8 byte, and then the whole file is decoded
    with that code page too: a byte anywhere that does not fit is reported with its line.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _verified(path, "utf-16")
    if b"\x00" in head:
        raise UserError(
            f"{path} looks like a binary file (it contains NUL bytes), not CSV text; "
            "give a CSV, Parquet, JSON lines or SQLite file, or pass --format"
        )
    bom = head.startswith(b"\xef\xbb\xbf")
    bad = _first_bad_byte(path, "utf-8")
    if bad is None:
        return "utf-8-sig" if bom else "utf-8"
    offset, line, utf8_before = bad
    valid_after, invalid_after = _utf8_share(path, offset)
    if bom or utf8_before or valid_after > invalid_after:
        raise UserError(
            f"{path} mixes text encodings: parts of it are UTF-8, but line {line} has a byte "
            f"(0x{_byte_at(path, offset):02X}) that is not UTF-8 (it may be Windows-1252 or another "
            "code page); save the whole file as UTF-8 and ingest again"
        )
    encoding = _legacy_encoding(_spread_sample(path, offset))
    if encoding is None:
        raise UserError(
            f"{path} is not in a text encoding mlcycle recognises (it is not UTF-8 or UTF-16, and "
            "no single-byte or East Asian code page fits it); convert it to UTF-8 and ingest again"
        )
    return _verified(path, encoding)


def _verified(path: Path, encoding: str) -> str:
    """`encoding` when the whole file decodes with it; UserError naming the first bad line."""
    bad = _first_bad_byte(path, encoding)
    if bad is None:
        return encoding
    label = _LABELS.get(encoding, encoding)
    raise UserError(
        f"{path} mixes text encodings: it reads as {label} up to line {bad[1]}, which has a byte "
        f"(0x{_byte_at(path, bad[0]):02X}) that {label} does not define; save the whole file as "
        "UTF-8 and ingest again"
    )


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int, bool] | None:
    """(file offset, line number, non-ASCII text seen before it) of the first byte that
    `encoding` cannot decode, or None when the whole file decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    # in an ASCII-compatible encoding a chunk of ASCII bytes needs no decoding (checking is
    # ~15x faster), and lines are counted as bytes, only once a bad byte is found
    ascii_compatible = "\n,a".encode(encoding) == b"\n,a"
    fed, lines, non_ascii = 0, 1, False
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_SCAN_BYTES)
            state = decoder.getstate()
            if ascii_compatible and chunk and not state[0] and chunk.isascii():
                fed += len(chunk)
                continue
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                decoder.setstate(state)  # decode again up to the bad byte
                pending = state[0]
                text = decoder.decode(chunk[: max(0, exc.start - len(pending))])
                offset = fed - len(pending) + exc.start
                line = _line_at(fh, offset) if ascii_compatible else lines + text.count("\n")
                return offset, line, non_ascii or not text.isascii()
            if not ascii_compatible:
                lines += text.count("\n")
            non_ascii = non_ascii or not text.isascii()
            fed += len(chunk)
            if not chunk:
                return None


def _line_at(fh: Any, offset: int) -> int:
    """The line number (from 1) of the byte at `offset` of a binary file."""
    fh.seek(0)
    lines, left = 1, offset
    while left > 0:
        chunk = fh.read(min(_SCAN_BYTES, left))
        if not chunk:
            break
        lines += chunk.count(b"\n")
        left -= len(chunk)
    return lines


def _utf8_share(path: Path, offset: int) -> tuple[int, int]:
    """(valid multi-byte UTF-8 characters, invalid bytes) from `offset` to the end: a file
    that starts in a code page and goes on in UTF-8 has more of the first."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    valid = invalid = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            chunk = fh.read(_SCAN_BYTES)
            if chunk and not decoder.getstate()[0] and chunk.isascii():
                continue
            text = decoder.decode(chunk, final=not chunk)
            bad = text.count("\ufffd")
            invalid += bad
            valid += len(text) - len(text.encode("ascii", "ignore")) - bad
            if not chunk:
                return valid, invalid


def _byte_at(path: Path, offset: int) -> int:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(1)[0]


def _spread_sample(path: Path, bad_offset: int) -> bytes:
    """Whole lines from the beginning, middle and end of the file and from where its first
    non-UTF-8 byte is: what the code-page detector judges."""
    size = path.stat().st_size
    block = _SNIFF_BYTES
    with open(path, "rb") as fh:
        if size <= 4 * block:
            return fh.read()
        parts = [fh.read(block)]
        # the bad byte's block starts at the start of its line, so the byte stays in the sample
        for start, keep in ((size // 2 - block // 2, 0), (size - block, 0), (bad_offset - block // 2, bad_offset)):
            start = max(0, start)
            fh.seek(start)
            data = fh.read(block)
            first = data.rfind(b"\n", 0, keep - start) + 1 if keep else data.find(b"\n") + 1
            last = data.rfind(b"\n")
            parts.append(data[first : last if last > first else len(data)])
    return b"\n".join(parts)


def _legacy_encoding(sample: bytes) -> str | None:
    """The code page of a sample that is not UTF-8, by charset-normalizer, or None.

    Western text fits several code pages equally well (charset-normalizer then ranks
    cp1250 first by name); among those that fit best, Windows-1252 wins, being the one
    such files are nearly always in. Without any language evidence (too little text),
    Windows-1252 is kept when it decodes the sample, else nothing is guessed.
    """
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    matches = [m for m in matches if m.encoding not in ("ascii", "utf_8")]
    if not matches:
        return None
    best = matches[0]
    tied = [m for m in matches if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.01]
    if any("cp1252" in m.could_be_from_charset for m in tied):
        return "cp1252"
    if best.coherence > 0:
        return str(best.encoding)
    if any("cp1252" in m.could_be_from_charset for m in matches):
        return "cp1252"
    return None


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
    encoding = _detect_encoding(path, head)
    text = _decode_prefix(head, encoding).lstrip("\ufeff")
    if not text.strip():
        raise UserError(f"{path} contains only blank lines; nothing to ingest")
    delimiter = _sniff_delimiter(text)
    first = text.splitlines()[0]
    header = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    _check_prose(header, first, path)
    _check_columns(header, path)
    return encoding, delimiter


def _reads_like_a_sentence(cell: str) -> bool:
    words = cell.split()
    return len(words) >= 6 or (len(words) >= 3 and cell.rstrip().endswith((".", "!", "?")))


def _check_prose(header: list[str], first_line: str, path: Path) -> None:
    """Refuse text that is not a table: a header of one or two cells that read like sentences.

    Without this, two lines of prose became a dataset of one column (named by the first
    sentence) and one row. A real header names columns: short, no full stop.
    """
    if len(header) <= 2 and any(_reads_like_a_sentence(cell) for cell in header):
        shown = first_line.strip()
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        raise UserError(
            f"{path} does not look like CSV (its first line reads like a sentence, {shown!r}, not like column "
            "names separated by ',', ';', tab or '|'); give a file whose first line names the columns, or "
            "--format parquet|jsonl|sqlite for other files"
        )


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
    with _csv_errors(path, encoding), warnings.catch_warnings():
        # chunked typing (low_memory) is twice as fast; columns it finds mixed are made text below
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        frame = pd.read_csv(path, sep=delimiter, encoding=encoding, engine="c")
    if frame.shape[1] > 1 and len(frame) and frame.iloc[:, -1].isna().any():
        check_short_rows(path, encoding, delimiter, frame.shape[1])
    for name in [c for c in frame.columns if frame[c].dtype == "object"]:
        frame[name] = frame[name].astype("str")  # numbers and text mixed: one text column
    return _parse_date_strings(frame)


def csv_blocks(path: Path, encoding: str, delimiter: str, rows: int) -> Iterator[tuple[Any, int]]:
    """(block of `rows` rows as parsed by `pandas.read_csv`, bytes of the file read so far), block
    by block: the same parser, options and errors as `read_table`, for a file that does not fit
    in memory. Each block is typed on its own (see `streaming` for how the types are unified);
    the bytes read are for progress only (the parser reads ahead)."""
    import pandas as pd

    with open(path, "rb") as fh, _csv_errors(path, encoding), warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        reader = pd.read_csv(fh, sep=delimiter, encoding=encoding, engine="c", chunksize=rows)
        with reader:
            for block in reader:
                yield block, fh.tell()


@contextmanager
def _csv_errors(path: Path, encoding: str) -> Iterator[None]:
    """pandas' parse errors as one UserError line each (the same for a whole file and a block)."""
    import pandas as pd

    try:
        yield
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty; nothing to ingest") from None
    except pd.errors.ParserError as exc:
        raise UserError(_explain_csv_error(str(exc), path)) from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path} mixes text encodings (it is not valid {encoding} throughout); "
            "convert it to UTF-8 and ingest again"
        ) from None


def check_short_rows(path: Path, encoding: str, delimiter: str, width: int) -> None:
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


DATE_SHARE = 0.98  # a text column whose values all look like dates becomes dates if this share parses
DATE_SAMPLE = 200  # the first non-missing values that must all look like dates


def looks_like_dates(values: Any) -> bool:
    """Whether the (first DATE_SAMPLE non-missing) text values of a column all look like dates."""
    return len(values) > 0 and all(_DATE_LIKE.match(str(v)) for v in values)


def _parse_date_strings(frame: Any) -> Any:
    """Turn string columns whose values all look like dates into datetimes."""
    import pandas as pd

    for name in frame.columns:
        col = frame[name]
        if not (pd.api.types.is_string_dtype(col) or col.dtype == object):
            continue
        if not looks_like_dates(col.dropna().head(DATE_SAMPLE).astype(str).tolist()):
            continue
        parsed = iso_datetimes(col)
        if parsed is None:
            parsed = pd.to_datetime(col, errors="coerce")
        if parsed.notna().sum() >= DATE_SHARE * col.notna().sum():
            frame[name] = parsed
    return frame


def iso_datetimes(col: Any) -> Any | None:
    """Arrow's ISO-8601 parser (about 8x faster than pandas'), or None when any value is
    not plain ISO (other layouts, time zones): pandas then decides."""
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
    return parsed.to_pandas().set_axis(col.index).rename(col.name)  # (a Series would be aligned on its index)


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
    encoding = _detect_encoding(path, head)
    if encoding not in ("utf-8", "utf-8-sig"):
        raise UserError(
            f"{path} is in {_LABELS.get(encoding, encoding)}, but JSON lines must be UTF-8; "
            "save it as UTF-8 and ingest again"
        )
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


def sqlite_tables(path: str | Path) -> list[dict[str, Any]]:
    """The tables and views of a SQLite file, by name: `{"name", "kind" ("table" or "view"),
    "columns" (names), "rows"}`; `rows` is None for a view SQLite cannot compute (one over a
    dropped table, say). The file is opened read-only; UserError when it is not SQLite."""
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"no such file: {p}; check the path and try again")
    if p.is_dir():
        raise UserError(f"{p} is a folder; give the path of a SQLite file (.sqlite, .sqlite3, .db)")
    if p.stat().st_size == 0:
        raise UserError(f"{p} is empty (0 bytes), not a SQLite database; give the path of a SQLite file")
    conn = _open_sqlite(p)
    try:
        return _list_tables(conn, p, counts=True)
    finally:
        conn.close()


def _open_sqlite(path: Path) -> sqlite3.Connection:
    try:  # a file URI: read-only, and a name with '?', '#' or '%' in it stays a name
        return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UserError(f"{path} could not be opened as SQLite: {exc}") from None


def _list_tables(conn: sqlite3.Connection, path: Path, counts: bool) -> list[dict[str, Any]]:
    """Tables and views (SQLite's own `sqlite_*` tables left out), with row counts if asked."""
    import sqlite_utils

    db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    try:
        kinds = {name: "table" for name in db.table_names()} | {name: "view" for name in db.view_names()}
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"{path} is not a SQLite database ({exc}); give the path of a SQLite file "
            "(a file of another kind needs its own extension, or --format)"
        ) from None
    found = []
    for name in sorted(n for n in kinds if not n.startswith("sqlite_")):
        item = db[name]
        try:
            columns = [c.name for c in item.columns]
            rows = item.count if counts else None
        except sqlite3.Error:  # a view over a dropped table, a virtual table of a missing module
            columns, rows = [], None
        found.append({"name": name, "kind": kinds[name], "columns": columns, "rows": rows})
    return found


def _read_sqlite(path: Path, table: str | None) -> Any:
    import pandas as pd

    conn = _open_sqlite(path)
    try:
        found = _list_tables(conn, path, counts=False)
        names = [t["name"] for t in found]
        listed = ", ".join(t["name"] + (" (view)" if t["kind"] == "view" else "") for t in found)
        if not names:
            raise UserError(f"{path} holds no tables or views; nothing to ingest")
        if not table:
            if len(names) > 1:
                raise UserError(f"{path} holds several tables; choose one with --table (tables: {listed})")
            table = names[0]
        if table not in names:
            raise UserError(f"{path} has no table {table!r}; tables there: {listed}")
        quoted = '"' + table.replace('"', '""') + '"'
        try:
            frame = pd.read_sql_query(f"SELECT * FROM {quoted}", conn)
        except (pd.errors.DatabaseError, sqlite3.Error) as exc:
            raise UserError(
                f"{path}: table {table!r} could not be read ({exc.__cause__ or exc}); "
                "fix it in the database or choose another table"
            ) from None
        return _parse_date_strings(frame)
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

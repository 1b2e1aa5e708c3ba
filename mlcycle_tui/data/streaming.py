"""Streamed ingest of a CSV too large for memory: block by block, in bounded memory.

Why this exists: `read_table` holds the whole frame, and ingest peaks at about 2.5x that, so
a file near the machine's memory cannot be ingested that way. Here the CSV is read by the same
parser as in memory (`readers.csv_blocks`: pandas' C parser with the same options and errors,
so every value is the same bits), a block of rows at a time. Each block is typed as the whole
file would be, written as a row group of one Parquet file (a temporary file of the artifact
store, renamed once complete), hashed row by row into the content hash, and summarised into
the mergeable column states of `profiling`. What stays in memory: one block, the row hashes
(8 bytes a row, sorted in place at the end for the duplicate count), the column states
(bounded) and the distinct-value hashes of `distinct` (at most 8 MB a column).

The version is the one ingesting the file in memory makes (content hash, rows, dtypes, kinds);
its profile differs only where it says so: `distinct_approximate` (more distinct values than
`distinct.DEFAULT_LIMIT`), `quantiles_approximate` (a number column past 1,000 distinct
values: quantiles and histogram counts of a KLL sketch), `top_approximate` (a text column
past 1,000 distinct values: Misra-Gries counts, lower bounds); means and standard deviations
are merged (Chan), equal up to rounding.

Types: pandas types each block on its own, and the whole file's type of a column is the union
of its blocks' types (ints and floats: floats; anything with text: text), as pandas unifies the
chunks of a large file itself. A pass assumes the types of its first block; a block that does
not fit (a missing value or a word in an int column, a date column with a value that is not
ISO 8601) turns the rest of the pass into a type scan, and one more pass writes the version
with the unified types. Which text columns become dates is decided as in memory (their first
200 values, all ISO 8601 or not, the 98% that must parse) and checked at the end of a pass in
the same way. So a pass is written again, or refused with a message, but never recorded with
a type the whole file would not have. Blocks hold a multiple of the parser's own chunk
(`_parser_chunk`), so that a column of numbers and text mixes exactly as in memory.
"""

from __future__ import annotations

import hashlib
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlcycle_tui.storage.artifacts import ArtifactStore

DEFAULT_BLOCK_BYTES = 32 << 20  # CSV bytes per block: a block's frame is a few times this
_MAX_PASSES = 5
_NUMERIC = ("int64", "uint64", "float64")


@dataclass
class StreamedVersion:
    """What a streamed ingest wrote and measured: the stored file, the content hash, the profile."""

    artifact_sha256: str
    artifact_path: str
    content: str
    profile: dict[str, Any]
    rows: int
    columns: int


@dataclass
class _Plan:
    """What a pass assumes of the whole file: each column's parsed dtype and which text columns
    become dates ("iso": Arrow's ISO 8601 parser; a format or "mixed": pandas' to_datetime)."""

    raw: dict[str, str]
    dates: dict[str, str] = field(default_factory=dict)
    rejected: frozenset[str] = frozenset()  # looked like dates, but too few parsed: stay text


@dataclass
class _Facts:
    """What a pass found out about the whole file, to check its plan against."""

    raw: dict[str, str]
    heads: dict[str, list[str]] = field(default_factory=dict)
    iso_failed: set[str] = field(default_factory=set)
    parsed: dict[str, list[int]] = field(default_factory=dict)  # column -> [parsed, non-missing]
    complete: bool = True  # False: a type scan after a block that did not fit (date facts partial)


class _Replan(Exception):
    """The pass's plan did not hold for the whole file: write it again with `plan`."""

    def __init__(self, plan: _Plan, why: str) -> None:
        super().__init__(why)
        self.plan = plan
        self.why = why


def should_stream(path: Path, threshold_mb: float) -> bool:
    """Whether a CSV is large enough to stream: above `threshold_mb` MiB, or above a quarter
    of the memory available (the in-memory path peaks near 3x its frame)."""
    size = path.stat().st_size
    return size > threshold_mb * 2**20 or size * 4 > available_memory()


def available_memory() -> int:
    """Bytes this process may still use: MemAvailable, lowered to what a cgroup v2 limit or an
    address-space limit (`ulimit -v`) leaves."""
    import resource

    best = 1 << 62
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        best = soft - _status_kb("VmSize:") * 1024
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    best = min(best, int(line.split()[1]) * 1024)
    except OSError:
        return best
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            best = min(best, int(limit) - used)
    except (OSError, ValueError):
        pass
    return best


def _status_kb(key: str) -> int:
    try:
        with open("/proc/self/status") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith(key)), 0)
    except OSError:
        return 0


def stream_csv(
    path: Path,
    artifacts: ArtifactStore,
    *,
    target: str | None,
    time_column: str | None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    exact_distinct: int | None = None,
    report: Callable[[float, str], None],
) -> StreamedVersion:
    """Ingest a CSV block by block (see the module docstring); UserError as `read_table` gives."""
    from mlcycle_tui.data.distinct import DEFAULT_LIMIT
    from mlcycle_tui.data.readers import sniff_csv

    encoding, delimiter = sniff_csv(path)
    rows = _block_rows(path, encoding, delimiter, block_bytes)
    plan: _Plan | None = None
    for _attempt in range(_MAX_PASSES):
        run = _Pass(path, encoding, delimiter, rows, plan, target, time_column,
                    DEFAULT_LIMIT if exact_distinct is None else exact_distinct, report)
        try:
            sha, rel = artifacts.put_with(run.write, ".parquet", appends_only=True)
        except _Replan as again:
            plan = again.plan
            report(0.05, f"reading again: {again.why}")
            continue
        assert run.result is not None
        return StreamedVersion(sha, rel, *run.result)
    raise UserError(
        f"{path}: the column types kept changing from one part of the file to another; "
        "ingest it with fewer rows, or give each column one type throughout"
    )


def _block_rows(path: Path, encoding: str, delimiter: str, block_bytes: int) -> int:
    """Rows per block: about `block_bytes` of the file, a multiple of the parser's chunk."""
    import pandas as pd

    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    per_row = max(1.0, len(head) / max(1, head.count(b"\n")))
    rows = max(1, int(block_bytes / per_row))
    width = pd.read_csv(path, sep=delimiter, encoding=encoding, nrows=0, engine="c").shape[1]
    chunk = _parser_chunk(width)
    return rows - rows % chunk if rows >= chunk else rows


def _parser_chunk(width: int) -> int:
    """Rows of the chunks pandas' C parser types separately (`low_memory`) for `width` columns:
    the largest power of two below 2**20 / width, as pandas/_libs/parsers.pyx computes it."""
    heuristic, rows = (1 << 20) // max(1, width), 1
    while rows * 2 < heuristic:
        rows *= 2
    return rows


def _union(a: str, b: str) -> str:
    """The dtype of a column whose chunks are `a` and `b`, as pandas concatenates them."""
    import numpy as np

    if a == b:
        return a
    if a in _NUMERIC and b in _NUMERIC:
        return str(np.result_type(a, b))
    return "str"


def _raw_dtype(series: Any) -> str:
    dtype = str(series.dtype)
    return dtype if dtype in (*_NUMERIC, "bool") else "str"


class _Pass:
    """One read of the file under a plan; `write` (given the temporary file) does the work."""

    def __init__(self, path: Path, encoding: str, delimiter: str, rows: int, plan: _Plan | None,
                 target: str | None, time_column: str | None, exact_distinct: int,
                 report: Callable[[float, str], None]) -> None:
        self.path, self.encoding, self.delimiter, self.rows = path, encoding, delimiter, rows
        self.plan, self.target, self.time_column = plan, target, time_column
        self.exact_distinct, self.report = exact_distinct, report
        self.size = path.stat().st_size
        self.result: tuple[str, dict[str, Any], int, int] | None = None

    def write(self, out: Path) -> None:
        from mlcycle_tui.data.readers import csv_blocks

        blocks = csv_blocks(self.path, self.encoding, self.delimiter, self.rows)
        sink = _Sink(out, self.exact_distinct)
        try:
            facts = self._read(blocks, sink)
            if facts is None or (sink.rows == 0 and facts.complete):
                raise UserError(f"{self.path} has columns but no rows; add data rows and ingest again")
            assert self.plan is not None
            following = _next_plan(self.plan, facts)
            if following != self.plan:
                raise _Replan(following, _why(self.plan, following))
            if sink.last_missing:
                from mlcycle_tui.data.readers import check_short_rows

                check_short_rows(self.path, self.encoding, self.delimiter, len(self.plan.raw))
            sink.close()
            self.result = sink.finish()
        finally:
            blocks.close()
            sink.close()

    def _read(self, blocks: Any, sink: _Sink) -> _Facts | None:
        """Every block into `sink`, or, from a block that does not fit the plan on, types only."""
        facts: _Facts | None = None
        expected: list[tuple[str, str]] | None = None
        with ThreadPoolExecutor(2, thread_name_prefix="mlcycle-stream") as pool:
            for block, done in blocks:
                if self.plan is None:  # the first pass: the first block's types
                    self.plan = _first_plan(block)
                if facts is None:
                    facts = _Facts(raw=dict(self.plan.raw))
                block = block.reset_index(drop=True)
                converted = self._convert(block, facts) if _fits(block, facts) else None
                if converted is None:  # a wider type, or a date column that is not all ISO 8601
                    facts.complete = False
                    self.report(0.05 + 0.9 * done / self.size, "scanning column types")
                    _scan_rest(blocks, facts)
                    break
                dtypes = [(str(n), str(t)) for n, t in converted.dtypes.items()]
                if expected is None:
                    expected = dtypes
                elif dtypes != expected:
                    changed = next(f"{a[0]!r} ({a[1]}, then {b[1]})" for a, b in zip(expected, dtypes, strict=True)
                                   if a != b)
                    raise UserError(f"{self.path}: column {changed} does not keep one type from one part of the "
                                    "file to the next; give its values one format throughout and ingest again")
                sink.add(converted, pool)
                self.report(0.05 + 0.9 * done / self.size, f"streaming: {sink.rows:,} rows")
        return facts

    def _convert(self, block: Any, facts: _Facts) -> Any | None:
        """The block with the plan's types (None: a date column that must be read otherwise)."""
        import pandas as pd

        from mlcycle_tui.data.readers import DATE_SAMPLE, iso_datetimes
        from mlcycle_tui.data.versions import prepare_frame

        assert self.plan is not None
        for name, want in self.plan.raw.items():
            if str(block[name].dtype) != want:  # a narrower chunk type, or mixed (object)
                block[name] = block[name].astype(object).astype("str") if want == "str" else block[name].astype(want)
            if want == "str":
                head = facts.heads.setdefault(name, [])
                if len(head) < DATE_SAMPLE:
                    head.extend(block[name].dropna().head(DATE_SAMPLE - len(head)).astype(str).tolist())
        for name, mode in self.plan.dates.items():
            col = block[name]
            if mode == "iso":
                parsed = iso_datetimes(col)
                if parsed is None:
                    facts.iso_failed.add(name)
                    return None
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    parsed = pd.to_datetime(col, errors="coerce", format=mode)
                counts = facts.parsed.setdefault(name, [0, 0])
                counts[0] += int(parsed.notna().sum())
                counts[1] += int(col.notna().sum())
            block[name] = parsed
        return prepare_frame(block, self.target, self.time_column).reset_index(drop=True)


def _first_plan(block: Any) -> _Plan:
    """The first block's types; its text columns that look like dates are tried as ISO 8601
    dates, or with the format of their first value."""
    from pandas.tseries.api import guess_datetime_format

    from mlcycle_tui.data.readers import DATE_SAMPLE, iso_datetimes, looks_like_dates

    raw = {str(n): _raw_dtype(block[n]) for n in block.columns}
    dates = {}
    for name, dtype in raw.items():
        head = block[name].dropna().head(DATE_SAMPLE).astype(str)
        if dtype == "str" and looks_like_dates(head.tolist()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                fmt = guess_datetime_format(head.iloc[0]) or "mixed"
            dates[name] = "iso" if iso_datetimes(block[name]) is not None else fmt
    return _Plan(raw=raw, dates=dates)


def _fits(block: Any, facts: _Facts) -> bool:
    """Record the block's parsed types; False when one widens a column's type."""
    fits = True
    for name in block.columns:
        have = facts.raw[str(name)]
        both = _union(have, _raw_dtype(block[name]))
        if both != have:
            facts.raw[str(name)] = both
            fits = False
    return fits


def _scan_rest(blocks: Any, facts: _Facts) -> None:
    """Read the rest of the file for its types only (the next pass writes it)."""
    for block, _done in blocks:
        _fits(block, facts)


def _next_plan(plan: _Plan, facts: _Facts) -> _Plan:
    """The plan the facts call for: unified types, and the dates as the whole column decides."""
    from pandas.tseries.api import guess_datetime_format

    from mlcycle_tui.data.readers import DATE_SHARE, looks_like_dates

    dates: dict[str, str] = {}
    rejected = set(plan.rejected)
    for name, raw in facts.raw.items():
        used = plan.dates.get(name)
        if raw != "str" or name in rejected:
            continue
        if used == "iso" and name in facts.iso_failed:  # not all ISO 8601: pandas decides, as in memory
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                dates[name] = guess_datetime_format(facts.heads[name][0]) or "mixed"
        elif not facts.complete or plan.raw.get(name) != "str":
            if used is not None:
                dates[name] = used  # the next pass checks it
        elif not looks_like_dates(facts.heads.get(name, [])):
            continue
        elif used is None:
            dates[name] = "iso"  # the next pass tries ISO 8601
        elif used == "iso":
            dates[name] = used
        else:
            parsed, present = facts.parsed.get(name, [0, 0])
            if parsed >= DATE_SHARE * present:
                dates[name] = used
            else:
                rejected.add(name)
    return _Plan(raw=dict(facts.raw), dates=dates, rejected=frozenset(rejected))


def _why(old: _Plan, new: _Plan) -> str:
    for name, raw in new.raw.items():
        if old.raw.get(name) != raw:
            return f"column {name!r} is {raw} further on ({old.raw.get(name)} at first)"
    for name in sorted(set(old.dates) | set(new.dates) | set(new.rejected)):
        if old.dates.get(name) != new.dates.get(name):
            now = new.dates.get(name)
            return f"column {name!r} " + ("is not dates" if now is None else f"is dates ({now})")
    return "the column types changed"


class _Sink:
    """Where the blocks go: the Parquet writer, the content hash, the row hashes, the states."""

    def __init__(self, out: Path, exact_distinct: int) -> None:
        self.out = out
        self.exact_distinct = exact_distinct
        self.rows = 0
        self.last_missing = False
        self.digest: Any = None
        self.hashes: list[Any] = []
        self.state: dict[str, Any] | None = None
        self.counters: dict[str, Any] = {}
        self.families: dict[str, str] = {}
        self.writer: Any = None
        self.schema: Any = None
        self.side = ThreadPoolExecutor(1, thread_name_prefix="mlcycle-parquet")
        self.pending: Any = None
        self.dtypes: list[tuple[str, str]] = []

    def add(self, block: Any, pool: ThreadPoolExecutor) -> None:
        from mlcycle_tui.data import profiling
        from mlcycle_tui.data.distinct import DistinctCounter, value_hashes

        if self.schema is None:
            self._open(block)
        table = self._table(block)
        if self.pending is not None:
            self.pending.result()
        self.pending = self.side.submit(self.writer.write_table, table)  # Arrow releases the GIL
        texts = {n: profiling.factorize_text(block[n]) for n in block.columns if profiling.is_text(block[n])}
        state, hashes = profiling.state_and_hashes(block, pool, texts)
        if state is None:
            bad = next(n for n in block.columns if profiling.state_family(block[n]) is None)
            raise UserError(f"column {bad!r} ({block[bad].dtype}) cannot be summarised block by block; "
                            "ingest the file in memory (stream=False)")
        self.digest.update(memoryview(hashes))
        self.hashes.append(hashes)
        self.state = state if self.state is None else profiling.merge_states(self.state, state)
        for name in block.columns:
            family = self.families.setdefault(name, profiling.state_family(block[name]) or "")
            if family in ("number", "datetime", "text"):
                counter = self.counters.setdefault(name, DistinctCounter(self.exact_distinct))
                counter.add(value_hashes(block[name], family, texts.get(name)))
        self.rows += len(block)
        if block.shape[1] > 1 and bool(block.iloc[:, -1].isna().any()):
            self.last_missing = True

    def _open(self, block: Any) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.dtypes = [(str(n), str(t)) for n, t in block.dtypes.items()]
        self.digest = hashlib.sha256()
        for name, dtype in self.dtypes:  # as profiling.content_sha256
            self.digest.update(f"{name}\x1f{dtype}\x1e".encode())
        schema = pa.Schema.from_pandas(block, preserve_index=False)
        self.schema = pa.schema([f.with_nullable(True) for f in schema], metadata=schema.metadata)
        plain = set()  # floats with many distinct values: plain, uncompressed (as write_parquet)
        for name, dtype in self.dtypes:
            if dtype == "float64":
                values = block[name].to_numpy()
                sample = values[:: max(1, len(values) // 10_000)]
                if np.unique(sample).size > max(64, sample.size // 10):
                    plain.add(name)
        names = [n for n, _ in self.dtypes]
        self.writer = pq.ParquetWriter(
            self.out, self.schema, use_dictionary=[n for n in names if n not in plain],
            compression={n: ("none" if n in plain else "snappy") for n in names}, write_statistics=False,
        )

    def _table(self, block: Any) -> Any:
        import pyarrow as pa

        return pa.Table.from_pandas(block, schema=self.schema, preserve_index=False)

    def close(self) -> None:
        """Wait for the last row group and close the file (again: nothing)."""
        try:
            if self.pending is not None:
                pending, self.pending = self.pending, None
                pending.result()
        finally:
            if self.writer is not None:
                writer, self.writer = self.writer, None
                writer.close()
            self.side.shutdown()

    def finish(self) -> tuple[str, dict[str, Any], int, int]:
        """(content hash, profile, rows, columns) once every block is in; the file is closed."""
        import numpy as np

        from mlcycle_tui.data import profiling

        assert self.state is not None and self.writer is None
        total = sum(h.size for h in self.hashes)
        ordered = np.empty(total, dtype=np.uint64)
        at = 0
        while self.hashes:  # one copy at a time: the row hashes are held once
            part = self.hashes.pop(0)
            ordered[at : at + part.size] = part
            at += part.size
        ordered.sort()
        duplicates = int(np.count_nonzero(ordered[1:] == ordered[:-1]))
        del ordered
        for col in self.state["columns"]:
            counter = self.counters.get(col["name"])
            if col["values"] is None and counter is not None and counter.count is not None:
                col["distinct"] = counter.count
        _settle_kinds(self.out, self.state)
        profile = profiling.profile_from_state(self.state, duplicates)
        for col, c in zip(profile["columns"], self.state["columns"], strict=True):
            if c["family"] == "text" and c["values"] is None:
                col["mean_length"], col["numeric_share"] = _sampled_shape(self.out, c["name"], self.rows)
            c.pop("distinct", None)
        return self.digest.hexdigest(), profile, self.rows, len(self.dtypes)


def _settle_kinds(path: Path, state: dict[str, Any]) -> None:
    """Read back the columns whose kind an estimate would decide: an integer column named like an
    id whose values may repeat (their ranges overlapped), a text column whose estimated distinct
    count is near a kind threshold. 8 bytes a row, one column at a time."""
    from mlcycle_tui.data import profiling

    for c in state["columns"]:
        if c["values"] is not None or c.get("distinct") is not None:
            continue
        non_null = c["rows"] - c["missing"]
        if c["family"] == "number" and c["integer"] and c["all_distinct"] is None and non_null > 20 \
                and profiling.looks_like_id(c["name"]):
            c["all_distinct"] = _read_distinct(path, c["name"], "number") == c["n"]
        elif c["family"] == "text":
            estimate = profiling.profile_from_state({"format": profiling.STATE_FORMAT, "rows": c["rows"],
                                                     "columns": [dict(c)]}, 0)["columns"][0]["unique"]
            kinds = {profiling.kind_from_facts(c["name"], "text", False, round(estimate * f), non_null, [],
                                               tuple(c["head"])) for f in (0.95, 1.05)}
            if len(kinds) > 1:
                c["distinct"] = _read_distinct(path, c["name"], "text")


def _read_distinct(path: Path, name: str, family: str) -> int:
    """The exact distinct count of one column of the written file (hashes of every value)."""
    import numpy as np
    import pyarrow.parquet as pq

    from mlcycle_tui.data.distinct import value_hashes

    parts = []
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 20, columns=[name]):
        parts.append(np.unique(value_hashes(batch.column(0).to_pandas(), family)))
    return int(np.unique(np.concatenate(parts)).size) if parts else 0


def _sampled_shape(path: Path, name: str, rows: int) -> tuple[float | None, float]:
    """The mean length and numeric share of the rows the in-memory profile samples (every k-th)."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from mlcycle_tui.data import profiling

    step, _count = profiling.text_sample_rows(rows)
    picked, start = [], 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 20, columns=[name]):
        first = (-start) % step
        if first < batch.num_rows:
            picked.append(batch.column(0).take(np.arange(first, batch.num_rows, step)).to_pandas())
        start += batch.num_rows
    sample = pd.concat(picked, ignore_index=True) if picked else pd.Series([], dtype="str")
    return profiling.sample_shape(sample.dropna())

"""Batch scoring: a model over a CSV, Parquet or JSON-lines file, in bounded memory.

Why this exists: not every model is served over HTTP. `mlcycle predict` (and
scheduled scoring) streams the input in chunks, writes predictions (and class
probabilities) beside the input columns, replaces the output file only when
it is complete, records the batch and logs an evenly spread sample of the
inputs so that batch-only models are monitored like served ones.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.common.timeutil import now_iso
from mlcycle_tui.registry.versions import NOT_COMPILED

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.events import Events
    from mlcycle_tui.predictions.log import PredictionLog
    from mlcycle_tui.registry.versions import Registry
    from mlcycle_tui.storage.db import Database

Progress = Callable[[float, str], None]
OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
CHUNK_ROWS = 100_000
LOG_SAMPLE_ROWS = 2_000
COMPILED_MAX_BYTES = 64 * 2**20  # larger inputs: scikit-learn's tree walks outrun the import it costs


def _format_of(path: Path, what: str) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"cannot tell the format of {what} {path} from its extension; use .csv, .parquet or .jsonl")
    return fmt


def iter_chunks(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[pd.DataFrame, float]]:
    """(chunk, fraction of the input read so far) for a CSV, Parquet or JSON-lines file."""
    if _format_of(path, "input") == "jsonl":
        import pandas as pd

        try:
            with pd.read_json(path, lines=True, chunksize=chunk_rows) as reader:
                for chunk in reader:
                    yield chunk, 0.5
        except ValueError as exc:
            raise UserError(f"{path} could not be read as JSON lines ({exc})") from None
        return
    for table, fraction in iter_tables(path, chunk_rows):
        yield table.to_pandas(), fraction


def iter_tables(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[Any, float]]:
    """(Arrow table, fraction read so far) for a CSV or Parquet file; no pandas needed."""
    import pyarrow as pa

    fmt = _format_of(path, "input")
    size = max(path.stat().st_size, 1)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            total = max(pf.metadata.num_rows, 1)
            done = 0
            for batch in pf.iter_batches(batch_size=chunk_rows):
                done += batch.num_rows
                yield pa.Table.from_batches([batch]), done / total
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            from mlcycle_tui.data.readers import csv_options

            read_opts, parse_opts, convert_opts = csv_options(path)
            reader = pacsv.open_csv(path, read_options=read_opts, parse_options=parse_opts,
                                    convert_options=convert_opts)
            pending: list[Any] = []
            rows = 0
            read_bytes = 0
            for batch in reader:
                pending.append(batch)
                rows += batch.num_rows
                read_bytes += batch.nbytes
                if rows >= chunk_rows:
                    yield pa.Table.from_batches(pending), min(0.99, read_bytes / size)
                    pending, rows = [], 0
            if pending:
                yield pa.Table.from_batches(pending), 1.0
        else:
            raise UserError(f"{path}: only CSV and Parquet files are read as Arrow tables")
    except pa.ArrowInvalid as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"{path} could not be read ({first}); check the file") from None


class _Writer:
    """Appends chunks to a temporary file in the output's folder, renamed at the end."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.fmt = _format_of(output, "output")
        output.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.part")
        self._writer: Any = None
        self._fh: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        if self.fmt == "jsonl":
            if self._fh is None:
                self._fh = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
            text = frame.to_json(orient="records", lines=True, date_format="iso")
            self._fh.write(text if text.endswith("\n") else text + "\n")
            return
        # one thread: the columns are mostly zero-copy, and a pool costs more than it saves here
        self.write_table(pa.Table.from_pandas(frame, preserve_index=False, nthreads=1))

    def write_table(self, table: Any) -> None:
        """Append an Arrow table (CSV or Parquet output)."""
        if self._writer is None:
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.tmp, table.schema, compression="lz4")
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self.tmp, table.schema)
        else:
            table = table.cast(self._writer.schema) if hasattr(self._writer, "schema") else table
        self._writer.write_table(table)

    def commit(self) -> None:
        self._close()
        if not self.tmp.exists():
            self.tmp.touch()
        os.replace(self.tmp, self.output)

    def abort(self) -> None:
        self._close()
        self.tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def score_frame(model: Any, task: str, frame: pd.DataFrame, inputs: list[str],
                numeric: list[str] | None = None) -> tuple[pd.DataFrame, Any, Any]:
    """Input columns + `prediction` (+ `proba_<class>`); also (predictions, probabilities).

    `numeric` names the inputs the model reads as numbers (infinity is refused there)."""
    from mlcycle_tui.predictions.predicting import predict_with_proba

    _missing_inputs(inputs, list(frame.columns))
    _refuse_infinity({c: frame[c] for c in numeric or [] if frame[c].dtype.kind == "f"})
    pred, proba = predict_with_proba(task, model, frame[inputs])
    classes = getattr(model, "classes_", None) if proba is not None else None
    out = frame.copy()
    out["prediction"] = pred
    if proba is not None and classes is not None:
        for i, cls in enumerate(classes):
            out[f"proba_{cls}"] = proba[:, i]
    return out, pred, proba


class Batch:
    """Workspace methods for batch scoring (see `Workspace`)."""

    def __init__(self, db: Database, events: Events, registry: Registry, predictions: PredictionLog) -> None:
        self.db = db
        self.events = events
        self.registry = registry
        self.predictions = predictions

    def predict_file(
        self,
        model_ref: str,
        input_path: str | Path,
        output_path: str | Path,
        *,
        chunk_rows: int = CHUNK_ROWS,
        log_rows: int = LOG_SAMPLE_ROWS,
        progress: Progress | None = None,
        compiled: bool = True,
    ) -> dict[str, Any]:
        """Score a file with a model version; returns {"rows","output","model","version",...}.

        A version compiled to NumPy arrays (registry/compiled.py) scores CSV and Parquet files
        of up to `COMPILED_MAX_BYTES` without importing scikit-learn or pandas, with
        bit-identical results; `compiled=False` forces the scikit-learn path.
        """
        src, dst = Path(input_path), Path(output_path)
        if not src.exists():
            raise NotFoundError(f"no such file: {src}; check the path and try again")
        if src.resolve() == dst.resolve():
            raise UserError("--output must differ from --input (the input is read while the output is written)")
        arrow_formats = _format_of(src, "input") != "jsonl" and _format_of(dst, "output") != "jsonl"
        mv = self.registry.model_version(model_ref)
        inputs = [c["name"] for c in mv.signature.get("inputs", [])]
        scorer: _Scorer | None = None
        state: Any = NOT_COMPILED
        if compiled and arrow_formats and src.stat().st_size <= COMPILED_MAX_BYTES:
            from mlcycle_tui.registry.compiled import CompiledModel

            state = self.registry.compiled_model(mv)
            if isinstance(state, CompiledModel) and _ArrowScorer.can_read(src, state, inputs):
                scorer = _ArrowScorer(state, mv.task, inputs)
        if scorer is None:
            _, pipeline = self.registry.load_model(mv)
            numeric = [c["name"] for c in mv.signature.get("inputs", []) if c.get("kind") == "numeric"]
            scorer = _FrameScorer(pipeline, mv.task, inputs, numeric)
        result = self._score_file(mv, src, dst, scorer, chunk_rows, log_rows, progress)
        if state == NOT_COMPILED and isinstance(scorer, _FrameScorer):
            self.registry.compile_model(mv, scorer.pipeline)  # the next run of this version may skip scikit-learn
        return result

    def _score_file(self, mv: Any, src: Path, dst: Path, scorer: _Scorer, chunk_rows: int, log_rows: int,
                    progress: Progress | None) -> dict[str, Any]:
        import numpy as np

        batch_id = uuid.uuid4().hex[:12]
        started, t0 = now_iso(), time.perf_counter()
        self.db.execute(
            "INSERT INTO batches(id, model, version, input, output, status, started) VALUES (?,?,?,?,?,?,?)",
            (batch_id, mv.name, mv.version, str(src.resolve()), str(dst.resolve()), "running", started),
        )
        writer = _Writer(dst)
        rows = logged = 0
        size = max(src.stat().st_size, 1)
        try:
            for chunk, fraction in scorer.chunks(src, chunk_rows):
                n = scorer.rows(chunk)
                pred, proba = scorer.write_scored(chunk, writer)
                if logged < log_rows:
                    # an evenly spread sample, about log_rows over the whole file
                    share = min(1.0, log_rows * max(scorer.nbytes(chunk), 1) / (size * 4))
                    take = min(n, log_rows - logged, max(1, math.ceil(n * share)))
                    picks = np.linspace(0, n - 1, take).round().astype(int)
                    self.predictions.log(scorer.log_rows(
                        mv, chunk, picks, np.asarray(pred)[picks], None if proba is None else np.asarray(proba)[picks],
                        batch_id,
                    ))
                    logged += take
                rows += n
                if progress:
                    progress(fraction, f"{rows:,} rows")
            if rows == 0:  # nothing was scored, so nothing checked the columns: check the header
                _missing_inputs([c["name"] for c in mv.signature.get("inputs", [])], _header_columns(src))
            writer.commit()
        except BaseException as exc:
            writer.abort()
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.db.execute(
                "UPDATE batches SET status = 'failed', error = ?, rows = ?, duration = ? WHERE id = ?",
                (message, rows, time.perf_counter() - t0, batch_id),
            )
            raise
        duration = time.perf_counter() - t0
        self.db.execute(
            "UPDATE batches SET status = 'done', rows = ?, logged_rows = ?, duration = ? WHERE id = ?",
            (rows, logged, duration, batch_id),
        )
        self.events.log("batch", mv.ref, f"scored {rows:,} rows from {src.name} in {duration:.1f}s")
        if progress:
            progress(1.0, f"{rows:,} rows")
        return {"batch_id": batch_id, "rows": rows, "output": str(dst), "model": mv.name, "version": mv.version,
                "logged_rows": logged, "seconds": duration, "engine": scorer.engine}

    def batches(self, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT * FROM batches WHERE (? IS NULL OR model = ?) ORDER BY started DESC LIMIT ?", (model, model, limit)
        )


def _refuse_infinity(columns: dict[str, Any]) -> None:
    """Infinite inputs cannot be imputed or scaled: name the column instead of failing deep inside."""
    import numpy as np

    bad = [name for name, values in columns.items() if np.isinf(np.asarray(values, dtype=float)).any()]
    if bad:
        raise UserError(
            f"the input holds infinite values in {', '.join(bad)}; the model cannot score them. "
            "Replace them (or leave the cells empty to have them imputed) and score again"
        )


def _header_columns(path: Path) -> list[str]:
    """The column names of a file with no rows (an empty JSON-lines file has none)."""
    fmt = _format_of(path, "input")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    if fmt == "csv":
        import pandas as pd

        try:
            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        except pd.errors.EmptyDataError:
            return []
    return []


def _missing_inputs(inputs: list[str], present: list[str]) -> None:
    missing = [c for c in inputs if c not in present]
    if missing:
        raise UserError(
            f"the input lacks columns the model needs: {', '.join(missing)}; "
            f"it needs: {', '.join(inputs)}"
        )


class _Scorer:
    """How one engine reads, scores, writes and samples chunks (see `predict_file`)."""

    engine = ""

    def chunks(self, src: Path, chunk_rows: int) -> Iterator[tuple[Any, float]]:
        raise NotImplementedError

    def rows(self, chunk: Any) -> int:
        return len(chunk)

    def nbytes(self, chunk: Any) -> int:
        raise NotImplementedError

    def write_scored(self, chunk: Any, writer: _Writer) -> tuple[Any, Any]:
        raise NotImplementedError

    def log_rows(self, mv: Any, chunk: Any, picks: Any, pred: Any, proba: Any, batch_id: str) -> list[Any]:
        raise NotImplementedError


class _FrameScorer(_Scorer):
    """scikit-learn on pandas frames: every model and every input format."""

    engine = "scikit-learn"

    def __init__(self, pipeline: Any, task: str, inputs: list[str], numeric: list[str] | None = None) -> None:
        self.pipeline, self.task, self.inputs, self.numeric = pipeline, task, inputs, numeric

    def chunks(self, src: Path, chunk_rows: int) -> Iterator[tuple[Any, float]]:
        return iter_chunks(src, chunk_rows)

    def nbytes(self, chunk: Any) -> int:
        return int(chunk.memory_usage().sum())

    def write_scored(self, chunk: Any, writer: _Writer) -> tuple[Any, Any]:
        out, pred, proba = score_frame(self.pipeline, self.task, chunk, self.inputs, self.numeric)
        writer.write(out)
        return pred, proba

    def log_rows(self, mv: Any, chunk: Any, picks: Any, pred: Any, proba: Any, batch_id: str) -> list[Any]:
        from mlcycle_tui.predictions.log import prediction_rows_from_frame

        return prediction_rows_from_frame(mv.name, mv.version, chunk[self.inputs].iloc[picks], pred, proba,
                                          source="batch", request_id=batch_id)


class _ArrowScorer(_Scorer):
    """A compiled model on Arrow tables: NumPy and pyarrow only (numeric inputs)."""

    engine = "compiled"

    def __init__(self, model: Any, task: str, inputs: list[str]) -> None:
        self.model, self.task, self.inputs = model, task, inputs

    @staticmethod
    def can_read(src: Path, model: Any, inputs: list[str]) -> bool:
        """Whether the file's columns are of types the compiled model reads as the pandas path would:
        numbers, booleans or empty for numeric inputs; timestamps without a zone or dates for date
        inputs; text, numbers or booleans for categories."""
        import pyarrow as pa

        if model.inputs != inputs:
            return False
        try:
            first = next(iter_tables(src, 1), None)
        except UserError:
            return False  # the scikit-learn path reports the problem in its words
        if first is None:
            return False
        schema = first[0].schema
        for name, kind in zip(inputs, model.kinds, strict=True):
            if name not in schema.names:
                return False  # the scikit-learn path names the missing columns
            t = schema.field(name).type
            number = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)
            if kind == "datetime":
                fits = (pa.types.is_timestamp(t) and t.tz is None) or pa.types.is_date32(t) or pa.types.is_null(t)
            elif kind == "categorical":
                fits = number or pa.types.is_string(t) or pa.types.is_large_string(t)
            else:
                fits = number
            if not fits:
                return False
        return True

    def chunks(self, src: Path, chunk_rows: int) -> Iterator[tuple[Any, float]]:
        return iter_tables(src, chunk_rows)

    def rows(self, chunk: Any) -> int:
        return int(chunk.num_rows)

    def nbytes(self, chunk: Any) -> int:
        return int(chunk.nbytes)

    def write_scored(self, chunk: Any, writer: _Writer) -> tuple[Any, Any]:
        _missing_inputs(self.inputs, chunk.schema.names)
        readers = {"numeric": _floats, "datetime": _stamps, "categorical": _objects}
        columns = [readers[kind or "numeric"](chunk.column(name))
                   for name, kind in zip(self.inputs, self.model.kinds, strict=True)]
        _refuse_infinity({name: c for name, c, kind in zip(self.inputs, columns, self.model.kinds, strict=True)
                          if kind in ("numeric", None)})
        pred, proba = self.model.predict(columns)
        out = _as_pandas_would(chunk)
        out = out.append_column("prediction", _arrow(pred))
        if proba is not None:
            for i, cls in enumerate(self.model.classes):
                out = out.append_column(f"proba_{cls}", _arrow(proba[:, i]))
        writer.write_table(out)
        return pred, proba

    def log_rows(self, mv: Any, chunk: Any, picks: Any, pred: Any, proba: Any, batch_id: str) -> list[Any]:
        import numpy as np
        import orjson  # numbers, booleans and None only: NaN and infinities become null
        import pyarrow as pa

        from mlcycle_tui.predictions.log import prediction_rows_from_records

        picked = chunk.select(self.inputs).take(_arrow(picks.astype("int64")))
        for name, kind in zip(self.inputs, self.model.kinds, strict=True):
            if kind == "datetime":  # as the pandas path logs dates: ISO text to the millisecond
                stamps = _stamps(picked.column(name))
                text = [None if gap else str(t)
                        for t, gap in zip(np.datetime_as_string(stamps, unit="ms"), np.isnat(stamps), strict=True)]
                picked = picked.set_column(picked.schema.get_field_index(name), name, pa.array(text, pa.string()))
        records = [orjson.dumps(r).decode() for r in picked.to_pylist()]
        return prediction_rows_from_records(mv.name, mv.version, records, pred, proba,
                                            source="batch", request_id=batch_id)


def _arrow(values: Any) -> Any:
    """A NumPy array as an Arrow array; numbers without `pa.array`, which imports pandas."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    if values.dtype.kind in "iuf" and values.dtype.byteorder in "=|":
        return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])
    if values.dtype.kind == "U":  # text labels: each distinct one encoded once
        distinct, codes = np.unique(values, return_inverse=True)
        encoded = [str(v).encode() for v in distinct]
        offsets = np.cumsum([0, *(len(e) for e in encoded)]).astype(np.int32)
        dictionary = pa.Array.from_buffers(pa.string(), len(encoded),
                                           [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])
        decoded = pa.DictionaryArray.from_arrays(_arrow(codes.astype(np.int32)), dictionary).dictionary_decode()
        return decoded.cast(pa.large_string())  # as pandas' text columns become in Arrow
    return pa.array(values)


def _floats(column: Any) -> Any:
    """A numeric or boolean Arrow column as float64 with NaN for missing values.

    Read from the Arrow buffers: pyarrow's own `to_numpy` imports pandas for columns
    with missing values, which is the import this path exists to avoid.
    """
    import numpy as np
    import pyarrow as pa

    parts = []
    for arr in column.chunks:
        n, kind = len(arr), arr.type
        if pa.types.is_null(kind):
            parts.append(np.full(n, np.nan))
            continue
        validity, data = arr.buffers()[0], arr.buffers()[1]
        if pa.types.is_boolean(kind):
            bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
            values = bits[arr.offset : arr.offset + n].astype(np.float64)
        else:
            dtype = np.dtype(kind.to_pandas_dtype())
            values = np.frombuffer(data, dtype=dtype, count=n, offset=arr.offset * dtype.itemsize)
            values = values.astype(np.float64)  # a copy: the result is written to below
        if validity is not None and arr.null_count:
            valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            values[valid[arr.offset : arr.offset + n] == 0] = np.nan
        parts.append(values)
    return np.concatenate(parts) if parts else np.empty(0)


def _stamps(column: Any) -> Any:
    """A timestamp (no zone), date32 or empty Arrow column as datetime64 with NaT for missing values,
    from the Arrow buffers (as `_floats`, without pandas)."""
    import numpy as np
    import pyarrow as pa

    parts = []
    for arr in column.chunks:
        n, kind = len(arr), arr.type
        if pa.types.is_null(kind):
            parts.append(np.full(n, np.datetime64("NaT", "s")))
            continue
        validity, data = arr.buffers()[0], arr.buffers()[1]
        if pa.types.is_date32(kind):
            values = np.frombuffer(data, dtype=np.int32, count=n, offset=arr.offset * 4).astype("datetime64[D]")
        else:
            ticks = np.frombuffer(data, dtype=np.int64, count=n, offset=arr.offset * 8)
            values = ticks.view(f"datetime64[{kind.unit}]").copy()
        if validity is not None and arr.null_count:
            valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            values[valid[arr.offset : arr.offset + n] == 0] = np.datetime64("NaT")
        parts.append(values)
    return np.concatenate(parts) if parts else np.empty(0, dtype="datetime64[s]")  # (one type: one unit)


def _objects(column: Any) -> Any:
    """A category column's values as Python objects, as pandas gives them to the pipeline: an integer
    column with gaps is read as floats (so 1 and 1.0 are one category either way, and large integers
    round as they do there)."""
    import numpy as np
    import pyarrow as pa

    values = column.to_pylist()
    if pa.types.is_integer(column.type) and column.null_count:
        values = [float("nan") if v is None else float(v) for v in values]
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _as_pandas_would(table: Any) -> Any:
    """The table as the pandas round trip of the scikit-learn path writes it: integer columns
    with missing values become floats, so both engines write the same file."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        if pa.types.is_integer(f.type) and table.column(f.name).null_count:
            fields.append(pa.field(f.name, pa.float64()))
        elif pa.types.is_string(f.type):  # pandas' text columns come back as large strings
            fields.append(pa.field(f.name, pa.large_string()))
        else:
            fields.append(f)
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)

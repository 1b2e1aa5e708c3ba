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

from mlcycle_tui.core.errors import NotFoundError, UserError
from mlcycle_tui.core.timeutil import now_iso

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.storage.db import Database

Progress = Callable[[float, str], None]
OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
CHUNK_ROWS = 100_000
LOG_SAMPLE_ROWS = 2_000


def _format_of(path: Path, what: str) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"cannot tell the format of {what} {path} from its extension; use .csv, .parquet or .jsonl")
    return fmt


def iter_chunks(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[pd.DataFrame, float]]:
    """(chunk, fraction of the input read so far) for a CSV, Parquet or JSON-lines file."""
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
                yield batch.to_pandas(), done / total
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            from mlcycle_tui.core.readers import csv_options

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
                    yield pa.Table.from_batches(pending).to_pandas(), min(0.99, read_bytes / size)
                    pending, rows = [], 0
            if pending:
                yield pa.Table.from_batches(pending).to_pandas(), 1.0
        else:
            import pandas as pd

            with pd.read_json(path, lines=True, chunksize=chunk_rows) as reader:
                for chunk in reader:
                    yield chunk, 0.5
    except pa.ArrowInvalid as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"{path} could not be read ({first}); check the file") from None
    except ValueError as exc:
        raise UserError(f"{path} could not be read as JSON lines ({exc})") from None


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
        table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
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


def score_frame(model: Any, task: str, frame: pd.DataFrame, inputs: list[str]) -> tuple[pd.DataFrame, Any, Any]:
    """Input columns + `prediction` (+ `proba_<class>`); also (predictions, probabilities)."""
    from mlcycle_tui.core.predicting import predict_with_proba

    missing = [c for c in inputs if c not in frame.columns]
    if missing:
        raise UserError(
            f"the input lacks columns the model needs: {', '.join(missing)}; "
            f"it needs: {', '.join(inputs)}"
        )
    pred, proba = predict_with_proba(task, model, frame[inputs])
    classes = getattr(model, "classes_", None) if proba is not None else None
    out = frame.copy()
    out["prediction"] = pred
    if proba is not None and classes is not None:
        for i, cls in enumerate(classes):
            out[f"proba_{cls}"] = proba[:, i]
    return out, pred, proba


class BatchMixin:
    """Workspace methods for batch scoring (see `Workspace`)."""

    db: Database

    def predict_file(
        self,
        model_ref: str,
        input_path: str | Path,
        output_path: str | Path,
        *,
        chunk_rows: int = CHUNK_ROWS,
        log_rows: int = LOG_SAMPLE_ROWS,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Score a file with a model version; returns {"rows","output","model","version",...}."""
        import numpy as np

        from mlcycle_tui.core.predlog import prediction_rows_from_frame

        src, dst = Path(input_path), Path(output_path)
        if not src.exists():
            raise NotFoundError(f"no such file: {src}; check the path and try again")
        if src.resolve() == dst.resolve():
            raise UserError("--output must differ from --input (the input is read while the output is written)")
        _format_of(dst, "output")
        mv, model = self.load_model(model_ref)
        inputs = [c["name"] for c in mv.signature.get("inputs", [])]
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
            for chunk, fraction in iter_chunks(src, chunk_rows):
                out, pred, proba = score_frame(model, mv.task, chunk, inputs)
                writer.write(out)
                if logged < log_rows:
                    # an evenly spread sample, about log_rows over the whole file
                    share = min(1.0, log_rows * max(chunk.memory_usage().sum(), 1) / (size * 4))
                    take = min(len(chunk), log_rows - logged, max(1, math.ceil(len(chunk) * share)))
                    picks = np.linspace(0, len(chunk) - 1, take).round().astype(int)
                    self.log_predictions(prediction_rows_from_frame(
                        mv.name, mv.version, chunk[inputs].iloc[picks], np.asarray(pred)[picks],
                        None if proba is None else np.asarray(proba)[picks], source="batch", request_id=batch_id,
                    ))
                    logged += take
                rows += len(chunk)
                if progress:
                    progress(fraction, f"{rows:,} rows")
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
        self.log_event("batch", mv.ref, f"scored {rows:,} rows from {src.name} in {duration:.1f}s")
        if progress:
            progress(1.0, f"{rows:,} rows")
        return {"batch_id": batch_id, "rows": rows, "output": str(dst), "model": mv.name, "version": mv.version,
                "logged_rows": logged, "seconds": duration}

    def batches(self, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT * FROM batches WHERE (? IS NULL OR model = ?) ORDER BY started DESC LIMIT ?", (model, model, limit)
        )

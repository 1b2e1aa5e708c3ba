"""The prediction log and feedback labels: what was asked, what was answered, what was true.

Why this exists: monitoring and retraining need the inputs a model really saw
in production and, when they arrive, the true labels. The server and batch
scoring write here (in batches, through one writer thread in the server);
drift checks and the retraining worker read windows of it back as frames.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.common.jsonsafe import json_safe

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle_tui.storage.db import Database

_INSERT = (
    "INSERT OR IGNORE INTO predictions(id, model, version, time, latency_ms, source, request_id, inputs_json,"
    " output_json, proba_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def new_prediction_id() -> str:
    return uuid.uuid4().hex


def prediction_row(
    prediction_id: str,
    model: str,
    version: int,
    inputs: Mapping[str, Any],
    output: Any,
    proba: Sequence[float] | None = None,
    *,
    latency_ms: float | None = None,
    source: str = "http",
    request_id: str | None = None,
    at: float | None = None,
) -> tuple[Any, ...]:
    """One row for `log_predictions`, JSON-encoded."""
    return (
        prediction_id,
        model,
        int(version),
        at if at is not None else time.time(),
        latency_ms,
        source,
        request_id,
        json.dumps(json_safe(dict(inputs))),
        json.dumps(json_safe(output)),
        None if proba is None else json.dumps(json_safe(list(proba))),
    )


def prediction_rows_from_frame(
    model: str,
    version: int,
    inputs: pd.DataFrame,
    outputs: Sequence[Any],
    probabilities: Any = None,
    *,
    source: str = "batch",
    request_id: str | None = None,
    at: float | None = None,
) -> list[tuple[Any, ...]]:
    """Rows for `log_predictions` from a frame, JSON-encoded column-wise (fast for thousands)."""
    text = inputs.to_json(orient="records", lines=True, date_format="iso", default_handler=str)
    return prediction_rows_from_records(model, version, text.splitlines(), outputs, probabilities,
                                        source=source, request_id=request_id, at=at)


def prediction_rows_from_records(
    model: str,
    version: int,
    records: Sequence[str],
    outputs: Sequence[Any],
    probabilities: Any = None,
    *,
    source: str = "batch",
    request_id: str | None = None,
    at: float | None = None,
) -> list[tuple[Any, ...]]:
    """Rows for `log_predictions` from inputs already encoded as one JSON object per row."""
    when = at if at is not None else time.time()
    outs = [json.dumps(json_safe(v)) for v in (outputs.tolist() if hasattr(outputs, "tolist") else outputs)]
    probas: list[str | None]
    if probabilities is None:
        probas = [None] * len(records)
    else:
        import numpy as np
        import orjson  # floats only: NaN and infinities become null, as json_safe makes them

        probas = [orjson.dumps(row).decode() for row in np.asarray(probabilities, dtype=float).tolist()]
    return [
        (new_prediction_id(), model, int(version), when, None, source, request_id, rec, out, prob)
        for rec, out, prob in zip(records, outs, probas, strict=True)
    ]


class PredictionLog:
    """Workspace methods for the prediction log and feedback (see `Workspace`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def log(self, rows: Iterable[tuple[Any, ...]]) -> int:
        """Insert rows made by `prediction_row` in one transaction; returns how many."""
        batch = list(rows)
        if not batch:
            return 0
        with self.db.transaction() as conn:
            conn.executemany(_INSERT, batch)
        return len(batch)

    def count(self, model: str | None = None, since: float | None = None) -> int:
        return int(self.db.scalar(
            "SELECT COUNT(*) FROM predictions WHERE (? IS NULL OR model = ?) AND (? IS NULL OR time >= ?)",
            (model, model, since, since),
        ))

    def frame(
        self,
        model: str,
        *,
        since: float | None = None,
        last: int | None = None,
        version: int | None = None,
        with_feedback: bool = False,
    ) -> pd.DataFrame:
        """Logged inputs of a model as a frame, with `_prediction`, `_time`, `_version`, `_id`
        (and `_label` for rows with feedback when `with_feedback`), oldest first."""
        import pandas as pd

        sql = (
            "SELECT p.id, p.version, p.time, p.inputs_json, p.output_json"
            + (", f.label_json" if with_feedback else "")
            + " FROM predictions p"
            + (" JOIN feedback f ON f.prediction_id = p.id" if with_feedback else "")
            + " WHERE p.model = ? AND (? IS NULL OR p.time >= ?) AND (? IS NULL OR p.version = ?)"
            " ORDER BY p.time DESC"
        )
        params: list[Any] = [model, since, since, version, version]
        if last is not None:
            if last < 1:
                raise UserError(f"--last must be at least 1, got {last}")
            sql += " LIMIT ?"
            params.append(int(last))
        rows = self.db.query(sql, params)
        rows.reverse()
        records = []
        for r in rows:
            rec = json.loads(r["inputs_json"])
            rec["_prediction"] = json.loads(r["output_json"])
            rec["_time"] = r["time"]
            rec["_version"] = r["version"]
            rec["_id"] = r["id"]
            if with_feedback:
                rec["_label"] = json.loads(r["label_json"])
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def add_feedback(self, model: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """Store true labels by prediction id; unknown ids (or another model's) are reported."""
        pairs = []
        for item in items:
            if not isinstance(item, Mapping) or "prediction_id" not in item or "label" not in item:
                raise UserError('each feedback item needs "prediction_id" and "label"')
            pairs.append((str(item["prediction_id"]), item["label"]))
        if not pairs:
            raise UserError("no feedback items given")
        ids = [p[0] for p in pairs]
        known: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            known |= {r["id"] for r in self.db.query(
                f"SELECT id FROM predictions WHERE model = ? AND id IN ({marks})", [model, *chunk])}
        now = time.time()
        rows = [(pid, model, json.dumps(json_safe(label)), now) for pid, label in pairs if pid in known]
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO feedback(prediction_id, model, label_json, time) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(prediction_id) DO UPDATE SET label_json = excluded.label_json, time = excluded.time",
                rows,
            )
        return {"accepted": len(rows), "unknown_ids": [pid for pid in ids if pid not in known]}

    def count_feedback(self, model: str | None = None) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM feedback WHERE (? IS NULL OR model = ?)", (model, model)))

    def operational_stats(self, model: str | None = None, since: float | None = None) -> dict[str, Any]:
        """Request count, rate and latency percentiles from the prediction log."""
        import numpy as np

        rows = self.db.query(
            "SELECT time, latency_ms FROM predictions WHERE (? IS NULL OR model = ?) AND (? IS NULL OR time >= ?)",
            (model, model, since, since),
        )
        if not rows:
            return {"predictions": 0, "per_second": 0.0, "p50_ms": None, "p95_ms": None, "p99_ms": None}
        times = np.array([r["time"] for r in rows])
        lat = np.array([r["latency_ms"] for r in rows if r["latency_ms"] is not None], dtype=float)
        span = max(times.max() - times.min(), 1e-9)

        def p(q: float) -> float | None:
            return float(np.percentile(lat, q)) if lat.size else None

        return {
            "predictions": len(rows),
            "per_second": len(rows) / span if len(rows) > 1 else 0.0,
            "p50_ms": p(50),
            "p95_ms": p(95),
            "p99_ms": p(99),
            "first": float(times.min()),
            "last": float(times.max()),
        }

    def traffic(self, models: Sequence[str], since: float, recent: int = 20) -> dict[str, Any]:
        """What the prediction log holds of `models` since `since` (epoch), for the Serve screen.

        Every answered prediction is logged, whichever process served it (this app, `mlcycle serve`,
        the daemon, batch scoring); a request of several rows is one entry. Returns {"requests",
        "predictions", "p50_ms", "p95_ms", "last", "recent": [{"time", "model", "version", "source",
        "rows", "latency_ms"}]} with `recent` newest first. Read-only; one indexed range per model."""
        import numpy as np

        entries: list[dict[str, Any]] = []
        for model in models:
            entries += self.db.query(
                "SELECT model, version, time, source, MAX(latency_ms) AS latency_ms, COUNT(*) AS rows"
                " FROM predictions WHERE model = ? AND time >= ?"
                " GROUP BY model, version, time, source, request_id",
                (model, float(since)),
            )
        entries.sort(key=lambda e: e["time"], reverse=True)
        latency = np.array([e["latency_ms"] for e in entries if e["latency_ms"] is not None], dtype=float)

        def p(q: float) -> float | None:
            return float(np.percentile(latency, q)) if latency.size else None

        return {
            "requests": len(entries),
            "predictions": int(sum(e["rows"] for e in entries)),
            "p50_ms": p(50),
            "p95_ms": p(95),
            "last": float(entries[0]["time"]) if entries else None,
            "recent": entries[:recent],
        }

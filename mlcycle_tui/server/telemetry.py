"""Request counters for Prometheus (`GET /metrics`) and live figures for the TUI's Serve screen.

Why this exists: operators scrape `/metrics`; the Serve screen shows requests
per second, latency percentiles, errors and the latest requests. Both read
the same observations, recorded once per request. Each app has its own
`CollectorRegistry`, so several servers (and tests) in one process never mix
their counters.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RECENT = 2_000


class Telemetry:
    """Prometheus metrics plus a window of recent requests."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("mlcycle_http_requests", "HTTP requests answered",
                                ["endpoint", "method", "status", "model"], registry=self.registry)
        self.errors = Counter("mlcycle_http_errors", "HTTP requests answered with 4xx or 5xx",
                              ["endpoint", "status", "model"], registry=self.registry)
        self.latency = Histogram("mlcycle_http_request_duration_seconds", "Time to answer a request",
                                 ["endpoint", "model"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows = Counter("mlcycle_predictions", "Rows scored", ["model", "version"], registry=self.registry)
        self.swaps = Counter("mlcycle_model_swaps", "Production versions swapped in", ["model"],
                             registry=self.registry)
        self.served = Gauge("mlcycle_served_models", "Models served (with a production alias)",
                            registry=self.registry)
        self.log_pending = Gauge("mlcycle_prediction_log_pending", "Requests waiting to be logged",
                                 registry=self.registry)
        self.started = time.time()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._lock = threading.Lock()
        self._totals = {"requests": 0, "errors_4xx": 0, "errors_5xx": 0, "predictions": 0}

    def observe(self, *, endpoint: str, method: str, path: str, status: int, seconds: float,
                model: str = "", version: int | None = None, rows: int = 0) -> None:
        self.requests.labels(endpoint, method, str(status), model).inc()
        self.latency.labels(endpoint, model).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, str(status), model).inc()
        if rows:
            self.rows.labels(model, str(version)).inc(rows)
        record = {"time": time.time(), "method": method, "path": path, "status": status,
                  "latency_ms": seconds * 1000.0, "model": model or None, "version": version, "rows": rows}
        with self._lock:
            self._recent.append(record)
            self._totals["requests"] += 1
            self._totals["predictions"] += rows
            if 400 <= status < 500:
                self._totals["errors_4xx"] += 1
            elif status >= 500:
                self._totals["errors_5xx"] += 1

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def stats(self, window_s: float = 10.0, recent: int = 20) -> dict[str, Any]:
        """Figures for a dashboard: rate and latency over the last `window_s` seconds."""
        import numpy as np

        now = time.time()
        with self._lock:
            records = list(self._recent)
            totals = dict(self._totals)
        inside = [r for r in records if r["time"] >= now - window_s]
        lat = np.array([r["latency_ms"] for r in inside], dtype=float)
        span = min(window_s, max(now - self.started, 1e-3))

        def pct(q: float) -> float | None:
            return float(np.percentile(lat, q)) if lat.size else None

        return {
            **totals,
            "uptime_s": now - self.started,
            "window_s": window_s,
            "requests_per_s": len(inside) / span,
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "errors_in_window": sum(1 for r in inside if r["status"] >= 400),
            "recent": list(reversed(records[-recent:])),
        }

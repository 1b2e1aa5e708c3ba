"""Adaptive micro-batching: concurrent requests for one model share one predict call.

Why this exists: a scikit-learn pipeline costs about the same for 1 row as for
50 (pandas and joblib overhead dominate small calls), so under concurrency the
server answers more requests per second by scoring them together, as BentoML
and Triton do. It must cost nothing when there is no concurrency.

How (group commit, no timer thread): the first request to arrive while the
model is idle becomes the leader and predicts at once. Requests arriving while
a predict runs queue up; when it ends, the first of them becomes the next
leader and scores everything queued as one frame. When the previous batch held
several requests (so traffic is concurrent), a leader waits up to `window_s`
(2 ms) for as many requests as last time, then goes. Rows are split back to
each request in order, so results are identical to scoring each alone. If a
merged predict fails, each request is scored alone so one bad request cannot
fail the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

PredictFn = Callable[[pd.DataFrame], tuple[list[Any], list[list[float]] | None]]


class _Item:
    __slots__ = ("done", "error", "frame", "lead", "result")

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.done = threading.Event()
        self.lead = False
        self.result: tuple[list[Any], list[list[float]] | None] | None = None
        self.error: BaseException | None = None


class MicroBatcher:
    """Merges concurrent `submit` calls into calls of `predict` (see the module doc)."""

    def __init__(self, predict: PredictFn, *, window_s: float = 0.002, max_rows: int = 4096) -> None:
        self.predict = predict
        self.window_s = window_s
        self.max_rows = max_rows
        self._cond = threading.Condition()
        self._pending: list[_Item] = []
        self._busy = False
        self._last_batch = 1
        self.batches = 0
        self.requests = 0

    def submit(self, frame: pd.DataFrame) -> tuple[list[Any], list[list[float]] | None]:
        item = _Item(frame)
        with self._cond:
            self._pending.append(item)
            if not self._busy:
                self._busy = True
                item.lead = True
            else:
                self._cond.notify_all()  # a waiting leader may be counting arrivals
        if not item.lead:
            item.done.wait()
        if item.lead:
            self._lead()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _lead(self) -> None:
        with self._cond:
            if self._last_batch > 1 and self.window_s > 0:
                deadline = time.monotonic() + self.window_s
                while len(self._pending) < self._last_batch:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            batch, rows = [], 0
            while self._pending and (not batch or rows + len(self._pending[0].frame) <= self.max_rows):
                item = self._pending.pop(0)
                batch.append(item)
                rows += len(item.frame)
            self._last_batch = len(batch)
        try:
            self._run(batch)
        finally:
            with self._cond:
                self.batches += 1
                self.requests += len(batch)
                if self._pending:
                    nxt = self._pending[0]
                    nxt.lead = True
                    nxt.done.set()
                else:
                    self._busy = False
            for item in batch:
                item.lead = False
                item.done.set()

    def _run(self, batch: list[_Item]) -> None:
        if len(batch) == 1:
            self._alone(batch[0])
            return
        try:
            frame = _merged([b.frame for b in batch])
            pred, proba = self.predict(frame)
        except Exception:
            for item in batch:
                self._alone(item)
            return
        start = 0
        for item in batch:
            end = start + len(item.frame)
            item.result = (pred[start:end], None if proba is None else proba[start:end])
            start = end

    def _alone(self, item: _Item) -> None:
        try:
            item.result = self.predict(item.frame)
        except Exception as exc:
            item.error = exc


def _merged(frames: list[Any]) -> Any:
    """One frame of all the requests' rows, in order (light rows stay light when all are)."""
    from mlcycle_tui.server.light import LightRows

    if all(isinstance(f, LightRows) for f in frames):
        return LightRows.concat(frames)
    return pd.concat([f.frame() if isinstance(f, LightRows) else f for f in frames], ignore_index=True)

"""The served models: every `production` version loaded once, swapped in when the alias moves.

Why this exists: a prediction must never wait for a model to load, and a
promotion made anywhere (the TUI, a CLI call, the retraining worker in another
process) must reach the server without a restart. A poller thread reads the
aliases every `poll_interval` seconds; when `production` moves it loads the new
version off the request path (sha256-checked, through `Workspace.load_model`)
and then replaces the whole name->model mapping in one reference assignment.
A request takes its `ServedModel` once, so in-flight requests finish on the old
model and none fails. Versions asked for explicitly (`?version=3`) are loaded
on first use and kept in a small LRU.

A production version that cannot be loaded (its model file missing or failing its
sha256 check) is kept in `problems`: its requests get a 503 that names the file and
what to do, `/health` reports the server degraded, and the poller tries it again
(a restored file is picked up without a restart).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlcycle_tui.common.errors import IntegrityError, MlcycleError, NotFoundError
from mlcycle_tui.predictions.predicting import predict_with_proba, single_threaded
from mlcycle_tui.server.batching import MicroBatcher
from mlcycle_tui.server.errors import ApiError
from mlcycle_tui.server.light import LightRows, light_rows

if TYPE_CHECKING:
    from mlcycle_tui.registry.versions import ModelVersion
    from mlcycle_tui.workspace import Workspace

log = logging.getLogger("mlcycle.server")
PINNED_MAX = 8
# Above this many rows scikit-learn's compiled tree walk beats NumPy's (10,000 rows: ~13 ms against
# ~30 ms), so a large request loads the fitted pipeline (once) and uses it; the answers are the same.
COMPILED_MAX_ROWS = 2_000


@dataclass
class ServedModel:
    """A loaded model version ready to score frames of its signature's columns."""

    mv: ModelVersion
    pipeline: Any  # None until needed when the version is served compiled
    batching: bool = True
    window_s: float = 0.002
    batcher: MicroBatcher | None = field(default=None, repr=False)
    classes: list[Any] | None = None
    compiled: Any = None  # a core.compiled.CompiledModel: NumPy only, same answers
    load_pipeline: Callable[[], Any] | None = field(default=None, repr=False)
    reference: dict[str, Any] | None = field(default=None, repr=False)  # for ?explain=true

    def __post_init__(self) -> None:
        self._pipeline_lock = threading.Lock()
        if self.pipeline is not None:
            single_threaded(self.pipeline)
        if self.batching:
            self.batcher = MicroBatcher(self.predict_frame, window_s=self.window_s)
        if self.compiled is not None and self.compiled.classes is not None:
            self.classes = [c.item() if hasattr(c, "item") else c for c in self.compiled.classes]
        elif self.mv.task == "classification" and hasattr(self.pipeline, "predict_proba"):
            self.classes = [c.item() if hasattr(c, "item") else c for c in getattr(self.pipeline, "classes_", [])]

    def fitted_pipeline(self) -> Any:
        """The scikit-learn pipeline, loaded on first need when the model is served compiled."""
        if self.pipeline is not None:
            return self.pipeline
        with self._pipeline_lock:
            if self.pipeline is None and self.load_pipeline is not None:
                pipeline = self.load_pipeline()
                single_threaded(pipeline)
                self.pipeline = pipeline
            return self.pipeline

    @property
    def name(self) -> str:
        return self.mv.name

    @property
    def version(self) -> int:
        return self.mv.version

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return list(self.mv.signature.get("inputs", []))

    @property
    def numeric(self) -> bool:
        """Whether every input column is numeric (requests of plain numbers take a shortcut)."""
        inputs = self.mv.signature.get("inputs", [])
        return bool(inputs) and all(c.get("kind") == "numeric" for c in inputs)

    def light(self, body: Any) -> LightRows | None:
        """A small body's rows read straight into the compiled form's arrays (server/light.py), or None."""
        if self.compiled is None:
            return None
        return light_rows(body, self.compiled.inputs, self.compiled.kinds)

    def predict_frame(self, frame: pd.DataFrame | LightRows) -> tuple[list[Any], list[list[float]] | None]:
        """Predictions (and class probabilities) as plain lists; no batching."""
        columns = None  # the compiled form's input arrays, when it answers
        if isinstance(frame, LightRows):
            if self.compiled is None:
                frame = frame.frame()
            else:
                columns = frame.arrays
        elif self.compiled is not None and len(frame) <= COMPILED_MAX_ROWS:
            columns = self.compiled.columns_of(frame)
        if columns is not None:
            pred, proba = self.compiled.predict(columns)
        else:
            pred, proba = predict_with_proba(self.mv.task, self.fitted_pipeline(), frame)
        return pred.tolist(), (None if proba is None or self.classes is None else proba.tolist())

    def predict(self, frame: pd.DataFrame) -> tuple[list[Any], list[list[float]] | None]:
        if self.batcher is not None:
            return self.batcher.submit(frame)
        return self.predict_frame(frame)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.mv.aliases),
            "task": self.mv.task,
            "kind": self.mv.kind,
            "signature": {"inputs": self.inputs},
            "classes": self.classes,
        }


def load_problem(mv: ModelVersion, exc: BaseException, what: str = "model file",
                 serving: int | None = None, kind: str = "unloadable", headline: str = "cannot be served",
                 still: str | None = None) -> dict[str, Any]:
    """What went wrong loading `mv`, for a 503 answer and `/health`: which file, and what to do.

    `kind` is "unloadable" (the version is not served), "compiled" (its compiled form is
    damaged: the fitted pipeline serves instead) or "pipeline" (served compiled, but the
    fitted pipeline that large requests need is damaged)."""
    file = getattr(exc, "artifact", None)
    reason = getattr(exc, "reason", None) if isinstance(exc, IntegrityError) else None
    shown = f"artifacts/{file}" if file else what
    if reason == "missing":
        damage = f"the {what} {shown} is missing"
    elif reason == "checksum" or isinstance(exc, IntegrityError):
        damage = f"the {what} {shown} failed its checksum (it was changed or damaged outside mlcycle)"
        reason = "checksum"
    else:
        text = exc.message if isinstance(exc, MlcycleError) else f"{type(exc).__name__}: {exc}"
        damage, reason = f"it could not be loaded ({text})", "error"
    if still is None:
        still = f"; still serving version {serving}" if serving is not None else ""
    message = (
        f"model {mv.name!r} version {mv.version} (production) {headline}: {damage}{still}. "
        "Run `mlcycle doctor` to list damaged files, then restore the file from a backup, roll back "
        f"(`mlcycle models rollback {mv.name}`), or train its run again (`mlcycle runs reproduce "
        f"{mv.run_id[:12]}`) and register and promote the new run"
    )
    return {"model": mv.name, "version": mv.version, "problem": reason, "file": shown if file else None,
            "serving": serving, "kind": kind, "message": message}


def unavailable(problem: dict[str, Any]) -> ApiError:
    """The 503 answer for a model whose production version cannot be loaded."""
    return ApiError(503, problem["message"], code="model_unavailable", model=problem["model"],
                    version=problem["version"], problem=problem["problem"], file=problem["file"])


class ModelCache:
    """Production models by name (hot-swapped) plus explicitly pinned versions."""

    def __init__(self, ws: Workspace, *, batching: bool = True, window_s: float = 0.002,
                 on_swap: Callable[[str, int | None, int | None], None] | None = None,
                 compiled: bool = True) -> None:
        self.ws = ws
        self.compiled = compiled
        self.batching = batching
        self.window_s = window_s
        self.on_swap = on_swap
        self._served: dict[str, ServedModel] = {}
        self._pinned: OrderedDict[tuple[str, int], ServedModel] = OrderedDict()
        self._pin_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        # name -> load_problem() of a production version that could not be loaded (or loaded
        # only in part); replaced as a whole, like `_served`
        self._problems: dict[str, dict[str, Any]] = {}

    # -- reading -------------------------------------------------------------
    def served(self) -> list[ServedModel]:
        return sorted(self._served.values(), key=lambda m: m.name)

    def problems(self) -> list[dict[str, Any]]:
        """Production versions that cannot be served as they should (for `/health`)."""
        return [self._problems[name] for name in sorted(self._problems)]

    def production(self, name: str) -> ServedModel:
        served = self._served.get(name)
        if served is None:
            problem = self._problems.get(name)
            if problem is not None:
                raise unavailable(problem)
            names = ", ".join(sorted(self._served)) or "none"
            raise NotFoundError(f"model {name!r} is not served (it has no production version); served: {names}")
        return served

    def get(self, name: str, version: int | str | None = None) -> ServedModel:
        """The production model of `name`, or version/alias `version` of it."""
        if version is None:
            return self.production(name)
        current = self._served.get(name)
        if current is not None and (str(version) == str(current.version) or str(version) in current.mv.aliases):
            return current
        mv = self.ws.registry.model_version(f"{name}@{version}")  # NotFoundError -> 404
        key = (mv.name, mv.version)
        with self._pin_lock:
            hit = self._pinned.get(key)
            if hit is not None:
                self._pinned.move_to_end(key)
                return hit
        try:
            loaded = self._load(mv)
        except Exception as exc:
            problem = load_problem(mv, exc)
            problem["message"] = problem["message"].replace(" (production)", "", 1)  # asked for by number
            raise unavailable(problem) from None
        with self._pin_lock:
            self._pinned[key] = loaded
            while len(self._pinned) > PINNED_MAX:
                self._pinned.popitem(last=False)
        return loaded

    def _load(self, mv: ModelVersion, notes: dict[str, dict[str, Any]] | None = None) -> ServedModel:
        """The version ready to serve; a damaged compiled form falls back to the fitted pipeline
        (noted in `notes` by name when given)."""
        if self.compiled:
            from mlcycle_tui.registry.compiled import CompiledModel
            from mlcycle_tui.registry.versions import NOT_COMPILED

            try:
                fast = self.ws.registry.compiled_model(mv)
            except IntegrityError as exc:
                fast = None
                note = load_problem(mv, exc, what="compiled model file", serving=mv.version, kind="compiled",
                                    headline="is served without its compiled form (slower)", still="")
                log.warning(note["message"])
                if notes is not None:
                    notes[mv.name] = note
            if fast == NOT_COMPILED:  # registered before this form (or by an older mlcycle): compiled once, now
                mv, pipeline = self.ws.registry.load_model(mv)
                if not self.ws.registry.compile_model(mv, pipeline):
                    return self._with_pipeline(mv, pipeline)
                fast = self.ws.registry.compiled_model(mv)
            if isinstance(fast, CompiledModel) and fast.inputs == [c["name"] for c in mv.signature.get("inputs", [])]:
                return ServedModel(mv, None, batching=self.batching, window_s=self.window_s, compiled=fast,
                                   load_pipeline=lambda: self._load_pipeline(mv))
        mv, pipeline = self.ws.registry.load_model(mv)
        return self._with_pipeline(mv, pipeline) if self.compiled else \
            ServedModel(mv, pipeline, batching=self.batching, window_s=self.window_s)

    def _with_pipeline(self, mv: ModelVersion, pipeline: Any) -> ServedModel:
        """A version without a compiled form: its preprocessing compiled here when it can be (k-NN:
        the fitted estimator then answers on the compiled features), else the pipeline alone."""
        from mlcycle_tui.registry.compiled import with_estimator

        single_threaded(pipeline)
        inputs = [c["name"] for c in mv.signature.get("inputs", [])]
        try:
            front = with_estimator(pipeline, mv.task, inputs)
        except Exception:  # an optimisation: the pipeline answers as it always has
            log.warning("could not compile the preprocessing of %s", mv.ref, exc_info=True)
            front = None
        return ServedModel(mv, pipeline, batching=self.batching, window_s=self.window_s, compiled=front)

    def _load_pipeline(self, mv: ModelVersion) -> Any:
        """The fitted pipeline of a version served compiled, loaded for a large request."""
        try:
            pipeline = self.ws.registry.load_model(mv)[1]
        except MlcycleError as exc:
            problem = load_problem(mv, exc, serving=mv.version, kind="pipeline",
                                   headline=f"cannot score more than {COMPILED_MAX_ROWS:,} rows at once",
                                   still="; smaller requests are still answered by its compiled form")
            served = self._served.get(mv.name)
            if served is not None and served.version == mv.version:
                if self._problems.get(mv.name, {}).get("message") != problem["message"]:
                    log.error(problem["message"])
                self._problems = {**self._problems, mv.name: problem}
            raise unavailable(problem) from None
        if self._problems.get(mv.name, {}).get("kind") == "pipeline":
            self._problems = {k: v for k, v in self._problems.items() if k != mv.name}
        return pipeline

    def _recheck(self, have: ServedModel, mv: ModelVersion, problem: dict[str, Any],
                 problems: dict[str, dict[str, Any]]) -> ServedModel:
        """A served version that is damaged in part, tried again: a restored file is picked up."""
        if problem["kind"] == "pipeline":
            try:
                have.fitted_pipeline()
            except ApiError:
                problems[mv.name] = self._problems.get(mv.name, problem)
            return have
        try:
            self.ws.registry.compiled_model(mv)  # the compiled form: restored yet?
            fresh = self._load(mv, problems)
        except Exception:
            problems[mv.name] = problem
            return have
        return fresh

    # -- swapping ------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Load what `production` points at now; swap changed models in. Returns changed names."""
        with self._refresh_lock:
            wanted = {mv.name: mv for mv in self.ws.registry.production_models()}
            current = self._served
            before = self._problems
            problems: dict[str, dict[str, Any]] = {}
            new: dict[str, ServedModel] = {}
            changed: list[str] = []
            for name, mv in wanted.items():
                have = current.get(name)
                if have is not None and have.version == mv.version:
                    carried = before.get(name)
                    if carried is not None and carried["version"] == mv.version:
                        new[name] = self._recheck(have, mv, carried, problems)
                    else:
                        new[name] = have
                    continue
                try:
                    new[name] = self._load(mv, problems)
                except Exception as exc:  # e.g. a model file missing or failing its sha256 check
                    problem = load_problem(mv, exc, serving=have.version if have is not None else None)
                    problems[name] = problem
                    old = before.get(name)
                    if old is None or old["message"] != problem["message"]:  # once, not every poll
                        log.error(problem["message"])
                    self.last_error = problem["message"]
                    if have is not None:
                        new[name] = have
                    continue
                changed.append(name)
            changed += [name for name in current if name not in wanted]
            self._served = new  # one reference assignment: the swap
            self._problems = problems
        for name in changed:
            old = current.get(name)
            fresh = new.get(name)
            log.info("model %s: v%s -> v%s", name, old.version if old else "-", fresh.version if fresh else "-")
            if self.on_swap is not None:
                self.on_swap(name, old.version if old else None, fresh.version if fresh else None)
        return changed

    def start_polling(self, interval: float) -> None:
        if interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll, args=(interval,), name="mlcycle-model-poller",
                                        daemon=True)
        self._thread.start()

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception as exc:  # a locked or briefly unreadable database: try again next time
                self.last_error = f"model refresh failed: {exc}"
                log.warning(self.last_error)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

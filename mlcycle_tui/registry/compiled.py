"""A fitted pipeline as plain NumPy arrays, so that scoring needs no scikit-learn.

Why this exists: an online answer should cost what its arithmetic costs, and a
server or a `mlcycle predict` in a script should not spend a second importing
scikit-learn before its first row. The pipelines mlcycle builds (the catalog's
preprocessing, experiments/preprocess.py, ending in a catalog estimator) are a
short fixed recipe, so this module stores a fitted one as a `.npz` file: the
preprocessing as registry/compiled_prep.Preprocessing (numbers, categories,
dates), the estimator as one of registry/compiled_estimators' families (forests
and extra trees, histogram gradient boosting, logistic and ridge regression, the
dummy baselines). k-NN, estimators by import path and pipelines of any other
shape return None, and callers use scikit-learn as before.

Exactness is checked, not assumed: `compile_pipeline` scores probe rows both ways
(numbers with gaps, known, unknown and missing categories, dates with gaps), as
one batch, as 7 rows and as one row, and gives up unless the features, labels and
probabilities are identical to the bit.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from mlcycle_tui.registry.compiled_estimators import FAMILIES, ForestArrays, Unsupported, compile_estimator, need
from mlcycle_tui.registry.compiled_prep import Preprocessing, compile_preprocessing

FORMAT = 2  # 1: numeric forests only
_PROBE_ROWS = 1100  # above ALL_TREES_ROWS (1,024): both ways of walking trees are checked
__all__ = ["FORMAT", "CompiledModel", "ForestArrays", "compile_pipeline", "load", "with_estimator"]


class CompiledModel:
    """Scores columns of a model's inputs the way the original pipeline does.

    Columns come in `inputs` order, as the server's checks leave them: float64 for
    numeric inputs, datetime64 for dates, raw values (an object array) for categories."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        meta = json.loads(bytes(arrays["meta"]).decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"compiled model format {meta.get('format')!r} is not {FORMAT}")
        self.task: str = meta["task"]
        self.inputs: list[str] = meta["inputs"]
        self.family: str = meta["family"]
        self.prep = Preprocessing(meta["groups"], {k: v for k, v in arrays.items() if k.startswith("g")})
        self.kinds = self.prep.kinds(len(self.inputs))
        self.classes = arrays["classes"] if self.task == "classification" else None
        self.estimator = FAMILIES[self.family]({k[2:]: v for k, v in arrays.items() if k.startswith("e.")},
                                               self.classes)

    @property
    def numeric_only(self) -> bool:
        """Whether every input is a number (files of numbers are scored straight from Arrow)."""
        return all(k in ("numeric", None) for k in self.kinds)

    @property
    def forest(self) -> ForestArrays | None:
        return self.estimator.trees if self.family == "forest" else None

    # -- scoring ---------------------------------------------------------
    def features(self, columns: list[np.ndarray]) -> np.ndarray:
        """The preprocessed matrix, as the pipeline's ColumnTransformer makes it."""
        return self.prep.features(columns)

    def predict(self, columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, class probabilities or None), as the pipeline's predict/predict_proba."""
        return self.estimator.predict(self.features(columns))

    def columns_of(self, frame: Any) -> list[np.ndarray] | None:
        """The inputs of a checked frame (server/inputs.conform) as this model reads them; None when
        a column is not of its kind's type (the fitted pipeline then decides, as it always has)."""
        columns = []
        for name, kind in zip(self.inputs, self.kinds, strict=True):
            col = frame[name]
            dtype = col.dtype
            if kind == "numeric":
                if not (isinstance(dtype, np.dtype) and dtype.kind in "fiub"):
                    return None
                columns.append(col.to_numpy(dtype=np.float64))
            elif kind == "datetime":
                if not (isinstance(dtype, np.dtype) and dtype.kind == "M"):
                    return None
                columns.append(col.to_numpy())
            else:
                columns.append(col.astype(object).to_numpy())
        return columns


def load(data: bytes) -> CompiledModel:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return CompiledModel({k: npz[k] for k in npz.files})


def compile_pipeline(pipeline: Any, task: str, inputs: list[str]) -> bytes | None:
    """The `.npz` bytes of a compiled pipeline, or None when it is not one this module can score
    exactly (see the module docstring)."""
    try:
        arrays = _arrays(pipeline, task, inputs)
    except Unsupported:
        return None
    compiled = CompiledModel(arrays)
    if not _agrees(pipeline, compiled, inputs):
        return None
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def with_estimator(pipeline: Any, task: str, inputs: list[str]) -> CompiledModel | None:
    """The pipeline's preprocessing compiled, its fitted estimator used as it is: for a server to answer
    a kind whose estimator is not compiled (k-NN) without pandas and scikit-learn's per-call checks
    around it. Checked on probe rows as `compile_pipeline` is; None when the preprocessing is not one
    this module compiles. Never saved: it needs the fitted pipeline loaded."""
    try:
        arrays = _arrays(pipeline, task, inputs, estimator=False)
    except Unsupported:
        return None
    compiled = CompiledModel(arrays)
    compiled.estimator.model = pipeline.steps[-1][1]
    return compiled if _agrees(pipeline, compiled, inputs) else None


def _arrays(pipeline: Any, task: str, inputs: list[str], estimator: bool = True) -> dict[str, np.ndarray]:
    from sklearn.pipeline import Pipeline

    need(isinstance(pipeline, Pipeline) and len(pipeline.steps) == 2)
    prep, model = pipeline.steps[0][1], pipeline.steps[1][1]
    groups, prep_arrays = compile_preprocessing(prep, inputs)
    width = sum(g["width"] for g in groups)
    need(getattr(model, "n_features_in_", width) == width)
    family, est_arrays = compile_estimator(model, task, width) if estimator else ("fitted", {})
    classes = np.asarray(getattr(model, "classes_", []))
    if classes.dtype == object and all(isinstance(c, str) for c in classes):
        classes = classes.astype(str)  # text labels: saved without pickle, written back as text
    if task == "classification":
        need(classes.dtype.kind in "biufU")
    meta = {"format": FORMAT, "task": task, "inputs": list(inputs), "family": family, "groups": groups}
    return {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), "classes": classes,
            **prep_arrays, **{f"e.{k}": v for k, v in est_arrays.items()}}


def probe_columns(compiled: CompiledModel, n: int, seed: int = 0) -> list[np.ndarray]:
    """Rows spread around the training data, per input kind: numbers with gaps; known, unknown and
    missing categories written several ways; dates from 1950 to 2050 (seconds and microseconds) with
    gaps."""
    rng = np.random.default_rng(seed)
    columns: list[np.ndarray | None] = [None] * len(compiled.inputs)
    for g, a in zip(compiled.prep.groups, compiled.prep.group_arrays, strict=True):
        for k, j in enumerate(g["columns"]):
            if g["kind"] == "numeric":
                x = a["statistics"][k] + a["scale"][k] * rng.normal(0.0, 1.5, n)
                x[rng.random(n) < 0.1] = np.nan
                columns[j] = x
            elif g["kind"] == "datetime":
                seconds = rng.integers(-20 * 365 * 86400, 80 * 365 * 86400, n)
                micros = seconds * 1_000_000 + rng.integers(0, 1_000_000, n) * (rng.random(n) < 0.3)
                stamps = micros.astype("datetime64[us]")
                stamps[rng.random(n) < 0.1] = np.datetime64("NaT")
                columns[j] = stamps
            else:
                known = g["encode"][k]["categories"]
                odd = ["zz-never-seen", "", None, float("nan"), " " + known[0] + " ", 1, 2.0, True, "NULL", "yes"]
                pick = rng.integers(0, len(known) + len(odd), n)
                values = np.empty(n, dtype=object)
                values[:] = [known[p] if p < len(known) else odd[p - len(known)] for p in pick]
                columns[j] = values
    return [c if c is not None else np.zeros(n) for c in columns]


def _agrees(pipeline: Any, compiled: CompiledModel, inputs: list[str]) -> bool:
    """Whether both give bit-identical features and answers on probe rows, in batches of 1,100, 7 and 1."""
    import pandas as pd

    from mlcycle_tui.predictions.predicting import predict_with_proba

    columns = probe_columns(compiled, _PROBE_ROWS)
    prep = pipeline[:-1]
    for rows in (slice(None), slice(0, 7), slice(7, 8)):
        part = [c[rows] for c in columns]
        frame = pd.DataFrame(dict(zip(inputs, part, strict=True)))
        try:
            expected = prep.transform(frame)
            pred, proba = predict_with_proba(compiled.task, pipeline, frame)
        except (ValueError, TypeError):  # probe values this pipeline refuses: not compiled, to be safe
            return False
        if not np.array_equal(np.asarray(expected, dtype=np.float64), compiled.features(part)):
            return False
        mine, my_proba = compiled.predict(part)
        if not np.array_equal(np.asarray(pred), mine):
            return False
        if (proba is None) != (my_proba is None) or (proba is not None and not np.array_equal(proba, my_proba)):
            return False
    return True

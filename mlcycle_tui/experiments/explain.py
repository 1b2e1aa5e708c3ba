"""Why a model decides: permutation importance of each input column and partial dependence of the top ones.

Why this exists: a run's metrics say how well a model does, not what it relies
on. Every training run measures, on its test split, how much the primary
metric drops when one input column is shuffled (scikit-learn's
`permutation_importance`, on the whole pipeline, so the importances are per
column the user gave, not per one-hot feature), and how the prediction moves
along the values of the top columns (`partial_dependence`). The run stores
both as `importances.json` and `explanation.json`; the drift check ranks
drifted columns by them, the reports and the Experiments screen show them.

The cost is bounded: at most MAX_ROWS test rows and N_REPEATS shuffles, the
partial dependence of the TOP_PDP most important columns over GRID values on
at most PDP_ROWS rows.
"""

from __future__ import annotations

from typing import Any

from mlcycle_tui.common.jsonsafe import json_safe

MAX_ROWS = 1000
N_REPEATS = 3
TOP_PDP = 3
GRID = 10
PDP_ROWS = 300
IMPORTANCES_ARTIFACT = "importances.json"
EXPLANATION_ARTIFACT = "explanation.json"


def importances(task: str, model: Any, X: Any, y: Any, scorer: Any, seed: int = 0) -> list[dict[str, Any]]:
    """[{"feature", "importance", "std"}] per input column, most important first.

    `importance` is the mean drop of the scorer's value (the run's primary metric,
    greater is better) when the column is shuffled; near 0 or below: the model does
    not rely on it.
    """
    from sklearn.inspection import permutation_importance

    if len(X) == 0:
        return []
    if len(X) > MAX_ROWS:
        X = X.sample(MAX_ROWS, random_state=seed)
        y = y.loc[X.index]
    result = permutation_importance(model, X, y, scoring=scorer, n_repeats=N_REPEATS, random_state=seed, n_jobs=1)
    rows = [{"feature": str(col), "importance": float(result.importances_mean[i]),
             "std": float(result.importances_std[i])} for i, col in enumerate(X.columns)]
    rows.sort(key=lambda r: -r["importance"] if r["importance"] == r["importance"] else 0.0)
    return json_safe(rows)


def _grid(values: Any) -> tuple[str, list[Any]]:
    import numpy as np
    import pandas as pd

    present = values.dropna()
    if pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present):
        if present.nunique() <= GRID:
            return "numeric", sorted(present.unique().tolist())
        return "numeric", np.unique(np.quantile(present.to_numpy(dtype=float), np.linspace(0.05, 0.95, GRID))).tolist()
    counts = present.astype(str).value_counts()
    return "categorical", counts.index[:GRID].tolist()


def partial_dependence(task: str, model: Any, X: Any, features: list[str], positive: Any = None,
                       seed: int = 0) -> dict[str, dict[str, Any]]:
    """{feature: {"kind", "values", "average"}}: the mean prediction (regression), the mean probability of the
    positive class (binary) or of each class (multiclass, {"class": [...]}) with the feature set to each value.

    Computed by setting the column for every row of a sample (the "brute" method), so it
    works on the whole pipeline with any column type. Dates and text are left out."""
    import numpy as np
    import pandas as pd

    sample = X.sample(min(len(X), PDP_ROWS), random_state=seed) if len(X) > PDP_ROWS else X
    out: dict[str, dict[str, Any]] = {}
    classes = list(getattr(model, "classes_", [])) if task == "classification" else []
    if task == "classification" and not hasattr(model, "predict_proba"):
        return out
    for feature in features:
        if feature not in sample.columns or pd.api.types.is_datetime64_any_dtype(sample[feature]):
            continue
        kind, values = _grid(sample[feature])
        if not values:
            continue
        averages: list[Any] = []
        for value in values:
            probe = sample.copy()
            probe[feature] = value
            try:
                if task == "classification":
                    averages.append(np.asarray(model.predict_proba(probe), dtype=float).mean(axis=0))
                else:
                    averages.append(float(np.asarray(model.predict(probe), dtype=float).mean()))
            except (ValueError, TypeError):
                averages = []
                break
        if not averages:
            continue
        entry: dict[str, Any] = {"kind": kind, "values": values}
        if task == "classification":
            matrix = np.vstack(averages)
            if len(classes) == 2:
                pos = next((i for i, c in enumerate(classes) if str(c) == str(positive)), 1)
                entry.update(average=matrix[:, pos].tolist(), of=f"P({classes[pos]})")
            else:
                entry.update(average={str(c): matrix[:, i].tolist() for i, c in enumerate(classes)},
                             of="P(class)")
        else:
            entry.update(average=averages, of="prediction")
        out[feature] = entry
    return json_safe(out)


def explain(task: str, model: Any, X: Any, y: Any, scorer: Any, positive: Any = None, seed: int = 0,
            metric: str | None = None, columns: list[str] | None = None) -> dict[str, Any]:
    """{"metric", "rows", "importances", "partial_dependence"} of a fitted pipeline on labelled rows;
    `columns`: the inputs the pipeline reads (its signature), the only ones worth shuffling."""
    if columns is not None:
        X = X[[c for c in columns if c in X.columns]]
    with _one_job(model):
        ranked = importances(task, model, X, y, scorer, seed)
        top = [r["feature"] for r in ranked[:TOP_PDP] if r["importance"] and r["importance"] > 0]
        pdp = partial_dependence(task, model, X, top, positive, seed)
    return {"metric": metric, "rows": int(min(len(X), MAX_ROWS)), "importances": ranked, "partial_dependence": pdp}


class _one_job:
    """Score with `n_jobs=1` meanwhile: dozens of predictions on at most 1,000 rows each, where a forest's
    threads cost more than they save (200 trees on 69 rows: 70 ms a call with threads, a few without)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        get = getattr(self.model, "get_params", None)
        params = get(deep=True) if callable(get) else {}
        self.saved = {k: v for k, v in params.items() if k.endswith("n_jobs") and v not in (None, 1)}
        if self.saved:
            self.model.set_params(**dict.fromkeys(self.saved, 1))

    def __exit__(self, *exc: Any) -> None:
        if self.saved:
            self.model.set_params(**self.saved)


MAX_EXPLAINED_ROWS = 100


def reference_values(profile_columns: list[dict[str, Any]], inputs: list[str]) -> dict[str, Any]:
    """A typical value per input column from the training data's profile: the median of numbers, the most
    frequent category or flag; dates and text are left out (their contribution is not measured)."""
    by_name = {c["name"]: c for c in profile_columns}
    out: dict[str, Any] = {}
    for name in inputs:
        col = by_name.get(name, {})
        if col.get("kind") == "numeric" and col.get("quantiles"):
            out[name] = col["quantiles"].get("p50", col.get("mean"))
        elif col.get("top"):
            out[name] = col["top"][0]["value"]
    return out


def contributions(task: str, model: Any, X: Any, reference: dict[str, Any], classes: list[Any] | None = None,
                  positive: Any = None) -> dict[str, Any]:
    """Per-row contributions of each input column: exact for tree ensembles and linear models
    (experiments/shapley.py: method "tree_shap" or "linear", with a "base" per row that the
    contributions add up to the output from), approximated by occlusion for the rest."""
    from mlcycle_tui.experiments import shapley

    note = None
    if len(X):
        try:
            exact = shapley.exact_contributions(task, model, X, reference, classes, positive)
        except shapley.TooCostly as cost:
            exact = None
            note = (f"exact contributions (TreeSHAP) for these {len(X)} rows would take {cost}, so these are "
                    f"occlusion estimates; send at most {cost.rows} rows at a time for exact ones")
        except (ValueError, TypeError, IndexError, AttributeError):  # a structure it does not know: estimate
            exact = None
        if exact is not None:
            return json_safe(exact)
    out = occlusion(task, model, X, reference, classes, positive)
    if note:
        out["note"] = note
    return out


def with_reference(X: Any, reference: dict[str, Any], columns: list[str]) -> Any:
    """A copy of the rows with `columns` set to their typical training value (kept in each column's dtype)."""
    import pandas as pd

    out = X.copy()
    for col in columns:
        out[col] = pd.Series([reference[col]] * len(X), index=X.index).astype(X[col].dtype, errors="ignore")
    return out


def occlusion(task: str, model: Any, X: Any, reference: dict[str, Any], classes: list[Any] | None = None,
              positive: Any = None) -> dict[str, Any]:
    """Per-row contributions of each input column, approximated by occlusion.

    For each row and column: the model's output minus its output with that column set to
    its typical training value (`reference_values`). The output is the prediction for
    regression, the probability of the positive class for a binary classifier, and of the
    predicted class otherwise. Not additive (columns interact); it says which inputs moved
    this answer away from a typical one, and by how much. All occluded copies are scored
    in one call. Returns {"method", "of", "rows": [{column: delta}], "reference"}.
    """
    import numpy as np
    import pandas as pd

    columns = [c for c in X.columns if c in reference]
    n = len(X)
    if n == 0 or not columns:
        return {"method": "occlusion", "of": None, "rows": [{} for _ in range(n)], "reference": reference}
    copies = [with_reference(X, reference, [col]) for col in columns]
    stacked = pd.concat([X, *copies], ignore_index=True)
    if task == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(stacked), dtype=float)
        labels = [str(c) for c in (classes if classes is not None else getattr(model, "classes_", []))]
        base = proba[:n]
        if len(labels) == 2:
            pos = labels.index(str(positive)) if str(positive) in labels else 1
            index = np.full(n, pos)
            of = f"P({labels[pos]})"
        else:
            index = base.argmax(axis=1)
            of = "P(predicted class)"
        outputs = proba[np.arange(len(stacked)), np.tile(index, len(columns) + 1)]
    else:
        outputs = np.asarray(model.predict(stacked), dtype=float)
        of = "prediction"
    base_out = outputs[:n]
    deltas = {col: base_out - outputs[n * (i + 1): n * (i + 2)] for i, col in enumerate(columns)}
    rows = [{col: float(deltas[col][r]) for col in columns} for r in range(n)]
    return json_safe({"method": "occlusion", "of": of, "rows": rows, "reference": reference})


METHOD_WORDS = {"tree_shap": "exact (TreeSHAP)", "linear": "exact (linear model)", "occlusion": "occlusion estimates"}


def contribution_lines(doc: dict[str, Any], top: int = 5) -> list[str]:
    """Readable lines for `Evaluation.explain_rows`'s answer: per row, the answer and the `top` columns that
    moved it most (the CLI's `mlcycle explain` and the Models screen print the same)."""
    method = doc.get("method", "occlusion")
    lines = [f"{doc['model']}@{doc['version']}: {METHOD_WORDS.get(method, method)} contributions to "
             f"{doc.get('of') or 'the answer'}"]
    if doc.get("note"):
        lines.append(doc["note"])
    bases = doc.get("base")
    for i, row in enumerate(doc.get("rows", [])):
        ranked = sorted(row.items(), key=lambda kv: -abs(kv[1]))
        shown = ", ".join(f"{col} {value:+.3g}" for col, value in ranked[:top] if value != 0) or "none measured"
        more = len([v for _, v in ranked[top:] if v != 0])
        head = f"row {i + 1} -> {doc['predictions'][i]}"
        if bases is not None:
            head += f": {doc.get('of') or 'output'} {bases[i] + sum(row.values()):.3g} from base {bases[i]:.3g}"
        lines.append(f"{head}; {shown}" + (f" (+{more} smaller)" if more else ""))
    return lines

"""The model catalog: which estimators `mlcycle train --model KIND` accepts.

Every kind is declared once, as plain data: the scikit-learn class, sensible
defaults, the typed parameters a user may set with `--param k=v`, and the
search space for grid and random search. Front doors list it
(`mlcycle models catalog`), the trainer builds estimators from it, and the
parameter parser turns command-line strings into the declared types with a
message that says what was expected.

Importing this module is cheap: scikit-learn and scipy are imported only when
an estimator or a search distribution is actually built, so `mlcycle --help`
stays fast.

`random_state` is never a user parameter: it is set from the run seed on
every estimator that has one (`seeded` in the catalog), so a run is
reproducible from its recorded seed.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.experiments import external

TASKS = ("classification", "regression")

# A distribution for random search, as data: ("loguniform", low, high),
# ("uniform", low, high) (scipy's loc/scale is built from low/high),
# ("randint", low, high_exclusive) or ("choice", [values...]).
Distribution = tuple[Any, ...]

_NONE_WORDS = {"none", "null", ""}
_TRUE_WORDS = {"true", "1", "yes", "y", "on"}
_FALSE_WORDS = {"false", "0", "no", "n", "off"}


@dataclass(frozen=True)
class ParamSpec:
    """One user-settable estimator parameter.

    `type` is "int", "float", "str" or "bool". For numeric types `choices`
    lists extra literal strings that are also accepted (e.g. "sqrt" for
    `max_features`); for "str" it lists the only accepted values.
    `low`/`high` bound numeric values (inclusive unless `low_open`).
    """

    name: str
    type: str
    default: Any
    nullable: bool = False
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def describe(self) -> str:
        """Human text for the expected value, used in error messages."""
        words = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true/false"}
        text = words[self.type]
        if self.type == "str" and self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.choices:
            text += " or one of " + ", ".join(repr(c) for c in self.choices)
        if self.nullable:
            text += " or none"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "default": self.default}
        if self.nullable:
            out["nullable"] = True
        if self.choices:
            out["choices"] = list(self.choices)
        if self.low is not None:
            out["min"] = self.low
            if self.low_open:
                out["min_exclusive"] = True
        if self.high is not None:
            out["max"] = self.high
        return out


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry: a model kind for one task."""

    kind: str
    task: str
    estimator: str  # dotted class path
    defaults: dict[str, Any]
    params: tuple[ParamSpec, ...]
    grid: dict[str, list[Any]] = field(default_factory=dict)
    random: dict[str, Distribution] = field(default_factory=dict)
    seeded: bool = True
    description: str = ""

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "task": self.task,
            "estimator": self.estimator,
            "description": self.description,
            "defaults": dict(self.defaults),
            "seeded": self.seeded,
            "params": {p.name: p.to_json() for p in self.params},
            "search_space": {
                "grid": {k: list(v) for k, v in self.grid.items()},
                "random": {k: _describe_distribution(v) for k, v in self.random.items()},
            },
        }


def _describe_distribution(dist: Distribution) -> Any:
    if dist[0] == "choice":
        return list(dist[1])
    return f"{dist[0]}({dist[1]!r}, {dist[2]!r})"


# --- shared parameter declarations -------------------------------------------

def _int(name: str, default: Any, low: float | None = 1, high: float | None = None,
         nullable: bool = False) -> ParamSpec:
    return ParamSpec(name, "int", default, nullable=nullable, low=low, high=high)


def _float(name: str, default: Any, low: float | None = 0.0, high: float | None = None,
           low_open: bool = False, nullable: bool = False) -> ParamSpec:
    return ParamSpec(name, "float", default, nullable=nullable, low=low, high=high,
                     low_open=low_open)


def _choice(name: str, default: Any, *choices: str, nullable: bool = False) -> ParamSpec:
    return ParamSpec(name, "str", default, nullable=nullable, choices=choices)


N_JOBS = ParamSpec("n_jobs", "int", -1, nullable=True, low=None)
MAX_FEATURES = ParamSpec("max_features", "float", None, nullable=True,
                         choices=("sqrt", "log2"), low=0.0, high=1.0, low_open=True)


def _forest_params(task: str, default_max_features: Any) -> tuple[ParamSpec, ...]:
    criteria = (("gini", "entropy", "log_loss") if task == "classification"
                else ("squared_error", "absolute_error", "friedman_mse", "poisson"))
    params = [
        _int("n_estimators", 200, low=1, high=10_000),
        _int("max_depth", None, nullable=True),
        _int("min_samples_split", 2, low=2),
        _int("min_samples_leaf", 1, low=1),
        replace(MAX_FEATURES, default=default_max_features),
        _choice("criterion", criteria[0], *criteria),
        ParamSpec("bootstrap", "bool", None),
        N_JOBS,
    ]
    if task == "classification":
        params.append(_choice("class_weight", None, "balanced", "balanced_subsample",
                              nullable=True))
    return tuple(params)


_FOREST_GRID = {
    "n_estimators": [100, 300],
    "max_depth": [None, 10, 20],
    "min_samples_leaf": [1, 3, 5],
}
_FOREST_RANDOM: dict[str, Distribution] = {
    "n_estimators": ("randint", 50, 501),
    "max_depth": ("choice", [None, 5, 10, 20, 40]),
    "min_samples_leaf": ("randint", 1, 11),
    "max_features": ("choice", ["sqrt", "log2", 0.5, 1.0]),
}


def _forest(kind: str, task: str, cls: str, description: str) -> ModelSpec:
    max_features = "sqrt" if task == "classification" else 1.0
    bootstrap = kind == "rf"
    params = tuple(
        replace(p, default=bootstrap) if p.name == "bootstrap" else p
        for p in _forest_params(task, max_features)
    )
    defaults = {"n_estimators": 200, "max_features": max_features, "n_jobs": -1}
    return ModelSpec(kind, task, f"sklearn.ensemble.{cls}", defaults, params,
                     grid=_FOREST_GRID, random=_FOREST_RANDOM, description=description)


def _hgb(task: str) -> ModelSpec:
    suffix = "Classifier" if task == "classification" else "Regressor"
    params = [
        _float("learning_rate", 0.1, low=0.0, high=1.0, low_open=True),
        _int("max_iter", 200, low=1, high=10_000),
        _int("max_leaf_nodes", 31, low=2, nullable=True),
        _int("max_depth", None, low=1, nullable=True),
        _int("min_samples_leaf", 20, low=1),
        _float("l2_regularization", 0.0, low=0.0),
        _float("max_features", 1.0, low=0.0, high=1.0, low_open=True),
        ParamSpec("early_stopping", "bool", "auto", choices=("auto",)),
    ]
    if task == "classification":
        params.append(_choice("class_weight", None, "balanced", nullable=True))
    return ModelSpec(
        "hgb", task, f"sklearn.ensemble.HistGradientBoosting{suffix}",
        {"max_iter": 200}, tuple(params),
        grid={"learning_rate": [0.03, 0.1, 0.3], "max_leaf_nodes": [15, 31, 63],
              "l2_regularization": [0.0, 1.0]},
        random={"learning_rate": ("loguniform", 0.01, 0.5),
                "max_leaf_nodes": ("randint", 8, 128),
                "min_samples_leaf": ("randint", 5, 100),
                "l2_regularization": ("loguniform", 1e-4, 10.0)},
        description="Histogram gradient boosting: strong default for tabular data.",
    )


def _knn(task: str) -> ModelSpec:
    suffix = "Classifier" if task == "classification" else "Regressor"
    params = (
        _int("n_neighbors", 5, low=1),
        _choice("weights", "uniform", "uniform", "distance"),
        _float("p", 2.0, low=1.0),
        _int("leaf_size", 30, low=1),
        N_JOBS,
    )
    return ModelSpec(
        "knn", task, f"sklearn.neighbors.KNeighbors{suffix}", {}, params,
        grid={"n_neighbors": [3, 5, 11, 21], "weights": ["uniform", "distance"]},
        random={"n_neighbors": ("randint", 1, 51), "weights": ("choice", ["uniform", "distance"]),
                "p": ("choice", [1.0, 2.0])},
        seeded=False, description="k-nearest neighbours on the scaled features.",
    )


def _build_catalog() -> dict[tuple[str, str], ModelSpec]:
    specs = [
        ModelSpec(
            "dummy", "classification", "sklearn.dummy.DummyClassifier",
            {"strategy": "prior"},
            (_choice("strategy", "prior", "prior", "most_frequent", "stratified", "uniform"),),
            grid={}, random={}, description="Baseline: predicts the class frequencies.",
        ),
        ModelSpec(
            "dummy", "regression", "sklearn.dummy.DummyRegressor",
            {"strategy": "mean"},
            (_choice("strategy", "mean", "mean", "median"),),
            seeded=False, description="Baseline: predicts the training mean.",
        ),
        ModelSpec(
            "logistic", "classification", "sklearn.linear_model.LogisticRegression",
            {"C": 1.0, "max_iter": 1000},
            (
                _float("C", 1.0, low=0.0, low_open=True),
                _float("l1_ratio", 0.0, low=0.0, high=1.0),
                _choice("solver", "lbfgs", "lbfgs", "liblinear", "newton-cg",
                        "newton-cholesky", "sag", "saga"),
                _int("max_iter", 1000, low=1),
                _float("tol", 1e-4, low=0.0, low_open=True),
                ParamSpec("fit_intercept", "bool", True),
                _choice("class_weight", None, "balanced", nullable=True),
            ),
            grid={"C": [0.01, 0.1, 1.0, 10.0, 100.0]},
            random={"C": ("loguniform", 1e-3, 1e2)},
            description="Logistic regression (L2 by default; l1_ratio>0 needs solver=saga).",
        ),
        ModelSpec(
            "ridge", "regression", "sklearn.linear_model.Ridge",
            {"alpha": 1.0},
            (
                _float("alpha", 1.0, low=0.0),
                ParamSpec("fit_intercept", "bool", True),
                _choice("solver", "auto", "auto", "svd", "cholesky", "lsqr", "sparse_cg",
                        "sag", "saga"),
            ),
            grid={"alpha": [0.01, 0.1, 1.0, 10.0, 100.0]},
            random={"alpha": ("loguniform", 1e-3, 1e3)},
            description="Linear regression with L2 regularisation.",
        ),
    ]
    for task in TASKS:
        suffix = "Classifier" if task == "classification" else "Regressor"
        specs.append(_forest("rf", task, f"RandomForest{suffix}", "Random forest."))
        specs.append(_forest("extra_trees", task, f"ExtraTrees{suffix}",
                             "Extremely randomised trees."))
        specs.append(_hgb(task))
        specs.append(_knn(task))
    return {(s.kind, s.task): s for s in specs}


_CATALOG = _build_catalog()

# Other names users type for the same kinds. "linear" depends on the task.
_ALIASES: dict[str, dict[str, str]] = {
    "linear": {"classification": "logistic", "regression": "ridge"},
    "logreg": {"classification": "logistic"},
    "random_forest": {"classification": "rf", "regression": "rf"},
    "extratrees": {"classification": "extra_trees", "regression": "extra_trees"},
    "hist_gradient_boosting": {"classification": "hgb", "regression": "hgb"},
    "baseline": {"classification": "dummy", "regression": "dummy"},
}


# --- lookup -------------------------------------------------------------------

def _check_task(task: str) -> str:
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; expected one of: {', '.join(TASKS)}")
    return task


def kinds(task: str) -> list[str]:
    """The canonical model kinds for a task, in catalog order."""
    _check_task(task)
    return [kind for (kind, t) in _CATALOG if t == task]


def resolve_kind(kind: str, task: str) -> str:
    """Canonical kind for `kind` (aliases such as "linear" resolved by task).

    An import path (`module:Class`, see experiments/external.py) is its own kind
    once the class imports and suits the task.
    """
    _check_task(task)
    if external.is_external(kind):
        return external.check_task(kind, task)
    name = (kind or "").strip().lower().replace("-", "_")
    name = _ALIASES.get(name, {}).get(task, name)
    if (name, task) not in _CATALOG:
        raise UserError(
            f"unknown model kind {kind!r} for {task}; valid kinds: {', '.join(kinds(task))}"
            " (alias: linear), or any scikit-learn-compatible class as module:Class (e.g. sklearn.svm:SVC)"
        )
    return name


def spec(kind: str, task: str) -> ModelSpec:
    """The catalog entry for a kind and task (raises UserError if unknown)."""
    return _CATALOG[(resolve_kind(kind, task), task)]


def catalog(task: str | None = None) -> list[dict[str, Any]]:
    """Every catalog entry (for one task, or both) as JSON-serialisable dicts."""
    if task is not None:
        _check_task(task)
    return [s.to_json() for s in _CATALOG.values() if task is None or s.task == task]


# --- parameter parsing ----------------------------------------------------------

def _split_pairs(params: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in params:
        if not isinstance(item, str) or "=" not in item:
            raise UserError(f"parameter {item!r} must look like name=value")
        name, _, value = item.partition("=")
        out[name.strip()] = value.strip()
    return out


def _bad(p: ParamSpec, value: Any) -> UserError:
    return UserError(f"{p.name} must be {p.describe()}, got {value!r}")


def _convert_number(p: ParamSpec, value: Any) -> Any:
    if isinstance(value, bool):
        raise _bad(p, value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = int(text) if p.type == "int" else float(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise _bad(p, value) from None
    elif isinstance(value, int | float):
        number = value
    else:
        raise _bad(p, value)
    if not math.isfinite(number):
        raise _bad(p, value)
    if p.type == "int":
        if float(number) != int(number):
            raise _bad(p, value)
        return int(number)
    return float(number)


def _check_range(p: ParamSpec, number: int | float, given: Any) -> None:
    if p.low is not None and (number < p.low or (p.low_open and number == p.low)):
        op = ">" if p.low_open else ">="
        raise UserError(f"{p.name} must be {op} {p.low:g}, got {given!r}")
    if p.high is not None and number > p.high:
        raise UserError(f"{p.name} must be <= {p.high:g}, got {given!r}")


def _convert(p: ParamSpec, value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
        if p.nullable:
            return None
        raise _bad(p, value)
    if p.choices and isinstance(value, str) and value.strip() in p.choices:
        return value.strip()
    if p.type == "str":
        raise _bad(p, value)
    if p.type == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise _bad(p, value)
    number = _convert_number(p, value)
    _check_range(p, number, value)
    return number


def parse_params(kind: str, task: str,
                 params: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn `["k=v", ...]` or a dict into typed estimator parameters.

    Only the parameters given are returned (defaults are merged by
    `make_estimator`). Raises UserError naming the valid parameters for an
    unknown one, or the expected type for a bad value.
    """
    if external.is_external(kind):
        return external.parse_params(kind, params)
    entry = spec(kind, task)
    if params is None:
        return {}
    raw = dict(params) if isinstance(params, Mapping) else _split_pairs(params)
    out: dict[str, Any] = {}
    for name, value in raw.items():
        p = entry.param(name)
        if p is None:
            valid = ", ".join(x.name for x in entry.params) or "(none)"
            hint = ""
            if name == "random_state":
                hint = "; random_state comes from the run seed (--seed)"
            raise UserError(
                f"unknown parameter {name!r} for model {entry.kind} ({task}); "
                f"valid parameters: {valid}{hint}"
            )
        out[name] = _convert(p, value)
    return out


def resolved_params(kind: str, task: str, params: Iterable[str] | Mapping[str, Any] | None,
                    seed: int | None = None) -> dict[str, Any]:
    """Defaults merged with the user's parameters (and the seed): what a run records."""
    if external.is_external(kind):
        return external.resolved_params(kind, params, seed)
    entry = spec(kind, task)
    merged = {**entry.defaults, **parse_params(kind, task, params)}
    if entry.seeded:
        merged["random_state"] = seed
    return merged


def _import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def make_estimator(kind: str, task: str,
                   params: Iterable[str] | Mapping[str, Any] | None = None,
                   seed: int | None = 0) -> Any:
    """A fresh, unfitted scikit-learn estimator for a catalog kind (or an import path)."""
    if external.is_external(kind):
        return external.make_estimator(kind, params, seed)
    entry = spec(kind, task)
    return _import_class(entry.estimator)(**resolved_params(kind, task, params, seed))


# --- search spaces ----------------------------------------------------------------

def _distribution(dist: Distribution) -> Any:
    from scipy import stats

    name = dist[0]
    if name == "choice":
        return list(dist[1])
    if name == "loguniform":
        return stats.loguniform(dist[1], dist[2])
    if name == "uniform":
        return stats.uniform(dist[1], dist[2] - dist[1])
    if name == "randint":
        return stats.randint(dist[1], dist[2])
    raise ValueError(f"unknown distribution {name!r}")


def search_space(kind: str, task: str, mode: str = "grid",
                 step: str = "model") -> dict[str, Any]:
    """Parameter space for GridSearchCV ("grid") or RandomizedSearchCV ("random").

    Keys are prefixed for the Pipeline step `step` ("model__n_estimators").
    An empty dict means the kind has nothing worth searching (e.g. dummy).
    A class outside the catalog has no space: the search says so.
    """
    if external.is_external(kind):
        raise UserError(f"--search needs the catalog's search space, and {kind} is not in the catalog; "
                        "train it without --search and set its parameters with --param")
    entry = spec(kind, task)
    prefix = f"{step}__" if step else ""
    if mode == "grid":
        return {prefix + k: list(v) for k, v in entry.grid.items()}
    if mode == "random":
        return {prefix + k: _distribution(v) for k, v in entry.random.items()}
    raise UserError(f"unknown search mode {mode!r}; expected grid or random")

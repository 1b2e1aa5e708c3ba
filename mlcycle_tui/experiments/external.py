"""Estimators outside the catalog, named by import path: `--model lightgbm:LGBMClassifier`.

Why this exists: the catalog covers the scikit-learn models most people start
with, but people also train LightGBM, XGBoost, an SVC or their own estimator.
Any class that follows scikit-learn's estimator contract (`fit`, `predict`,
`get_params`; `predict_proba` for probabilities) can be trained, tracked,
registered, served and retrained like a catalog kind. The kind recorded in
the run is the import path itself, so reproduce and retraining import the
same class again.

Parameters come as `name=value` strings like the catalog's; since the class
declares no types, a value is read as a number, true/false or none when it
looks like one, else kept as text, and names are checked against the class's
own `get_params()` (any name when its constructor takes **kwargs, as
LightGBM's does). `random_state` is set from the run seed when the class
has one, as for catalog kinds. There is no search space: a search needs the
catalog (or parameters given with --param).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mlcycle_tui.common.errors import UserError

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}
_NONE = {"none", "null"}


def is_external(kind: str | None) -> bool:
    """Whether `kind` names a class by import path (`module:Class`) rather than a catalog kind."""
    return isinstance(kind, str) and ":" in kind


def load_class(kind: str) -> type:
    """The estimator class `module:Class` names; a UserError that says how to fix an import failure."""
    text = kind.strip()
    if not _PATH.match(text):
        raise UserError(f"--model {kind!r} is not an import path; write module:Class, e.g. sklearn.svm:SVC "
                        "or lightgbm:LGBMClassifier")
    module_name, _, class_name = text.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        package = module_name.split(".")[0]
        raise UserError(f"cannot import {module_name!r} for --model {kind}: {exc}; "
                        f"install it (pip install {package}) in the environment mlcycle runs in") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise UserError(f"{module_name!r} has no class {class_name!r}; check the spelling of --model {kind}")
    missing = [m for m in ("fit", "predict", "get_params") if not callable(getattr(cls, m, None))]
    if missing:
        raise UserError(f"{kind} is not a scikit-learn-compatible estimator: it has no {', '.join(missing)}")
    return cls


def check_task(kind: str, task: str) -> str:
    """The kind (stripped) when its class is an estimator for `task`; else a UserError."""
    from sklearn.base import is_classifier, is_regressor

    cls = load_class(kind)
    try:
        instance = cls()
    except TypeError as exc:
        raise UserError(f"{kind} cannot be built with its defaults ({exc}); mlcycle needs a class "
                        "whose parameters all have defaults, as scikit-learn's do") from None
    if task == "classification" and is_regressor(instance) and not is_classifier(instance):
        raise UserError(f"{kind} is a regressor, but the target is a classification target; "
                        "choose a classifier or force --task regression")
    if task == "regression" and is_classifier(instance):
        raise UserError(f"{kind} is a classifier, but the target is a regression target; "
                        "choose a regressor or force --task classification")
    return kind.strip()


def _value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    word = text.strip()
    low = word.lower()
    if low in _NONE:
        return None
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    for convert in (int, float):
        try:
            return convert(word)
        except ValueError:
            pass
    return word


def _takes_any_keyword(cls: type) -> bool:
    """Whether the class's constructor takes **kwargs (LightGBM's and XGBoost's pass them to the booster)."""
    import inspect

    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def parse_params(kind: str, params: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """`["k=v", ...]` or a dict as keyword arguments of the class, names checked against `get_params()`."""
    if params is None:
        return {}
    if isinstance(params, Mapping):
        raw = dict(params)
    else:
        raw = {}
        for item in params:
            if not isinstance(item, str) or "=" not in item:
                raise UserError(f"parameter {item!r} must look like name=value")
            name, _, value = item.partition("=")
            raw[name.strip()] = value.strip()
    cls = load_class(kind)
    valid = set(cls().get_params(deep=False))
    open_ended = _takes_any_keyword(cls)
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "random_state":
            raise UserError(f"unknown parameter 'random_state' for {kind}: it comes from the run seed (--seed)")
        if name not in valid and not (open_ended and name.isidentifier()):
            raise UserError(f"unknown parameter {name!r} for {kind}; valid parameters: {', '.join(sorted(valid))}")
        out[name] = _value(value)
    return out


def resolved_params(kind: str, params: Iterable[str] | Mapping[str, Any] | None, seed: int | None) -> dict[str, Any]:
    """What a run records: the user's parameters, plus `random_state` from the seed when the class has one."""
    merged = parse_params(kind, params)
    if "random_state" in load_class(kind)().get_params(deep=False):
        merged["random_state"] = seed
    return merged


def make_estimator(kind: str, params: Iterable[str] | Mapping[str, Any] | None, seed: int | None) -> Any:
    """A fresh, unfitted instance of the class with the run's parameters."""
    try:
        return load_class(kind)(**resolved_params(kind, params, seed))
    except (TypeError, ValueError) as exc:
        raise UserError(f"{kind} refused its parameters: {exc}") from None

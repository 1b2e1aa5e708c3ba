"""Reading a model that MLflow logged: its `MLmodel` file, the scikit-learn object, its signature.

Why this exists: a scikit-learn model logged by `mlflow.sklearn.log_model` or autolog (over the
tracking API, or found in an imported store) becomes a registry version that mlcycle serves and
monitors like one it trained. The registry needs the fitted object, its task and the columns it
reads; this module gets them from MLflow's own files without importing MLflow: `MLmodel` (YAML)
names the flavor, the pickle file and its serialization format (pickle, cloudpickle or skops) and
holds the signature (MLflow's column specs), which become mlcycle's `{"name", "dtype", "kind"}`
inputs. Without a signature the columns come from the estimator's `feature_names_in_`.

Unpickling runs code from the file: do it only for models logged by clients trusted with the
workspace (the server's token rule applies to the tracking API as to predictions).
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlcycle_tui.common.errors import UserError

# MLflow's column types -> (pandas dtype, mlcycle column kind)
_COLUMN_TYPES = {
    "double": ("float64", "numeric"), "float": ("float32", "numeric"), "long": ("int64", "numeric"),
    "integer": ("int32", "numeric"), "boolean": ("bool", "boolean"), "string": ("object", "categorical"),
    "datetime": ("datetime64[ns]", "datetime"), "binary": ("object", "categorical"),
}


class ModelNotUsable(UserError):
    """A logged model mlcycle cannot register (not scikit-learn, missing files, cannot be loaded)."""

    code = "model_not_usable"


@dataclass
class LoadedModel:
    """A logged scikit-learn model, ready to be registered."""

    estimator: Any
    task: str
    kind: str
    signature: dict[str, Any]
    flavor: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_mlmodel(text: bytes | str) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelNotUsable(f"its MLmodel file is not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ModelNotUsable("its MLmodel file holds no model description")
    return doc


def load_sklearn(mlmodel: dict[str, Any], read: Callable[[str], bytes]) -> LoadedModel:
    """The scikit-learn model described by `mlmodel`; `read(relative path)` gives a file of the model."""
    flavors = mlmodel.get("flavors") or {}
    flavor = flavors.get("sklearn")
    if not isinstance(flavor, dict):
        named = ", ".join(sorted(flavors)) or "none"
        raise ModelNotUsable(f"it is not a scikit-learn model (its flavors: {named}); mlcycle registers, serves "
                             "and monitors scikit-learn models")
    path = str(flavor.get("pickled_model") or "model.pkl")
    fmt = str(flavor.get("serialization_format") or "cloudpickle")
    try:
        data = read(path)
    except (OSError, UserError) as exc:
        raise ModelNotUsable(f"its model file {path!r} cannot be read ({getattr(exc, 'message', exc)})") from None
    estimator = _unpickle(data, fmt, flavor)
    task = task_of(estimator)
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    signature, notes = signature_of(mlmodel.get("signature"), estimator)
    return LoadedModel(estimator, task, type(final).__name__, signature, dict(flavor), notes)


def _unpickle(data: bytes, fmt: str, flavor: dict[str, Any]) -> Any:
    if fmt == "skops":
        try:
            import skops.io
        except ImportError:
            raise ModelNotUsable("it was saved in the skops format and skops is not installed here: "
                                 "`pip install skops`, or log it with serialization_format='cloudpickle'") from None
        trusted = flavor.get("skops_trusted_types") or None
        try:
            return skops.io.loads(data, trusted=trusted)
        except Exception as exc:
            raise ModelNotUsable(f"its skops file cannot be loaded ({type(exc).__name__}: {exc})") from None
    try:
        if fmt == "cloudpickle":
            import cloudpickle

            return cloudpickle.loads(data)
        return pickle.load(io.BytesIO(data))
    except Exception as exc:  # a class missing here, another library's object, a damaged file
        raise ModelNotUsable(f"its {fmt} file cannot be loaded here ({type(exc).__name__}: {exc}); install the "
                             "libraries it was trained with") from None


def task_of(estimator: Any) -> str:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    raise ModelNotUsable(f"{type(final).__name__} is neither a classifier nor a regressor; mlcycle serves those")


def signature_of(signature: Any, estimator: Any) -> tuple[dict[str, Any], list[str]]:
    """mlcycle's `{"inputs": [{"name", "dtype", "kind"}]}` from MLflow's signature, else from the estimator."""
    notes: list[str] = []
    specs = None
    if isinstance(signature, dict) and signature.get("inputs"):
        try:
            specs = json.loads(signature["inputs"]) if isinstance(signature["inputs"], str) else signature["inputs"]
        except ValueError:
            specs = None
    if isinstance(specs, list) and specs and all(isinstance(s, dict) and s.get("name") for s in specs):
        inputs = []
        for s in specs:
            dtype, kind = _COLUMN_TYPES.get(str(s.get("type")), ("object", "categorical"))
            inputs.append({"name": str(s["name"]), "dtype": dtype, "kind": kind})
        return {"inputs": inputs}, notes
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        notes.append("no column signature was logged: the columns are the estimator's feature_names_in_, "
                     "taken as numbers")
        return {"inputs": [{"name": str(n), "dtype": "float64", "kind": "numeric"} for n in names]}, notes
    count = getattr(estimator, "n_features_in_", None)
    if isinstance(count, int) and count > 0:
        notes.append(f"the model was fitted on an unnamed array: its {count} inputs are named 0 to {count - 1}")
        return {"inputs": [{"name": str(i), "dtype": "float64", "kind": "numeric"} for i in range(count)]}, notes
    raise ModelNotUsable("it records no input columns (no signature, no feature_names_in_): log it with "
                         "input_example=... or a signature")


def dataset_columns(schema_text: str | None) -> list[str]:
    """The column names of an MLflow dataset input's schema (`{"mlflow_colspec": [...]}`)."""
    try:
        schema = json.loads(schema_text or "{}")
    except ValueError:
        return []
    specs = schema.get("mlflow_colspec") if isinstance(schema, dict) else None
    return [str(s["name"]) for s in specs or [] if isinstance(s, dict) and s.get("name")]

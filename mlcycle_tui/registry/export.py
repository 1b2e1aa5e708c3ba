"""Export a model version as a self-contained bundle or in MLflow's model format.

Why this exists: a model should be able to leave mlcycle. The bundle holds
the fitted pipeline, its signature, pinned requirements, a small serving entry
point, a Dockerfile and a README; `--format mlflow` writes an MLflow model
directory (MLmodel, written with PyYAML, with the sklearn and python_function
flavors and a signature whose columns are all required) so that users can move
to MLflow's ecosystem. The few mlcycle classes that the
pickled pipeline refers to are copied in as code, so neither needs mlcycle.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.errors import UserError

if TYPE_CHECKING:
    from mlcycle_tui.events import Events
    from mlcycle_tui.registry.versions import ModelVersion, Registry
    from mlcycle_tui.storage.artifacts import ArtifactStore

FORMATS = ("bundle", "mlflow")
_VENDORED = ("__init__.py", "common/__init__.py", "common/errors.py", "common/version.py", "experiments/__init__.py",
             "experiments/category_text.py", "experiments/preprocess.py")
_RUNTIME = ("scikit-learn", "pandas", "numpy", "scipy", "joblib")
_MLFLOW_TYPES = {"int": "long", "uint": "long", "float": "double", "bool": "boolean", "datetime": "datetime"}
# The MLflow release whose model format and scoring protocol mlcycle is tested against: an MLflow
# export records it when no mlflow is installed (else the installed version), and the server's
# `/version` answers it.
MLFLOW_VERSION = "3.18.0"

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

DOCKERFILE = """FROM python:{py}-slim
WORKDIR /model
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
EXPOSE 8080
CMD ["python", "serve.py"]
"""


def _pins(extra: tuple[str, ...] = ()) -> list[str]:
    pins = []
    for dist in (*_RUNTIME, *extra):
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(dist)
    return pins


def _vendor(code_dir: Path) -> None:
    root = Path(__file__).resolve().parents[1]  # the mlcycle_tui package
    for rel in _VENDORED:
        target = code_dir / "mlcycle_tui" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)


def _mlflow_type(dtype: str) -> str:
    d = dtype.lower()
    for prefix, kind in _MLFLOW_TYPES.items():
        if d.startswith(prefix):
            return kind
    return "string"


def _prepare(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise UserError(f"{dest} exists and is not empty; choose a new folder for the export")
    dest.mkdir(parents=True, exist_ok=True)


def export_bundle(mv: ModelVersion, model_file: Path, dest: Path) -> dict[str, Any]:
    _prepare(dest)
    shutil.copyfile(model_file, dest / "model.joblib")
    (dest / "signature.json").write_text(json.dumps(mv.signature, indent=2))
    meta = {"name": mv.name, "version": mv.version, "task": mv.task, "kind": mv.kind, "run_id": mv.run_id,
            "sha256": mv.artifact_sha256, "metrics": mv.metrics, "recipe": mv.recipe}
    (dest / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))
    (dest / "requirements.txt").write_text("\n".join(_pins(("flask", "waitress"))) + "\n")
    shutil.copyfile(TEMPLATES / "bundle_serve.py.txt", dest / "serve.py")
    py = ".".join(platform.python_version_tuple()[:2])
    (dest / "Dockerfile").write_text(DOCKERFILE.format(py=py))
    _vendor(dest / "code")
    columns = ", ".join(c["name"] for c in mv.signature.get("inputs", []))
    (dest / "README.md").write_text(
        f"# {mv.name} v{mv.version}\n\nExported by mlcycle: a {mv.kind} {mv.task} model (run {mv.run_id}).\n\n"
        f"Inputs: {columns}\n\n"
        "Run it:\n\n    pip install -r requirements.txt && python serve.py   # listens on 0.0.0.0:8080\n\n"
        "or with Docker:\n\n    docker build -t model . && docker run -p 8080:8080 model\n\n"
        "Ask it:\n\n    curl -s localhost:8080/invocations -H 'Content-Type: application/json' \\\n"
        "      -d '{\"dataframe_records\": [{...}]}'\n"
    )
    return {"path": str(dest), "format": "bundle", "name": mv.name, "version": mv.version}


def mlflow_version() -> str:
    """The MLflow version an MLflow export records: the installed one, else `MLFLOW_VERSION`."""
    for dist in ("mlflow", "mlflow-skinny"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return MLFLOW_VERSION


def mlflow_inputs(signature: dict[str, Any]) -> list[dict[str, Any]]:
    """The signature's columns as MLflow's column specs, every one required (the pipeline reads them all:
    mlcycle's server answers 422 without one). Types follow the training dtypes, as MLflow's
    `infer_signature` would write them (an int64 column is `long`: MLflow refuses to cast int64 to `double`)."""
    return [{"type": _mlflow_type(str(c.get("dtype", ""))), "name": c["name"], "required": True}
            for c in signature.get("inputs", [])]


def export_mlflow(mv: ModelVersion, model: Any, dest: Path) -> dict[str, Any]:
    import pickle
    import uuid
    from datetime import UTC, datetime

    import sklearn

    _prepare(dest)
    with open(dest / "model.pkl", "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.DEFAULT_PROTOCOL)
    _vendor(dest / "code")
    pins = _pins()
    (dest / "requirements.txt").write_text("\n".join(["mlflow", *pins]) + "\n")
    py = platform.python_version()
    _write_yaml(dest / "python_env.yaml", {"python": py, "build_dependencies": ["pip"],
                                           "dependencies": ["-r requirements.txt"]})
    _write_yaml(dest / "conda.yaml", {"channels": ["conda-forge"],
                                      "dependencies": [f"python={py}", "pip", {"pip": ["mlflow", *pins]}],
                                      "name": "mlflow-env"})
    mlmodel = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "code": "code",
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": "model.pkl",
                "predict_fn": "predict",
                "python_version": py,
            },
            "sklearn": {
                "code": "code",
                "pickled_model": "model.pkl",
                "serialization_format": "pickle",
                "sklearn_version": sklearn.__version__,
            },
        },
        "is_signature_from_type_hint": False,
        "mlflow_version": mlflow_version(),
        "model_size_bytes": (dest / "model.pkl").stat().st_size,
        "model_uuid": uuid.uuid4().hex,
        "signature": {
            # MLflow keeps the column specs as JSON text inside the YAML; YAML quotes it (a `'`, a `:`
            # or any Unicode in a column name is safe there)
            "inputs": json.dumps(mlflow_inputs(mv.signature)),
            "outputs": None,
            "params": None,
        },
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "metadata": {"mlcycle_model": mv.name, "mlcycle_version": mv.version, "mlcycle_run_id": mv.run_id},
    }
    _write_yaml(dest / "MLmodel", mlmodel)
    return {"path": str(dest), "format": "mlflow", "name": mv.name, "version": mv.version}


def _write_yaml(path: Path, document: dict[str, Any]) -> None:
    import yaml

    path.write_text(yaml.safe_dump(document, default_flow_style=False, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")


class Export:
    """Workspace method for exports (see `Workspace`)."""

    def __init__(self, artifacts: ArtifactStore, events: Events, registry: Registry) -> None:
        self.artifacts = artifacts
        self.events = events
        self.registry = registry

    def export(self, model_ref: str, dest: str | Path, fmt: str = "bundle") -> dict[str, Any]:
        if fmt not in FORMATS:
            raise UserError(f"unknown export format {fmt!r}; use bundle or mlflow")
        mv, model = self.registry.load_model(model_ref)
        path = Path(dest)
        if fmt == "bundle":
            result = export_bundle(mv, self.artifacts.path(mv.artifact_path), path)
        else:
            result = export_mlflow(mv, model, path)
        self.events.log("export", mv.ref, f"{fmt} written to {path}")
        return result

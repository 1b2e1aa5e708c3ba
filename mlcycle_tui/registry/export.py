"""Export a model version as a self-contained bundle or in MLflow's model format.

Why this exists: a model should be able to leave mlcycle. The bundle holds
the fitted pipeline, its signature, pinned requirements, a small serving entry
point, a Dockerfile and a README; `--format mlflow` writes an MLflow model
directory (MLmodel with the sklearn and python_function flavors) so that
users can move to MLflow's ecosystem. The few mlcycle classes that the
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
             "experiments/preprocess.py")
_RUNTIME = ("scikit-learn", "pandas", "numpy", "scipy", "joblib")
_MLFLOW_TYPES = {"int": "long", "uint": "long", "float": "double", "bool": "boolean", "datetime": "datetime"}

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


def export_mlflow(mv: ModelVersion, model: Any, dest: Path) -> dict[str, Any]:
    import pickle

    import sklearn

    _prepare(dest)
    with open(dest / "model.pkl", "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.DEFAULT_PROTOCOL)
    _vendor(dest / "code")
    pins = _pins()
    (dest / "requirements.txt").write_text("\n".join(["mlflow", *pins]) + "\n")
    py = platform.python_version()
    (dest / "python_env.yaml").write_text(
        f"python: {py}\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
    )
    (dest / "conda.yaml").write_text(
        f"channels:\n- conda-forge\ndependencies:\n- python={py}\n- pip\n- pip:\n"
        + "".join(f"  - {p}\n" for p in ["mlflow", *pins])
        + "name: mlflow-env\n"
    )
    inputs = [{"type": _mlflow_type(c.get("dtype", "")), "name": c["name"], "required": False}
              for c in mv.signature.get("inputs", [])]
    mlmodel = (
        "artifact_path: model\n"
        "flavors:\n"
        "  python_function:\n"
        "    code: code\n"
        "    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n"
        "    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n"
        "    predict_fn: predict\n"
        f"    python_version: {py}\n"
        "  sklearn:\n"
        "    code: code\n"
        "    pickled_model: model.pkl\n"
        "    serialization_format: pickle\n"
        f"    sklearn_version: {sklearn.__version__}\n"
        "mlflow_version: 3.0.0\n"
        f"model_uuid: {mv.run_id}\n"
        "signature:\n"
        f"  inputs: '{json.dumps(inputs)}'\n"
        "  outputs: null\n"
    )
    (dest / "MLmodel").write_text(mlmodel)
    return {"path": str(dest), "format": "mlflow", "name": mv.name, "version": mv.version}


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

"""`mlcycle import mlflow URI`: an MLflow store's history, brought into the workspace.

Why this exists: people who switch to mlcycle have an `mlflow.db` or an `mlruns/` folder full of
runs. This reads either store as MLflow documents it, without MLflow installed: the SQL backend by
its schema (tables experiments, runs, params, tags, metrics, registered_models, model_versions,
registered_model_aliases, logged_models) and the file backend by its layout (`<exp>/meta.yaml`,
`<exp>/<run>/meta.yaml`, `params/`, `tags/`, `metrics/` files of `timestamp value step` lines,
`<exp>/models/<model_id>/`, `models/<name>/version-N/meta.yaml`). It imports experiments, runs with
their params, tags, full metric histories and start and end times, and the scikit-learn models of the
registry as mlcycle versions with their aliases (their files are kept too, so that the MLflow
tracking API serves them). Runs keep MLflow's ids and versions record MLflow's name and version, so
importing again adds nothing. What cannot be imported is listed with the reason.

Artifacts are found where the store recorded them; a store that was moved is followed by looking
for the recorded path's tail under the store's folder (and under `artifacts_dir`, which is also
where `mlflow-artifacts:/` URIs of a tracking server resolve).
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from mlcycle_tui.common.errors import OperationError, UserError
from mlcycle_tui.config import NAME_RE
from mlcycle_tui.experiments.mlflow_filter import ms_to_iso

if TYPE_CHECKING:
    from mlcycle_tui.experiments.mlflow_compat import MlflowTracking
    from mlcycle_tui.experiments.tracking import Tracking
    from mlcycle_tui.registry.versions import Registry
    from mlcycle_tui.storage.db import Database

_STATUS = {"RUNNING": "running", "SCHEDULED": "running", "FINISHED": "finished", "FAILED": "failed",
           "KILLED": "killed", "1": "running", "2": "running", "3": "finished", "4": "failed", "5": "killed"}
Progress = Callable[[float, str], None]


@dataclass
class StoreRun:
    run_id: str
    exp_id: str
    name: str | None
    status: str
    start_ms: int | None
    end_ms: int | None
    deleted: bool
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[tuple[int, float, int]]] = field(default_factory=dict)  # key -> (step, value, ms)


@dataclass
class StoreVersion:
    name: str
    version: int
    source: str
    run_id: str | None
    model_id: str | None
    location: str | None  # where the model's files are (storage_location / the logged model's)
    created_ms: int | None


@dataclass
class Store:
    """An MLflow store read into memory: small enough (a store of 10,000 runs reads in seconds)."""

    root: Path
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"name", "deleted"}
    runs: list[StoreRun] = field(default_factory=list)
    logged_models: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"exp_id","name","location"...}
    versions: list[StoreVersion] = field(default_factory=list)
    aliases: list[tuple[str, str, int]] = field(default_factory=list)  # (model, alias, version)


# -- reading the stores ----------------------------------------------------------------------------
def open_store(uri: str) -> Store:
    """The store at `sqlite:///path/mlflow.db`, a path to an `.db` file, or an `mlruns/` folder."""
    text = str(uri).strip()
    if text.startswith("sqlite:///"):
        return read_sqlite(Path(unquote(text[len("sqlite:///"):])).expanduser())
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    path = Path(text).expanduser()
    if path.is_file():
        return read_sqlite(path)
    if path.is_dir():
        if (path / "mlflow.db").is_file() and not any(p.name == "meta.yaml" for p in path.glob("*/meta.yaml")):
            return read_sqlite(path / "mlflow.db")
        return read_mlruns(path)
    raise UserError(f"no MLflow store at {uri!r}: give sqlite:///path/to/mlflow.db or the path of an mlruns/ folder")


def read_sqlite(path: Path) -> Store:
    if not path.is_file():
        raise UserError(f"no MLflow database at {path}: give sqlite:///path/to/mlflow.db")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise UserError(f"{path} cannot be read as a SQLite database ({exc})") from None
    missing = {"experiments", "runs", "params", "tags", "metrics"} - tables
    if missing:
        raise UserError(f"{path} is not an MLflow database (no table {', '.join(sorted(missing))})")
    store = Store(root=path.parent)
    try:
        for r in conn.execute("SELECT * FROM experiments"):
            store.experiments[str(r["experiment_id"])] = {"name": r["name"],
                                                          "deleted": r["lifecycle_stage"] == "deleted"}
        runs: dict[str, StoreRun] = {}
        for r in conn.execute("SELECT * FROM runs"):
            runs[r["run_uuid"]] = StoreRun(
                r["run_uuid"], str(r["experiment_id"]), r["name"], str(r["status"]), r["start_time"], r["end_time"],
                r["lifecycle_stage"] == "deleted", r["artifact_uri"] or "")
        for r in conn.execute("SELECT key, value, run_uuid FROM params"):
            if r["run_uuid"] in runs:
                runs[r["run_uuid"]].params[r["key"]] = r["value"]
        for r in conn.execute("SELECT key, value, run_uuid FROM tags"):
            if r["run_uuid"] in runs:
                runs[r["run_uuid"]].tags[r["key"]] = r["value"] or ""
        nan = ", is_nan" if "is_nan" in {c[1] for c in conn.execute("PRAGMA table_info(metrics)")} else ", 0"
        for r in conn.execute(f"SELECT key, value, timestamp, run_uuid, step{nan} FROM metrics "
                              "ORDER BY run_uuid, key, step, timestamp"):
            if r[3] in runs:
                value = math.nan if r[5] else float(r[1])
                runs[r[3]].metrics.setdefault(r[0], []).append((int(r[4] or 0), value, int(r[2] or 0)))
        store.runs = list(runs.values())
        if "logged_models" in tables:
            for r in conn.execute("SELECT * FROM logged_models"):
                store.logged_models[r["model_id"]] = {
                    "exp_id": str(r["experiment_id"]), "name": r["name"], "location": r["artifact_location"],
                    "run_id": r["source_run_id"], "created_ms": r["creation_timestamp_ms"]}
        if "model_versions" in tables:
            cols = {c[1] for c in conn.execute("PRAGMA table_info(model_versions)")}
            for r in conn.execute("SELECT * FROM model_versions ORDER BY name, version"):
                if r["current_stage"] == "Deleted_Internal":
                    continue
                source = r["source"] or ""
                mid = _model_id(source)
                location = r["storage_location"] if "storage_location" in cols else None
                store.versions.append(StoreVersion(r["name"], int(r["version"]), source, r["run_id"], mid,
                                                   location, r["creation_time"]))
        if "registered_model_aliases" in tables:
            for r in conn.execute("SELECT name, alias, version FROM registered_model_aliases"):
                store.aliases.append((r["name"], r["alias"], int(r["version"])))
    except sqlite3.Error as exc:
        raise UserError(f"{path} could not be read as an MLflow database ({exc})") from None
    finally:
        conn.close()
    return store


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) under a params/tags/metrics folder: keys with '/' are nested folders."""
    if folder.is_dir():
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                yield p.relative_to(folder).as_posix(), p


def read_mlruns(root: Path) -> Store:
    store = Store(root=root)
    exp_dirs = [p.parent for p in root.glob("*/meta.yaml") if p.parent.name not in ("models", ".trash")]
    if not exp_dirs and not (root / "models").is_dir():
        raise UserError(f"{root} is not an mlruns/ folder (no <experiment>/meta.yaml in it)")
    for exp_dir in sorted(exp_dirs):
        meta = _yaml(exp_dir / "meta.yaml")
        exp_id = str(meta.get("experiment_id", exp_dir.name))
        store.experiments[exp_id] = {"name": str(meta.get("name") or exp_dir.name),
                                     "deleted": meta.get("lifecycle_stage") == "deleted"}
        for run_meta in sorted(exp_dir.glob("*/meta.yaml")):
            run_dir = run_meta.parent
            if run_dir.name == "models":
                continue
            m = _yaml(run_meta)
            run_id = str(m.get("run_id") or m.get("run_uuid") or run_dir.name)
            run = StoreRun(run_id, exp_id, m.get("run_name"), str(m.get("status", "")), m.get("start_time"),
                           m.get("end_time"), m.get("lifecycle_stage") == "deleted", str(m.get("artifact_uri") or ""))
            for key, p in _files(run_dir / "params"):
                run.params[key] = p.read_text()
            for key, p in _files(run_dir / "tags"):
                run.tags[key] = p.read_text()
            for key, p in _files(run_dir / "metrics"):
                history = []
                for line in p.read_text().splitlines():
                    parts = line.split()
                    if len(parts) >= 2:
                        history.append((int(parts[2]) if len(parts) > 2 else 0, float(parts[1]), int(parts[0])))
                run.metrics[key] = sorted(history, key=lambda h: (h[0], h[2]))
            if run.name is None and "mlflow.runName" in run.tags:
                run.name = run.tags["mlflow.runName"]
            store.runs.append(run)
        for model_meta in sorted(exp_dir.glob("models/*/meta.yaml")):
            m = _yaml(model_meta)
            store.logged_models[str(m.get("model_id") or model_meta.parent.name)] = {
                "exp_id": exp_id, "name": m.get("name"), "location": m.get("artifact_location"),
                "run_id": m.get("source_run_id"), "created_ms": m.get("creation_timestamp"),
                "folder": model_meta.parent / "artifacts"}
    for model_dir in sorted((root / "models").glob("*")) if (root / "models").is_dir() else []:
        meta = _yaml(model_dir / "meta.yaml")
        name = str(meta.get("name") or model_dir.name)
        for alias, version in (meta.get("aliases") or {}).items():
            store.aliases.append((name, str(alias), int(version)))
        for vmeta in sorted(model_dir.glob("version-*/meta.yaml")):
            v = _yaml(vmeta)
            if v.get("current_stage") == "Deleted_Internal":
                continue
            source = str(v.get("source") or "")
            store.versions.append(StoreVersion(name, int(v.get("version") or vmeta.parent.name.split("-")[-1]),
                                               source, v.get("run_id"), v.get("model_id") or _model_id(source),
                                               v.get("storage_location"), v.get("creation_timestamp")))
    store.versions.sort(key=lambda v: (v.name, v.version))
    return store


def _model_id(source: str) -> str | None:
    m = re.fullmatch(r"models:/(m-[0-9a-f]{32})/?", source or "")
    return m.group(1) if m else None


def mlcycle_name(name: str) -> str:
    """`name` if mlcycle takes it, else the nearest name it takes ("Team Forecasts" -> "Team-Forecasts")."""
    if NAME_RE.match(name) and ".." not in name:
        return name
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).replace("..", ".").strip("-._")[:64] or "mlflow"
    return slug if NAME_RE.match(slug) else ("x" + slug)[:64]


# -- importing ----------------------------------------------------------------------------------
class MlflowImport:
    """Imports an MLflow store into the workspace's runs and registry (idempotent)."""

    def __init__(self, db: Database, runs: Tracking, registry: Registry, tracking_api: MlflowTracking) -> None:
        self.db = db
        self.runs = runs
        self.registry = registry
        self.tracking_api = tracking_api

    def run(self, uri: str, *, artifacts_dir: str | Path | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
        report = progress or (lambda fraction, message: None)
        store = open_store(uri)
        extra_roots = [Path(artifacts_dir).expanduser()] if artifacts_dir else []
        if artifacts_dir and not extra_roots[0].is_dir():
            raise UserError(f"--artifacts {artifacts_dir}: no such folder")
        out: dict[str, Any] = {"source": str(uri), "experiments": 0, "runs": 0, "models": 0, "metric_values": 0,
                               "params": 0, "tags": 0, "aliases": [], "renamed": [], "skipped": [],
                               "already_imported": {"runs": 0, "models": 0}, "versions": []}
        names = self._experiments(store, out)
        total = max(1, len(store.runs))
        for i, run in enumerate(store.runs):
            if i % 50 == 0:
                report(0.9 * i / total, f"run {i + 1} of {len(store.runs)}")
            self._run(run, names, str(uri), out)
        report(0.9, "models")
        self._models(store, extra_roots, out)
        report(1.0, "done")
        return out

    def _experiments(self, store: Store, out: dict[str, Any]) -> dict[str, str | None]:
        names: dict[str, str | None] = {}
        known = {r["name"] for r in self.runs.experiment_rows()}
        for exp_id, exp in store.experiments.items():
            if exp["deleted"]:
                names[exp_id] = None
                out["skipped"].append({"what": "experiment", "id": exp_id, "name": exp["name"],
                                       "reason": "deleted in MLflow: its runs are not imported"})
                continue
            name = "default" if exp["name"] == "Default" else mlcycle_name(exp["name"])
            if name != exp["name"] and exp["name"] != "Default":
                out["renamed"].append({"what": "experiment", "from": exp["name"], "to": name,
                                       "reason": "mlcycle names are 1-64 letters, digits, '_', '.' or '-'"})
            names[exp_id] = name
            if name not in known:
                self.runs.create_experiment(name)
                known.add(name)
                out["experiments"] += 1
        return names

    def _run(self, run: StoreRun, names: dict[str, str | None], uri: str, out: dict[str, Any]) -> None:
        experiment = names.get(run.exp_id)
        if experiment is None:
            if run.exp_id not in names:
                out["skipped"].append({"what": "run", "id": run.run_id, "reason": f"its experiment {run.exp_id} "
                                       "is not in the store"})
            return
        if run.deleted:
            out["skipped"].append({"what": "run", "id": run.run_id, "name": run.name,
                                   "reason": "deleted in MLflow (lifecycle_stage deleted)"})
            return
        if not re.fullmatch(r"[0-9a-f]{32}", run.run_id or ""):
            out["skipped"].append({"what": "run", "id": run.run_id, "reason": "its id is not 32 hex characters"})
            return
        if self.db.scalar("SELECT 1 FROM runs WHERE id = ?", (run.run_id,)):
            out["already_imported"]["runs"] += 1
            return
        status = _STATUS.get(run.status.upper(), "finished")
        still_running = status == "running"
        created = ms_to_iso(run.start_ms) if run.start_ms else None
        ended = ms_to_iso(run.end_ms) if run.end_ms else None
        tags = dict(run.tags)
        if run.name and "mlflow.runName" not in tags:
            tags["mlflow.runName"] = run.name
        with self.db.transaction():  # a run arrives whole or not at all
            handle = self.runs.record_run(experiment, run_id=run.run_id, name=run.name,
                                          status="killed" if still_running else status, created=created,
                                          ended=ended or created, params=run.params, tags=tags,
                                          commit=tags.get("mlflow.source.git.commit"))
            values = [(key, value, step, ms / 1000.0) for key, history in run.metrics.items()
                      for step, value, ms in history]
            for start in range(0, len(values), 10_000):
                handle.log_metric_values(values[start : start + 10_000])
            if still_running:
                handle.close_at("killed", ended or created, error="was still RUNNING in the MLflow store when "
                                                                   "imported")
        out["runs"] += 1
        out["metric_values"] += len(values)
        out["params"] += len(run.params)
        out["tags"] += len(tags)

    def _models(self, store: Store, roots: list[Path], out: dict[str, Any]) -> None:
        from mlcycle_tui.experiments.mlflow_models import ModelNotUsable, load_sklearn, read_mlmodel

        mapped: dict[tuple[str, int], int] = {}
        for v in store.versions:
            name = mlcycle_name(v.name)
            what = f"{v.name} version {v.version}"
            logged = store.logged_models.get(v.model_id or "") if v.model_id else None
            run_id = v.run_id or (logged or {}).get("run_id")
            existing = self._imported_version(name, v, run_id)
            if existing is not None:
                mapped[(v.name, v.version)] = existing
                out["already_imported"]["models"] += 1
                continue
            if name != v.name and not any(r.get("from") == v.name for r in out["renamed"]):
                out["renamed"].append({"what": "model", "from": v.name, "to": name,
                                       "reason": "mlcycle names are 1-64 letters, digits, '_', '.' or '-'"})
            if not run_id or not self.db.scalar("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
                out["skipped"].append({"what": "model version", "id": what, "reason": f"its run {run_id} was not "
                                       "imported (deleted, or not in this store)"})
                continue
            folder = self._model_folder(store, v, logged, roots)
            if folder is None:
                out["skipped"].append({"what": "model version", "id": what,
                                       "reason": f"its files are not found (source {v.source}, recorded at "
                                                 f"{v.location or (logged or {}).get('location')}); give the "
                                                 "artifact folder with --artifacts DIR"})
                continue
            try:
                loaded = load_sklearn(read_mlmodel((folder / "MLmodel").read_bytes()),
                                      lambda rel, base=folder: (base / rel).read_bytes())
            except OSError:
                out["skipped"].append({"what": "model version", "id": what,
                                       "reason": f"{folder} has no MLmodel file: not a model MLflow logged"})
                continue
            except ModelNotUsable as exc:
                out["skipped"].append({"what": "model version", "id": what, "reason": exc.message})
                continue
            model_id = v.model_id or (logged or {}).get("model_id")
            exp_id = self.tracking_api.run_entity(run_id)["info"]["experiment_id"]
            if model_id:
                self.tracking_api.adopt_logged_model(run_id, model_id, str((logged or {}).get("name") or "model"),
                                                     folder, (logged or {}).get("created_ms"))
            recipe = {"source": "mlflow", "mlflow_model_name": v.name, "mlflow_version": v.version,
                      "mlflow_source": v.source, "mlflow_run_id": run_id, "imported_from": out["source"]}
            if model_id:
                recipe |= {"mlflow_model_id": model_id,
                           "mlflow_artifact_uri": f"mlflow-artifacts:/{exp_id}/models/{model_id}/artifacts"}
            if loaded.notes:
                recipe["notes"] = loaded.notes
            mv = self.registry.register_pipeline(name, run_id, loaded.estimator, task=loaded.task,
                                                 signature=loaded.signature, kind=loaded.kind, recipe=recipe,
                                                 created=ms_to_iso(v.created_ms) if v.created_ms else None)
            self.runs.open_run(run_id).set_info(model=loaded.kind, task=loaded.task)
            mapped[(v.name, v.version)] = mv.version
            out["models"] += 1
            out["versions"].append({"mlflow": f"{v.name}/{v.version}", "mlcycle": mv.ref, "run_id": run_id})
        for model, alias, version in store.aliases:
            target = mapped.get((model, version))
            name = mlcycle_name(model)
            if target is None:
                out["skipped"].append({"what": "alias", "id": f"{model}@{alias}", "reason": f"version {version} "
                                       "was not imported"})
                continue
            if not NAME_RE.match(alias):
                out["skipped"].append({"what": "alias", "id": f"{model}@{alias}", "reason": "not a valid alias name"})
                continue
            current = self.db.scalar("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias))
            if current == target:
                continue
            try:
                self.registry.promote(name, target, alias, force=True, actor="import")
            except OperationError as exc:
                out["skipped"].append({"what": "alias", "id": f"{model}@{alias}", "reason": exc.message})
                continue
            out["aliases"].append({"model": name, "alias": alias, "version": target})

    def _imported_version(self, name: str, v: StoreVersion, run_id: str | None) -> int | None:
        """The mlcycle version an earlier import made of MLflow's `v` (same model, version and run)."""
        import json

        for row in self.db.query("SELECT version, recipe_json FROM model_versions WHERE name = ? AND run_id = ?",
                                 (name, run_id)):
            recipe = json.loads(row["recipe_json"] or "{}")
            if recipe.get("mlflow_model_name") == v.name and recipe.get("mlflow_version") == v.version:
                return int(row["version"])
        return None

    def _model_folder(self, store: Store, v: StoreVersion, logged: dict[str, Any] | None,
                      roots: list[Path]) -> Path | None:
        candidates: list[str] = []
        if logged is not None and logged.get("folder"):
            candidates.append(str(logged["folder"]))
        for text in (v.location, (logged or {}).get("location")):
            if text:
                candidates.append(text)
        m = re.fullmatch(r"runs:/([0-9a-fA-F]{32})/(.+)", v.source or "")
        if m:
            run = next((r for r in store.runs if r.run_id == m.group(1)), None)
            if run is not None and run.artifact_uri:
                candidates.append(run.artifact_uri.rstrip("/") + "/" + m.group(2))
        elif v.source and not v.source.startswith("models:/"):
            candidates.append(v.source)
        for text in candidates:
            found = _locate(text, [store.root, *roots])
            if found is not None and (found / "MLmodel").is_file():
                return found
        return None


def _locate(uri: str, roots: list[Path]) -> Path | None:
    """A local folder for an artifact URI: as recorded, else its path's tail under one of `roots`."""
    if uri.startswith("mlflow-artifacts:"):
        path = Path(urlparse(uri).path.lstrip("/"))
        tails = [path]
    else:
        path = Path(unquote(urlparse(uri).path) if uri.startswith("file:") else uri)
        if path.is_dir():
            return path
        tails = [Path(*path.parts[i:]) for i in range(1, len(path.parts))]
    for root in roots:
        for tail in tails:
            candidate = root / tail
            if candidate.is_dir():
                return candidate
    return None

"""MLflow's tracking entities mapped onto mlcycle's runs, artifacts and registry.

Why this exists: `MLFLOW_TRACKING_URI=http://127.0.0.1:PORT python train.py` must log into the
workspace unchanged, and what it logs must be mlcycle's own runs (in `mlcycle runs list`, on the
Experiments screen, in `ws.runs.search`) and registry versions (promoted, served, monitored). The
HTTP front door (server/mlflow_tracking/) only parses requests and writes answers; every mapping
decision is here, in the stage layer, with no web framework:

- experiments are mlcycle experiments; MLflow's id is the experiment's row id as text, and MLflow's
  "Default" experiment (id "0") is mlcycle's `default`;
- runs keep their 32-hex ids; statuses are upper-cased; times are epoch milliseconds; a run is
  recorded without a heartbeat thread (each call is its sign of life, `Run.touch`);
- params are immutable as in MLflow (the same value again is fine, another is refused);
- artifacts live in the content-addressed store as the run's artifacts, at MLflow's relative paths;
  MLflow 3's logged models and dataset inputs are kept as small JSON artifacts of their run
  (kinds `mlflow-logged-model`, `mlflow-inputs`), a logged model's files under
  `mlflow-models/<model_id>/`; runs MLflow deletes are deleted for good;
- a registered model version is loaded (experiments/mlflow_models.py) and registered as an
  mlcycle version; MLflow's own source, run and logged-model ids are kept in its recipe.

Errors are `MlflowError` with MLflow's `error_code`, or the usual `UserError` (read as
INVALID_PARAMETER_VALUE) and `NotFoundError` (RESOURCE_DOES_NOT_EXIST).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlcycle_tui.common.errors import NotFoundError, UserError
from mlcycle_tui.config import NAME_RE
from mlcycle_tui.experiments.mlflow_filter import (
    experiment_filter,
    iso_to_ms,
    ms_to_iso,
    translate_filter,
    translate_order_by,
)

if TYPE_CHECKING:
    from mlcycle_tui.data.versions import Data
    from mlcycle_tui.events import Events
    from mlcycle_tui.experiments.tracking import Run, Tracking
    from mlcycle_tui.registry.versions import ModelVersion, Registry
    from mlcycle_tui.storage.artifacts import ArtifactStore
    from mlcycle_tui.storage.db import Database

DEFAULT_EXPERIMENT = "default"  # MLflow's experiment "0", named "Default"
LOGGED_MODEL = "mlflow-logged-model"
MODEL_FILE = "mlflow-model-file"
INPUTS = "mlflow-inputs"
INPUTS_NAME = "mlflow-inputs.json"
HIDDEN_KINDS = (LOGGED_MODEL, MODEL_FILE, INPUTS)
MODELS_DIR = "mlflow-models"
STATUS_IN = {"RUNNING": "running", "SCHEDULED": "running", "FINISHED": "finished", "FAILED": "failed",
             "KILLED": "killed"}
MAX_RESULTS = 50_000
MAX_BATCH = {"metrics": 1000, "params": 100, "tags": 100}
_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")


class MlflowError(UserError):
    """An answer for an MLflow client: `error_code` is MLflow's (`databricks_pb2.ErrorCode`)."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code


def not_supported(what: str, instead: str = "") -> MlflowError:
    return MlflowError("NOT_IMPLEMENTED", f"mlcycle's MLflow tracking API does not support {what}"
                       + (f"; {instead}" if instead else ""))


def _number(value: float | None) -> float | str:
    """A metric value as MLflow's JSON writes it (NaN and infinities as text)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _pairs(items: Any, what: str) -> list[tuple[str, str]]:
    """[{"key","value"}] -> [(key, value)] (MLflow's KeyValue lists)."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise UserError(f"{what} must be a list of {{\"key\", \"value\"}} objects")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise UserError(f"each of {what} must be an object with a text 'key' and a 'value'")
        value = item.get("value", "")
        out.append((item["key"], value if isinstance(value, str) else json.dumps(value)))
    return out


def _kv(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def _ms(value: Any, what: str) -> int:
    """Epoch milliseconds from a request (MLflow's JSON sends int64 as a number or as text)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UserError(f"{what} must be epoch milliseconds, got {value!r}")
    try:
        ms = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{what} must be epoch milliseconds, got {value!r}") from None
    if not 0 <= ms < 10**14:
        raise UserError(f"{what} must be epoch milliseconds after 1970, got {value!r}")
    return ms


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise UserError(f"{what} must be text, got {value!r}")


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError(f"{what} must be a list, got {value!r}")
    return value


def _seconds(ms: Any, what: str) -> float:
    try:
        return float(ms) / 1000.0
    except (TypeError, ValueError):
        raise UserError(f"{what} must be epoch milliseconds, got {ms!r}") from None


class MlflowTracking:
    """MLflow's experiments, runs, artifacts, logged models and registry over the workspace's stages."""

    def __init__(self, db: Database, artifacts: ArtifactStore, events: Events, runs: Tracking, registry: Registry,
                 data: Data) -> None:
        self.db = db
        self.events = events
        self.artifacts = artifacts
        self.runs = runs
        self.registry = registry
        self.data = data
        self._lock = threading.Lock()  # one logged-model / inputs JSON rewrite at a time

    # -- experiments -------------------------------------------------------------------------
    def _exp_entity(self, row: dict[str, Any]) -> dict[str, Any]:
        exp_id = "0" if row["name"] == DEFAULT_EXPERIMENT else str(row["id"])
        created = iso_to_ms(row["created"])
        return {"experiment_id": exp_id, "name": "Default" if exp_id == "0" else row["name"],
                "artifact_location": f"mlflow-artifacts:/{exp_id}", "lifecycle_stage": "active",
                "last_update_time": iso_to_ms(row.get("last_run")) or created, "creation_time": created,
                "tags": []}

    def _exp_row(self, exp_id: Any) -> dict[str, Any]:
        text = str(exp_id if exp_id is not None else "").strip()
        if text == "0":
            rows = self.runs.experiment_rows(name=DEFAULT_EXPERIMENT)
            if not rows:
                self.runs.create_experiment(DEFAULT_EXPERIMENT)
                rows = self.runs.experiment_rows(name=DEFAULT_EXPERIMENT)
            return rows[0]
        rows = self.runs.experiment_rows(exp_id=int(text)) if text.isascii() and text.isdigit() and \
            len(text) < 18 else []
        if not rows:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"no experiment with id {text!r}; "
                                                         "list them with `mlcycle experiments list`")
        return rows[0]

    @staticmethod
    def _mlcycle_name(name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise MlflowError("INVALID_PARAMETER_VALUE", "an experiment needs a name")
        if name == "Default":
            return DEFAULT_EXPERIMENT
        if not NAME_RE.match(name) or ".." in name:
            raise MlflowError("INVALID_PARAMETER_VALUE",
                              f"invalid experiment name {name!r} for mlcycle: use 1-64 letters, digits, '_', '.' "
                              "or '-', starting with a letter or digit (e.g. mlflow.set_experiment('churn-v2'))")
        return name

    def experiment(self, exp_id: Any) -> dict[str, Any]:
        return self._exp_entity(self._exp_row(exp_id))

    def experiment_id(self, exp_id: Any) -> str:
        return self.experiment(exp_id)["experiment_id"]

    def experiment_by_name(self, name: Any) -> dict[str, Any]:
        rows = self.runs.experiment_rows(name=self._mlcycle_name(name))
        if not rows:
            if name == "Default":
                return self.experiment("0")
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name {name!r}")
        return self._exp_entity(rows[0])

    def create_experiment(self, name: Any, artifact_location: Any = None, tags: Any = None) -> str:
        mlcycle_name = self._mlcycle_name(name)
        if artifact_location:
            raise not_supported("a custom artifact_location", "mlcycle keeps every artifact in its workspace; "
                                "leave artifact_location out")
        exp_id, created = self.runs.create_experiment(mlcycle_name)
        if not created:
            raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Experiment {name!r} already exists")
        if tags:
            _pairs(tags, "tags")  # checked; mlcycle experiments have no tags
        return "0" if mlcycle_name == DEFAULT_EXPERIMENT else str(exp_id)

    def search_experiments(self, filter_text: Any = None, max_results: Any = None, page_token: Any = None,
                           view_type: Any = None) -> dict[str, Any]:
        if view_type == "DELETED_ONLY":
            return {"experiments": []}
        rows = self.runs.experiment_rows()
        cond = experiment_filter(filter_text if isinstance(filter_text, str) else None)
        entities = [self._exp_entity(r) for r in rows]
        if cond is not None:
            op, value = cond
            if op in ("like", "ilike"):
                pattern = re.compile("^" + re.escape(value).replace("%", ".*").replace("_", ".") + "$",
                                     re.IGNORECASE if op == "ilike" else 0)
                entities = [e for e in entities if pattern.match(e["name"])]
            else:
                entities = [e for e in entities if (e["name"] == value) == (op == "=")]
        entities.sort(key=lambda e: -(e["creation_time"] or 0))
        return self._page(entities, "experiments", max_results, page_token, 1000)

    @staticmethod
    def _page(items: list[Any], key: str, max_results: Any, page_token: Any, default: int) -> dict[str, Any]:
        limit = _limit(max_results, default)
        offset = _offset(page_token)
        out: dict[str, Any] = {key: items[offset : offset + limit]}
        if offset + limit < len(items):
            out["next_page_token"] = _token(offset + limit)
        return out

    # -- runs --------------------------------------------------------------------------------
    def _run(self, run_id: Any) -> Run:
        if not isinstance(run_id, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", run_id):
            raise MlflowError("RESOURCE_DOES_NOT_EXIST" if isinstance(run_id, str) else "INVALID_PARAMETER_VALUE",
                              f"Run with id={run_id!r} not found" if isinstance(run_id, str) else
                              "give the run's id (run_id)")
        try:
            return self.runs.open_run(run_id)
        except NotFoundError:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Run with id={run_id} not found") from None

    def create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        exp = self._exp_row(body.get("experiment_id") or "0")
        tags = dict(_pairs(body.get("tags"), "tags"))
        name = body.get("run_name") or tags.get("mlflow.runName") or _run_name()
        tags["mlflow.runName"] = name
        if body.get("user_id") and "mlflow.user" not in tags:
            tags["mlflow.user"] = str(body["user_id"])
        created = ms_to_iso(_ms(body["start_time"], "start_time")) if body.get("start_time") is not None else None
        run = self.runs.record_run(exp["name"], name=name, created=created, tags=tags,
                                   commit=tags.get("mlflow.source.git.commit"))
        return {"run": self.run_entity(run.id)}

    def run_entity(self, run_id: str) -> dict[str, Any]:
        return self.run_entities([self._run(run_id).id])[0]

    def run_entities(self, ids: list[str], found: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Runs as MLflow's Run messages, in the order of `ids` (a few queries per page); `found` are their
        summaries when a search has them already."""
        summaries = {s["run_id"]: s for s in (found if found is not None else self.runs.summaries(ids))} \
            if ids else {}
        metrics = self.runs.latest_metric_rows(ids)
        exp_ids = {r["name"]: ("0" if r["name"] == DEFAULT_EXPERIMENT else str(r["id"]))
                   for r in self.runs.experiment_rows()}
        extras = self.runs.artifact_rows(ids, kinds=[LOGGED_MODEL, INPUTS]) if ids else []
        inputs: dict[str, list[Any]] = {}
        outputs: dict[str, list[Any]] = {}
        for a in extras:
            if a["kind"] == INPUTS:
                inputs[a["run_id"]] = self._json(a["sha256"], a["path"])
            else:
                model_id = a["name"].removeprefix(MODELS_DIR + "/").removesuffix(".json")
                outputs.setdefault(a["run_id"], []).append({"model_id": model_id, "step": 0})
        out = []
        for run_id in ids:
            s = summaries.get(run_id)
            if s is None:
                continue
            exp_id = exp_ids.get(s["experiment"], "0")
            info: dict[str, Any] = {
                "run_uuid": run_id, "run_id": run_id, "experiment_id": exp_id,
                "run_name": s["tags"].get("mlflow.runName") or s.get("name") or "",
                "user_id": s["tags"].get("mlflow.user", ""), "status": s["status"].upper(),
                "start_time": iso_to_ms(s["created"]),
                "artifact_uri": f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts", "lifecycle_stage": "active",
            }
            if s.get("ended"):
                info["end_time"] = iso_to_ms(s["ended"])
            data = {
                "metrics": [{"key": m["key"], "value": _number(m["value"]), "timestamp": round(m["timestamp"] * 1000),
                             "step": m["step"]} for m in metrics.get(run_id, [])],
                "params": _kv(s["params"]), "tags": _kv(s["tags"]),
            }
            entity: dict[str, Any] = {"info": info, "data": data, "inputs": {}, "outputs": {}}
            if inputs.get(run_id):
                entity["inputs"] = {"dataset_inputs": inputs[run_id]}
            if outputs.get(run_id):
                entity["outputs"] = {"model_outputs": outputs[run_id]}
            out.append(entity)
        return out

    def update_run(self, body: dict[str, Any]) -> dict[str, Any]:
        run = self._run(body.get("run_id") or body.get("run_uuid"))
        if body.get("run_name"):
            run.set_tag("mlflow.runName", str(body["run_name"]))
        status = body.get("status")
        if status is not None:
            if status not in STATUS_IN:
                raise MlflowError("INVALID_PARAMETER_VALUE", f"unknown run status {status!r}; one of "
                                  + ", ".join(STATUS_IN))
            ended = ms_to_iso(_ms(body["end_time"], "end_time")) if body.get("end_time") is not None else None
            run.close_at(STATUS_IN[status], ended if STATUS_IN[status] != "running" else None)
        else:
            run.touch()
        return {"run_info": self.run_entity(run.id)["info"]}

    def delete_run(self, run_id: Any) -> None:
        self.runs.delete(self._run(run_id).id)

    def log_param(self, run_id: Any, key: Any, value: Any) -> None:
        self.log_batch(run_id, params=[{"key": key, "value": value}])

    def set_tag(self, run_id: Any, key: Any, value: Any) -> None:
        self.log_batch(run_id, tags=[{"key": key, "value": value}])

    def delete_tag(self, run_id: Any, key: Any) -> None:
        run = self._run(run_id)
        if not run.delete_tag(str(key)):
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No tag with name: {key} in run with id {run.id}")

    def log_batch(self, run_id: Any, metrics: Any = None, params: Any = None, tags: Any = None) -> None:
        run = self._run(run_id)
        for what, items in (("metrics", metrics), ("params", params), ("tags", tags)):
            if items is not None and not isinstance(items, list):
                raise UserError(f"{what} must be a list")
            if items and len(items) > MAX_BATCH[what]:
                raise MlflowError("INVALID_PARAMETER_VALUE", f"a batch holds at most {MAX_BATCH[what]} {what}, "
                                  f"got {len(items)}: send them in several log_batch calls")
        param_pairs = _pairs(params, "params")
        if param_pairs:
            self._check_params(run, param_pairs)
        rows = []
        for m in metrics or []:
            if not isinstance(m, dict) or not isinstance(m.get("key"), str) or "value" not in m:
                raise UserError("each metric must be an object with a text 'key' and a 'value'")
            stamp = _seconds(m["timestamp"], "a metric's timestamp") if m.get("timestamp") is not None else time.time()
            rows.append((m["key"], m["value"], m.get("step") or 0, stamp))
        if rows:  # a value sent again (MLflow 3 links a run's metrics to its model so) is stored once
            run.log_metric_values(rows, skip_existing=True)
        tag_pairs = _pairs(tags, "tags")
        if param_pairs or tag_pairs:
            run.log_batch(params=param_pairs, tags=tag_pairs)
        if run.status == "running":
            run.touch()

    def _check_params(self, run: Run, pairs: list[tuple[str, str]]) -> None:
        """MLflow's rule: a param's value cannot change once logged (the same value again is fine)."""
        known = self.runs.summaries([run.id])[0]["params"]
        seen: dict[str, str] = {}
        for key, value in pairs:
            old = known.get(key, seen.get(key))
            if old is not None and old != value:
                raise MlflowError("INVALID_PARAMETER_VALUE",
                                  f"Changing param values is not allowed. Param with key={key!r} was already "
                                  f"logged with value={old!r} for run ID={run.id!r}. Attempted logging new "
                                  f"value {value!r}.")
            seen[key] = value

    def metric_history(self, run_id: Any, key: Any, max_results: Any = None, page_token: Any = None) -> dict:
        run = self._run(run_id)
        if not isinstance(key, str) or not key:
            raise UserError("give the metric's name (metric_key)")
        rows = self.runs.metric_history(run.id, key)
        metrics = [{"key": key, "value": _number(r["value"]), "timestamp": round(r["timestamp"] * 1000),
                    "step": r["step"]} for r in rows]
        return self._page(metrics, "metrics", max_results, page_token, 25_000)

    def search_runs(self, body: dict[str, Any]) -> dict[str, Any]:
        view = body.get("run_view_type") or "ACTIVE_ONLY"
        exp_ids = _list(body.get("experiment_ids"), "experiment_ids")
        limit = _limit(body.get("max_results"), 1000)
        offset = _offset(body.get("page_token"))
        if view == "DELETED_ONLY":
            return {"runs": []}
        names = [self._exp_row(e)["name"] for e in exp_ids]
        filter_text = translate_filter(_text(body.get("filter"), "filter"))
        sort = translate_order_by(_list(body.get("order_by"), "order_by"))
        experiment = names[0] if len(names) == 1 else None
        if len(names) > 1:
            either = " or ".join(f'experiment = "{n}"' for n in names)
            filter_text = f"({either})" + (f" and ({filter_text})" if filter_text else "")
        found = self.runs.search(experiment=experiment, filter=filter_text, sort=sort, limit=limit + 1,
                                 offset=offset)
        ids = [r["run_id"] for r in found]
        out: dict[str, Any] = {"runs": self.run_entities(ids[:limit], found[:limit])}
        if len(ids) > limit:
            out["next_page_token"] = _token(offset + limit)
        return out

    def log_inputs(self, run_id: Any, datasets: Any, models: Any = None) -> None:
        run = self._run(run_id)
        if datasets is not None and not isinstance(datasets, list):
            raise UserError("datasets must be a list")
        with self._lock:
            current = self._inputs_of(run.id)
            keys = {_input_key(d) for d in current}
            for item in datasets or []:
                ds = item.get("dataset") if isinstance(item, dict) else None
                if not isinstance(ds, dict) or not ds.get("name") or not ds.get("digest"):
                    raise UserError("each dataset input needs a dataset with a name and a digest")
                entry = {"tags": item.get("tags") or [], "dataset": {
                    k: ds.get(k) for k in ("name", "digest", "source_type", "source", "schema", "profile")
                    if ds.get(k) is not None}}
                if _input_key(entry) not in keys:
                    keys.add(_input_key(entry))
                    current.append(entry)
            run.log_file(INPUTS_NAME, json.dumps(current).encode(), kind=INPUTS)
        run.touch()

    def _inputs_of(self, run_id: str) -> list[Any]:
        rows = self.runs.artifact_rows([run_id], kinds=[INPUTS])
        return list(self._json(rows[0]["sha256"], rows[0]["path"])) if rows else []

    def log_outputs(self, run_id: Any, models: Any) -> None:
        run = self._run(run_id)
        for m in models or []:
            model_id = m.get("model_id") if isinstance(m, dict) else None
            self._logged_model_row(model_id)  # 404 when unknown
        run.touch()

    # -- artifacts ---------------------------------------------------------------------------
    def resolve_artifact(self, path: str) -> tuple[Run, str, str]:
        """(run, prefix of its artifact names, rest) of a proxied path
        `<exp>/<run_id>/artifacts/<rest>` or `<exp>/models/<model_id>/artifacts/<rest>`."""
        parts = [p for p in (path or "").strip("/").split("/")]
        if len(parts) >= 3 and parts[1] == "models" and len(parts) >= 4 and parts[3] == "artifacts":
            row = self._logged_model_row(parts[2])
            return self._run(row["run_id"]), f"{MODELS_DIR}/{parts[2]}/", "/".join(parts[4:])
        if len(parts) >= 3 and parts[2] == "artifacts":
            return self._run(parts[1]), "", "/".join(parts[3:])
        raise MlflowError("INVALID_PARAMETER_VALUE",
                          f"artifact path {path!r} is not one this server gave out: it reads "
                          "<experiment>/<run_id>/artifacts/<path> or <experiment>/models/<model_id>/artifacts/<path>")

    def put_artifact(self, path: str, stream: BinaryIO | bytes) -> None:
        run, prefix, rest = self.resolve_artifact(path)
        if not rest:
            raise UserError("give the file's path under the artifact folder")
        if not prefix and rest.split("/")[0] == MODELS_DIR:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"{MODELS_DIR}/ is where mlcycle keeps logged models; "
                                                         "choose another artifact path")
        if not prefix and self.runs.artifact_rows([run.id], name="recipe.json"):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"run {run.id} was trained by mlcycle: its artifacts are "
                                                         "what its model version is made of and stay as they are; "
                                                         "log into a run of your own")
        run.log_file(prefix + rest, stream, kind=MODEL_FILE if prefix else "file")
        if run.status == "running":
            run.touch()

    def artifact_file(self, path: str) -> Path:
        run, prefix, rest = self.resolve_artifact(path)
        try:
            return self.runs.artifact_file(run.id, prefix + rest)
        except NotFoundError:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"no artifact {rest!r} in run {run.id}") from None

    def list_artifacts(self, path: str | None) -> list[dict[str, Any]]:
        """The artifacts proxy's listing: names relative to the folder listed (as MLflow's server gives them)."""
        run, prefix, rest = self.resolve_artifact(path or "")
        return [dict(f, path=f["path"].rsplit("/", 1)[-1]) for f in self._listing(run.id, prefix, rest)]

    def list_run_artifacts(self, run_id: Any, path: Any = None) -> dict[str, Any]:
        run = self._run(run_id)
        rest = str(path or "").strip("/")
        exp_id = self.run_entity(run.id)["info"]["experiment_id"]
        return {"root_uri": f"mlflow-artifacts:/{exp_id}/{run.id}/artifacts",
                "files": self._listing(run.id, "", rest)}

    def _listing(self, run_id: str, prefix: str, rest: str) -> list[dict[str, Any]]:
        kinds_hidden = set(HIDDEN_KINDS) - ({MODEL_FILE} if prefix else set())
        base = prefix + (rest.strip("/") + "/" if rest.strip("/") else "")
        files: dict[str, dict[str, Any]] = {}
        for a in self.runs.artifact_rows([run_id]):
            if a["kind"] in kinds_hidden or not a["name"].startswith(base):
                continue
            if not prefix and a["name"].startswith(MODELS_DIR + "/"):
                continue
            tail = a["name"][len(base):]
            head, _, more = tail.partition("/")
            shown = (rest.strip("/") + "/" + head) if rest.strip("/") else head
            if more:
                files.setdefault(shown, {"path": shown, "is_dir": True})
            else:
                files[shown] = {"path": shown, "is_dir": False, "file_size": a["size"]}
        return [files[k] for k in sorted(files)]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - content-addressed: a sha's bytes never change
    def _json(self, sha: str, rel: str) -> Any:
        return json.loads(self.artifacts.load_bytes(sha, rel))

    # -- logged models (MLflow 3) -------------------------------------------------------------
    def _logged_model_row(self, model_id: Any) -> dict[str, Any]:
        if not isinstance(model_id, str) or not _MODEL_ID.fullmatch(model_id):
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Logged model with ID {model_id!r} not found")
        rows = self.runs.artifact_rows(kinds=[LOGGED_MODEL], name=f"{MODELS_DIR}/{model_id}.json")
        if not rows:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Logged model with ID {model_id!r} not found")
        return rows[0]

    def _logged_model(self, model_id: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        row = self._logged_model_row(model_id)
        return row, dict(self._json(row["sha256"], row["path"]))

    def _save_logged_model(self, run: Run, doc: dict[str, Any]) -> None:
        doc["last_updated_timestamp_ms"] = round(time.time() * 1000)
        run.log_file(f"{MODELS_DIR}/{doc['model_id']}.json", json.dumps(doc).encode(), kind=LOGGED_MODEL)

    def logged_model_entity(self, doc: dict[str, Any]) -> dict[str, Any]:
        info = {k: doc[k] for k in ("model_id", "experiment_id", "name", "creation_timestamp_ms",
                                    "last_updated_timestamp_ms", "status", "model_type", "source_run_id")
                if doc.get(k) is not None}
        info["artifact_uri"] = f"mlflow-artifacts:/{doc['experiment_id']}/models/{doc['model_id']}/artifacts"
        info["tags"] = _kv(doc.get("tags") or {})
        return {"info": info, "data": {"params": _kv(doc.get("params") or {})}}

    def create_logged_model(self, body: dict[str, Any]) -> dict[str, Any]:
        exp_id = self.experiment_id(body.get("experiment_id") or "0")
        name = body.get("name") or "model"
        run_id = body.get("source_run_id")
        if run_id:
            run = self._run(run_id)
        else:  # mlcycle keeps every model with a run: one that holds it
            exp = self._exp_row(exp_id)
            run = self.runs.record_run(exp["name"], status="finished", name=str(name),
                                       tags={"mlflow.runName": str(name),
                                             "mlcycle.note": "holds a model logged outside a run"})
        model_id = "m-" + uuid.uuid4().hex
        now = round(time.time() * 1000)
        doc = {"model_id": model_id, "experiment_id": exp_id, "name": str(name), "source_run_id": run.id,
               "status": "LOGGED_MODEL_PENDING", "model_type": body.get("model_type") or "",
               "creation_timestamp_ms": now, "tags": dict(_pairs(body.get("tags"), "tags")),
               "params": dict(_pairs(body.get("params"), "params"))}
        with self._lock:
            self._save_logged_model(run, doc)
        return {"model": self.logged_model_entity(doc)}

    def get_logged_model(self, model_id: Any) -> dict[str, Any]:
        return {"model": self.logged_model_entity(self._logged_model(model_id)[1])}

    def update_logged_model(self, model_id: Any, *, status: Any = None, tags: Any = None,
                            params: Any = None, delete_tag: str | None = None) -> dict[str, Any]:
        with self._lock:
            row, doc = self._logged_model(model_id)
            if status is not None:
                if status not in ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"):
                    raise UserError(f"unknown logged model status {status!r}")
                doc["status"] = status
            if tags:
                doc["tags"] = dict(doc.get("tags") or {}) | dict(_pairs(tags, "tags"))
            if params:
                doc["params"] = dict(doc.get("params") or {}) | dict(_pairs(params, "params"))
            if delete_tag is not None:
                doc["tags"] = {k: v for k, v in (doc.get("tags") or {}).items() if k != delete_tag}
            self._save_logged_model(self._run(row["run_id"]), doc)
        return {"model": self.logged_model_entity(doc)}

    def search_logged_models(self, body: dict[str, Any]) -> dict[str, Any]:
        exp_ids = {self.experiment_id(e) for e in _list(body.get("experiment_ids"), "experiment_ids")}
        cond = experiment_filter(_text(body.get("filter"), "filter")) if body.get("filter") else None
        if cond is not None and cond[0] not in ("=", "!="):
            raise UserError("mlcycle filters logged models by name = 'x' or name != 'x'")
        models = []
        for row in self.runs.artifact_rows(kinds=[LOGGED_MODEL]):
            doc = self._json(row["sha256"], row["path"])
            if exp_ids and doc.get("experiment_id") not in exp_ids:
                continue
            if cond is not None and (doc.get("name") == cond[1]) != (cond[0] == "="):
                continue
            models.append(self.logged_model_entity(doc))
        models.sort(key=lambda m: -(m["info"].get("creation_timestamp_ms") or 0))
        return self._page(models, "models", body.get("max_results"), body.get("page_token"), 100)

    def adopt_logged_model(self, run_id: str, model_id: str, name: str, folder: Path,
                           created_ms: int | None = None) -> None:
        """Keep a logged model found elsewhere (an imported store) with its run: its files and its record,
        so that `models:/<model_id>` resolves through this API (nothing is done when it is kept already)."""
        if not _MODEL_ID.fullmatch(model_id) or self.runs.artifact_rows(kinds=[LOGGED_MODEL],
                                                                         name=f"{MODELS_DIR}/{model_id}.json"):
            return
        run = self._run(run_id)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            with open(path, "rb") as fh:
                run.log_file(f"{MODELS_DIR}/{model_id}/{path.relative_to(folder).as_posix()}", fh, kind=MODEL_FILE)
        exp_id = self.run_entity(run.id)["info"]["experiment_id"]
        doc = {"model_id": model_id, "experiment_id": exp_id, "name": name, "source_run_id": run.id,
               "status": "LOGGED_MODEL_READY", "model_type": "", "tags": {}, "params": {},
               "creation_timestamp_ms": created_ms or round(time.time() * 1000)}
        with self._lock:
            self._save_logged_model(run, doc)

    def logged_model_files(self, model_id: str) -> tuple[Run, str]:
        row = self._logged_model_row(model_id)
        return self._run(row["run_id"]), f"{MODELS_DIR}/{model_id}/"

    # -- the registry --------------------------------------------------------------------------
    @staticmethod
    def _model_name(name: Any) -> str:
        if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
            raise MlflowError("INVALID_PARAMETER_VALUE",
                              f"invalid registered model name {name!r} for mlcycle: use 1-64 letters, digits, '_', "
                              "'.' or '-', starting with a letter or digit")
        return name

    def _version_entity(self, mv: ModelVersion) -> dict[str, Any]:
        created = iso_to_ms(mv.created)
        source = mv.recipe.get("mlflow_source") or f"runs:/{mv.run_id}/model"
        out: dict[str, Any] = {
            "name": mv.name, "version": str(mv.version), "creation_timestamp": created,
            "last_updated_timestamp": created, "current_stage": "None", "description": "", "source": source,
            "run_id": mv.run_id, "status": "READY", "run_link": "", "aliases": list(mv.aliases), "tags": [],
        }
        note = self.reference_status(mv)
        if note:
            out["status_message"] = note
        if mv.recipe.get("mlflow_model_id"):
            out["model_id"] = mv.recipe["mlflow_model_id"]
        return out

    def _registered_entity(self, name: str) -> dict[str, Any]:
        row = self.db.query_one("SELECT name, created, description FROM models WHERE name = ?", (name,))
        if row is None:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found")
        versions = self.registry.model_versions(name) if self.db.scalar(
            "SELECT 1 FROM model_versions WHERE name = ? LIMIT 1", (name,)) else []
        created = iso_to_ms(row["created"])
        out: dict[str, Any] = {"name": name, "creation_timestamp": created,
                               "last_updated_timestamp": max([created or 0, *(iso_to_ms(v.created) or 0
                                                                              for v in versions)]),
                               "description": row["description"] or "", "tags": []}
        if versions:
            out["latest_versions"] = [self._version_entity(versions[0])]
            out["aliases"] = [{"alias": a, "version": str(v.version)} for v in versions for a in v.aliases]
        return out

    def create_registered_model(self, name: Any, description: Any = None) -> dict[str, Any]:
        name = self._model_name(name)
        if not self.registry.create_model(name, str(description or "")):
            raise MlflowError("RESOURCE_ALREADY_EXISTS", f"Registered Model (name={name}) already exists.")
        return {"registered_model": self._registered_entity(name)}

    def get_registered_model(self, name: Any) -> dict[str, Any]:
        return {"registered_model": self._registered_entity(self._model_name(name))}

    def search_registered_models(self, filter_text: Any = None, max_results: Any = None,
                                 page_token: Any = None) -> dict[str, Any]:
        cond = experiment_filter(_text(filter_text, "filter")) if filter_text else None
        names = [r["name"] for r in self.db.query("SELECT name FROM models ORDER BY name")]
        if cond is not None:
            op, value = cond
            pattern = re.compile("^" + re.escape(value).replace("%", ".*").replace("_", ".") + "$",
                                 re.IGNORECASE if op == "ilike" else 0)
            names = [n for n in names if (pattern.match(n) if op in ("like", "ilike") else (n == value) == (op == "="))]
        return self._page([self._registered_entity(n) for n in names], "registered_models", max_results,
                          page_token, 100)

    def model_version(self, name: Any, version: Any) -> dict[str, Any]:
        return {"model_version": self._version_entity(self._mv(name, version))}

    def _mv(self, name: Any, version: Any) -> ModelVersion:
        name = self._model_name(name)
        text = str(version or "")
        if not (text.isascii() and text.isdigit() and len(text) < 18):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"a model version is a number, got {version!r}")
        try:
            return self.registry.model_version(f"{name}@{int(text)}")
        except NotFoundError:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST",
                              f"Model Version (name={name}, version={text}) not found") from None

    def download_uri(self, name: Any, version: Any) -> dict[str, Any]:
        mv = self._mv(name, version)
        uri = mv.recipe.get("mlflow_artifact_uri")
        if not uri:
            raise not_supported(f"downloading {mv.ref} as an MLflow model (mlcycle trained it)",
                                f"export it with `mlcycle export {mv.ref} --to DIR --format mlflow`")
        return {"artifact_uri": uri}

    def search_model_versions(self, filter_text: Any = None, max_results: Any = None,
                              page_token: Any = None) -> dict[str, Any]:
        name = run_id = None
        for clause in [c.strip() for c in re.split(r"(?i)\s+and\s+", str(filter_text or "")) if c.strip()]:
            m = re.fullmatch(r"(?i)(name|run_id)\s*=\s*(['\"])(.*)\2", clause)
            if m is None:
                raise UserError(f"cannot read the model version filter {filter_text!r}: mlcycle reads "
                                "name = 'x' and run_id = 'y', joined by AND")
            if m.group(1).lower() == "name":
                name = m.group(3)
            else:
                run_id = m.group(3)
        if name is not None and not self.db.scalar("SELECT 1 FROM models WHERE name = ?", (name,)):
            return {"model_versions": []}
        versions = [v for v in (self.registry.model_versions(name) if name is not None or
                                self.db.scalar("SELECT 1 FROM model_versions LIMIT 1") else [])
                    if run_id is None or v.run_id == run_id]
        return self._page([self._version_entity(v) for v in versions], "model_versions", max_results,
                          page_token, 10_000)

    def set_alias(self, name: Any, alias: Any, version: Any) -> None:
        mv = self._mv(name, version)
        if not isinstance(alias, str) or not NAME_RE.match(alias):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"invalid alias {alias!r}")
        from mlcycle_tui.common.errors import OperationError

        try:
            self.registry.promote(mv.name, mv.version, alias)
        except OperationError as exc:
            raise MlflowError("BAD_REQUEST", exc.message) from None

    def delete_alias(self, name: Any, alias: Any) -> None:
        try:
            self.registry.remove_alias(self._model_name(name), str(alias))
        except NotFoundError as exc:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", exc.message) from None

    def version_by_alias(self, name: Any, alias: Any) -> dict[str, Any]:
        name = self._model_name(name)
        try:
            mv = self.registry.model_version(f"{name}@{alias}")
        except NotFoundError as exc:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", exc.message) from None
        if not mv.aliases or alias not in mv.aliases:
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Registered model alias {alias} not found.")
        return {"model_version": self._version_entity(mv)}

    def create_model_version(self, body: dict[str, Any]) -> dict[str, Any]:
        """Load the logged scikit-learn model the source names and register it as an mlcycle version."""
        from mlcycle_tui.experiments.mlflow_models import ModelNotUsable, load_sklearn, read_mlmodel

        name = self._model_name(body.get("name"))
        if not self.db.scalar("SELECT 1 FROM models WHERE name = ?", (name,)):
            raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found")
        source = str(body.get("source") or "")
        run, prefix, exp_id, model_id = self._model_source(source, body.get("model_id"), body.get("run_id"))

        def read(rel: str) -> bytes:
            return self.runs.artifact_file(run.id, prefix + rel).read_bytes()

        try:
            loaded = load_sklearn(read_mlmodel(read("MLmodel")), read)
        except NotFoundError:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"{source} has no MLmodel file: mlcycle registers models "
                              "logged with mlflow.sklearn.log_model (or autolog)") from None
        except ModelNotUsable as exc:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"mlcycle cannot register {source}: {exc.message}") from None
        artifact_uri = (f"mlflow-artifacts:/{exp_id}/models/{model_id}/artifacts" if model_id else
                        f"mlflow-artifacts:/{exp_id}/{run.id}/artifacts/{prefix.rstrip('/')}")
        recipe = {"source": "mlflow", "mlflow_source": source, "mlflow_run_id": run.id,
                  "mlflow_artifact_uri": artifact_uri, "target": self._target_guess(run.id, loaded.signature)}
        if model_id:
            recipe["mlflow_model_id"] = model_id
        if loaded.notes:
            recipe["notes"] = loaded.notes
        mv = self.registry.register_pipeline(name, run.id, loaded.estimator, task=loaded.task,
                                             signature=loaded.signature, kind=loaded.kind, recipe=recipe)
        run.set_info(model=loaded.kind, task=loaded.task)  # what `mlcycle runs list` shows
        mv = self._reference_from_inputs(mv, run.id)
        return {"model_version": self._version_entity(mv)}

    def _reference_from_inputs(self, mv: ModelVersion, run_id: str) -> ModelVersion:
        """The drift reference from the run's dataset input, when it names a local file the model's columns
        and target are in (`mlflow.data.from_pandas(df, source="train.csv")`): ingested and attached."""
        target = mv.recipe.get("target")
        if not target:
            return mv
        for entry in self._inputs_of(run_id):
            ds = entry.get("dataset") or {}
            if ds.get("source_type") != "local":
                continue
            try:
                uri = str(json.loads(ds.get("source") or "{}").get("uri") or "")
            except (ValueError, AttributeError):
                continue
            path = Path(uri[len("file://"):] if uri.startswith("file://") else uri).expanduser()
            if path.suffix.lower() not in (".csv", ".parquet", ".jsonl") or not path.is_file():
                continue
            try:
                dv = self.data.ingest(path, name=mv.name, target=target)
                return self.registry.attach_training_data(mv, dv.ref, target=target)
            except UserError as exc:
                self.events.log("monitor", mv.ref, f"the logged dataset {path} is no drift reference: "
                                         f"{exc.message}")
        return mv

    def _model_source(self, source: str, model_id: Any, run_id: Any) -> tuple[Run, str, str, str | None]:
        """(run holding the files, prefix of their names, experiment id, logged model id)."""
        m = re.fullmatch(r"models:/(m-[0-9a-f]{32})/?", source)
        if model_id or m:
            mid = str(model_id or (m.group(1) if m else ""))
            row, doc = self._logged_model(mid)
            return self._run(row["run_id"]), f"{MODELS_DIR}/{mid}/", str(doc["experiment_id"]), mid
        m = re.fullmatch(r"runs:/([0-9a-fA-F]{32})/(.+)", source)
        if m:
            run = self._run(m.group(1))
            path = m.group(2).strip("/")
            for row in self.runs.artifact_rows([run.id], kinds=[LOGGED_MODEL]):  # MLflow 3: the model's name
                doc = self._json(row["sha256"], row["path"])
                if doc.get("name") == path:
                    return run, f"{MODELS_DIR}/{doc['model_id']}/", str(doc["experiment_id"]), doc["model_id"]
            return run, path + "/", self.run_entity(run.id)["info"]["experiment_id"], None
        m = re.fullmatch(r"mlflow-artifacts:/+(.+)", source)
        if m:
            run, prefix, rest = self.resolve_artifact(m.group(1))
            mid = prefix.split("/")[1] if prefix else None
            return run, prefix + (rest.strip("/") + "/" if rest.strip("/") else ""), \
                self.run_entity(run.id)["info"]["experiment_id"], mid
        raise MlflowError("INVALID_PARAMETER_VALUE",
                          f"mlcycle registers models whose files it holds: give source 'models:/m-...', "
                          f"'runs:/RUN_ID/PATH' or this server's 'mlflow-artifacts:/...' URI, not {source!r}"
                          + (f" (run {run_id})" if run_id else ""))

    def _target_guess(self, run_id: str, signature: dict[str, Any]) -> str | None:
        """The target column: what a dataset input of the run has beyond the model's inputs, when one column."""
        from mlcycle_tui.experiments.mlflow_models import dataset_columns

        inputs = {c["name"] for c in signature.get("inputs", [])}
        for entry in self._inputs_of(run_id):
            extra = [c for c in dataset_columns((entry.get("dataset") or {}).get("schema")) if c not in inputs]
            if len(extra) == 1:
                return extra[0]
        return None

    def reference_status(self, mv: ModelVersion) -> str | None:
        """Why `mv` cannot be monitored yet (None when it can)."""
        if mv.split_id:
            return None
        return (f"no reference: monitoring {mv.ref} needs the data it was trained on: "
                f"`mlcycle import reference {mv.ref} --data DATASET` (ingest the file first with "
                "`mlcycle data ingest FILE --name NAME --target COLUMN`)")

    # -- sums for the bench and the tests ---------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return {"runs": int(self.db.scalar("SELECT count(*) FROM runs")),
                "experiments": int(self.db.scalar("SELECT count(*) FROM experiments"))}


def _input_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    ds = entry.get("dataset") or {}
    return ds.get("name"), ds.get("digest"), json.dumps(entry.get("tags") or [], sort_keys=True)


def _limit(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise UserError(f"max_results must be a whole number, got {value!r}") from None
    if not 1 <= limit <= MAX_RESULTS:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be from 1 to {MAX_RESULTS}, got {limit}")
    return limit


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: Any) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(token).encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise MlflowError("INVALID_PARAMETER_VALUE", f"page_token {str(token)[:40]!r} is not one this server gave")


_ADJECTIVES = ("bold", "calm", "eager", "fancy", "gentle", "happy", "keen", "lively", "merry", "nimble", "proud",
               "quick", "silent", "sunny", "tidy", "witty")
_NOUNS = ("ant", "bear", "crane", "deer", "eel", "finch", "gull", "hare", "ibis", "lynx", "moth", "newt", "owl",
          "panda", "seal", "wren")


def _run_name() -> str:
    """A run name like MLflow's (`adjective-animal-123`) for runs started without one."""
    import random

    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"


"""MLflow's tracking REST API served by mlcycle, tested with the real `mlflow` client.

The main test runs a training script the way a user would (a subprocess with MLFLOW_TRACKING_URI
pointing at a real server on port 0 over an empty workspace): the fluent API, `log_batch`,
dataset inputs, artifacts, `mlflow.sklearn.autolog()` and `log_model(registered_model_name=...)`,
`MlflowClient.search_runs` with MLflow's filter syntax, metric histories, artifact listing and
download, the registry's aliases and `delete_run`. Then the runs are checked in the workspace
(`ws.runs.search`, `mlcycle runs list`), and the registered model is promoted and answers
`/invocations`. The other tests check the error shape of what mlcycle does not support, the token
rule and the filter translation; they use the in-process server and plain HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlcycle_tui.experiments.mlflow_filter import ms_to_iso, translate_filter, translate_order_by
from mlcycle_tui.experiments.search_expr import parse_filter
from mlcycle_tui.server.runner import ServerRunner
from mlcycle_tui.workspace import Workspace

from .helpers import Client

API = "/api/2.0/mlflow"

TRAIN_SCRIPT = textwrap.dedent('''
    """A user's MLflow training script: nothing in it knows about mlcycle."""
    import json, os, sys, tempfile, time
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    out = {}
    X, y = load_iris(return_X_y=True, as_frame=True)
    exp = mlflow.set_experiment("iris-exp")
    out["experiment_id"] = exp.experiment_id
    with mlflow.start_run(run_name="manual") as run:
        mlflow.log_param("solver", "lbfgs")
        mlflow.log_params({"C": 1.0, "max_iter": 200})
        for step, acc in enumerate([0.7, 0.8, 0.9]):
            mlflow.log_metric("acc", acc, step=step)
        mlflow.log_metrics({"loss": 0.3, "f1": 0.6}, step=2)
        mlflow.set_tag("team", "ml")
        MlflowClient().log_batch(run.info.run_id, metrics=[Metric("batch", float(i), int(time.time() * 1000), i)
                                                           for i in range(50)],
                                 params=[Param("bp", "x")], tags=[RunTag("bt", "y")])
        folder = tempfile.mkdtemp()
        X.assign(target=y).to_csv(os.path.join(folder, "iris.csv"), index=False)
        mlflow.log_input(mlflow.data.from_pandas(X.assign(target=y), source=os.path.join(folder, "iris.csv"),
                                                 targets="target", name="iris"), context="training")
        with open(os.path.join(folder, "notes.txt"), "w") as fh:
            fh.write("hello from the script")
        mlflow.log_artifact(os.path.join(folder, "notes.txt"))
        mlflow.log_artifact(os.path.join(folder, "notes.txt"), artifact_path="more/deep")
        model = LogisticRegression(max_iter=200).fit(X, y)
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="iris-model",
                                        input_example=X.head(3), serialization_format="cloudpickle")
        out["manual_run"] = run.info.run_id
        out["model_uri"] = info.model_uri
    try:  # a param's value cannot change (MLflow's rule)
        MlflowClient().log_param(run.info.run_id, "solver", "saga")
        out["param_change"] = "accepted"
    except mlflow.exceptions.MlflowException as exc:
        out["param_change"] = exc.error_code

    mlflow.sklearn.autolog()
    LogisticRegression(max_iter=300, C=0.5).fit(X, y)
    out["autolog_run"] = mlflow.last_active_run().info.run_id
    mlflow.sklearn.autolog(disable=True)
    auto = mlflow.register_model(f"runs:/{out['autolog_run']}/model", "iris-auto")
    out["auto_version"] = [auto.version, MlflowClient().get_model_version("iris-auto", auto.version).status_message]
    with mlflow.start_run(run_name="to-delete") as doomed:
        mlflow.log_metric("acc", 0.1)

    client = MlflowClient()
    found = client.search_runs([exp.experiment_id], filter_string="metrics.acc > 0.5 and params.solver = 'lbfgs'",
                               order_by=["metrics.acc DESC"])
    out["search"] = [r.info.run_id for r in found]
    out["search_status"] = [r.info.run_id for r in client.search_runs(
        [exp.experiment_id], filter_string="attributes.status = 'FINISHED' and tags.team = 'ml'")]
    out["search_sorted"] = [r.info.run_name for r in client.search_runs([exp.experiment_id],
                                                                        order_by=["attributes.start_time ASC"])]
    page = client.search_runs([exp.experiment_id], max_results=1)
    out["pages"] = [len(page), bool(page.token)]
    out["history"] = [[m.step, m.value] for m in client.get_metric_history(run.info.run_id, "acc")]
    out["batch_history"] = len(client.get_metric_history(run.info.run_id, "batch"))
    got = client.get_run(run.info.run_id)
    out["params"] = got.data.params
    out["tags"] = {k: v for k, v in got.data.tags.items() if not k.startswith("mlflow.")}
    out["inputs"] = [d.dataset.name for d in got.inputs.dataset_inputs]
    out["artifacts"] = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    out["deep"] = sorted(a.path for a in client.list_artifacts(run.info.run_id, "more/deep"))
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="notes.txt",
                                               dst_path=tempfile.mkdtemp())
    out["downloaded"] = open(path).read()
    loaded = mlflow.sklearn.load_model(info.model_uri)
    out["rows"] = X.head(4).to_dict(orient="records")
    out["predictions"] = loaded.predict(X.head(4)).tolist()
    client.create_registered_model("iris-second")
    mv = client.create_model_version("iris-second", source=info.model_uri, run_id=run.info.run_id,
                                     model_id=info.model_id)
    client.set_registered_model_alias("iris-second", "champion", mv.version)
    out["by_alias"] = client.get_model_version_by_alias("iris-second", "champion").version
    out["versions"] = [(v.name, v.version) for v in client.search_model_versions("name='iris-model'")]
    out["by_alias_model"] = mlflow.sklearn.load_model("models:/iris-second@champion").predict(X.head(4)).tolist()
    client.delete_run(doomed.info.run_id)
    out["deleted"] = doomed.info.run_id
    json.dump(out, open(sys.argv[1], "w"))
''')


@pytest.mark.slow
def test_an_unchanged_mlflow_script_logs_into_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    script, result = tmp_path / "train.py", tmp_path / "out.json"
    script.write_text(TRAIN_SCRIPT)
    with ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0.2}) as runner:
        assert runner.stats()["models"] == []  # it starts on a workspace with no model
        env = {**os.environ, "MLFLOW_TRACKING_URI": runner.url, "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
               "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "GIT_PYTHON_REFRESH": "quiet"}
        env.pop("MLFLOW_TRACKING_TOKEN", None)
        done = subprocess.run([sys.executable, str(script), str(result)], env=env, capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-4000:]
        out = json.loads(result.read_text())

        # what the client read back
        manual, auto_run = out["manual_run"], out["autolog_run"]
        assert out["search"] == [manual]  # metrics.acc > 0.5 and params.solver = 'lbfgs'
        assert out["search_status"] == [manual]
        assert out["search_sorted"][0] == "manual" and out["search_sorted"][-1] == "to-delete"
        assert out["pages"] == [1, True]
        assert out["history"] == [[0, 0.7], [1, 0.8], [2, 0.9]] and out["batch_history"] == 50
        assert out["params"] == {"solver": "lbfgs", "C": "1.0", "max_iter": "200", "bp": "x"}
        assert out["tags"] == {"team": "ml", "bt": "y"}
        assert out["param_change"] == "INVALID_PARAMETER_VALUE"
        assert out["inputs"] == ["iris"]
        assert out["artifacts"] == ["more", "notes.txt"] and out["deep"] == ["more/deep/notes.txt"]
        assert out["downloaded"] == "hello from the script"
        assert out["by_alias"] == "1" and out["versions"] == [["iris-model", "1"]]
        assert out["by_alias_model"] == out["predictions"]

        # the same runs, as mlcycle's own runs
        runs = {r["run_id"]: r for r in ws.runs.search(experiment="iris-exp")}
        assert set(runs) == {manual, auto_run}  # the deleted run is gone
        assert runs[manual]["metrics"]["acc"] == 0.9 and runs[manual]["status"] == "finished"
        assert runs[manual]["model"] == "LogisticRegression" and runs[manual]["task"] == "classification"
        assert "training_accuracy_score" in runs[auto_run]["metrics"]  # what autolog logged
        assert [r["run_id"] for r in ws.runs.search(filter="metrics.acc > 0.5")] == [manual]
        listed = subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "runs", "list",
                                 "--experiment", "iris-exp", "--json"], capture_output=True, text=True, timeout=60)
        assert {r["run_id"] for r in json.loads(listed.stdout)} == {manual, auto_run}
        assert ws.runs.get(manual)["created"] < ws.runs.get(manual)["ended"]

        # the registered model: promoted, served, answering /invocations
        mv = ws.registry.model_version("iris-model@1")
        assert mv.task == "classification" and [c["name"] for c in mv.signature["inputs"]] == list(out["rows"][0])
        assert mv.split_id is not None and mv.recipe["target"] == "target"  # the logged dataset: its reference
        from sklearn.datasets import load_iris

        report = ws.monitoring.check_drift(mv, current=load_iris(as_frame=True).data, action="alert")
        assert report["drift"] is False and report["columns"]
        auto = ws.registry.model_version("iris-auto@1")  # autolog's model, registered with runs:/RUN/model
        assert auto.run_id == auto_run and auto.split_id is None
        assert out["auto_version"][0] == "1" and "no reference" in out["auto_version"][1]
        assert "mlcycle import reference iris-auto@1" in out["auto_version"][1]
        ws.registry.promote("iris-model", 1)
        client = Client(runner.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not runner.stats()["models"]:
            time.sleep(0.1)
        status, answer = client.post("/invocations", {"dataframe_records": out["rows"]})
        assert status == 200, answer
        assert answer["predictions"] == out["predictions"] and answer["model"] == "iris-model"
        status, page = client.get("/v1/models")
        assert status == 200 and page[0]["name"] == "iris-model"
    ws.close()


@pytest.fixture
def empty_server(tmp_path: Path):
    ws = Workspace.open(tmp_path / "ws")
    runner = ServerRunner(ws, "127.0.0.1", 0, config={"poll_interval": 0}).start()
    yield ws, Client(runner.port)
    runner.stop()
    ws.close()


def _mlflow_error(status: int, out: dict, code: str, *words: str) -> None:
    assert status == {"NOT_IMPLEMENTED": 501, "RESOURCE_DOES_NOT_EXIST": 404, "ENDPOINT_NOT_FOUND": 404,
                      "RESOURCE_ALREADY_EXISTS": 400}.get(code, 400), (status, out)
    assert out["error_code"] == code and out["error"]["message"] == out["message"], out
    for word in words:
        assert word in out["message"], out["message"]


def test_unsupported_and_wrong_calls_get_mlflow_errors_never_a_500(empty_server) -> None:
    ws, client = empty_server
    status, out = client.post(f"{API}/experiments/create", {"name": "exp"})
    assert status == 200 and out == {"experiment_id": "1"}
    _mlflow_error(*client.post(f"{API}/experiments/create", {"name": "exp"}), "RESOURCE_ALREADY_EXISTS", "exp")
    _mlflow_error(*client.post(f"{API}/experiments/create", {"name": "My Experiment"}), "INVALID_PARAMETER_VALUE",
                  "letters, digits")
    _mlflow_error(*client.post(f"{API}/experiments/delete", {"experiment_id": "1"}), "NOT_IMPLEMENTED",
                  "deleting experiments")
    _mlflow_error(*client.post(f"{API}/model-versions/transition-stage", {}), "NOT_IMPLEMENTED", "aliases")
    _mlflow_error(*client.get(f"{API}/runs/get?run_id={'a' * 32}"), "RESOURCE_DOES_NOT_EXIST", "not found")
    _mlflow_error(*client.get(f"{API}/runs/get?run_id=../../etc"), "RESOURCE_DOES_NOT_EXIST")
    _mlflow_error(*client.get(f"{API}/experiments/get?experiment_id=99999999999999999999999"),
                  "RESOURCE_DOES_NOT_EXIST")
    _mlflow_error(*client.get(f"{API}/no-such-thing"), "ENDPOINT_NOT_FOUND")
    _mlflow_error(*client.post(f"{API}/runs/create", raw=b"{not json", content_type="application/json"),
                  "INVALID_PARAMETER_VALUE", "JSON")
    status, created = client.post(f"{API}/runs/create", {"experiment_id": "1", "start_time": 1_767_225_600_000})
    assert status == 200 and created["run"]["info"]["status"] == "RUNNING"
    run_id = created["run"]["info"]["run_id"]
    assert ws.runs.get(run_id)["created"] == ms_to_iso(1_767_225_600_000)
    _mlflow_error(*client.post(f"{API}/runs/search", {"experiment_ids": ["1"], "filter": "metrics.a > 1 or x = 2"}),
                  "INVALID_PARAMETER_VALUE", "AND only")
    _mlflow_error(*client.post(f"{API}/runs/search", {"experiment_ids": ["1"], "filter": "datasets.name = 'x'"}),
                  "INVALID_PARAMETER_VALUE", "datasets")
    _mlflow_error(*client.post(f"{API}/runs/log-batch", {"run_id": run_id, "metrics": [{"key": "m", "value": "x"}]}),
                  "INVALID_PARAMETER_VALUE", "number")
    _mlflow_error(*client.post(f"{API}/runs/log-batch", {"run_id": run_id, "metrics": "nope"}),
                  "INVALID_PARAMETER_VALUE")
    _mlflow_error(*client.post(f"{API}/runs/update", {"run_id": run_id, "status": "DONE"}), "INVALID_PARAMETER_VALUE",
                  "FINISHED")
    _mlflow_error(*client.get(f"/api/2.0/mlflow-artifacts/artifacts/1/{run_id}/artifacts/missing.txt"),
                  "RESOURCE_DOES_NOT_EXIST")
    _mlflow_error(*client.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/1/{run_id}/artifacts/a/../b",
                                  raw=b"x", content_type="text/plain"), "INVALID_PARAMETER_VALUE", "relative path")
    _mlflow_error(*client.get("/api/2.0/mlflow-artifacts/artifacts?path=nothing/here"), "INVALID_PARAMETER_VALUE")
    assert client.post(f"{API}/registered-models/create", {"name": "m"})[0] == 200
    _mlflow_error(*client.post(f"{API}/registered-models/create", {"name": "m"}), "RESOURCE_ALREADY_EXISTS")
    _mlflow_error(*client.post(f"{API}/model-versions/create", {"name": "m", "source": "s3://bucket/model"}),
                  "INVALID_PARAMETER_VALUE", "files it holds")
    _mlflow_error(*client.post(f"{API}/model-versions/create", {"name": "m", "source": f"runs:/{run_id}/model"}),
                  "INVALID_PARAMETER_VALUE", "MLmodel")
    # metric values MLflow writes as text, and their history
    status, _ = client.post(f"{API}/runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": "odd", "value": "NaN", "timestamp": 1, "step": 0}, {"key": "odd", "value": "Infinity", "timestamp": 2,
                                                                    "step": 1}]})
    assert status == 200
    status, hist = client.get(f"{API}/metrics/get-history?run_id={run_id}&metric_key=odd")
    assert status == 200 and [m["value"] for m in hist["metrics"]] == ["NaN", "Infinity"]
    status, done = client.post(f"{API}/runs/update", {"run_id": run_id, "status": "FINISHED",
                                                      "end_time": 1_767_225_660_000})
    assert status == 200 and done["run_info"]["end_time"] == 1_767_225_660_000
    assert ws.runs.get(run_id)["duration"] == 60.0
    status, out = client.get("/health")
    assert status == 200 and out["status"] == "ok"


def test_the_token_rule_applies_to_the_tracking_api(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    with ServerRunner(ws, "127.0.0.1", 0, token="s3cret", config={"poll_interval": 0}) as runner:
        status, out = Client(runner.port).get(f"{API}/experiments/search")
        assert status == 401 and out["error_code"] == "UNAUTHENTICATED"
        status, out = Client(runner.port).request("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/x/artifacts/a",
                                                  raw=b"x", content_type="text/plain")
        assert status == 401
        status, out = Client(runner.port, token="s3cret").post(f"{API}/experiments/search", {})
        assert status == 200 and out == {"experiments": []}
    ws.close()


@pytest.mark.parametrize(("mlflow_filter", "ours"), [
    ("metrics.acc > 0.5 and params.p = 'a'", 'metrics."acc" > 0.5 and params."p" = "a"'),
    ("attributes.status = 'FINISHED' and tags.team = 'ml'", 'status = "finished" and tags."team" = "ml"'),
    ('tags.`mlflow.runName` ILIKE "run-%"', 'tags."mlflow.runName" like "run-%"'),
    ("attributes.run_name = 'x'", 'tags."mlflow.runName" = "x"'),
    ("run_id IN ('AB', 'cd')", '((run_id = "ab" or run_id = "cd"))'),
    ('metrics."val loss" <= 1e-3', 'metrics."val loss" <= 1e-3'),
    ("attributes.start_time >= 1767225600000", 'created >= "2026-01-01T00:00:00.000+00:00"'),
    ("params.p != 'it''s'", None),
    ("attribute.lifecycle_stage = 'active'", None),
])
def test_mlflow_filters_translate_to_mlcycle_filters(mlflow_filter: str, ours: str | None) -> None:
    if mlflow_filter == "params.p != 'it''s'":
        with pytest.raises(Exception, match="cannot read the filter"):
            translate_filter(mlflow_filter)
        return
    translated = translate_filter(mlflow_filter)
    assert translated == ours
    if translated:
        parse_filter(translated)  # mlcycle reads it


def test_order_by_translates_to_one_sort_key() -> None:
    assert translate_order_by(["metrics.acc DESC"]) == 'metrics."acc" desc'
    assert translate_order_by(["start_time"]) == "created asc"
    assert translate_order_by(None) is None
    with pytest.raises(Exception, match="sorts runs by one key"):
        translate_order_by(["metrics.a", "metrics.b"])


def test_mlcycle_runs_and_models_read_through_the_mlflow_api(client, ws) -> None:
    """What mlcycle trained, seen by an MLflow client: runs, search, artifacts, the registry; read-only."""
    exp = next(e for e in ws.runs.experiment_rows() if e["name"] == "penguins")
    status, out = client.get(f"{API}/experiments/get-by-name?experiment_name=penguins")
    assert status == 200 and out["experiment"]["experiment_id"] == str(exp["id"])
    status, found = client.post(f"{API}/runs/search", {"experiment_ids": [str(exp["id"])],
                                                      "order_by": ["metrics.accuracy DESC"]})
    ours = ws.runs.search(experiment="penguins", sort="-metrics.accuracy")
    assert status == 200 and [r["info"]["run_id"] for r in found["runs"]] == [r["run_id"] for r in ours]
    run = found["runs"][0]
    assert run["info"]["status"] == "FINISHED" and run["info"]["end_time"] >= run["info"]["start_time"]
    assert {m["key"] for m in run["data"]["metrics"]} == set(ours[0]["metrics"])
    run_id = run["info"]["run_id"]
    status, listing = client.get(f"/api/2.0/mlflow-artifacts/artifacts?path={exp['id']}/{run_id}/artifacts")
    assert status == 200 and {"model", "recipe.json"} <= {f["path"] for f in listing["files"]}
    _mlflow_error(*client.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{exp['id']}/{run_id}/artifacts/model",
                                  raw=b"not a model", content_type="application/octet-stream"),
                  "INVALID_PARAMETER_VALUE", "trained by mlcycle")
    status, model = client.get(f"{API}/registered-models/get?name=penguins")
    assert status == 200 and model["registered_model"]["latest_versions"][0]["version"] == "2"
    assert {"alias": "production", "version": "1"} in model["registered_model"]["aliases"]
    status, by_alias = client.get(f"{API}/registered-models/alias?name=penguins&alias=production")
    assert status == 200 and by_alias["model_version"]["version"] == "1"
    _mlflow_error(*client.get(f"{API}/model-versions/get-download-uri?name=penguins&version=1"), "NOT_IMPLEMENTED",
                  "mlcycle export penguins@1")
    _mlflow_error(*client.get(f"{API}/registered-models/alias?name=penguins&alias=nope"), "RESOURCE_DOES_NOT_EXIST")

"""The hyperparameter search on a Dask cluster (a LocalCluster on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.workspace import Workspace

distributed = pytest.importorskip("distributed")
SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.mark.slow
def test_search_on_local_cluster_matches_joblib(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        on_dask = ws.training.train("penguins", "logistic", search="grid", cv=3, backend="dask",
                           scheduler=cluster.scheduler_address)
    local = ws.training.train("penguins", "logistic", search="grid", cv=3)
    assert on_dask["params"]["C"] == local["params"]["C"]
    assert on_dask["metrics"]["f1"] == pytest.approx(local["metrics"]["f1"])
    assert ws.runs.get(on_dask["run_id"])["status"] == "finished"


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    with pytest.raises(UserError, match="cannot reach the Dask scheduler"):
        ws.training.train("penguins", "logistic", search="grid", backend="dask", scheduler="tcp://127.0.0.1:1")
    assert ws.runs.count(filter='status = "running"') == 0


@pytest.mark.slow
def test_scheduler_without_workers_is_a_clear_error(tmp_path, monkeypatch):
    from mlcycle_tui.experiments import training

    monkeypatch.setattr(training, "DASK_WORKER_WAIT_S", 1.0)
    ws = Workspace.open(tmp_path / "ws")
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    with (distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1",
                                   dashboard_address=None) as cluster,
          pytest.raises(UserError, match="has no workers after 1 s; start one with `dask worker")):
        ws.training.train("penguins", "logistic", search="grid", cv=3, backend="dask",
                          scheduler=cluster.scheduler_address)
    assert ws.runs.count(filter='status = "running"') == 0

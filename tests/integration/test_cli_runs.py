"""`mlcycle runs ...` and `mlcycle experiments list` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlcycle_tui.workspace import Workspace


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcycle_tui", "--workspace", str(ws), *args],
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    home = tmp_path_factory.mktemp("cli") / "ws"
    ws = Workspace.open(home)
    ids = []
    for model, f1 in (("rf", 0.9), ("lr", 0.7), ("rf", 0.6)):
        with ws.runs.start("grid", params={"model": model}) as run:
            run.log_metrics({"f1": f1, "acc": 0.5})
        ids.append(run.id)
    ws.close()
    return home, ids


def test_list_json_with_filter_and_sort(tracked: tuple[Path, list[str]]) -> None:
    home, ids = tracked
    proc = mlcycle(home, "runs", "list", "--json", "--filter", 'metrics.f1 > 0.65 and params.model = "rf"',
                   "--sort", "-metrics.f1")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["run_id"] for r in rows] == [ids[0]]
    assert set(rows[0]) >= {"run_id", "experiment", "status", "metrics", "params", "created"}
    assert rows[0]["metrics"]["f1"] == 0.9 and rows[0]["params"]["model"] == "rf"
    proc = mlcycle(home, "runs", "list", "--json", "--experiment", "grid", "--sort", "metrics.f1", "--limit", "2")
    assert [r["run_id"] for r in json.loads(proc.stdout)] == [ids[2], ids[1]]


def test_list_human_table(tracked: tuple[Path, list[str]]) -> None:
    home, ids = tracked
    proc = mlcycle(home, "runs", "list", "--sort", "-metrics.f1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN", "EXPERIMENT", "STATUS"]
    assert lines[1].startswith(ids[0][:12]) and "f1=0.9" in lines[1]
    assert lines[-1] == "3 of 3 runs"


def test_bad_filter_is_exit_2_with_one_line(tracked: tuple[Path, list[str]]) -> None:
    home, _ = tracked
    proc = mlcycle(home, "runs", "list", "--json", "--filter", "metrics.f1 >> 2")
    assert proc.returncode == 2
    error = json.loads(proc.stdout)["error"]  # --json: the error is one JSON document on stdout too
    assert error["code"] == "bad_input" and "bad filter at character" in error["message"]
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "bad filter at character" in proc.stderr


def test_show_and_compare(tracked: tuple[Path, list[str]]) -> None:
    home, ids = tracked
    proc = mlcycle(home, "runs", "show", ids[1][:8], "--json")
    doc = json.loads(proc.stdout)
    assert doc["run_id"] == ids[1] and doc["status"] == "finished" and "versions" in doc
    human = mlcycle(home, "runs", "show", ids[1][:8]).stdout
    assert ids[1] in human and "f1" in human
    proc = mlcycle(home, "runs", "compare", ids[0], ids[1][:6], "--json")
    result = json.loads(proc.stdout)
    assert set(result["differences"]) == {"params.model", "metrics.f1"}
    human = mlcycle(home, "runs", "compare", ids[0], ids[1]).stdout
    marked = [line for line in human.splitlines() if line.startswith("*")]
    assert {line.split()[1] for line in marked} == {"params.model", "metrics.f1"}
    assert mlcycle(home, "runs", "show", "zzzzzz").returncode == 2
    assert mlcycle(home, "runs", "show", "ffffffff").returncode == 2


def test_experiments_list(tracked: tuple[Path, list[str]]) -> None:
    home, _ = tracked
    rows = json.loads(mlcycle(home, "experiments", "list", "--json").stdout)
    assert rows[0]["name"] == "grid" and rows[0]["runs"] == 3


def test_compare_keeps_run_ids_as_they_are_and_warns_of_different_test_splits(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    ws = Workspace.open(home)
    ds = ws.data.ingest(Path(__file__).resolve().parents[2] / "sample_data" / "penguins.csv", "penguins",
                        target="species")
    a = ws.training.train(ds.ref, "dummy", split=ws.splits.create(ds, seed=1).split_id)["run_id"]
    b = ws.training.train(ds.ref, "dummy", split=ws.splits.create(ds, seed=2).split_id)["run_id"]
    c = ws.training.train(ds.ref, "logistic", split=ws.runs.get(a)["split_id"])["run_id"]
    ws.close()
    human = mlcycle(home, "runs", "compare", a, b).stdout
    header = next(line for line in human.splitlines() if line.startswith(" ") or "KEY" in line)
    assert a[:12] in header and a[:12].upper() not in header.replace(a[:12], "")
    assert human.startswith("warning: the runs were scored on 2 different test splits")
    same = json.loads(mlcycle(home, "runs", "compare", a, c, "--json").stdout)
    assert same["warnings"] == []

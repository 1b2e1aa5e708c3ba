"""`mlcycle train --search` on a binary target with text labels (issue 17, item 1).

A search on a yes/no target used to fail with "pos_label=1 is not a valid label"
and leave a failed run: the CV scorer assumed the positive class is 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

CMD = [sys.executable, "-m", "mlcycle_tui"]


def mlcycle(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, "--workspace", str(ws), *args], capture_output=True, text=True, timeout=120)


def ok(r: subprocess.CompletedProcess[str]) -> dict:
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _yes_no_csv(path: Path, n: int = 100) -> Path:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=n), rng.normal(size=n)
    churn = np.where(a + 0.5 * b + rng.normal(scale=0.7, size=n) > 0.3, "yes", "no")
    pd.DataFrame({"a": a.round(3), "b": b.round(3), "plan": rng.choice(["basic", "pro"], n),
                  "churn": churn}).to_csv(path, index=False)
    return path


def test_search_on_yes_no_target(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ok(mlcycle(ws, "data", "ingest", str(_yes_no_csv(tmp_path / "churn.csv")), "--name", "churn",
               "--target", "churn", "--json"))
    # random search on every core: the scorer is pickled to the process workers
    random = ok(mlcycle(ws, "train", "churn", "--model", "logistic", "--search", "random", "--trials", "2",
                        "--cv", "2", "--json"))
    grid = ok(mlcycle(ws, "train", "churn", "--model", "logistic", "--search", "grid", "--cv", "2",
                      "--n-jobs", "1", "--json"))
    runs = {r["run_id"]: r for r in ok(mlcycle(ws, "runs", "list", "--json"))}
    assert set(runs) == {random["run_id"], grid["run_id"]}  # no failed run left behind
    for result, mode in ((random, "random"), (grid, "grid")):
        run = runs[result["run_id"]]
        assert run["status"] == "finished" and run["tags"]["search"] == mode
        assert 0.0 <= run["metrics"]["cv_best_score"] <= 1.0
        assert run["metrics"]["f1"] == result["metrics"]["f1"]

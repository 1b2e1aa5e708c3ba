"""Compiled models: scoring files without scikit-learn gives the very same files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlcycle_tui.registry import compiled
from mlcycle_tui.registry.compiled_estimators import _descend_one
from mlcycle_tui.registry.versions import NOT_COMPILED
from mlcycle_tui.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("compiled") / "ws"
    ws = Workspace.open(home)
    ws.data.ingest(SAMPLES / "penguins.csv", name="penguins", target="species")
    ws.data.ingest(SAMPLES / "penguins.csv", name="mass", target="body_mass_g")
    text = ["island", "sex"]
    for name, data, kind, drop in (
        ("species_rf", "penguins", "rf", text),
        ("species_et", "penguins", "extra_trees", text),
        ("mass_rf", "mass", "rf", [*text, "species"]),
        ("species_all", "penguins", "rf", None),  # categories too: compiled, files take the pandas path
        ("species_lr", "penguins", "logistic", text),
        ("species_knn", "penguins", "knn", text),  # k-NN: not compiled
    ):
        params = ["n_estimators=15"] if kind in ("rf", "extra_trees") else None
        run = ws.training.train(data, kind, params=params, drop=drop)
        ws.registry.register(run["run_id"], name)
    ws.close()
    return home


@pytest.fixture()
def ws(home):
    ws = Workspace.open(home)
    yield ws
    ws.close()


def _input(tmp_path: Path) -> Path:
    frame = pd.read_csv(SAMPLES / "penguins.csv").drop(columns=["species"])
    frame.loc[5, "year"] = None  # an integer column with a gap, beside the data's own missing rows
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["species_rf", "species_et", "mass_rf"])
@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_compiled_scoring_writes_the_same_file_as_scikit_learn(ws, tmp_path, name, ext):
    src = _input(tmp_path)
    assert isinstance(ws.registry.compiled_model(name), compiled.CompiledModel)  # compiled when registered
    before = ws.predictions.count(name)
    fast = ws.batch.predict_file(name, src, tmp_path / f"fast{ext}", chunk_rows=100)
    slow = ws.batch.predict_file(name, src, tmp_path / f"slow{ext}", chunk_rows=100, compiled=False)
    assert (fast["engine"], slow["engine"]) == ("compiled", "scikit-learn")
    assert fast["rows"] == slow["rows"] == 344 and fast["logged_rows"] == slow["logged_rows"]
    if ext == ".csv":
        assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()
    else:
        a, b = pq.read_table(tmp_path / "fast.parquet"), pq.read_table(tmp_path / "slow.parquet")
        assert a.schema.equals(b.schema)  # the same types too (pandas metadata aside)
        for col in a.column_names:
            assert a.column(col).to_pylist() == b.column(col).to_pylist(), col
    assert ws.predictions.count(name) - before == 2 * fast["logged_rows"] > 0
    k = fast["logged_rows"]
    logged = ws.predictions.frame(name, last=2 * k).drop(columns=["_id", "_time"])
    pd.testing.assert_frame_equal(logged.iloc[:k].reset_index(drop=True), logged.iloc[k:].reset_index(drop=True),
                                  check_dtype=False)  # the same sample, inputs and predictions


def test_the_cli_scores_a_compiled_model_without_scikit_learn_or_pandas(home, tmp_path):
    src = _input(tmp_path)
    code = (
        "import json, sys\n"
        "from mlcycle_tui.cli import main\n"
        f"rc = main(['--workspace', {str(home)!r}, 'predict', 'species_rf', '--input', {str(src)!r},"
        f" '--output', {str(tmp_path / 'o.csv')!r}, '--json'])\n"
        "print(json.dumps(sorted(m for m in ('sklearn', 'pandas', 'scipy') if m in sys.modules)))\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc, loaded = r.stdout.strip().splitlines()
    assert json.loads(doc)["engine"] == "compiled"
    assert json.loads(loaded) == []


def test_other_models_and_inputs_take_the_scikit_learn_path(ws, tmp_path):
    src = _input(tmp_path)
    assert ws.registry.compiled_model("species_knn") is None
    assert isinstance(ws.registry.compiled_model("species_all"), compiled.CompiledModel)
    assert ws.batch.predict_file("species_knn", src, tmp_path / "k.csv")["engine"] == "scikit-learn"
    assert ws.batch.predict_file("species_all", src, tmp_path / "a.csv")["engine"] == "compiled"  # categories too
    assert ws.batch.predict_file("species_lr", src, tmp_path / "l.csv")["engine"] == "compiled"
    text = pd.read_csv(src)
    text["year"] = text["year"].astype("Int64").astype(str) + "y"  # not numbers: the coercer's business
    text.to_csv(tmp_path / "text.csv", index=False)
    out = ws.batch.predict_file("species_rf", tmp_path / "text.csv", tmp_path / "t.csv")
    assert out["engine"] == "scikit-learn" and out["rows"] == 344
    jsonl = ws.batch.predict_file("species_rf", src, tmp_path / "o.jsonl")  # JSON lines: pandas writes them
    assert jsonl["engine"] == "scikit-learn"


def test_versions_from_before_compiling_are_compiled_on_first_use(ws, tmp_path):
    ws.db.execute("DELETE FROM compiled_models WHERE name = 'species_et'")
    assert ws.registry.compiled_model("species_et") == NOT_COMPILED
    first = ws.batch.predict_file("species_et", _input(tmp_path), tmp_path / "1.csv")
    assert first["engine"] == "scikit-learn"
    assert ws.batch.predict_file("species_et", _input(tmp_path), tmp_path / "2.csv")["engine"] == "compiled"
    report = ws.doctor()
    assert report["ok"] and not report["orphans"]


def test_a_compiled_form_that_disagrees_is_refused(ws):
    mv, pipeline = ws.registry.load_model("species_rf")
    inputs = [c["name"] for c in mv.signature["inputs"]]
    good = compiled.load(compiled.compile_pipeline(pipeline, mv.task, inputs))
    assert compiled._agrees(pipeline, good, inputs)
    good.forest.threshold = good.forest.threshold + 0.25  # splits moved: some probe rows go the other way
    assert not compiled._agrees(pipeline, good, inputs)


def test_the_cli_can_insist_on_scikit_learn(home, tmp_path):
    src = _input(tmp_path)
    r = subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "predict", "species_rf",
                        "--input", str(src), "--output", str(tmp_path / "o.csv"), "--engine", "scikit-learn"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "(scikit-learn)" in r.stdout and "wrote 344 predictions of species_rf@1" in r.stdout


def test_models_show_says_which_versions_are_compiled(home):
    def show(name: str) -> tuple[list, str]:
        cmd = [sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "models", "show", name]
        doc = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=60)
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert doc.returncode == 0 and text.returncode == 0, doc.stderr + text.stderr
        return json.loads(doc.stdout), text.stdout

    doc, text = show("species_rf")
    assert doc[0]["compiled"] is True and "COMPILED" in text and " yes " in text
    doc, text = show("species_knn")
    assert doc[0]["compiled"] is False and " no " in text


@pytest.mark.parametrize("engine", [True, False])
def test_infinite_inputs_are_named_by_both_engines(ws, tmp_path, engine):
    from mlcycle_tui.common.errors import UserError

    frame = pd.read_csv(_input(tmp_path))
    frame.loc[3, "bill_depth_mm"] = float("inf")
    frame.to_csv(tmp_path / "inf.csv", index=False)
    with pytest.raises(UserError, match="infinite values in bill_depth_mm"):
        ws.batch.predict_file("species_rf", tmp_path / "inf.csv", tmp_path / "o.csv", compiled=engine)
    assert not (tmp_path / "o.csv").exists()


def test_trees_that_are_a_single_leaf_are_compiled_and_agree(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    from mlcycle_tui.experiments.preprocess import build_pipeline, describe_columns

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    y = np.where(np.arange(3000) < 2998, "x", "y")  # most bootstrap samples hold one class only
    pipe = build_pipeline(describe_columns(X), None, RandomForestClassifier(n_estimators=10, random_state=0))
    pipe.fit(X, y)
    single = [i for i, t in enumerate(pipe[-1].estimators_) if t.tree_.node_count == 1]
    assert single
    data = compiled.compile_pipeline(pipe, "classification", ["a", "b"])
    assert data is not None
    model = compiled.load(data)
    features = model.features([X["a"].to_numpy(), X["b"].to_numpy()]).astype(np.float32)
    root = int(model.forest.offsets[single[0]])
    trees = model.forest
    leaves = _descend_one(features, root, trees.left, trees.right, trees.feature, trees.threshold, None)
    assert (leaves == root).all()  # the root is the leaf
    pred, proba = model.predict([X["a"].to_numpy(), X["b"].to_numpy()])  # > 1,024 rows: tree by tree
    assert np.array_equal(pred, pipe.predict(X)) and np.array_equal(proba, pipe.predict_proba(X))

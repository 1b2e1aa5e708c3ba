"""Exact per-row contributions: mlcycle's TreeSHAP against the `shap` package's, same model, same rows.

    .venv/bin/python bench/bench_explain.py [--shap-python /work/scratch/shap-venv/bin/python]
        [--rows 1 10 100] [--repeat 3]

The `shap` package runs in a venv of its own, with the same scikit-learn, so nothing of it
enters mlcycle's (a subprocess of this script in `--worker` mode reads the same pickled model
and rows):

    python3 -m venv /work/scratch/shap-venv
    V=$(.venv/bin/python -c 'import sklearn; print(sklearn.__version__)')
    /work/scratch/shap-venv/bin/pip install shap "scikit-learn==$V" pandas

Data: bikeshare (sample_data/, 8,645 hours), the mixed-type case: numbers and categories
(month name, weather; the timestamp, read as text, becomes an ordinal-coded category), through
mlcycle's own preprocessing (imputation, scaling, one-hot parts). Models: mlcycle's catalog
defaults, a random forest of 100 trees (no depth limit: 5,000-leaf trees) and a histogram
gradient boosting of 100 iterations.

Per model and number of rows:
- mlcycle: `shapley.exact_contributions` as `?explain=true` and `mlcycle explain` run it,
  per input column (a column's one-hot and date parts are one player);
- mlcycle per feature: the same code with every transformed feature its own player, which is
  what `shap` computes: the largest difference from shap's values is printed (agreement);
- shap: `TreeExplainer(model).shap_values(Z)` (path-dependent, shap's C extension);
- the floor: the model's own `predict` of the same rows.
Times are the best of `--repeat` runs, in one process each, after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"


def worker(path: str, out: str, repeat: int) -> None:
    import joblib
    import numpy as np
    import shap

    model, Z = joblib.load(path)
    explainer = shap.TreeExplainer(model)
    explainer.shap_values(Z[:1], check_additivity=False)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        values = explainer.shap_values(Z, check_additivity=False)
        best = min(best, time.perf_counter() - t)
    np.save(out, np.asarray(values, dtype=float))
    print(json.dumps({"seconds": best, "shap": shap.__version__}))


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shap-python", default="/work/scratch/shap-venv/bin/python")
    ap.add_argument("--rows", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", nargs=2, metavar=("MODEL", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker, args.repeat)
        return

    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

    from mlcycle_tui.experiments import shapley
    from mlcycle_tui.experiments.preprocess import build_pipeline, describe_columns

    frame = pd.read_csv(SAMPLES / "bikeshare.csv").drop(columns=["casual", "registered"])
    X, y = frame.drop(columns=["bikers"]), frame["bikers"]
    columns = describe_columns(frame)
    print(f"bikeshare: {len(frame):,} rows, {X.shape[1]} input columns "
          f"({', '.join(sorted({c['kind'] for c in columns if c['name'] != 'bikers'}))})")
    print("| model | rows | mlcycle (per column) | mlcycle (per feature) | shap | ratio | max difference | "
          "floor: predict |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    models = {"random forest, 100 trees": RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=1),
              "hist gradient boosting, 100 iterations": HistGradientBoostingRegressor(random_state=0)}
    for label, estimator in models.items():
        pipe = build_pipeline(columns, "bikers", estimator).fit(X, y)
        prep, model = pipe[0], pipe[-1]
        for n in args.rows:
            rows = X.sample(n, random_state=n)
            Z = np.asarray(prep.transform(rows), dtype=float)
            identity = np.arange(Z.shape[1])
            ours = best_of(args.repeat, lambda rows=rows, pipe=pipe: shapley.exact_contributions(
                "regression", pipe, rows, {}, budget_s=1e9))
            per_feature = shapley.tree_contributions(model, Z, identity, Z.shape[1], budget_s=1e9)
            features_s = best_of(args.repeat, lambda Z=Z, model=model, identity=identity: shapley.tree_contributions(
                model, Z, identity, Z.shape[1], budget_s=1e9))
            floor = best_of(args.repeat, lambda rows=rows, pipe=pipe: pipe.predict(rows))
            with tempfile.TemporaryDirectory() as tmp:
                joblib.dump((model, Z), f"{tmp}/m.joblib")
                done = subprocess.run([args.shap_python, __file__, "--repeat", str(args.repeat), "--worker",
                                       f"{tmp}/m.joblib", f"{tmp}/v.npy"], capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"the shap worker failed: {done.stderr[-2000:]}")
                theirs = json.loads(done.stdout.strip().splitlines()[-1])
                values = np.load(f"{tmp}/v.npy").reshape(n, -1)
            assert per_feature is not None
            diff = float(np.abs(per_feature[0][:, :, 0] - values).max())
            print(f"| {label} | {n} | {ours:.3f} s | {features_s:.3f} s | {theirs['seconds']:.3f} s "
                  f"(shap {theirs['shap']}) | {features_s / theirs['seconds']:.1f}x | {diff:.1e} | {floor:.4f} s |")


if __name__ == "__main__":
    main()

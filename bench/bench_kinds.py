"""Per-kind serving benchmark: every catalog kind, default parameters, on three mixed-type tables.

Why this exists: issue #14's targets hold for every kind a user trains, not for one
model. For each table (penguins: categories and numbers with gaps, classification;
bikeshare: a timestamp, text months and weather, regression; the generated 20-column
table of bench_serve.py: 13 numeric, 5 categorical, 2 date columns, regression) and
each catalog kind of its task, `mlcycle train` with the kind's defaults, register,
promote, export with `mlcycle export --format mlflow`, then, in one run:
- cold start: process start to the first answered prediction (200), `mlcycle serve`;
- one-row p50 and p99 from a keep-alive client (200 requests after 20 warm-up ones);
- 8 concurrent clients (separate processes) for `--seconds`: requests/s of `mlcycle serve`
  and of `mlflow models serve --env-manager local` of the exported model, and the ratio;
- `mlcycle predict` of a 10,000-row CSV against `mlflow models predict` of the same rows
  (whole commands, process start to exit), and the ratio; MLflow reads the CSV, or, for tables
  with dates, the same rows as a `dataframe_split` JSON file (its CSV reader cannot make
  datetimes of text);
- the floor: the fitted pipeline's own `predict` of one row in this process (n_jobs=1).
Targets (2-core machine): p50 <= 3 ms, p99 <= 10 ms, 8 clients >= 4x MLflow, cold start
<= 1 s, predict 10k >= 5x MLflow. Each row says which path served it (compiled or the
scikit-learn pipeline).

Run by hand (not in CI), ~15 minutes with MLflow:
    .venv/bin/python bench/bench_kinds.py [--tables penguins bikeshare generated] [--kinds rf hgb ...]
                                          [--seconds 3] [--no-mlflow]
MLflow comes from bench/.venv-mlflow (see bench_serve.py).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_serve import (  # noqa: E402
    MLFLOW_VENV,
    concurrent,
    ensure_mlflow,
    free_port,
    mixed_table,
    sequential,
    split_body,
    stop,
    wait_healthy,
)

SAMPLES = HERE.parent / "sample_data"
KINDS = {"classification": ["rf", "extra_trees", "hgb", "logistic", "knn", "dummy"],
         "regression": ["rf", "extra_trees", "hgb", "ridge", "knn", "dummy"]}


def tables(tmp: Path, names: list[str]) -> dict[str, dict]:
    import pandas as pd

    out = {}
    if "penguins" in names:
        out["penguins"] = {"csv": SAMPLES / "penguins.csv", "target": "species", "task": "classification",
                           "drop": None, "dates": False}
    if "bikeshare" in names:
        out["bikeshare"] = {"csv": SAMPLES / "bikeshare.csv", "target": "bikers", "task": "regression",
                            "drop": ["casual", "registered"], "dates": True}
    if "generated" in names:
        path = tmp / "generated.csv"
        mixed_table().to_csv(path, index=False)
        out["generated"] = {"csv": path, "target": "target", "task": "regression", "drop": None, "dates": True}
    for t in out.values():
        frame = pd.read_csv(t["csv"]).drop(columns=[t["target"], *(t["drop"] or [])])
        t["one"] = split_body(frame.dropna().head(1), 1)
        big = tmp / f"{t['csv'].stem}-10k.csv"
        rows = frame.sample(10_000, replace=True, random_state=0)
        rows.to_csv(big, index=False)
        t["big"], t["frame"] = big, frame
        # MLflow's CSV reader cannot turn text into the datetime columns of its signature: it gets the
        # same rows as a `dataframe_split` JSON file (dates as ISO text, which its JSON reader converts)
        t["big_json"] = tmp / f"{t['csv'].stem}-10k.json"
        t["big_json"].write_bytes(split_body(rows, len(rows)))
    return out


def prepare(tmp: Path, table: str, spec: dict, kinds: list[str]) -> tuple[Path, dict[str, dict]]:
    from mlcycle_tui.predictions.predicting import single_threaded
    from mlcycle_tui.workspace import Workspace

    home = tmp / f"ws-{table}"
    ws = Workspace.open(home)
    ws.data.ingest(spec["csv"], name=table, target=spec["target"])
    models = {}
    for kind in kinds:
        name = f"{table}-{kind}"
        t = time.perf_counter()
        run = ws.training.train(table, kind, task=spec["task"], drop=spec["drop"])
        trained = time.perf_counter() - t
        ws.registry.register(run["run_id"], name)
        ws.registry.promote(name, 1, force=True)  # (a dummy need not beat the baseline here)
        _, pipeline = ws.registry.load_model(name)
        fast = copy.deepcopy(pipeline)
        single_threaded(fast)
        one = spec["frame"].dropna().head(1)
        for _ in range(3):
            fast.predict(one)
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            fast.predict(one)
            times.append((time.perf_counter() - t0) * 1000)
        export = tmp / f"mlflow-{name}"
        ws.exports.export(f"{name}@1", export, "mlflow")
        models[kind] = {"name": name, "export": export, "trained_s": trained, "floor_ms": statistics.median(times),
                        "compiled": ws.registry.compiled_versions(name).get(1, False)}
        print(f"  {name}: trained in {trained:.1f} s, {'compiled' if models[kind]['compiled'] else 'pipeline'}",
              flush=True)
    ws.close()
    return home, models


def serve_alone(home: Path, name: str, names: list[str]) -> None:
    """Only `name` in production, so that the server's cold start loads that one model."""
    from mlcycle_tui.workspace import Workspace

    ws = Workspace.open(home)
    for other in names:
        if other != name and any("production" in v.aliases for v in ws.registry.model_versions(other)):
            ws.registry.remove_alias(other, "production")
    ws.registry.promote(name, 1, force=True)
    ws.close()


def serve(cmd: list[str], port: int, path: str, body: bytes, seconds: float, env: dict | None = None,
          latency: bool = True) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        cold = wait_healthy(port, path, started, proc, body=body)  # the first answered prediction
        out = {"cold_s": cold}
        if latency:
            seq = sequential(port, path, body)
            out |= {"p50_ms": float(np.percentile(seq, 50)), "p99_ms": float(np.percentile(seq, 99))}
        out["c8_rps"] = concurrent(port, path, body, seconds)["rps"]
    finally:
        stop(proc)
    return out


def timed(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {r.stderr[-1500:]}")
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", nargs="+", default=["penguins", "bikeshare", "generated"])
    parser.add_argument("--kinds", nargs="+", default=None, help="only these kinds (default: the whole catalog)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the 8-client phase")
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    with_mlflow = not args.no_mlflow and ensure_mlflow()
    mlflow_env = {**os.environ, "PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="mlcycle-bench-kinds-") as td:
        tmp = Path(td)
        for table, spec in tables(tmp, args.tables).items():
            kinds = [k for k in KINDS[spec["task"]] if args.kinds is None or k in args.kinds]
            print(f"{table}: training {', '.join(kinds)}", flush=True)
            home, models = prepare(tmp, table, spec, kinds)
            results[table] = {}
            for kind, m in models.items():
                serve_alone(home, m["name"], [x["name"] for x in models.values()])
                port = free_port()
                path = f"/v1/models/{m['name']}/predict"
                row = {"compiled": m["compiled"], "floor_ms": m["floor_ms"]}
                row |= serve([sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(home), "--port", str(port)],
                             port, path, spec["one"], args.seconds)
                out = tmp / "out.csv"
                row["predict_s"] = timed([sys.executable, "-m", "mlcycle_tui", "-w", str(home), "predict", m["name"],
                                          "--input", str(spec["big"]), "--output", str(out)])
                if with_mlflow:
                    port = free_port()
                    try:
                        theirs = serve([str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m",
                                        str(m["export"]), "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                                       port, "/invocations", spec["one"], args.seconds, mlflow_env, latency=False)
                        row |= {"mlflow_c8_rps": theirs["c8_rps"], "mlflow_cold_s": theirs["cold_s"]}
                        data, fmt = (spec["big_json"], "json") if spec["dates"] else (spec["big"], "csv")
                        row["mlflow_predict_s"] = timed(
                            [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "predict", "-m", str(m["export"]), "-i",
                             str(data), "-t", fmt, "-o", str(tmp / "mlflow-out.json"), "--env-manager", "local"],
                            mlflow_env)
                    except RuntimeError as exc:
                        print(f"  MLflow failed on {m['name']}: {str(exc)[-300:]}", flush=True)
                results[table][kind] = row
                print(f"  {m['name']}: " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                    for k, v in row.items()), flush=True)
    report(results)
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def report(results: dict[str, dict[str, dict]]) -> None:
    def mark(ok: bool) -> str:
        return "" if ok else " (missed)"

    print("\n| table | kind | path | 1 row p50 (<= 3 ms) | p99 (<= 10 ms) | 8 clients, req/s: mlcycle / MLflow "
          "(>= 4x) | cold start (<= 1 s), MLflow's | predict 10k: mlcycle / MLflow (>= 5x) "
          "| floor: own predict, 1 row |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for table, kinds in results.items():
        for kind, r in kinds.items():
            if "p50_ms" not in r:
                continue
            c8 = f"{r['c8_rps']:.0f}"
            pr = f"{r['predict_s']:.2f} s"
            if "mlflow_c8_rps" in r:
                ratio = r["c8_rps"] / r["mlflow_c8_rps"]
                c8 += f" / {r['mlflow_c8_rps']:.0f} = {ratio:.1f}x{mark(ratio >= 4)}"
            if "mlflow_predict_s" in r:
                pratio = r["mlflow_predict_s"] / r["predict_s"]
                pr += f" / {r['mlflow_predict_s']:.2f} s = {pratio:.1f}x{mark(pratio >= 5)}"
            cold = f"{r['cold_s']:.2f} s{mark(r['cold_s'] <= 1)}" + (
                f", {r['mlflow_cold_s']:.2f} s" if "mlflow_cold_s" in r else "")
            print(f"| {table} | {kind} | {'compiled' if r['compiled'] else 'pipeline'} | "
                  f"{r['p50_ms']:.1f} ms{mark(r['p50_ms'] <= 3)} | {r['p99_ms']:.1f} ms{mark(r['p99_ms'] <= 10)} | "
                  f"{c8} | {cold} | {pr} | {r['floor_ms']:.2f} ms |")


if __name__ == "__main__":
    main()

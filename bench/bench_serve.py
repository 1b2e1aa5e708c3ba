"""Serving benchmark: mlcycle's server against `mlflow models serve --env-manager local`.

Why this exists: the server's promise is MLflow's protocol, faster, with every
prediction logged. This measures, in one run on one machine, for a
RandomForestClassifier(n_estimators=50) on scikit-learn's breast_cancer data:
cold start to the first healthy answer, sequential one-row latency (and the
model's own predict time), throughput and p99 with 8 concurrent clients (each
a separate process), one 10,000-row request, and the cost of logging.

Run by hand (not in CI):
    .venv/bin/python bench/bench_serve.py [--seconds 8] [--no-mlflow] [--before DIR [--compare-only]]
`--before DIR` also compares `mlcycle serve` with an earlier copy of the code (DIR holds its
`mlcycle_tui/` package, e.g. `git worktree add DIR COMMIT`): both servers run at once over the
same workspace and are measured in alternating turns (one-row requests one by one, 8 clients,
one 10,000-row request, each after a second of quiet), so a change in the machine's load hits
both alike.
`--compare-only` skips everything else.
MLflow comes from the throwaway venv bench/.venv-mlflow (mlflow>=3,<4),
created when missing; the MLflow model is saved with mlflow.sklearn.save_model
inside that venv from the same data and the same estimator settings.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venv-mlflow"
MLFLOW_PY = MLFLOW_VENV / "bin" / "python"

SAVE_MLFLOW_MODEL = """
import sys, mlflow.sklearn, pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
model = RandomForestClassifier(n_estimators=50, random_state=42).fit(X, y)
mlflow.sklearn.save_model(model, sys.argv[1], input_example=X.head(2),
                          skops_trusted_types=['sklearn.tree._tree.Tree'])
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(conn: http.client.HTTPConnection, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn.request("POST" if body is not None else "GET", path, body=body,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    resp = conn.getresponse()
    return resp.status, resp.read()


def wait_healthy(port: int, path: str, started: float, proc: subprocess.Popen, timeout: float = 120) -> float:
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            status, _ = request(conn, path)
            conn.close()
            if status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError("server did not become healthy")


def sequential(port: int, path: str, body: bytes, n: int = 400) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(20):
        request(conn, path, body)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = request(conn, path, body)
        out.append((time.perf_counter() - t) * 1000)
        assert status == 200
    conn.close()
    return out


def _client(args: tuple[int, str, bytes, float]) -> list[float]:  # one client process
    port, path, body, seconds = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        status, _ = request(conn, path, body)
        lat.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
    return lat


def concurrent(port: int, path: str, body: bytes, seconds: float, clients: int = 8) -> dict[str, float]:
    with mp.get_context("spawn").Pool(clients) as pool:
        pool.map(_client, [(port, path, body, 0.5)] * clients)  # warm up
        t = time.perf_counter()
        results = pool.map(_client, [(port, path, body, seconds)] * clients)
        elapsed = time.perf_counter() - t
    lat = [x for r in results for x in r]
    return {"rps": len(lat) / elapsed, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99))}


def big_request(port: int, path: str, body: bytes, n: int = 5) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    request(conn, path, body)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = request(conn, path, body)
        times.append((time.perf_counter() - t) * 1000)
        assert status == 200
    return statistics.median(times)


def split_body(frame, rows: int) -> bytes:
    sample = frame.sample(rows, replace=rows > len(frame), random_state=0)
    return json.dumps({"dataframe_split": {"columns": list(sample.columns),
                                           "data": sample.to_numpy().tolist()}}).encode()


def own_predict_ms(model, row) -> float:
    for _ in range(20):
        model.predict(row)
    t = time.perf_counter()
    for _ in range(200):
        model.predict(row)
    return (time.perf_counter() - t) / 200 * 1000


def measure(name: str, cmd: list[str], port: int, health: str, path: str, bodies: dict[str, bytes],
            seconds: float, env: dict[str, str] | None = None) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        cold = wait_healthy(port, health, started, proc)
        first = sequential(port, path, bodies["one"], n=1)  # noqa: F841 - first prediction (model load)
        seq = sequential(port, path, bodies["one"])
        conc = concurrent(port, path, bodies["one"], seconds)
        big = big_request(port, path, bodies["big"])
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    out = {"cold_start_s": cold, "seq_p50_ms": float(np.percentile(seq, 50)),
           "seq_p99_ms": float(np.percentile(seq, 99)), "c8_rps": conc["rps"], "c8_p50_ms": conc["p50_ms"],
           "c8_p99_ms": conc["p99_ms"], "rows10k_ms": big}
    print(f"{name:<28} " + "  ".join(f"{k}={v:.4g}" for k, v in out.items()), flush=True)
    return out


def compare_with_before(root: Path, home: Path, path: str, bodies: dict[str, bytes], rounds: int = 6,
                        per_turn: int = 300, turn_seconds: float = 2.0,
                        settle: float = 1.0) -> dict[str, dict[str, float]]:
    """The code under `root` ("before") against this one ("now"), in alternating turns (see the module doc)."""
    ports = {"before": free_port(), "now": free_port()}
    root = root.resolve()
    envs = {"before": {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH")) if p)}, "now": dict(os.environ)}
    cwds = {"before": str(root), "now": None}  # `-m` puts the working folder first on the path
    procs = {name: subprocess.Popen([sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(home),
                                     "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env=envs[name], cwd=cwds[name])
             for name, port in ports.items()}
    seq: dict[str, list[float]] = {n: [] for n in ports}
    conc: dict[str, list[float]] = {n: [] for n in ports}
    conc_time = dict.fromkeys(ports, 0.0)
    big: dict[str, list[float]] = {n: [] for n in ports}
    try:
        for name, port in ports.items():
            wait_healthy(port, "/health", time.perf_counter(), procs[name])
        conns = {n: http.client.HTTPConnection("127.0.0.1", p, timeout=120) for n, p in ports.items()}
        for conn in conns.values():
            for _ in range(50):
                request(conn, path, bodies["one"])
            request(conn, path, bodies["big"])
        with mp.get_context("spawn").Pool(8) as pool:
            for port in ports.values():
                pool.map(_client, [(port, path, bodies["one"], 0.5)] * 8)  # warm up
            for r in range(rounds):
                order = list(ports) if r % 2 == 0 else list(ports)[::-1]
                time.sleep(settle)
                for name in order:
                    for _ in range(per_turn):
                        t = time.perf_counter()
                        status, _ = request(conns[name], path, bodies["one"])
                        seq[name].append((time.perf_counter() - t) * 1000)
                        assert status == 200
                for name in order:
                    t = time.perf_counter()
                    lat = pool.map(_client, [(ports[name], path, bodies["one"], turn_seconds)] * 8)
                    conc_time[name] += time.perf_counter() - t
                    conc[name] += [x for r_ in lat for x in r_]
                for name in order:
                    time.sleep(settle)  # the code before wrote a large request's log after answering it
                    t = time.perf_counter()
                    status, _ = request(conns[name], path, bodies["big"])
                    big[name].append((time.perf_counter() - t) * 1000)
                    assert status == 200
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    out = {n: {"seq_p50_ms": float(np.percentile(seq[n], 50)), "seq_p99_ms": float(np.percentile(seq[n], 99)),
               "c8_rps": len(conc[n]) / conc_time[n], "c8_p50_ms": float(np.percentile(conc[n], 50)),
               "c8_p99_ms": float(np.percentile(conc[n], 99)), "rows10k_ms": statistics.median(big[n])}
           for n in ports}
    print(f"before -> now, {rounds} alternating turns each ({rounds * per_turn} sequential one-row requests, "
          f"8 clients for {rounds * turn_seconds:g} s, {rounds} requests of 10,000 rows):")
    for key, label in (("seq_p50_ms", "sequential 1 row p50, ms"), ("seq_p99_ms", "sequential 1 row p99, ms"),
                       ("c8_rps", "8 clients, requests/s"), ("c8_p50_ms", "8 clients p50, ms"),
                       ("c8_p99_ms", "8 clients p99, ms"), ("rows10k_ms", "10,000-row request (median), ms")):
        b, n = out["before"][key], out["now"][key]
        print(f"  {label:<32} {b:8.4g} -> {n:8.4g}  ({n - b:+.3g}, {100 * (n / b - 1):+.1f}%)", flush=True)
    return out


def ensure_mlflow() -> bool:
    if not MLFLOW_PY.exists():
        print("creating bench/.venv-mlflow (mlflow>=3,<4) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        r = subprocess.run([str(MLFLOW_PY), "-m", "pip", "install", "-q", "mlflow>=3,<4", "scikit-learn", "pandas"])
        if r.returncode != 0:
            return False
    return subprocess.run([str(MLFLOW_PY), "-c", "import mlflow"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of the concurrent phase")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--before", type=Path, default=None,
                        help="a folder holding an earlier mlcycle_tui/ package to compare with")
    parser.add_argument("--compare-only", action="store_true", help="with --before: only the comparison")
    args = parser.parse_args()
    if args.before is not None and not (args.before / "mlcycle_tui" / "__init__.py").exists():
        parser.error(f"--before {args.before}: no mlcycle_tui/ package there")
    if args.compare_only and args.before is None:
        parser.error("--compare-only needs --before DIR")

    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from mlcycle_tui.predictions.predicting import single_threaded
    from mlcycle_tui.server.models import ServedModel
    from mlcycle_tui.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    data = X.assign(target=y.map({0: "malignant", 1: "benign"}))
    data.to_csv(tmp / "breast_cancer.csv", index=False)
    ws = Workspace.open(tmp / "ws")
    ws.data.ingest(tmp / "breast_cancer.csv", name="cancer", target="target")
    run = ws.training.train("cancer", "rf", params=["n_estimators=50"])
    ws.registry.register(run["run_id"], "cancer")
    ws.registry.promote("cancer", 1)
    mv, pipeline = ws.registry.load_model("cancer")
    single_threaded(pipeline)
    row = X.head(1)
    plain = RandomForestClassifier(n_estimators=50, random_state=42).fit(X, y)
    served = ServedModel(mv, pipeline, batching=False)
    print(f"model's own predict, 1 row: mlcycle pipeline {own_predict_ms(pipeline, row):.2f} ms "
          f"(predict_proba {own_predict_ms(type('P', (), {'predict': pipeline.predict_proba})(), row):.2f} ms; "
          f"the server's scoring call, labels and probabilities in one pass, "
          f"{own_predict_ms(type('S', (), {'predict': served.predict_frame})(), row):.2f} ms), "
          f"plain RandomForestClassifier {own_predict_ms(plain, row):.2f} ms", flush=True)
    ws.close()

    bodies = {"one": split_body(X, 1), "big": split_body(X, 10_000)}
    results = {}
    if args.before is not None:
        results["compare"] = compare_with_before(args.before, tmp / "ws", "/v1/models/cancer/predict", bodies)
        if args.compare_only:
            print(json.dumps(results, indent=1))
            return
    env = dict(os.environ)
    port = free_port()
    results["mlcycle"] = measure("mlcycle serve", [sys.executable, "-m", "mlcycle_tui", "serve", "-w",
                                                   str(tmp / "ws"), "--port", str(port)],
                                 port, "/health", "/v1/models/cancer/predict", bodies, args.seconds, env)
    port = no_log_port = free_port()
    no_log = ("import sys; from mlcycle_tui.server.runner import ServerRunner; "
              f"ServerRunner(sys.argv[1], '127.0.0.1', {port}, config={{'log_predictions': False}}).serve_forever()")
    results["mlcycle_nolog"] = measure("mlcycle serve (no logging)", [sys.executable, "-c", no_log, str(tmp / "ws")],
                                       port, "/health", "/v1/models/cancer/predict", bodies, args.seconds, env)
    port = free_port()
    results["mlcycle_nobatch"] = measure("mlcycle serve --no-batching",
                                         [sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(tmp / "ws"),
                                          "--port", str(port), "--no-batching"],
                                         port, "/health", "/v1/models/cancer/predict", bodies, args.seconds, env)
    ws = Workspace.open(tmp / "ws")
    print(f"rows in the prediction log after the logged runs: {ws.predictions.count('cancer')}")
    ws.close()
    if not args.no_mlflow and ensure_mlflow():
        model_dir = tmp / "mlflow-model"
        subprocess.run([str(MLFLOW_PY), "-c", SAVE_MLFLOW_MODEL, str(model_dir)], check=True, capture_output=True)
        port = free_port()
        menv = {**env, "MLFLOW_TRACKING_URI": f"file://{tmp / 'mlruns'}",
                "PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"}  # mlflow execs uvicorn
        results["mlflow"] = measure("mlflow models serve", [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve",
                                                            "-m", str(model_dir), "--env-manager", "local",
                                                            "-h", "127.0.0.1", "-p", str(port)],
                                    port, "/ping", "/invocations", bodies, args.seconds, menv)
    elif not args.no_mlflow:
        print("MLflow could not be installed: mlcycle figures only")
    ours, nolog = results["mlcycle"], results["mlcycle_nolog"]
    # throughput moves by several percent from one 8-second run to the next on a shared machine:
    # logged and unlogged servers are measured once more, in the other order, and the means compared
    port = free_port()
    again_nolog = measure("mlcycle serve (no logging) #2", [sys.executable, "-c", no_log.replace(
        f"{no_log_port}", str(port)), str(tmp / "ws")], port, "/health", "/v1/models/cancer/predict", bodies,
        args.seconds, env)
    port = free_port()
    again = measure("mlcycle serve #2", [sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(tmp / "ws"),
                                         "--port", str(port)], port, "/health", "/v1/models/cancer/predict",
                    bodies, args.seconds, env)
    logged_rps = (ours["c8_rps"] + again["c8_rps"]) / 2
    plain_rps = (nolog["c8_rps"] + again_nolog["c8_rps"]) / 2
    print(f"logging cost: {100 * (1 - logged_rps / plain_rps):.1f}% of 8-client throughput "
          f"(means of two runs each: {logged_rps:.0f} vs {plain_rps:.0f} requests/s; "
          f"single runs {100 * (1 - ours['c8_rps'] / nolog['c8_rps']):.1f}% and "
          f"{100 * (1 - again['c8_rps'] / again_nolog['c8_rps']):.1f}%)")
    if "mlflow" in results:
        m = results["mlflow"]
        print(f"8-client throughput: {ours['c8_rps'] / m['c8_rps']:.1f}x MLflow; "
              f"cold start {ours['cold_start_s']:.2f}s vs {m['cold_start_s']:.2f}s; "
              f"10k rows {ours['rows10k_ms']:.0f} ms vs {m['rows10k_ms']:.0f} ms")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

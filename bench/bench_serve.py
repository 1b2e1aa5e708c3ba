"""Serving benchmark: mlcycle's server against `mlflow models serve --env-manager local`, same models.

Why this exists: the server's promise is MLflow's protocol, faster, with every
prediction logged. This measures, in one run on one machine, two models that
mlcycle trains, registers and serves, each exported with `mlcycle export
--format mlflow` for MLflow to serve the very same fitted pipeline:
- the headline, a mixed-type model: `mlcycle train` of a random forest
  regressor with its default parameters on a generated table of 20 columns
  (13 numeric, 5 categorical, 2 dates) and 5,000 rows;
- beside it, the compiled numeric forest: a RandomForestClassifier(n_estimators=50)
  on scikit-learn's breast_cancer data (30 numeric columns), which mlcycle
  serves in its compiled form (NumPy only).
For each: cold start to the first healthy answer, sequential one-row latency,
throughput and p50/p99 with 8 concurrent clients (each a separate process),
one 10,000-row request; and the floor, the model's own `predict` in this
process (one row, 10,000 rows; as registered and with n_jobs=1). Every server
runs `--repeat` times in alternating order; medians are printed.

Run by hand (not in CI):
    .venv/bin/python bench/bench_serve.py [--seconds 5] [--repeat 3] [--no-mlflow] [--before DIR [--compare-only]]
`--before DIR` also compares `mlcycle serve` with an earlier copy of the code (DIR holds its
`mlcycle_tui/` package, e.g. `git worktree add DIR COMMIT`): both servers run at once over the
same workspace and are measured in alternating turns (one-row requests one by one, 8 clients,
one 10,000-row request, each after a second of quiet), so a change in the machine's load hits
both alike. `--compare-only` skips everything else.
MLflow comes from the throwaway venv bench/.venv-mlflow (mlflow>=3,<4), created when missing.
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


def wait_healthy(port: int, path: str, started: float, proc: subprocess.Popen, timeout: float = 120,
                 body: bytes | None = None) -> float:
    """Seconds from `started` to the first 200 of `path` (a GET, or a POST of `body`)."""
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            status, _ = request(conn, path, body)
            conn.close()
            if status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError("server did not become healthy")


def sequential(port: int, path: str, body: bytes, n: int = 200) -> list[float]:
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


def split_body(frame, rows: int) -> bytes:  # type: ignore[no-untyped-def]
    """`rows` rows of `frame` as an MLflow `dataframe_split` body (missing values as null)."""
    sample = frame if len(frame) == rows else frame.sample(rows, replace=rows > len(frame), random_state=0)
    data = sample.astype(object).where(sample.notna(), None).to_numpy().tolist()
    return json.dumps({"dataframe_split": {"columns": list(sample.columns), "data": data}}, allow_nan=False).encode()


def stop(proc: subprocess.Popen) -> None:
    """Ends a server: SIGTERM, then SIGKILL after 30 s."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


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
        stop(proc)
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


def mixed_table(n: int = 5000, seed: int = 0):  # type: ignore[no-untyped-def]
    """20 columns (13 numeric with a few missing values, 5 categorical, 2 dates as ISO text) and a
    numeric target that depends on all three kinds."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    y = rng.normal(scale=0.5, size=n)
    for i in range(13):
        x = rng.normal(size=n) if i % 3 else rng.lognormal(size=n)
        y += (i % 4 - 1.5) * 0.3 * np.nan_to_num(x)
        if i % 4 == 0:
            x[rng.random(n) < 0.03] = np.nan
        cols[f"x{i}"] = x
    for i, levels in enumerate((4, 12, 30, 3, 50)):
        codes = rng.integers(0, levels, n)
        y += np.sin(codes * (i + 1))
        labels = np.array([f"{chr(97 + i)}{k}" for k in range(levels)], dtype=object)[codes]
        labels[rng.random(n) < 0.02] = None
        cols[f"c{i}"] = labels
    day = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 1200, n), unit="D")
    when = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 3600, n), unit="s")
    y += np.cos(day.month.to_numpy() / 2) + (when.hour.to_numpy() > 17)
    cols["d0"] = day.strftime("%Y-%m-%d")
    cols["d1"] = when.strftime("%Y-%m-%d %H:%M:%S")
    frame = pd.DataFrame(cols)
    frame["target"] = y
    return frame


def own_predict(pipeline, frame) -> float:  # type: ignore[no-untyped-def]
    """Median ms of `pipeline.predict(frame)` (after two warm-up calls)."""
    for _ in range(2):
        pipeline.predict(frame)
    times = []
    for _ in range(7 if len(frame) > 1 else 50):
        t = time.perf_counter()
        pipeline.predict(frame)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def prepare(tmp: Path, name: str, frame, params: list[str], task: str) -> dict:  # type: ignore[no-untyped-def]
    """Train and register `frame` in a workspace of its own; the floor; an MLflow export."""
    import copy

    import pandas as pd

    from mlcycle_tui.predictions.predicting import single_threaded
    from mlcycle_tui.workspace import Workspace

    csv = tmp / f"{name}.csv"
    frame.to_csv(csv, index=False)
    home = tmp / f"ws-{name}"
    ws = Workspace.open(home)
    ws.data.ingest(csv, name=name, target="target")
    t = time.perf_counter()
    run = ws.training.train(name, "rf", params=params, task=task)
    trained_s = time.perf_counter() - t
    ws.registry.register(run["run_id"], name)
    ws.registry.promote(name, 1)
    _, pipeline = ws.registry.load_model(name)
    compiled = ws.registry.compiled_versions(name).get(1, False)
    as_read = pd.read_csv(csv).drop(columns=["target"])  # what a client sends: the dates as text
    one, big = as_read.dropna().head(1), as_read.sample(10_000, replace=True, random_state=0)
    floor = {"one_ms": own_predict(pipeline, one), "big_ms": own_predict(pipeline, big)}
    fast = copy.deepcopy(pipeline)
    single_threaded(fast)
    floor |= {"one_ms_1job": own_predict(fast, one), "big_ms_1job": own_predict(fast, big)}
    export = tmp / f"mlflow-{name}"
    ws.exports.export(f"{name}@1", export, "mlflow")
    ws.close()
    print(f"{name}: trained in {trained_s:.1f} s ({params or 'default parameters'}); served "
          f"{'compiled (NumPy)' if compiled else 'by the scikit-learn pipeline'}; the pipeline's own predict: "
          f"1 row {floor['one_ms']:.2f} ms as registered, {floor['one_ms_1job']:.2f} ms with n_jobs=1; "
          f"10,000 rows {floor['big_ms']:.1f} / {floor['big_ms_1job']:.1f} ms", flush=True)
    return {"home": home, "export": export, "compiled": compiled, "floor": floor,
            "bodies": {"one": split_body(one, 1), "big": split_body(big, 10_000)},
            "path": f"/v1/models/{name}/predict", "columns": len(as_read.columns)}


def serve_mlcycle(model: dict, seconds: float) -> dict[str, float]:
    port = free_port()
    return measure("mlcycle serve", [sys.executable, "-m", "mlcycle_tui", "serve", "-w", str(model["home"]),
                                     "--port", str(port)], port, "/health", model["path"], model["bodies"], seconds)


def serve_mlflow(model: dict, seconds: float, tmp: Path) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"file://{tmp / 'mlruns'}",
           "PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}  # mlflow execs uvicorn
    return measure("mlflow models serve", [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve",
                                           "-m", str(model["export"]), "--env-manager", "local",
                                           "-h", "127.0.0.1", "-p", str(port)],
                   port, "/ping", "/invocations", model["bodies"], seconds, env)


ROWS = (("cold_start_s", "cold start to the first answer", "s"), ("seq_p50_ms", "1 row, sequential, p50", "ms"),
        ("seq_p99_ms", "1 row, sequential, p99", "ms"), ("c8_rps", "8 clients, requests/s", "rps"),
        ("c8_p99_ms", "8 clients, p99", "ms"), ("rows10k_ms", "one 10,000-row request", "ms"))


def report(name: str, model: dict, ours: list[dict], theirs: list[dict]) -> None:
    floor = model["floor"]
    path = "compiled (NumPy only)" if model["compiled"] else "by its scikit-learn pipeline"
    print(f"\n{name} ({model['columns']} input columns; mlcycle serves it {path}), medians of {len(ours)}:")
    print(f"  {'':<32}{'mlcycle':>10}{'MLflow':>10}{'ratio':>8}   floor (the pipeline's own predict)")
    for key, label, unit in ROWS:
        m = statistics.median(r[key] for r in ours)
        t = statistics.median(r[key] for r in theirs) if theirs else None
        # the median of each round's ratio (the two servers of a round ran one after the other)
        ratios = [a[key] / b[key] if unit == "rps" else b[key] / a[key] for a, b in zip(ours, theirs, strict=False)]
        ratio = f"{statistics.median(ratios):.1f}x" if ratios else "-"
        fl = {"seq_p50_ms": f"1 row {floor['one_ms']:.2f} ms ({floor['one_ms_1job']:.2f} ms with n_jobs=1)",
              "rows10k_ms": f"{floor['big_ms']:.1f} ms ({floor['big_ms_1job']:.1f} ms with n_jobs=1)"}.get(key, "")
        print(f"  {label:<32}{_fmt(m, unit):>10}{_fmt(t, unit):>10}{ratio:>8}   {fl}")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if unit == "s" else f"{value:.0f}" if unit == "rps" else f"{value:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the concurrent phase")
    parser.add_argument("--repeat", type=int, default=3, help="runs of every server (medians are printed)")
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

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    models = {"mixed": prepare(tmp, "mixed", mixed_table(), [], "regression")}
    if args.before is not None:
        m = models["mixed"]
        results = {"compare": compare_with_before(args.before, m["home"], m["path"], m["bodies"])}
        if args.compare_only:
            print(json.dumps(results, indent=1))
            return
    models["cancer"] = prepare(tmp, "cancer", X.assign(target=y.map({0: "malignant", 1: "benign"})),
                               ["n_estimators=50"], "classification")
    with_mlflow = not args.no_mlflow and ensure_mlflow()
    if not args.no_mlflow and not with_mlflow:
        print("MLflow could not be installed: mlcycle figures only")
    runs: dict[str, dict[str, list[dict[str, float]]]] = {n: {"mlcycle": [], "mlflow": []} for n in models}
    for r in range(args.repeat):
        for name, model in models.items():
            sides = ["mlcycle", "mlflow"] if with_mlflow else ["mlcycle"]
            for side in sides if r % 2 == 0 else sides[::-1]:
                print(f"[round {r + 1}, {name}] ", end="")
                out = serve_mlcycle(model, args.seconds) if side == "mlcycle" else serve_mlflow(model, args.seconds,
                                                                                                tmp)
                runs[name][side].append(out)
    for name, model in models.items():
        report({"mixed": "mixed-type random forest regressor (the headline)",
                "cancer": "numeric random forest classifier, 50 trees"}[name], model, runs[name]["mlcycle"],
               runs[name]["mlflow"])
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"\nload average at the end {load}")
    print(json.dumps({n: {"floor": m["floor"], "compiled": m["compiled"], **runs[n]} for n, m in models.items()},
                     indent=1))


if __name__ == "__main__":
    main()

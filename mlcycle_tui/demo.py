"""`mlcycle demo`: the whole lifecycle on the bundled Seattle weather data, in under a minute.

Why this exists: a new user should see every stage work before reading a line
of documentation, and be left with a workspace where every screen has
something real to show. The demo drives the same Workspace API, server and
scheduler that a user would: nothing here is special-cased.

Story: a model learns Seattle's weather from January-June 2012, goes to
production, meets the summer (July-September 2012) over HTTP, true labels come
back as feedback, a scheduled drift check finds the drift and the decay and
queues a retraining job, the rest of the data arrives, the job retrains and
the challenger replaces the champion.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlcycle_tui.common.errors import OperationError, UserError

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
MODEL = "weather"
KINDS = ("rf", "hgb", "logistic")
StepCallback = Callable[[dict[str, Any]], None]


def sample_data_dir() -> Path:
    if not (SAMPLE_DATA / "seattle_weather.csv").exists():
        raise UserError(
            f"the bundled sample data is missing ({SAMPLE_DATA}); run the demo from a clone of the repository "
            "installed with `pip install -e .`"
        )
    return SAMPLE_DATA


def _records(days: Any) -> list[dict[str, Any]]:
    """The days' inputs as JSON rows (the date as text), as a client sends them."""
    features = days.drop(columns=["weather"]).assign(date=days["date"].dt.strftime("%Y-%m-%d"))
    return features.to_dict(orient="records")


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


class Demo:
    """Runs the steps one by one, timing each and reporting it through `on_step`."""

    def __init__(self, home: str | Path, on_step: StepCallback | None = None) -> None:
        self.home = Path(home)
        self.on_step = on_step or (lambda _s: None)
        self.steps: list[dict[str, Any]] = []

    def _step(self, name: str, fn: Callable[[], tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        start = time.perf_counter()
        summary, details = fn()
        step = {"step": name, "seconds": round(time.perf_counter() - start, 2), "summary": summary, **details}
        self.steps.append(step)
        self.on_step(step)
        return step

    def run(self) -> dict[str, Any]:
        import pandas as pd

        from mlcycle_tui.experiments.evaluation import primary_metric
        from mlcycle_tui.scheduler.runner import SchedulerRunner
        from mlcycle_tui.server.runner import ServerRunner
        from mlcycle_tui.workspace import Workspace

        if (self.home / "mlcycle.db").exists():
            raise UserError(f"{self.home} already holds a workspace; the demo builds a new one "
                            "(choose another --workspace or delete that folder)")
        data = sample_data_dir()
        ws = Workspace.open(self.home)
        incoming = self.home / "incoming"
        incoming.mkdir(exist_ok=True)
        weather = pd.read_csv(data / "seattle_weather.csv", parse_dates=["date"])
        first_half = weather[weather["date"] < "2012-07-01"]
        summer = weather[(weather["date"] >= "2012-07-01") & (weather["date"] < "2012-10-01")]
        first_half.to_csv(incoming / "weather-2012-h1.csv", index=False)
        until_2015 = weather[weather["date"] < "2015-01-01"]
        year_2015 = weather[weather["date"] >= "2015-01-01"]
        until_2015.to_csv(incoming / "weather-2012-2014.csv", index=False)
        state: dict[str, Any] = {}

        def ingest() -> tuple[str, dict[str, Any]]:
            ds = ws.data.ingest(incoming / "weather-2012-h1.csv", name="weather", target="weather", time_column="date")
            for other, target, tcol in (("penguins", "species", None), ("bikeshare", "bikers", "timestamp")):
                ws.data.ingest(data / f"{other}.csv", name=other, target=target, time_column=tcol)
            state["ds"] = ds
            return f"{ds.ref}: {ds.rows} days of January-June 2012 (plus penguins and bikeshare to explore)", {
                "dataset": ds.ref, "rows": ds.rows}

        def validate() -> tuple[str, dict[str, Any]]:
            result = ws.data.validate("weather")
            verdict = "passed" if result["ok"] else "FAILED"
            return f"validation {verdict}: {len(result['errors'])} errors, {len(result['warnings'])} warnings", {
                "ok": result["ok"]}

        def split() -> tuple[str, dict[str, Any]]:
            sp = ws.splits.create("weather", time_column="date", test_size=0.25)
            state["split"] = sp.split_id
            return f"time split {sp.split_id}: {sp.train_rows} earlier days train, {sp.test_rows} later days test", {
                "split_id": sp.split_id}

        def train() -> tuple[str, dict[str, Any]]:
            runs = []
            for kind in KINDS:
                runs.append(ws.training.train("weather", kind, search="random", trials=2, cv=3, split=state["split"],
                                     experiment="weather"))
            metric = primary_metric(runs[0]["task"])
            best = max(runs, key=lambda r: r["metrics"].get(metric) or 0.0)
            state["best"], state["metric"] = best, metric
            scores = ", ".join(f"{r['model']} {r['metrics'][metric]:.3f}" for r in runs)
            return f"3 model kinds with a random search: {metric} {scores}; baseline " \
                   f"{best['baseline'][metric]:.3f}", {"runs": [r["run_id"] for r in runs], "best": best["model"]}

        def promote() -> tuple[str, dict[str, Any]]:
            mv = ws.registry.register(state["best"]["run_id"], MODEL)
            result = ws.registry.promote(MODEL, mv.version)
            state["before"] = mv
            return f"registered {mv.ref} ({mv.kind}) and promoted it to production: " \
                   + "; ".join(result["gates"]["reasons"]), {"model": mv.ref}

        server = ServerRunner(ws.home, "127.0.0.1", 0)
        scheduler = SchedulerRunner(ws.home, worker=False, worker_interval=1.0, sync_interval=1.0)
        try:
            self._step("ingest", ingest)
            self._step("validate", validate)
            self._step("split", split)
            self._step("train", train)
            self._step("promote", promote)

            def serve() -> tuple[str, dict[str, Any]]:
                server.start()
                return f"prediction server on {server.url}", {"url": server.url}

            self._step("serve", serve)

            def traffic() -> tuple[str, dict[str, Any]]:
                records = _records(summer)
                ids: list[str] = []
                predictions: list[Any] = []
                for start in range(0, len(records), 10):
                    answer = _post(f"{server.url}/v1/models/{MODEL}/predict",
                                   {"instances": records[start:start + 10]})
                    ids += answer["prediction_ids"]
                    predictions += answer["predictions"]
                labels = summer["weather"].tolist()
                fb = _post(f"{server.url}/v1/models/{MODEL}/feedback",
                           {"feedback": [{"prediction_id": i, "label": y} for i, y in zip(ids, labels, strict=True)]})
                accuracy = sum(p == y for p, y in zip(predictions, labels, strict=True)) / len(labels)
                state["summer_accuracy"] = accuracy
                return (f"sent {len(ids)} summer days over HTTP, posted {fb['accepted']} true labels; "
                        f"accuracy in production {accuracy:.3f}"), {"requests": len(ids), "accuracy": accuracy}

            self._step("traffic", traffic)

            def watch() -> tuple[str, dict[str, Any]]:
                sched = ws.drift_schedules.add(MODEL, every="1s", action="retrain")
                scheduler.start()
                deadline = time.time() + 30
                while time.time() < deadline:
                    reports = ws.monitoring.drift_reports(MODEL, limit=1)
                    if reports and ws.jobs.list(model=MODEL):
                        break
                    time.sleep(0.25)
                else:
                    raise OperationError("the scheduled drift check did not queue a retraining job within 30 s")
                scheduler.stop()
                ws.drift_schedules.remove(sched["schedule_id"])
                report = ws.monitoring.drift_report(reports[0]["report_id"])
                job = ws.jobs.list(model=MODEL)[0]
                drifted = [c["column"] for c in report.get("columns", []) if c.get("drifted")]
                return (f"scheduled check: drift in {', '.join(drifted) or 'no column'} "
                        f"(share {report.get('share_drifted', 0):.2f}); job {job['id']} queued: {job['reason']}"), {
                    "report_id": report.get("report_id"), "job_id": job["id"]}

            self._step("monitor", watch)

            def newer() -> tuple[str, dict[str, Any]]:
                ds = ws.data.ingest(incoming / "weather-2012-2014.csv", name="weather", target="weather",
                                    time_column="date")
                return f"more data arrived: {ds.ref} with {ds.rows} days (2012-2014)", {"dataset": ds.ref}

            self._step("new data", newer)

            def retrain() -> tuple[str, dict[str, Any]]:
                job = ws.jobs.run_next()
                if job is None:
                    raise OperationError("no retraining job was waiting")
                result = job.get("result") or {}
                return result.get("summary", f"job {job['id']} {job['status']}"), {
                    "job_id": job["id"], "status": job["status"], "promoted": result.get("promoted", False)}

            self._step("retrain", retrain)

            def after() -> tuple[str, dict[str, Any]]:
                now = ws.registry.model_version(MODEL)
                metric = state["metric"]
                deadline = time.time() + 10
                served = None
                while time.time() < deadline:
                    served = next((m for m in _get(f"{server.url}/v1/models") if m["name"] == MODEL), None)
                    if served and served["version"] == now.version:
                        break
                    time.sleep(0.25)
                job = ws.jobs.list(model=MODEL)[0]
                result = job.get("result") or {}
                before = ((result.get("champion") or {}).get("metrics") or {}).get(metric)
                after = ((result.get("challenger") or {}).get("metrics") or {}).get(metric)
                rows = (result.get("holdout") or {}).get("rows")
                text = (f"production is now {now.ref} (served: v{served['version'] if served else '?'}); on the "
                        f"{rows} new holdout rows neither model trained on, {metric} "
                        f"{before if before is None else round(before, 3)} -> "
                        f"{after if after is None else round(after, 3)}")
                return text, {"model": now.ref, "before": before, "after": after, "rows": rows}

            self._step("after", after)

            def estimate() -> tuple[str, dict[str, Any]]:
                records = _records(year_2015)
                ids: list[str] = []
                for start in range(0, len(records), 25):
                    ids += _post(f"{server.url}/v1/models/{MODEL}/predict",
                                 {"instances": records[start:start + 25]})["prediction_ids"]
                early = year_2015["date"] < "2015-05-01"  # labels come late: only January-April's so far
                _post(f"{server.url}/v1/models/{MODEL}/feedback",
                      {"feedback": [{"prediction_id": i, "label": y} for i, y, known in
                                    zip(ids, year_2015["weather"], early, strict=True) if known]})
                doc = ws.estimates.estimate(MODEL, window="24h", metric="accuracy")  # macro f1: too wide a band
                if not doc["judged"]:
                    return f"2015 sent without labels; cannot estimate: {doc['reason']}", {"judged": False}
                metric = doc["metric"]
                shown = "; ".join(
                    f"{c['estimated']:.2f} [{c['lower']:.2f}, {c['upper']:.2f}]"
                    + (f" (realized {c['realized']:.2f})" if c.get("realized") is not None else "")
                    for c in doc["chunks"])
                return (f"sent 2015's {len(ids)} days without labels; estimated {metric} per chunk of "
                        f"{doc['chunk_size']} requests: {shown}"), {
                    "judged": True, "chunks": len(doc["chunks"]), "metric": metric}

            self._step("estimate", estimate)
        finally:
            scheduler.stop()
            server.stop()
            ws.close()
        return {"workspace": str(self.home), "steps": self.steps}

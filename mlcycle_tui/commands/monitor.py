"""`mlcycle monitor ...` (drift checks, estimated performance, schedules, reports) and `mlcycle jobs ...`
(the retraining queue)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from mlcycle_tui.commands.base import CliContext, CliExit, drift_method, model_and_current, table

EXIT_DRIFT = 1  # --fail-on-drift: drift or decay found
EXIT_NOT_JUDGED = 3  # --fail-on-drift: the check could not judge (not enough data), so it did not pass;
# `monitor estimate` exits with it whenever it cannot estimate


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    monitor = sub.add_parser("monitor", parents=[common], help="drift checks of deployed models")
    msub = monitor.add_subparsers(dest="monitor_command", metavar="ACTION", required=True)

    p = msub.add_parser("check", parents=[common], help="check a model's current inputs against its training data")
    model_and_current(p)
    drift_method(p)
    p.add_argument("--action", default="retrain", choices=["retrain", "alert"],
                   help="retrain (default): queue a retraining job when the policy says so; alert: only record")
    p.add_argument("--fail-on-drift", action="store_true",
                   help="exit 1 when drift or decay is found, 3 when the check cannot judge (not enough data)")
    p.set_defaults(handler=cmd_check)

    p = msub.add_parser("estimate", parents=[common],
                        help="estimate a model's performance without labels (CBPE / DLE), per chunk")
    model_and_current(p)
    p.add_argument("--chunk", metavar="N", type=int, default=None,
                   help="rows per chunk (default 1000, fewer for less traffic: about five chunks of at least 100 "
                        "rows; a remainder under half a chunk joins the one before)")
    p.add_argument("--metric", default=None, choices=["accuracy", "roc_auc", "f1", "precision", "recall", "mae",
                                                      "rmse"],
                   help="the metric whose alert counts (default: the model's primary metric; f1 or rmse "
                        "unless it was trained with --metric)")
    p.add_argument("--queue", action="store_true",
                   help="queue a retraining job (trigger estimated_performance) when a chunk alerts")
    p.add_argument("--fail-on-alert", action="store_true", help="exit 1 when a chunk alerts")
    p.set_defaults(handler=cmd_estimate)

    p = msub.add_parser("schedule", parents=[common], help="check a model periodically (kept in the workspace)")
    p.add_argument("model", metavar="MODELREF", help="NAME (follows production), NAME@VERSION or NAME@ALIAS")
    p.add_argument("--every", required=True, metavar="DURATION", help="30s, 15m, 1h, 7d")
    p.add_argument("--action", default="retrain", choices=["retrain", "alert"],
                   help="retrain: queue a retraining job when the policy says so; alert: only record")
    p.set_defaults(handler=cmd_schedule)

    p = msub.add_parser("schedules", parents=[common], help="the periodic checks")
    p.set_defaults(handler=cmd_schedules)

    p = msub.add_parser("unschedule", parents=[common], help="remove a periodic check")
    p.add_argument("id", metavar="ID", help="its id (see the list command)")
    p.set_defaults(handler=cmd_unschedule)

    p = msub.add_parser("reports", parents=[common], help="past drift reports (newest first)")
    p.add_argument("model", metavar="MODELREF", nargs="?", help="only this model's reports")
    p.add_argument("--limit", type=int, default=50, help="at most this many")
    p.set_defaults(handler=cmd_reports)

    p = msub.add_parser("report", parents=[common], help="one drift report with its columns")
    p.add_argument("id", metavar="ID", type=int, help="report id (see `mlcycle monitor reports`)")
    p.add_argument("--out", metavar="FILE.html", help="also write it as a self-contained HTML report")
    p.set_defaults(handler=cmd_report)

    jobs = sub.add_parser("jobs", parents=[common], help="the retraining queue")
    jsub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    p = jsub.add_parser("list", parents=[common], help="jobs, newest first")
    p.add_argument("--status", help="only jobs in this state",
                   choices=["queued", "running", "awaiting_approval", "done", "failed", "cancelled", "rejected"])
    p.add_argument("--model", help="only this model's jobs")
    p.add_argument("--limit", type=int, default=100, help="at most this many")
    p.set_defaults(handler=cmd_jobs_list)
    p = jsub.add_parser("show", parents=[common], help="one job with its result and log")
    p.add_argument("id", metavar="ID", help="its id (see the list command)")
    p.set_defaults(handler=cmd_jobs_show)
    p = jsub.add_parser("run", parents=[common], help="work off the queue (until Ctrl-C, or --once / --drain)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run at most one queued job, then exit")
    mode.add_argument("--drain", action="store_true", help="run queued jobs until the queue is empty, then exit")
    p.add_argument("--poll", type=float, default=2.0, metavar="SECONDS", help="wait between looks at the queue")
    p.set_defaults(handler=cmd_jobs_run)
    for name, helptext, handler in (
        ("approve", "promote the challenger of a job awaiting approval", cmd_jobs_approve),
        ("reject", "keep the champion; the waiting challenger is not promoted", cmd_jobs_reject),
        ("cancel", "cancel a queued, running or waiting job", cmd_jobs_cancel),
        ("retry", "queue a failed, cancelled or rejected job again", cmd_jobs_retry),
    ):
        p = jsub.add_parser(name, parents=[common], help=helptext)
        p.add_argument("id", metavar="ID", help="its id (see the list command)")
        p.set_defaults(handler=handler)


# -- monitor -----------------------------------------------------------------------
def cmd_check(args: argparse.Namespace, ctx: CliContext) -> int:
    report = ctx.ws().monitoring.check_drift(args.model, args.current, window=args.window, last=args.last,
                                  method=args.method, action=args.action)
    ctx.emit(report, _human_report(report))
    return exit_for(report, args.fail_on_drift, ctx)


def exit_for(report: dict[str, Any], fail_on_drift: bool, ctx: CliContext) -> int:
    """0, or with --fail-on-drift: EXIT_DRIFT on drift or decay, EXIT_NOT_JUDGED when the check could not judge."""
    if fail_on_drift and (report["drift"] or report["decay"]):
        raise CliExit(EXIT_DRIFT)
    if fail_on_drift and not report.get("judged", True):
        ctx.info(f"mlcycle: --fail-on-drift: {report['verdict_text']}; the check could not judge, so it did not pass")
        raise CliExit(EXIT_NOT_JUDGED)
    return 0


def _human_report(report: dict[str, Any]) -> str:
    if not report.get("judged", True):
        return _human_not_judged(report)
    verdict = "DRIFT" if report["drift"] else "no drift"
    lines = [f"{report['model']}@{report['version']}: {verdict} in {report['n_drifted']}/{report['n_columns']} "
             f"columns (share {report['share_drifted']:.2f}, threshold {report['drift_share']:.2f}) on "
             f"{report['rows']} rows ({report['source']}); report {report['report_id']}", ""]
    lines.append(_columns_table(report))
    perf = report["performance"]
    if perf:
        lines += ["", ("DECAY: " if perf["decay"] else "performance: ") + perf["message"]]
    if report["job_queued"]:
        lines += ["", f"retraining job {report['job_id']} queued (see `mlcycle jobs show {report['job_id']}`)"]
    elif report["job_id"] is not None:
        lines += ["", f"retraining job {report['job_id']} is already open"]
    elif report["drift"] and not report["alarm"]:
        p = report["persistence"]
        lines += ["", f"drift seen in {p['drift_in_last_m']} of the last {p['m']} checks; {p['k']} needed to act"]
    return "\n".join(lines)


def _human_not_judged(report: dict[str, Any]) -> str:
    """A check that could not judge: say so, why, and what to do; never "no drift"."""
    verdict = str(report["verdict_text"]).replace("not enough data", "NOT ENOUGH DATA", 1)
    lines = [f"{report['model']}@{report['version']}: {verdict} from {report['source']}; "
             f"report {report['report_id']}",
             "no drift verdict: the last judged check still stands and nothing was queued"]
    if report["columns"]:
        lines += ["", _columns_table(report)]
    min_rows = (report.get("policy") or {}).get("min_rows")
    lines += ["", "what to do: check a longer window (--window 7d) or more predictions (--last N), give more rows "
              f"with --current, or lower [policy] min_rows (now {min_rows}) in the workspace's config.toml"]
    return "\n".join(lines)


def _columns_table(report: dict[str, Any]) -> str:
    rows = [{"column": c["column"], "kind": c["kind"], "method": c["method"], "statistic": c["statistic"],
             "threshold": c["threshold"], "drifted": "yes" if c["drifted"] else "",
             "note": _note(c)} for c in report["columns"]]
    if report["prediction"]:
        c = report["prediction"]
        rows.append({"column": "(prediction)", "kind": c["kind"], "method": c["method"], "statistic": c["statistic"],
                     "threshold": c["threshold"], "drifted": "yes" if c["drifted"] else "", "note": _note(c)})
    return table(rows, ["column", "kind", "method", "statistic", "threshold", "drifted", "note"])


def _note(col: dict[str, Any]) -> str:
    notes = []
    if col.get("verdict") not in ("ok", "drift"):
        notes.append(col.get("verdict", ""))
    if col.get("missing_changed"):
        notes.append(f"missing {col['missing_reference']:.0%}->{col['missing_current']:.0%}")
    if col.get("new_categories"):
        notes.append(f"{len(col['new_categories'])} new categories")
    return "; ".join(n for n in notes if n)


def cmd_estimate(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().estimates.estimate(args.model, args.current, window=args.window, last=args.last,
                                      chunk=args.chunk, metric=args.metric,
                                      action="retrain" if args.queue else "alert")
    ctx.emit(doc, _human_estimate(doc))
    if not doc["judged"]:
        ctx.info(f"mlcycle: {doc['verdict_text']}; nothing was judged, so this is not a pass")
        raise CliExit(EXIT_NOT_JUDGED)
    if args.fail_on_alert and doc["alert"]:
        raise CliExit(EXIT_DRIFT)
    return 0


def _human_estimate(doc: dict[str, Any]) -> str:
    """Per chunk: the estimate, its band, the realized value where labels exist; the assumption, always."""
    head = f"{doc['model']}@{doc['version']}: {doc['method']} estimate of {doc['metric']}"
    assumption = f"assumption: {doc['caveat']}"
    if not doc["judged"]:
        return "\n".join([f"{doc['model']}@{doc['version']}: CANNOT ESTIMATE {doc['metric']} ({doc['method']}) on "
                           f"{doc['rows']} rows from {doc['source']}", f"why: {doc['reason']}",
                           "no estimate: nothing was judged and nothing was queued", "", assumption])
    n = len(doc["chunks"])
    lines = [f"{head} on {doc['rows']} rows ({doc['source']}), {n} chunk{'s' if n != 1 else ''} of about "
             f"{min(doc['chunk_size'], doc['rows'])} rows",
             doc["verdict_text"], f"threshold: {doc['thresholds'][doc['metric']]['text']}",
             f"band: {doc['band']}", ""]
    rows = [{"chunk": c["index"], "rows": c["rows"], "first": c["first"], "last": c["last"],
             "estimated": c["estimated"], "band": _band(c), "realized": c["realized"],
             "labelled": c["labelled"], "alert": "ALERT" if c["alert"] else ""} for c in doc["chunks"]]
    columns = ["chunk", "rows", "first", "last", "estimated", "band", "realized", "labelled", "alert"]
    if all(c["first"] is None for c in doc["chunks"]):
        columns = [c for c in columns if c not in ("first", "last")]
    lines.append(table(rows, columns))
    others = [m for m in doc["metrics"] if m != doc["metric"]]
    lines += ["", "other metrics, estimated (realized) per chunk:"]
    for m in others:
        values = [_pair(c["metrics"][m]) for c in doc["chunks"]]
        lines.append(f"  {m}: " + "  ".join(values))
    if not any(c["realized"] is not None for c in doc["chunks"]):
        lines.append("no realized values: no chunk has 20 labelled rows yet (send feedback, or give --current "
                     "a file with the target column)")
    lines += ["", assumption]
    if doc["job_queued"]:
        lines += ["", f"retraining job {doc['job_id']} queued (trigger {doc['trigger']}; see "
                      f"`mlcycle jobs show {doc['job_id']}`)"]
    elif doc["job_id"] is not None:
        lines += ["", f"retraining job {doc['job_id']} is already open"]
    elif doc["alert"]:
        lines += ["", "alert only: add --queue to queue a retraining job"]
    return "\n".join(lines)


def _band(chunk: dict[str, Any]) -> str:
    if chunk["lower"] is None or chunk["upper"] is None:
        return "-"
    return f"{chunk['lower']:.3f}-{chunk['upper']:.3f}"


def _pair(values: dict[str, Any]) -> str:
    est, real = values["estimated"], values["realized"]
    text = "-" if est is None else f"{est:.3f}"
    return text + ("" if real is None else f" ({real:.3f})") + ("!" if values["alert"] else "")


def cmd_schedule(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().drift_schedules.add(args.model, args.every, args.action)
    ctx.emit(doc, f"schedule {doc['schedule_id']}: check {doc['model']} every {doc['every']} ({doc['action']}); "
                  "it runs while `mlcycle daemon` or the TUI is open")
    return 0


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def cmd_schedules(args: argparse.Namespace, ctx: CliContext) -> int:
    docs = ctx.ws().drift_schedules.list()
    rows = [d | {"id": d["schedule_id"], "next": _when(d["next_due"]), "last": _when(d["last_run"])} for d in docs]
    ctx.emit(docs, table(rows, ["id", "model", "every", "action", "next", "last", "last_status", "runs"],
                         empty="no schedules: add one with `mlcycle monitor schedule MODEL --every 1h`"))
    return 0


def cmd_unschedule(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.ws().drift_schedules.remove(args.id)
    ctx.emit(doc, f"schedule {doc['schedule_id']} ({doc['model']} every {doc['every']}) removed")
    return 0


def cmd_reports(args: argparse.Namespace, ctx: CliContext) -> int:
    docs = ctx.ws().monitoring.drift_reports(args.model, limit=args.limit)
    ctx.emit(docs, table(docs, ["report_id", "model", "version", "created", "rows", "verdict", "share_drifted",
                                "drift", "prediction_drift", "decay", "job_id"],
                         empty="no drift reports yet: run `mlcycle monitor check MODEL`"))
    return 0


def cmd_report(args: argparse.Namespace, ctx: CliContext) -> int:
    report = ctx.ws().monitoring.drift_report(args.id)
    human = _human_report(report)
    if args.out:
        page = ctx.ws().reports.drift(args.id, out=args.out)
        report = report | {"path": str(page.path)}
        human += "\n\n" + "\n".join([f"HTML report written to {page.path} ({page.bytes / 1024:.0f} KB); open it in a "
                                      "browser", *(f"note: {n}" for n in page.notes)])
    ctx.emit(report, human)
    return 0


# -- jobs ----------------------------------------------------------------------------
JOB_COLUMNS = ["id", "kind", "status", "model", "trigger", "created", "reason"]


def _job_human(job: dict[str, Any]) -> str:
    result = job.get("result") or {}
    lines = [f"job {job['id']} ({job['kind']} {job['model']}): {job['status']}"]
    if job.get("reason"):
        lines.append(f"reason: {job['reason']}")
    if result.get("summary") or result.get("error"):
        lines.append(f"result: {result.get('summary') or result.get('error')}")
    return "\n".join(lines)


def cmd_jobs_list(args: argparse.Namespace, ctx: CliContext) -> int:
    docs = ctx.ws().jobs.list(args.status, args.model, args.limit)
    rows = [d | {"reason": (d["reason"] or "")[:60]} for d in docs]
    ctx.emit(docs, table(rows, JOB_COLUMNS, empty="no jobs: a drift check queues one when the policy says so"))
    return 0


def cmd_jobs_show(args: argparse.Namespace, ctx: CliContext) -> int:
    job = ctx.ws().jobs.get(args.id)
    human = _job_human(job)
    if job.get("log"):
        human += "\n\nlog:\n" + job["log"].rstrip()
    ctx.emit(job, human)
    return 0


def cmd_jobs_run(args: argparse.Namespace, ctx: CliContext) -> int:
    ws = ctx.ws()
    done: list[dict[str, Any]] = []
    while True:
        job = ws.jobs.run_next(progress=lambda m: ctx.info(f"  {m}"))
        if job is not None:
            done.append(job)
            ctx.info(_job_human(job))
            if args.once:
                break
            continue
        if args.once or args.drain:
            break
        try:
            time.sleep(args.poll)
        except KeyboardInterrupt:
            break
    ctx.emit(done, table(done, JOB_COLUMNS, empty="no queued jobs"))
    return 1 if any(j["status"] == "failed" for j in done) else 0


def _job_action(method: str, past: str) -> Any:
    def handler(args: argparse.Namespace, ctx: CliContext) -> int:
        job = getattr(ctx.ws().jobs, method)(args.id)
        ctx.emit(job, f"job {job['id']} {past}\n" + _job_human(job))
        return 0

    return handler


cmd_jobs_approve = _job_action("approve", "approved")
cmd_jobs_reject = _job_action("reject", "rejected")
cmd_jobs_cancel = _job_action("cancel", "cancelled")
cmd_jobs_retry = _job_action("retry", "queued again")

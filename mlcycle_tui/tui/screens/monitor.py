"""The Monitor screen: is a production model still seeing the data it was trained on, and still right?

Why this exists: serving is only half of production. For the selected
production model this screen shows the stored drift checks over time, the
latest report column by column (statistic against its size-aware threshold,
drifted rows highlighted), the reference vs current distribution of the
highlighted column, the operational health from the prediction log and the
real metrics from feedback (decay), and the performance estimated without
labels per chunk of traffic (CBPE/DLE) with its band, the threshold and the
realized values where labels came back. From here a user runs a check now,
estimates, writes the drift report as HTML, schedules checks, removes
schedules and starts or stops the app's scheduler. Everything is read in
thread workers; a check runs in one too.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.monitoring.checks import NOT_JUDGED
from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.dialogs.schedule import ScheduleDialog
from mlcycle_tui.tui.format import ago, now_s, number, plural, share
from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.widgets.drift_plots import DriftHistogram, DriftTimeline
from mlcycle_tui.tui.widgets.fit_table import FitTable, is_current
from mlcycle_tui.tui.widgets.line_plot import LinePlot

REPORTS_SHOWN = 30
DAY_S = 86400.0
EMPTY_TEXT = (
    "No production model to watch yet. Promote a version on the Models screen ([b]m[/b], [b]p[/b]), serve it "
    "([b]s[/b]) so predictions are logged, then check it here. Or run `mlcycle demo` for a workspace "
    "with traffic, drift and a retraining job."
)


def report_columns(narrow: bool) -> list[tuple[str, str]]:
    """The drift report's table; a narrow terminal leaves out the kind (the method tells it) and shortens
    headers, so the statistic, its threshold and the verdict always show."""
    if narrow:
        return [("column", "column"), ("method", "method"), ("statistic", "stat"), ("threshold", "thresh"),
                ("verdict", "verdict")]
    return [("column", "column"), ("kind", "kind"), ("method", "method"), ("statistic", "statistic"),
            ("threshold", "threshold"), ("verdict", "verdict")]


def model_columns(narrow: bool) -> list[tuple[str, str]]:
    """The production models on the left; a narrow terminal leaves the version to the summary."""
    return [("model", "model"), ("check", "last check")] if narrow else [
        ("model", "model"), ("prod", "prod"), ("check", "last check")]


def schedule_columns(narrow: bool) -> list[tuple[str, str]]:
    """The drift schedules on the left; a narrow terminal shows which and how often (Schedules, k, has all)."""
    if narrow:
        return [("id", "id"), ("every", "every"), ("then", "then")]
    return [("id", "id"), ("model", "model"), ("every", "every"), ("then", "then"), ("last", "last")]


def job_state(report: dict[str, Any], job: dict[str, Any] | None) -> str:
    """The report's retraining job as it stands now (asked of the queue), not as it stood at the check."""
    if job is None:
        return f"retraining job {report['job_id']} (no longer in the queue)"
    status = str(job.get("status") or "").replace("_", " ")
    return f"retraining job {job['id']} {status}"


# Table cells are rich Text: DataTable sizes its columns from them (it does not measure Content).
def verdict_text(row: dict[str, Any]) -> Text:
    if row.get("verdict") == "skipped" or row.get("method") == "skipped":
        return Text("skipped", style="dim")
    if row.get("drifted"):
        return Text("DRIFT", style="bold red")
    return Text("ok", style="green")


def check_verdict(row: dict[str, Any] | None) -> Text:
    """A short verdict of a stored check (summary or status row): the last one that could judge."""
    if row is not None and row.get("drift") is None and row.get("newest_check"):
        return Text("not enough data", style="yellow")
    if row is None or row.get("drift") is None:
        return Text("not checked", style="dim")
    parts = [w for w, on_ in (("drift", row.get("drift")), ("decay", row.get("decay"))) if on_]
    return Text(" ".join(parts), style="bold red") if parts else Text("ok", style="green")


def not_judged_text(newest: dict[str, Any] | None, report: dict[str, Any] | None) -> str:
    """A line for a newest check that could not judge (empty if the newest check judged)."""
    if not newest or newest.get("verdict") != NOT_JUDGED:
        return ""
    if report is not None and newest.get("report_id") == report.get("report_id"):
        return ""
    stands = "the verdict above still stands" if report is not None else "no verdict yet"
    return (f"[yellow]newest check {ago(newest.get('created'))}: "
            f"{escape(str(newest.get('verdict_text') or NOT_JUDGED))}[/] ({stands})")


def summary_text(model: str, production: int | None, report: dict[str, Any] | None,
                 open_job: dict[str, Any] | None, newest: dict[str, Any] | None = None,
                 report_job: dict[str, Any] | None = None) -> str:
    """The summary of the last check that judged (`report`), and of a newer one that could not (`newest`);
    `report_job` is the report's retraining job as the queue has it now."""
    head = f"[b]{escape(model)}[/b] · production v{production}" if production is not None else f"[b]{escape(model)}[/b]"
    pending = not_judged_text(newest, report)
    if report is None and pending:
        return f"{head} · no check could judge yet: [b]c[/b] checks again once more predictions are logged\n{pending}"
    if report is None:
        return f"{head} · no checks yet: [b]c[/b] checks the last 24 h of logged predictions now"
    verdict = "[b red]DRIFT[/]" if report.get("drift") else "[b green]no drift[/]"
    line = (f"{head} · last check {ago(report.get('created'))} of v{report['version']} on "
            f"{plural(report.get('rows', 0), 'row')} ({escape(str(report.get('source', '')))}): {verdict}, "
            f"{report.get('n_drifted', 0)}/{report.get('n_columns', 0)} columns "
            f"(share {share(report.get('share_drifted'))}, threshold {share(report.get('drift_share'))})")
    extra = []
    if report.get("prediction_drift"):
        extra.append("[red]prediction drift[/]")
    if report.get("new_categories"):
        cols = ", ".join(escape(c) for c in report["new_categories"])
        extra.append(f"new categories in {cols}")
    if report.get("missing_changed"):
        extra.append("missing share changed in " + ", ".join(escape(c) for c in report["missing_changed"]))
    if report.get("decay"):
        extra.append("[b red]decay[/]")
    if report.get("job_id"):
        extra.append(job_state(report, report_job))
    elif report.get("alarm") and report.get("action") == "alert":
        extra.append("alarm (alert only)")
    if open_job and open_job.get("id") != report.get("job_id"):
        extra.append(f"open job {open_job['id']} ({open_job['status'].replace('_', ' ')}) on Jobs ([b]j[/b])")
    return line + ("\n" + " · ".join(extra) if extra else "") + (f"\n{pending}" if pending else "")


def health_text(ops: dict[str, Any], report: dict[str, Any] | None) -> str:
    lines = ["[b]Operational health[/b] (prediction log, last 24 h)"]
    if not ops.get("predictions"):
        lines.append("no predictions logged in the last 24 h: start the server on Serve ([b]s[/b]) and send "
                     "requests")
    else:
        lines.append(f"{plural(ops['predictions'], 'prediction')} · {number(float(ops['per_second']))}/s active · "
                     f"latency p50 {number(ops.get('p50_ms'))} ms · p95 {number(ops.get('p95_ms'))} ms · "
                     f"p99 {number(ops.get('p99_ms'))} ms · newest {_since(ops.get('last'))}")
    lines.append("")
    lines.append("[b]Real metrics[/b] (logged predictions with feedback labels)")
    perf = (report or {}).get("performance")
    if not report:
        lines.append("no check yet")
    elif not perf:
        lines.append("no feedback labels in the last check's window: send them to "
                     "`POST /v1/models/NAME/feedback` with the prediction ids")
    else:
        verdict = "[b red]decay[/]" if perf.get("decay") else "[green]no decay[/]"
        lines.append(f"{verdict}: {escape(str(perf.get('message', '')))}")
        metrics = perf.get("metrics") or {}
        shown = [k for k in ("accuracy", "f1", "precision", "recall", "rmse", "mae", "r2") if k in metrics]
        if shown:
            lines.append("  ".join(f"{k} {number(metrics[k])}" for k in shown))
    return "\n".join(lines)


def _since(t: float | None) -> str:
    if t is None:
        return "-"
    gap = now_s() - float(t)
    return "just now" if gap < 60 else (f"{gap / 60:.0f} min ago" if gap < 3600 else f"{gap / 3600:.1f} h ago")


def estimate_text(doc: dict[str, Any]) -> Text:
    """The estimate's verdict, threshold and caveat in a few lines (the plot shows the chunks)."""
    metric = doc.get("metric")
    chunks = doc.get("chunks") or []
    threshold = (doc.get("thresholds") or {}).get(metric) or {}
    alerts = [c["index"] for c in chunks if c.get("alert")]
    out = Text()
    out.append(f"{doc.get('method', 'estimate')} · {metric} over {plural(len(chunks), 'chunk')} of "
               f"{doc.get('chunk_size')} rows · ", style="bold")
    if alerts:
        out.append(f"alert in {plural(len(alerts), 'chunk')}", style="bold red")
    else:
        out.append("no alert", style="bold green")
    if threshold.get("text"):
        out.append(f"\nthreshold: {threshold['text']}")
    last = chunks[-1] if chunks else {}
    if last:
        out.append(f"\nlast chunk: estimated {number(last.get('estimated'))} "
                   f"[{number(last.get('lower'))}, {number(last.get('upper'))}]")
        if last.get("realized") is not None:
            out.append(f", realized {number(last.get('realized'))}")
        others = [(name, m) for name, m in (last.get("metrics") or {}).items() if name != metric and m]
        if others:
            out.append("\nits other metrics: " + "; ".join(
                f"{name} {number(m.get('estimated'))} [{number(m.get('lower'))}, {number(m.get('upper'))}]"
                + (f" realized {number(m.get('realized'))}" if m.get("realized") is not None else "")
                for name, m in others))
    if doc.get("job_queued"):
        out.append(f"\nretraining job {doc.get('job_id')} queued")
    out.append(f"\n{doc.get('caveat') or 'the estimate assumes P(y|x) holds'}", style="dim")
    return out


def estimate_series(doc: dict[str, Any]) -> tuple[str, list[tuple[str, list[float], list[float]]]]:
    """(title, series) for the plot: estimate, its band, realized where labels came back, the threshold."""
    chunks = doc.get("chunks") or []
    xs = [float(c["index"]) for c in chunks]

    def values(key: str) -> tuple[list[float], list[float]]:
        pairs = [(float(c["index"]), float(c[key])) for c in chunks if c.get(key) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    series: list[tuple[str, list[float], list[float]]] = [("estimated", *values("estimated")),
                                                          ("lower", *values("lower")), ("upper", *values("upper"))]
    realized = values("realized")
    if realized[0]:
        series.append(("realized", *realized))
    threshold = ((doc.get("thresholds") or {}).get(doc.get("metric")) or {}).get("value")
    if threshold is not None and xs:
        series.append(("threshold", [xs[0], xs[-1]], [float(threshold)] * 2))
    return f"estimated {doc.get('metric')} per chunk (band: ±3 standard errors)", series


def histogram_window(report: dict[str, Any]) -> dict[str, Any] | None:
    """Arguments of `drift_histogram` that select the current data of `report` (None: not re-readable)."""
    window = report.get("window") or {}
    source = str(report.get("source") or "")
    if window.get("last"):
        return {"last": int(window["last"])}
    if window.get("since"):
        return {"window": f"{max(1, int(time.time() - float(window['since'])) + 1)}s"}  # real time: a query
    if source.startswith("dataset "):
        return {"current": source.removeprefix("dataset ")}
    if source.startswith("file "):
        return {"current": source.removeprefix("file ")}
    return None


class MonitorScreen(StageScreen):
    STAGE_ID = "monitor"
    STAGE_KEY = "o"
    STAGE_TITLE = "Monitor"
    STAGE_SUMMARY = "Drift, health and real metrics of production models"
    HELP = (
        "Pick a production model on the left. **Report** shows its latest drift check column by column "
        "(statistic against a threshold that depends on the sample sizes; drifted columns in red) and, "
        "for the highlighted column, the reference (training) vs current distribution. **Timeline** "
        "plots the share of drifted columns at each check. **Health** shows requests, rate and latency "
        "from the prediction log and the real metrics computed from feedback labels (decay).\n\n"
        "**c** checks now: the inputs the server logged for the production version in the last 24 h "
        "against its training data (send traffic on the Serve screen first). **n** schedules checks "
        "(every 1h, then retrain or only alert); **u** removes the highlighted schedule.\n\n"
        "**The scheduler** runs scheduled checks and works the retraining queue in the background. The "
        "app starts it at launch; to keep it off, set `[scheduler] in_tui = false` in the workspace's "
        "config.toml. **S** starts or stops it now. Drift found and finished jobs pop up as notifications "
        "on any screen. `mlcycle daemon` runs the same without a terminal UI; several processes never "
        "run the same tick twice."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "check", "Check now", tooltip="check the model's logged inputs for drift now", id="monitor.check"),
        Binding("n", "schedule", "Schedule", tooltip="check this model every so often", id="monitor.schedule"),
        Binding("u", "unschedule", "Unschedule", tooltip="remove the highlighted schedule", id="monitor.unschedule"),
        Binding("S", "toggle_scheduler", "Scheduler", tooltip="start or stop the app's scheduler",
                id="monitor.scheduler"),
        Binding("p", "estimate", "Estimate", tooltip="estimate performance without labels, per chunk of traffic",
                id="monitor.estimate"),
        Binding("w", "write_report", "Report", tooltip="write the latest check as a self-contained HTML file",
                id="monitor.report"),
        Binding("r", "reload", "Refresh", id="monitor.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.model: str | None = None
        self.status: dict[str, dict[str, Any]] = {}
        self.report: dict[str, Any] | None = None
        self.reports: list[dict[str, Any]] = []
        self.schedules: list[dict[str, Any]] = []
        self.column: str | None = None
        self.busy_with = ""
        self.scheduler_busy = False


    def compose_body(self) -> ComposeResult:
        yield Static(id="mon-scheduler", classes="section-title")
        yield Static(EMPTY_TEXT, id="mon-empty", classes="empty")
        with Horizontal(id="mon-main"):
            with Vertical(id="mon-left"):
                yield Static("Production models", classes="section-title")
                models = FitTable(id="mon-models", cursor_type="row")
                models.set_columns(model_columns(False), elastic=("model",))
                yield models
                yield Static("Schedules", classes="section-title")
                scheds = FitTable(id="mon-schedules", cursor_type="row")
                scheds.set_columns(schedule_columns(False), elastic=("then", "last"))
                yield scheds
                yield Static("none: n schedules checks", id="mon-no-schedules", classes="empty")
            with Vertical(id="mon-right"):
                with VerticalScroll(id="mon-summary-panel"):
                    yield Static(id="mon-summary")
                with TabbedContent(id="mon-tabs"):
                    with TabPane("Report", id="mon-tab-report"), Horizontal(id="mon-report"):
                        columns = FitTable(id="mon-columns", cursor_type="row", zebra_stripes=True)
                        columns.set_columns(report_columns(False), elastic=("column",))
                        yield columns
                        yield DriftHistogram(id="mon-histogram")
                    with TabPane("Timeline", id="mon-tab-timeline"):
                        yield DriftTimeline(id="mon-timeline")
                    with TabPane("Health", id="mon-tab-health"), VerticalScroll():
                        yield Static(id="mon-health")
                    with TabPane("Estimate", id="mon-tab-estimate"), Vertical():
                        yield Static("p estimates the production model's performance without labels, per chunk "
                                     "of its logged traffic", id="mon-estimate-text")
                        yield LinePlot(id="mon-estimate-plot")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#mon-empty").display = False
        self.query_one("#mon-histogram", DriftHistogram).message("no check yet")
        self._scheduler_line()
        self.action_reload()
        self.set_interval(2.0, self._scheduler_line)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def layout_changed(self) -> None:
        self.query_one("#mon-columns", FitTable).set_columns(report_columns(self.narrow), elastic=("column",))
        self.query_one("#mon-models", FitTable).set_columns(model_columns(self.narrow), elastic=("model",))
        self.query_one("#mon-schedules", FitTable).set_columns(schedule_columns(self.narrow), elastic=("then", "last"))

    def service_event(self, kind: str) -> None:
        self.action_reload()

    # -- loading -------------------------------------------------------------------
    def action_reload(self, model: str | None = None) -> None:
        self._load(model or self.model)

    @work(thread=True, exclusive=True, group="monitor-load")
    def _load(self, model: str | None) -> None:
        ws = self.workspace
        try:
            status = [s for s in ws.monitoring.status() if s["production"] is not None]
            names = [s["model"] for s in status]
            name = model if model in names else (names[0] if names else None)
            # only the verdicts that stand
            reports = ws.monitoring.drift_reports(name, REPORTS_SHOWN, judged=True) if name else []
            latest = ws.monitoring.drift_report(reports[0]["report_id"]) if reports else None
            ops = ws.predictions.operational_stats(name, since=time.time() - DAY_S) if name else {}
            schedules = ws.drift_schedules.list()
            threshold = float(ws.monitoring.policy()["drift_share"])
            job = self._report_job(latest)
        except MlcycleError as exc:
            self.app.call_from_thread(self.notify, exc.message, title="Monitor", severity="error")
            return
        self.app.call_from_thread(self._show, status, name, reports, latest, ops, schedules, threshold, job)

    def _report_job(self, report: dict[str, Any] | None) -> dict[str, Any] | None:
        """The report's retraining job as the queue has it now (None if it has none or it is gone)."""
        from mlcycle_tui.common.errors import NotFoundError

        if not report or not report.get("job_id"):
            return None
        try:
            return self.workspace.jobs.get(report["job_id"])
        except NotFoundError:
            return None

    def _show(self, status: list[dict[str, Any]], name: str | None, reports: list[dict[str, Any]],
              latest: dict[str, Any] | None, ops: dict[str, Any], schedules: list[dict[str, Any]],
              threshold: float, job: dict[str, Any] | None = None) -> None:
        self.status = {s["model"]: s for s in status}
        self.model, self.reports, self.schedules = name, reports, schedules
        self.query_one("#mon-empty").display = not status
        self.query_one("#mon-main").display = bool(status)
        models = self.query_one("#mon-models", FitTable)
        models.set_rows((s["model"], {"model": s["model"], "prod": f"v{s['production']}", "check": check_verdict(s)})
                        for s in status)
        if name is not None:
            models.move_cursor(row=list(self.status).index(name), animate=False)
        self._show_schedules()
        self.refresh_bindings()
        if name is None:
            self.report = None
            return
        row = self.status[name]
        self.query_one("#mon-summary", Static).update(
            summary_text(name, row["production"], latest, row.get("open_job"), row.get("newest_check"), job))
        self.query_one("#mon-timeline", DriftTimeline).show(reports, threshold)
        self.query_one("#mon-health", Static).update(health_text(ops, latest))
        changed = (self.report or {}).get("report_id") != (latest or {}).get("report_id")
        self.report = latest
        if changed or self.query_one("#mon-columns", DataTable).row_count == 0:
            self._show_columns(latest)
        if self.focused is None:
            models.focus()

    def _show_schedules(self) -> None:
        table = self.query_one("#mon-schedules", FitTable)
        table.set_rows((str(s["schedule_id"]), {
            "id": str(s["schedule_id"]), "model": s["model"], "every": s["every"],
            "then": s["action"] + (" (paused)" if s.get("paused") else ""), "last": s.get("last_status") or "-"})
            for s in self.schedules)
        table.display = bool(self.schedules)
        self.query_one("#mon-no-schedules").display = not self.schedules

    def _show_columns(self, report: dict[str, Any] | None) -> None:
        table = self.query_one("#mon-columns", FitTable)
        table.set_rows([])
        histogram = self.query_one("#mon-histogram", DriftHistogram)
        self.column = None
        if report is None:
            histogram.message("no check yet: press c")
            return
        rows = list(report.get("columns") or [])
        if report.get("prediction"):
            rows.append(report["prediction"])
        # drifted first, then by how far past the threshold
        rows.sort(key=lambda r: (not r.get("drifted"), r.get("method") == "skipped", str(r["column"])))
        table.set_rows(
            (str(r["column"]), {
                "column": Text(str(r["column"]), style="bold red" if r.get("drifted") else ""),
                "kind": r.get("kind", "-"), "method": r.get("method", "-"),
                "statistic": "-" if r.get("method") == "skipped" else number(r.get("statistic")),
                "threshold": "-" if r.get("method") == "skipped" else number(r.get("threshold")),
                "verdict": verdict_text(r)})
            for r in rows
        )
        checkable = [r for r in rows if r.get("method") != "skipped"]
        if checkable:
            table.move_cursor(row=rows.index(checkable[0]), animate=False)
            self._select_column(str(checkable[0]["column"]))
        else:
            histogram.message("no column was checked")

    @on(DataTable.RowHighlighted, "#mon-models")
    def _model_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not is_current(event):
            return
        name = str(event.row_key.value)
        if name != self.model:
            self.model = name
            self.report = None
            self.action_reload(name)

    @on(DataTable.RowHighlighted, "#mon-columns")
    def _column_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not is_current(event):
            return
        column = str(event.row_key.value)
        if column != self.column:
            self._select_column(column)

    def _select_column(self, column: str) -> None:
        self.column = column
        report = self.report
        histogram = self.query_one("#mon-histogram", DriftHistogram)
        if report is None:
            return
        row = next((r for r in [*(report.get("columns") or []), report.get("prediction") or {}]
                    if r.get("column") == column), {})
        if row.get("method") == "skipped":
            histogram.message(f"{column}: {row.get('message') or 'not checked'}")
            return
        args = histogram_window(report)
        if args is None:
            histogram.message(f"{column}: the current data of this check cannot be read again")
            return
        histogram.message(f"{column}: loading…")
        self._load_histogram(f"{report['model']}@{report['version']}", column, args)

    @work(thread=True, exclusive=True, group="monitor-histogram")
    def _load_histogram(self, ref: str, column: str, args: dict[str, Any]) -> None:
        try:
            hist = self.workspace.monitoring.drift_histogram(ref, column, bins=24, **args)
        except MlcycleError as exc:
            self.app.call_from_thread(self._histogram_failed, column, exc.message)
            return
        self.app.call_from_thread(self._histogram_loaded, column, hist)

    def _histogram_loaded(self, column: str, hist: dict[str, Any]) -> None:
        if column == self.column:
            self.query_one("#mon-histogram", DriftHistogram).show(hist)

    def _histogram_failed(self, column: str, message: str) -> None:
        if column == self.column:
            self.query_one("#mon-histogram", DriftHistogram).message(f"{column}: {message}")

    # -- actions -------------------------------------------------------------------------
    def action_check(self) -> None:
        if self.model is None or self.busy_with:
            return
        self._set_busy(f"checking {self.model}")
        self._check(self.model)

    @work(thread=True, exclusive=True, group="monitor-check")
    def _check(self, model: str) -> None:
        try:
            report = self.workspace.monitoring.check_drift(model)
        except MlcycleError as exc:
            self.app.call_from_thread(self._check_failed, exc.message)
            return
        self.app.call_from_thread(self._checked, report)

    def _checked(self, report: dict[str, Any]) -> None:
        self._set_busy("")
        if not report.get("judged", True):
            self.notify(f"{report['model']}@{report['version']}: {report['verdict_text']}; the last verdict stands",
                        title="Drift check", severity="warning")
            self.action_reload(report["model"])
            return
        what = (f"drift in {report['n_drifted']}/{plural(report['n_columns'], 'column')}" if report["drift"]
                else "no drift")
        if report.get("decay"):
            what += ", decay"
        job = f"; retraining job {report['job_id']} queued" if report.get("job_queued") else ""
        self.notify(f"{report['model']}@{report['version']}: {what}{job}", title="Drift check",
                    severity="warning" if report["drift"] or report.get("decay") else "information")
        self.report = None  # show the new report's columns
        self.action_reload(report["model"])

    def _check_failed(self, message: str) -> None:
        self._set_busy("")
        self.notify(message, title="Drift check", severity="error", timeout=10)

    def action_schedule(self) -> None:
        if self.model is None:
            return

        def created(doc: dict[str, Any] | None) -> None:
            if doc is not None:
                self.services.sync_schedules()
                running = "" if self.services.scheduler_running else " (the scheduler is off: S starts it)"
                self.notify(f"schedule {doc['schedule_id']}: check {doc['model']} every {doc['every']}, "
                            f"then {doc['action']}{running}", title="Scheduled")
                self.action_reload()

        self.app.push_screen(ScheduleDialog(self.workspace, self.model), created)

    def action_unschedule(self) -> None:
        table = self.query_one("#mon-schedules", DataTable)
        if not self.schedules or table.cursor_row is None or table.cursor_row >= len(self.schedules):
            self.notify("No schedule to remove.", title="Unschedule")
            return
        sched = self.schedules[table.cursor_row]
        body = (f"Stop checking [b]{escape(sched['model'])}[/b] every {escape(sched['every'])} "
                f"(schedule {sched['schedule_id']}, {plural(sched['runs'] or 0, 'run')} so far). "
                "Stored reports stay.")

        def chosen(value: str | None) -> None:
            if value is not None:
                self._unschedule(sched["schedule_id"])

        self.app.push_screen(ConfirmDialog(f"Remove schedule {sched['schedule_id']}?", body,
                                           [("Remove", "remove", "warning")]), chosen)

    @work(thread=True, group="monitor-schedule")
    def _unschedule(self, schedule_id: int) -> None:
        try:
            self.workspace.drift_schedules.remove(schedule_id)
        except MlcycleError as exc:
            self.app.call_from_thread(self.notify, exc.message, title="Unschedule", severity="error")
            return
        self.services.sync_schedules()
        self.app.call_from_thread(self.notify, f"schedule {schedule_id} removed", title="Unschedule")
        self.app.call_from_thread(self.action_reload)

    def action_toggle_scheduler(self) -> None:
        if self.scheduler_busy:
            return
        self.scheduler_busy = True
        self._scheduler_line()
        self._toggle_scheduler(not self.services.scheduler_running)

    @work(thread=True, exclusive=True, group="monitor-scheduler")
    def _toggle_scheduler(self, start: bool) -> None:
        error = ""
        try:
            if start:
                self.services.start_scheduler()
            else:
                self.services.stop_scheduler()
        except Exception as exc:  # shown, never a traceback
            error = f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._scheduler_toggled, start, error)

    def _scheduler_toggled(self, start: bool, error: str) -> None:
        self.scheduler_busy = False
        self._scheduler_line()
        if error:
            self.notify(error, title="Scheduler", severity="error")
        else:
            self.notify("Scheduler started" if start else "Scheduler stopped", title="Scheduler")

    # -- shared ---------------------------------------------------------------------------
    def _scheduler_line(self) -> None:
        if self.scheduler_busy:
            text = "Scheduler: [b]…[/b]"
        elif self.services.scheduler_running:
            text = (f"Scheduler [b green]● running[/]: {plural(len(self.schedules), 'drift schedule')}, job worker on "
                    "[dim]· S stops it[/dim]")
        else:
            text = "Scheduler [b]○ off[/b]: scheduled checks and the job queue wait [dim]· S starts it[/dim]"
        if self.busy_with:
            text += f"  [b]{escape(self.busy_with)}…[/b]"
        self.query_one("#mon-scheduler", Static).update(text)

    def _set_busy(self, what: str) -> None:
        self.busy_with = what
        self._scheduler_line()
        self.refresh_bindings()

    # -- estimate and report ---------------------------------------------------------------
    def action_estimate(self) -> None:
        if self.model is None or self.busy_with:
            return
        self._set_busy(f"estimating {self.model}")
        self.query_one("#mon-tabs", TabbedContent).active = "mon-tab-estimate"
        self._estimate(self.model)

    @work(thread=True, exclusive=True, group="monitor-estimate")
    def _estimate(self, model: str) -> None:
        try:
            doc = self.workspace.estimates.estimate(model, window="24h")
        except MlcycleError as exc:
            self.app.call_from_thread(self._estimated, None, exc.message)
            return
        self.app.call_from_thread(self._estimated, doc, "")

    def _estimated(self, doc: dict[str, Any] | None, error: str) -> None:
        self._set_busy("")
        text = self.query_one("#mon-estimate-text", Static)
        plot = self.query_one("#mon-estimate-plot", LinePlot)
        if doc is None or not doc.get("judged"):
            why = error or (doc or {}).get("reason") or "cannot estimate"
            text.update(Text(f"Cannot estimate: {why}", style="yellow"))
            plot.message("cannot estimate")
            return
        text.update(estimate_text(doc))
        plot.show(*estimate_series(doc), xlabel="chunk", ylabel=str(doc.get("metric")))

    def action_write_report(self) -> None:
        if self.report is None or self.busy_with:
            return
        self._set_busy("writing the report")
        self._write_report(self.report)

    @work(thread=True, exclusive=True, group="monitor-report")
    def _write_report(self, report: dict[str, Any]) -> None:
        reports = self.workspace.reports
        try:
            subject = f"{report['model']}-{report['version']}-check{report['report_id']}"
            rep = reports.drift(report["report_id"], out=reports.default_path("drift", subject), estimate=True)
        except MlcycleError as exc:
            self.app.call_from_thread(self._report_written, "", exc.message)
            return
        self.app.call_from_thread(self._report_written, str(rep.path), "")

    def _report_written(self, path: str, error: str) -> None:
        self._set_busy("")
        if error:
            self.notify(error, title="Report", severity="error", timeout=10)
        else:
            self.notify(f"wrote {path}; open it in a browser or send it", title="Report", timeout=10)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("check", "schedule", "estimate") and (self.model is None or self.busy_with):
            return None
        if action == "write_report" and (self.report is None or self.busy_with):
            return None
        if action == "unschedule" and not self.schedules:
            return None
        return True

"""The Jobs screen: the retraining queue, one job's result and log, and what a person decides.

Why this exists: drift checks queue retraining jobs and a worker (the app's
scheduler, `mlcycle daemon` or `mlcycle jobs run`) works them off. Here a
user sees what is queued, running, waiting for approval or finished, reads
why (the reason, the challenger vs champion comparison, the log), approves
or rejects a challenger that waits, cancels a job, retries a failed one, or
runs the next job right now. The queue is read in a thread worker (reading
it also requeues jobs whose process died), and re-read while a job is open.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.widgets import DataTable, Static

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.dialogs.text import TextDialog
from mlcycle_tui.tui.format import ago
from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.widgets.fit_table import FitTable, is_current
from mlcycle_tui.tui.widgets.run_panels import metric_value

JOBS_SHOWN = 200
COLUMNS = [("id", "id"), ("model", "model"), ("status", "status"), ("reason", "reason"), ("created", "created"),
           ("result", "result")]
_LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d)\S*", re.MULTILINE)
POLL_S = 2.0
OPEN = ("queued", "running", "awaiting_approval")
EMPTY_TEXT = (
    "No retraining jobs yet. Jobs are queued by drift checks that find persistent drift or decay "
    "(Monitor screen, [b]o[/b]: run a check with [b]c[/b] or schedule one with [b]n[/b]), or by "
    "`mlcycle jobs enqueue MODEL`. Try `mlcycle demo` for a workspace with a finished job."
)
STATUS_STYLE = {
    "queued": "yellow", "running": "bold cyan", "awaiting_approval": "bold yellow", "done": "green",
    "failed": "bold red", "cancelled": "dim", "rejected": "dim",
}


def status_text(status: str) -> Text:
    """A table cell (rich Text: DataTable sizes columns from it, not from Content)."""
    return Text(status.replace("_", " "), style=STATUS_STYLE.get(status, ""))


def short_log(log: str) -> str:
    """The job log with each line's ISO timestamp cut to the time of day."""
    return _LOG_TIME.sub(r"\1", log)


def result_summary(job: dict[str, Any]) -> str:
    result = job.get("result") or {}
    return str(result.get("summary") or result.get("error") or "-")


def _metrics_line(label: str, side: dict[str, Any] | None, metric: str | None) -> str:
    if not side:
        return ""
    metrics = side.get("metrics") or {}
    value = metrics.get(metric) if metric else None
    shown = f"{metric} {metric_value(value)}" if metric and value is not None else ""
    return f"{label} v{side.get('version')}  {shown}".rstrip()


def job_detail(job: dict[str, Any]) -> str:
    """Markup: status, reason, times, the outcome and its comparison."""
    lines = [
        f"[b]Job {job['id']}[/b]  {escape(job['kind'])} of [b]{escape(job['model'])}[/b]  "
        f"[{STATUS_STYLE.get(job['status'], '')}]{job['status'].replace('_', ' ')}[/]",
        f"[dim]reason[/dim]   {escape(job.get('reason') or '-')}",
        f"[dim]created[/dim]  {ago(job.get('created'))}   [dim]started[/dim] {ago(job.get('started'))}   "
        f"[dim]finished[/dim] {ago(job.get('finished'))}   [dim]attempts[/dim] {job.get('attempts') or 0}",
    ]
    if job.get("report_id"):
        lines.append(f"[dim]from drift report[/dim] {job['report_id']}")
    result = job.get("result") or {}
    if result.get("summary") or result.get("error"):
        lines.append("")
        lines.append(escape(result_summary(job)))
    comparison = result.get("comparison") or {}
    metric = comparison.get("metric")
    for label, key in (("challenger", "challenger"), ("champion  ", "champion")):
        line = _metrics_line(label, result.get(key), metric)
        if line:
            lines.append(f"[dim]{escape(line)}[/dim]")
    gates = result.get("gates")
    if gates:
        verdict = "[green]passed[/]" if gates.get("passed") else "[red]failed[/]"
        why = "" if gates.get("passed") else ": " + escape("; ".join(gates.get("reasons", [])))
        lines.append(f"gates {verdict}{why}")
    if job["status"] == "awaiting_approval":
        lines.append("\n[b]Waiting for you:[/b] [b]a[/b] promotes the challenger, [b]n[/b] keeps the champion.")
    return "\n".join(lines)


class JobsScreen(StageScreen):
    STAGE_ID = "jobs"
    STAGE_KEY = "j"
    STAGE_TITLE = "Jobs"
    STAGE_SUMMARY = "The retraining queue: approve, cancel, follow"
    HELP = (
        "Retraining jobs, newest first. A drift check that finds persistent drift or decay queues one "
        "job per model; a worker retrains the production version's recipe on the newest data (plus "
        "labelled feedback), compares challenger and champion on the same holdout, and promotes the "
        "challenger if it wins and passes the gates, or leaves it **awaiting approval** when "
        '`[policy] promotion = "approval"`.\n\n'
        "The app's scheduler works the queue every few seconds while it runs (see the Monitor screen, "
        "**o**); **w** runs the next queued job now, here. **a** approves a waiting challenger (it is "
        "promoted, after a confirmation), **n** rejects it (the champion stays), **c** cancels a queued, "
        "running or waiting job (a running one stops at its next step), **t** queues a failed, cancelled "
        "or rejected job again. **enter** shows the highlighted job and its log in full (the table cuts "
        "long reasons with …). The list refreshes by itself while a job is open; **r** refreshes now."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "run_next", "Run next", tooltip="run the oldest queued job now, in this app", id="jobs.run_next"),
        Binding("a", "approve", "Approve", tooltip="promote the waiting challenger", id="jobs.approve"),
        Binding("n", "reject", "Reject", tooltip="keep the champion; the challenger is not promoted", id="jobs.reject"),
        Binding("c", "cancel_job", "Cancel job", tooltip="cancel the highlighted job", id="jobs.cancel"),
        Binding("t", "retry", "Retry", tooltip="queue the failed, cancelled or rejected job again", id="jobs.retry"),
        Binding("r", "reload", "Refresh", id="jobs.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[int, dict[str, Any]] = {}
        self.selected: dict[str, Any] | None = None
        self.busy_with = ""
        self.progress = ""
        self._loading = False

    def compose_body(self) -> ComposeResult:
        yield Static(EMPTY_TEXT, id="jobs-empty", classes="empty")
        with Vertical(id="jobs-main"):
            yield Static(id="jobs-status", classes="section-title")
            table = FitTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
            table.set_columns(COLUMNS, elastic=("reason", "result"))
            yield table
            with Horizontal(id="jobs-bottom"):
                with VerticalScroll(id="job-detail-panel"):
                    yield Static(id="job-detail")
                with VerticalScroll(id="job-log-panel"):
                    yield Static("Log", classes="section-title")
                    yield Static(id="job-log")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#jobs-empty").display = False
        self.action_reload()
        self.set_interval(POLL_S, self._poll)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def service_event(self, kind: str) -> None:
        """The app's scheduler finished a job or queued one: show it."""
        self.action_reload()

    # -- loading -----------------------------------------------------------------
    def _poll(self) -> None:
        if self.is_current and any(j["status"] in OPEN for j in self.jobs.values()):
            self.action_reload()

    def action_reload(self) -> None:
        if not self._loading:
            self._loading = True
            selected = self.selected["id"] if self.selected else None
            self._load(selected)

    @work(thread=True, group="jobs-load")
    def _load(self, selected: int | None) -> None:
        try:
            jobs = self.workspace.jobs.list(limit=JOBS_SHOWN)
            chosen = selected if selected in {j["id"] for j in jobs} else (jobs[0]["id"] if jobs else None)
            detail = self.workspace.jobs.get(chosen) if chosen is not None else None
        except MlcycleError as exc:
            self.app.call_from_thread(self._load_failed, exc.message)
            return
        self.app.call_from_thread(self._show, jobs, detail)

    def _load_failed(self, message: str) -> None:
        self._loading = False
        self.notify(message, title="Jobs", severity="error")

    def _show(self, jobs: list[dict[str, Any]], detail: dict[str, Any] | None) -> None:
        self._loading = False
        self.jobs = {j["id"]: j for j in jobs}
        self.query_one("#jobs-empty").display = not jobs
        self.query_one("#jobs-main").display = bool(jobs)
        table = self.query_one("#jobs-table", FitTable)
        table.set_rows((str(j["id"]), {"id": str(j["id"]), "model": j["model"], "status": status_text(j["status"]),
                                       "reason": j.get("reason") or "-", "created": ago(j.get("created")),
                                       "result": result_summary(j)}) for j in jobs)
        counts = {s: sum(1 for j in jobs if j["status"] == s) for s in OPEN}
        self._status_line(counts)
        if detail is not None:
            table.move_cursor(row=list(self.jobs).index(detail["id"]), animate=False)
            self._show_detail(detail)
        else:
            self._show_detail(None)
        if jobs and self.focused is None:
            table.focus()

    def _status_line(self, counts: dict[str, int] | None = None) -> None:
        if counts is None:
            counts = {s: sum(1 for j in self.jobs.values() if j["status"] == s) for s in OPEN}
        services = getattr(self.app, "services", None)
        worker = "worker: the app's scheduler" if services and services.scheduler_running else (
            "no worker here: w runs one")
        text = (f"{counts['queued']} queued · {counts['running']} running · "
                f"{counts['awaiting_approval']} awaiting approval  [dim]{worker}[/dim]")
        if self.busy_with:
            text = f"{escape(self.busy_with)}{(': ' + escape(self.progress)) if self.progress else ''}…"
        self.query_one("#jobs-status", Static).update(text)

    @on(DataTable.RowSelected, "#jobs-table")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        """Enter: the job's whole reason, result and log (the table cuts them with …)."""
        job = self.selected
        if job is not None and str(job["id"]) == str(event.row_key.value):
            log = escape(short_log(job.get("log") or "") or "(nothing logged yet)")
            text = f"{job_detail(job)}\n\n[b]Log[/b]\n{log}"
            self.app.push_screen(TextDialog(f"Job {job['id']} · {job['model']}", text, markup=True))

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not is_current(event):
            return
        job_id = int(str(event.row_key.value))
        if self.selected is None or self.selected["id"] != job_id:
            try:
                self._show_detail(self.workspace.jobs.get(job_id))  # one row by id: cheap
            except MlcycleError:
                self._show_detail(None)

    def _show_detail(self, job: dict[str, Any] | None) -> None:
        self.selected = job
        detail = self.query_one("#job-detail", Static)
        log = self.query_one("#job-log", Static)
        if job is None:
            detail.update("")
            log.update("")
        else:
            detail.update(job_detail(job))
            log.update(Content(short_log(job.get("log") or "") or "(nothing logged yet)"))
        self.refresh_bindings()

    # -- actions -------------------------------------------------------------------
    def action_run_next(self) -> None:
        if self.busy_with:
            return
        if not any(j["status"] == "queued" for j in self.jobs.values()):
            self.notify("No queued job to run.", title="Run next")
            return
        self._set_busy("running the next job")
        self._run_next()

    @work(thread=True, exclusive=True, group="jobs-run")
    def _run_next(self) -> None:
        def progress(message: str) -> None:
            self.app.call_from_thread(self._progress, message)

        try:
            job = self.workspace.jobs.run_next(progress)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, "Run next job", exc.message)
            return
        self.app.call_from_thread(self._ran, job)

    def _progress(self, message: str) -> None:
        self.progress = message
        self._status_line()
        self.action_reload()

    def _ran(self, job: dict[str, Any] | None) -> None:
        self._set_busy("")
        if job is None:
            self.notify("Another worker took the job first; nothing was queued.", title="Run next")
        else:
            severity = "error" if job["status"] == "failed" else "information"
            self.notify(f"job {job['id']} ({job['model']}) {job['status'].replace('_', ' ')}: "
                        f"{result_summary(job)}", title="Retraining job", severity=severity, timeout=10)
        self.action_reload()

    def action_approve(self) -> None:
        job = self.selected
        if job is None or job["status"] != "awaiting_approval":
            return
        result = job.get("result") or {}
        challenger = (result.get("challenger") or {}).get("version")
        body = (f"Promote [b]{escape(job['model'])} v{challenger}[/b] to production (it must still pass the "
                f"gates); servers load it.\n\n{job_detail(job)}")
        self._confirm(f"Approve job {job['id']}?", body, ("Approve and promote", "approve", "primary"),
                      "approving", lambda: self.workspace.jobs.approve(job["id"]))

    def action_reject(self) -> None:
        job = self.selected
        if job is None or job["status"] != "awaiting_approval":
            return
        body = (f"Keep the current production version of [b]{escape(job['model'])}[/b]; the challenger stays "
                "registered but is not promoted. The job ends as rejected (you can retry it).")
        self._confirm(f"Reject job {job['id']}?", body, ("Reject", "reject", "warning"),
                      "rejecting", lambda: self.workspace.jobs.reject(job["id"]))

    def action_cancel_job(self) -> None:
        job = self.selected
        if job is None or job["status"] not in OPEN:
            return
        running = " It is running: it stops at its next step." if job["status"] == "running" else ""
        body = (f"Cancel job {job['id']} ({escape(job['kind'])} of [b]{escape(job['model'])}[/b], "
                f"{job['status'].replace('_', ' ')}).{running} You can retry it later with [b]t[/b].")
        self._confirm(f"Cancel job {job['id']}?", body, ("Cancel the job", "cancel_job", "error"),
                      "cancelling", lambda: self.workspace.jobs.cancel(job["id"]))

    def action_retry(self) -> None:
        job = self.selected
        if job is None or job["status"] not in ("failed", "cancelled", "rejected") or self.busy_with:
            return
        self._set_busy(f"queueing job {job['id']} again")
        self._act("Retry", lambda: self.workspace.jobs.retry(job["id"]))

    def _confirm(self, title: str, body: str, choice: tuple[str, str, str], busy: str, call: Any) -> None:
        if self.busy_with:
            return

        def chosen(value: str | None) -> None:
            if value is not None:
                self._set_busy(f"{busy} job {self.selected['id'] if self.selected else ''}")
                self._act(title.split()[0], call)

        self.app.push_screen(ConfirmDialog(title, body, [choice]), chosen)

    @work(thread=True, exclusive=True, group="jobs-act")
    def _act(self, title: str, call: Any) -> None:
        try:
            job = call()
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, title, exc.message)
            return
        self.app.call_from_thread(self._acted, title, job)

    def _acted(self, title: str, job: dict[str, Any]) -> None:
        self._set_busy("")
        status = str(job.get("status", "")).replace("_", " ")
        self.notify(f"job {job.get('id')} is {status}", title=title)
        self.action_reload()

    def _failed(self, title: str, message: str) -> None:
        self._set_busy("")
        self.notify(message, title=title, severity="error", timeout=10)
        self.action_reload()

    def _set_busy(self, what: str) -> None:
        self.busy_with = what
        self.progress = ""
        self._status_line()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        job = self.selected
        status = job["status"] if job else None
        if action in ("approve", "reject", "cancel_job", "retry", "run_next") and self.busy_with:
            return None
        if action in ("approve", "reject") and status != "awaiting_approval":
            return None
        if action == "cancel_job" and status not in OPEN:
            return None
        if action == "retry" and status not in ("failed", "cancelled", "rejected"):
            return None
        return True

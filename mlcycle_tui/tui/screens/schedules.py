"""The Schedules screen: everything that runs on its own, in one list, with run now, pause and remove.

Why this exists: drift checks, watched data sources and batch scoring each
run on their own interval, and a user must not have to visit three places
to learn what will run next, what failed last time and why. This screen
lists `Workspace.all_schedules()` (re-read in a worker every few seconds),
shows the highlighted schedule's last result and files, and acts on it: run
now (in a worker: a run can take a while), pause or resume, remove after a
confirmation. New sources and scoring schedules are added here through
dialogs; drift checks are scheduled from the Monitor screen, next to the
model they watch. Every action goes through the same Workspace methods as
`mlcycle schedules ...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.dialogs.scoring import ScoringDialog
from mlcycle_tui.tui.dialogs.source import SourceDialog
from mlcycle_tui.tui.dialogs.text import TextDialog
from mlcycle_tui.tui.format import plural
from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.widgets.fit_table import FitTable, is_current
from mlcycle_tui.tui.widgets.schedule_cells import last_result, last_run, next_run

REFRESH_S = 3.0
DETAIL_FILES = 5
KIND_STYLES = {"drift": "magenta", "source": "cyan", "scoring": "blue"}
COLUMNS = [("kind", "kind"), ("id", "id"), ("target", "target"), ("every", "every"), ("next", "next run"),
           ("last", "last run"), ("result", "last result"), ("what", "what")]
ELASTIC = ("result", "what")
EMPTY_TEXT = (
    "No schedules yet. Everything that runs on its own shows here with its next run and last result.\n\n"
    "[b]a[/b]  watch a folder, a SQLite query or a JSON-lines file for new data\n"
    "   [dim]mlcycle data source add NAME --folder DIR --every 10m[/dim]\n"
    "[b]n[/b]  score the new files of a folder with a model\n"
    "   [dim]mlcycle scoring add MODEL --input-dir IN --output-dir OUT --every 1h[/dim]\n"
    "[b]o[/b]  then [b]n[/b] on Monitor: check a production model for drift\n"
    "   [dim]mlcycle monitor schedule MODEL --every 1h[/dim]\n\n"
    "They run while this app's scheduler or `mlcycle daemon` is running."
)
REMOVE_KEEPS = {
    "drift": "Stored drift reports stay.",
    "source": "The dataset versions it made stay; the record of processed files goes with it.",
    "scoring": "Prediction files already written stay.",
}


def row_key(row: dict[str, Any]) -> str:
    return f"{row['kind']}:{row['id']}"


def shorten(text: str, width: int = 36) -> str:
    """Keep the end of a long path (the part that tells folders apart)."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


def cells(row: dict[str, Any], running: bool = False) -> dict[str, Text | str]:
    """The table cells of one `all_schedules()` row (the table cuts the long ones to its width)."""
    shown = dict(row, running=row.get("running") or running)
    return {
        "kind": Text(row["kind"], style=KIND_STYLES.get(row["kind"], "")),
        "id": str(row["id"]),
        "target": str(row["target"]),
        "every": str(row["every"]),
        "next": next_run(shown),
        "last": last_run(row.get("last_run")),
        "result": last_result(row.get("last_status"), row.get("last_error"), width=200),
        "what": shorten(str(row["detail"])),
    }


def counts_text(total: int, paused: int, scheduler_running: bool) -> str:
    """How many schedules run on their own, with the paused ones counted apart, in words that agree."""
    active = total - paused
    apart = f" · {paused} paused" if paused else ""
    if not scheduler_running:
        return (f"{plural(total, 'schedule')} {'waits' if total == 1 else 'wait'}" + apart) if total else "no schedules"
    if not total:
        return "no schedules yet"
    if not active:
        return f"{plural(paused, 'paused schedule')}: none runs on its own"
    own = "runs on its own" if active == 1 else "run on their own"
    return f"{plural(active, 'schedule')} {own}{apart}"


def files_text(kind: str, files: list[dict[str, Any]]) -> str:
    """What a source or a scoring schedule did with its files: counts, then the latest few."""
    if not files:
        return "[dim]no files processed yet[/dim]"
    counts: dict[str, int] = {}
    for f in files:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    head = " · ".join(f"{n} {escape(status)}" for status, n in sorted(counts.items()))
    lines = [f"[b]Files[/b] {head}" + (" [dim](latest 200)[/dim]" if len(files) >= 200 else "")]
    for f in files[:DETAIL_FILES]:
        name = escape(Path(str(f.get("path") or "")).name or "-")
        status = str(f["status"])
        colour = {"quarantined": "red", "rejected": "red", "duplicate": "dim"}.get(status, "green")
        extra = ""
        if kind == "source" and f.get("dataset_version"):
            extra = f" → v{f['dataset_version']}" + (f" ({f['rows']:,} rows)" if f.get("rows") else "")
        elif kind == "scoring" and f.get("output"):
            extra = f" → {escape(Path(str(f['output'])).name)} ({f.get('rows') or 0:,} rows, v{f.get('version')})"
        why = f.get("reason") or f.get("error")
        if why:
            extra += f": [red]{escape(str(why)[:160])}[/]"
        lines.append(f"  {name} [{colour}]{escape(status)}[/]{extra}")
    return "\n".join(lines)


def detail_text(row: dict[str, Any], files: list[dict[str, Any]] | None) -> str:
    """The highlighted schedule in full: what, when, the last result with its whole error, its files."""
    paused = " · [yellow]paused[/yellow]" if row.get("paused") else ""
    lines = [f"[b]{escape(row['kind'])} {row['id']}[/b] · {escape(str(row['target']))} · "
             f"{escape(str(row['detail']))} · every {escape(str(row['every']))} · "
             f"{plural(row.get('runs') or 0, 'run')}{paused}"]
    when = last_run(row.get("last_run")).plain
    status = row.get("last_status")
    lines.append(f"last run {when}: {escape(str(status))}" if status else "not run yet: [b]g[/b] runs it now")
    if row.get("last_error"):
        lines.append(f"[b red]error:[/] [red]{escape(str(row['last_error']))}[/]")
    if row["kind"] == "drift":
        lines.append("[dim]Each check compares the inputs logged for the production version with its training "
                     "data; the reports are on the Monitor screen.[/dim]")
    elif files is not None:
        lines.append(files_text(row["kind"], files))
    return "\n".join(lines)


class SchedulesScreen(StageScreen):
    STAGE_ID = "schedules"
    STAGE_KEY = "k"
    STAGE_TITLE = "Schedules"
    STAGE_SUMMARY = "Drift checks, data sources and batch scoring that run on their own"
    HELP = (
        "Every schedule of the workspace in one list: **drift** checks of production models, watched data "
        "**source**s (a folder, a SQLite query or a JSON-lines file whose new rows become a new dataset "
        "version) and batch **scoring** of new files in a folder. Each row shows when it runs next, when it "
        "last ran and how that went (errors in red); the panel below shows the highlighted one in full, with "
        "the files it processed.\n\n"
        "**g** runs the highlighted schedule now (also when paused), **p** pauses it (or resumes a paused one), "
        "**x** removes it after asking; **enter** shows its last result in full. **a** adds a source, **n** a "
        "scoring schedule; drift checks are scheduled on the "
        "Monitor screen. The list is re-read every few seconds.\n\n"
        "Schedules run while the app's scheduler is on (it starts with the app unless `[scheduler] in_tui = "
        "false`; **S** on Monitor toggles it) or while `mlcycle daemon` runs. The same from a shell: "
        "`mlcycle schedules`, `mlcycle schedules run|pause|resume|remove KIND ID`."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "run_now", "Run now", tooltip="run the highlighted schedule now", id="schedules.run_now"),
        Binding("p", "pause", "Pause", tooltip="pause the highlighted schedule (g still runs it)",
                id="schedules.pause"),
        Binding("p", "resume", "Resume", tooltip="resume the highlighted paused schedule", id="schedules.resume"),
        Binding("x", "remove", "Remove", tooltip="remove the highlighted schedule (asks first)",
                id="schedules.remove"),
        Binding("a", "add_source", "Add source", tooltip="watch a folder, SQLite query or JSON-lines file",
                id="schedules.add_source"),
        Binding("n", "add_scoring", "Add scoring", tooltip="score new files of a folder every so often",
                id="schedules.add_scoring"),
        Binding("r", "reload", "Refresh", id="schedules.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.selected: str | None = None
        self.running: set[str] = set()
        """Keys of the schedules this screen is running now (run now)."""
        self._detail = ""
        """Markup of the highlighted schedule's detail panel (Enter opens it in a dialog)."""
        self._loading = False


    def compose_body(self) -> ComposeResult:
        yield Static(id="sched-status", classes="section-title")
        yield Static(EMPTY_TEXT, id="sched-empty", classes="empty")
        with Vertical(id="sched-main"):
            table = FitTable(id="sched-table", cursor_type="row", zebra_stripes=True)
            table.set_columns(COLUMNS, elastic=ELASTIC)
            yield table
            with VerticalScroll(id="sched-detail-panel"):
                yield Static(id="sched-detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#sched-empty").display = False
        self._status_line()
        self.action_reload()
        self.set_interval(REFRESH_S, self._poll)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def service_event(self, kind: str) -> None:
        self.action_reload()

    # -- loading ---------------------------------------------------------------------
    def _poll(self) -> None:
        self._status_line()
        if self.is_current and not self._loading:
            self.action_reload()

    def action_reload(self) -> None:
        self._loading = True
        self._load(self.selected)

    @work(thread=True, exclusive=True, group="schedules-load")
    def _load(self, selected: str | None) -> None:
        ws = self.workspace
        worker = get_current_worker()
        try:
            rows = ws.schedules.all()
            keys = [row_key(r) for r in rows]
            chosen = selected if selected in keys else (keys[0] if keys else None)
            files = self._files(chosen)
        except MlcycleError as exc:
            self.app.call_from_thread(self._load_failed, exc.message)
            return
        except Exception as exc:  # a schedule removed between the two reads: try again on the next poll
            self.app.call_from_thread(self._load_failed, f"{type(exc).__name__}: {exc}")
            return
        if not worker.is_cancelled:  # a newer read (another row highlighted) shows instead
            self.app.call_from_thread(self._show, rows, chosen, files)

    def _files(self, key: str | None) -> list[dict[str, Any]] | None:
        if key is None:
            return None
        kind, sid = key.split(":")
        if kind == "source":
            return self.workspace.sources.files(int(sid))
        if kind == "scoring":
            return self.workspace.scoring.files(int(sid))
        return None

    def _load_failed(self, message: str) -> None:
        self._loading = False
        self.notify(message, title="Schedules", severity="error")

    def _show(self, rows: list[dict[str, Any]], chosen: str | None, files: list[dict[str, Any]] | None) -> None:
        self._loading = False
        self.rows = rows
        self.query_one("#sched-empty").display = not rows
        self.query_one("#sched-main").display = bool(rows)
        table = self.query_one("#sched-table", FitTable)
        keys = [row_key(r) for r in rows]
        table.set_rows((row_key(r), cells(r, row_key(r) in self.running)) for r in rows)  # the cursor stays
        if chosen is not None and chosen in keys:
            self.selected = chosen
            if table.cursor_row != keys.index(chosen):
                table.move_cursor(row=keys.index(chosen), animate=False)
            row = rows[keys.index(chosen)]
            self._detail = detail_text(row, files)
            self.query_one("#sched-detail", Static).update(Content.from_markup(self._detail))
        else:
            self.selected = None
            self.query_one("#sched-detail", Static).update("")
        self._status_line()
        self.refresh_bindings()
        if rows and self.focused is None:
            table.focus()

    @on(DataTable.RowHighlighted, "#sched-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not is_current(event):
            return
        key = str(event.row_key.value)
        if key != self.selected:
            self.selected = key
            self.refresh_bindings()
            self.action_reload()

    @on(DataTable.RowSelected, "#sched-table")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        """Enter: the schedule's last result (the table cuts it with …) and what it did, in full."""
        row = next((r for r in self.rows if row_key(r) == str(event.row_key.value)), None)
        if row is not None and row_key(row) == self.selected and self._detail:
            self.app.push_screen(TextDialog(f"{row['kind']} {row['id']} · {row['target']}", self._detail,
                                            markup=True))

    def current(self) -> dict[str, Any] | None:
        return next((r for r in self.rows if row_key(r) == self.selected), None)

    def _status_line(self) -> None:
        paused = sum(1 for r in self.rows if r.get("paused"))
        running = self.services.scheduler_running
        counts = counts_text(len(self.rows), paused, running)
        if running:
            text = f"Scheduler [b green]● running[/]: {counts} · re-read every {REFRESH_S:.0f}s"
        else:
            text = f"Scheduler [b]○ off[/b]: {counts} · [b]g[/b] runs one now · [b]S[/b] on Monitor starts it"
        if self.running:
            text += f"  [b]running {len(self.running)}…[/b]"
        self.query_one("#sched-status", Static).update(text)

    # -- actions -----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        row = self.current()
        if action == "resume":  # shown instead of Pause (same key) on a paused schedule
            return bool(row is not None and row.get("paused"))
        if action == "pause" and row is not None and row.get("paused"):
            return False
        if action in ("run_now", "pause", "remove") and row is None:
            return None
        return True

    def action_run_now(self) -> None:
        row = self.current()
        if row is None:
            return
        key = row_key(row)
        if key in self.running:
            self.notify(f"{row['kind']} {row['id']} is already running.", title="Run now")
            return
        self.running.add(key)
        self._status_line()
        table = self.query_one("#sched-table", FitTable)
        table.set_rows((row_key(r), cells(r, row_key(r) in self.running)) for r in self.rows)
        self._run(row["kind"], int(row["id"]), str(row["target"]))

    @work(thread=True, group="schedules-run")
    def _run(self, kind: str, sid: int, target: str) -> None:
        try:
            result = self.workspace.schedules.run_now(kind, sid)
        except MlcycleError as exc:
            self.app.call_from_thread(self._ran, kind, sid, f"{target}: {exc.message}", "error")
            return
        except Exception as exc:  # shown, never a traceback
            self.app.call_from_thread(self._ran, kind, sid, f"{target}: {type(exc).__name__}: {exc}", "error")
            return
        message, severity = run_message(kind, target, result)
        self.app.call_from_thread(self._ran, kind, sid, message, severity)

    def _ran(self, kind: str, sid: int, message: str, severity: str) -> None:
        self.running.discard(f"{kind}:{sid}")
        self.notify(message, title=f"Ran {kind} {sid}", severity=severity,  # type: ignore[arg-type]
                    timeout=10 if severity == "error" else 6)
        self.action_reload()

    def action_pause(self) -> None:
        row = self.current()
        if row is not None and not row.get("paused"):
            self._pause(row["kind"], int(row["id"]), True)

    def action_resume(self) -> None:
        row = self.current()
        if row is not None and row.get("paused"):
            self._pause(row["kind"], int(row["id"]), False)

    @work(thread=True, group="schedules-act")
    def _pause(self, kind: str, sid: int, pause: bool) -> None:
        try:
            if pause:
                self.workspace.schedules.pause(kind, sid)
            else:
                self.workspace.schedules.resume(kind, sid)
        except MlcycleError as exc:
            self.app.call_from_thread(self.notify, exc.message, title="Pause", severity="error")
            return
        self.services.sync_schedules()
        what = "paused: it will not run on its ticks (g still runs it)" if pause else "resumed"
        self.app.call_from_thread(self.notify, f"{kind} {sid} {what}", title="Paused" if pause else "Resumed")
        self.app.call_from_thread(self.action_reload)

    def action_remove(self) -> None:
        row = self.current()
        if row is None:
            return
        body = (f"Stop running [b]{escape(row['kind'])} {row['id']}[/b] ({escape(str(row['target']))}: "
                f"{escape(str(row['detail']))}, every {escape(str(row['every']))}, "
                f"{plural(row.get('runs') or 0, 'run')} so far). {REMOVE_KEEPS.get(row['kind'], '')}")

        def chosen(value: str | None) -> None:
            if value is not None:
                self._remove(row["kind"], int(row["id"]))

        self.app.push_screen(ConfirmDialog(f"Remove {row['kind']} schedule {row['id']}?", body,
                                           [("Remove", "remove", "warning")]), chosen)

    @work(thread=True, group="schedules-act")
    def _remove(self, kind: str, sid: int) -> None:
        try:
            self.workspace.schedules.remove(kind, sid)
        except MlcycleError as exc:
            self.app.call_from_thread(self.notify, exc.message, title="Remove", severity="error")
            return
        self.services.sync_schedules()
        self.app.call_from_thread(self.notify, f"{kind} {sid} removed", title="Removed")
        self.app.call_from_thread(self.action_reload)

    def action_add_source(self) -> None:
        def created(doc: dict[str, Any] | None) -> None:
            if doc is not None:
                self._created(f"source:{doc['source_id']}",
                              f"source {doc['source_id']}: {doc['kind']} {doc['location']} → {doc['dataset']}, "
                              f"every {doc['every']}")

        self.app.push_screen(SourceDialog(self.workspace), created)

    def action_add_scoring(self) -> None:
        def created(doc: dict[str, Any] | None) -> None:
            if doc is not None:
                self._created(f"scoring:{doc['schedule_id']}",
                              f"scoring {doc['schedule_id']}: {doc['model']} on {doc['input_dir']} every "
                              f"{doc['every']}")

        self.app.push_screen(ScoringDialog(self.workspace, self._default_model()), created)

    def _default_model(self) -> str:
        """The model of the highlighted drift or scoring schedule, else the only/first production model."""
        row = self.current()
        if row is not None and row["kind"] in ("drift", "scoring"):
            return str(row["target"])
        try:
            names = [m["name"] for m in self.workspace.registry.models() if m.get("production") is not None]
        except MlcycleError:
            return ""
        return names[0] if names else ""

    def _created(self, key: str, message: str) -> None:
        self.services.sync_schedules()
        off = "" if self.services.scheduler_running else " (the scheduler is off: g runs it now)"
        self.notify(message + off, title="Scheduled")
        self.selected = key
        self.action_reload()


def run_message(kind: str, target: str, result: dict[str, Any]) -> tuple[str, str]:
    """The notification for a finished run now: (message, severity)."""
    status = str(result.get("status") or "")
    if status == "busy":
        return f"{target}: another run holds it right now; try again in a moment", "warning"
    if kind == "drift":
        report = result.get("report") or {}
        if report.get("drift"):
            job = f"; retraining job {report['job_id']} queued" if report.get("job_queued") else ""
            return (f"{target}: drift in {report.get('n_drifted')}/{plural(report.get('n_columns') or 0, 'column')}"
                    f"{job}",
                    "warning")
        if report and not report.get("judged", True):
            return f"{target}: {report.get('verdict_text') or 'not enough data'}; the last verdict stands", "warning"
        return f"{target}: no drift", "information"
    if result.get("error") and status.startswith("error"):
        return f"{target}: {status.removeprefix('error: ')}", "error"
    text = status.removeprefix("ok: ")
    return f"{target}: {text}", "warning" if result.get("error") or result.get("quarantined") else "information"

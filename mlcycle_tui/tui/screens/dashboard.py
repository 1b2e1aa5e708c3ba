"""The Dashboard (home): the whole cycle at a glance, one tile per stage, and what happened lately.

Why this exists: the first screen answers "where does each stage of this
workspace stand, and what happened?" — datasets, runs, production models,
the server, the last drift verdict, the job queue — each tile with its state
and the key that goes there, and on an empty workspace with the next step to
take. The datasets and the events (small, bounded queries) are read at once;
the rest (runs, registry, monitoring, jobs) in a thread worker, since a large
workspace can hold a hundred thousand runs. The server tile follows the
app's server every two seconds without touching the database.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.markup import escape
from textual.widgets import DataTable, Static

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.monitoring.checks import NOT_JUDGED
from mlcycle_tui.tui.dialogs.text import TextDialog
from mlcycle_tui.tui.format import ago, plural, share
from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.widgets.fit_table import FitTable
from mlcycle_tui.tui.widgets.run_panels import metric_value

EVENTS_SHOWN = 100
_RUN_ID = re.compile(r"[0-9a-f]{32}")
RECENT_RUNS = 50
EMPTY_TEXT = (
    "Nothing here yet — press [b]d[/b] for the Data screen, then [b]i[/b] to import a CSV, "
    "Parquet, JSON lines or SQLite file (try sample_data/penguins.csv). Or run `mlcycle demo` "
    "to build a workspace that has been around the whole cycle once."
)
EVENT_COLUMNS = [("when", "when"), ("what", "what"), ("subject", "subject"), ("message", "message")]
TILES = [
    ("datasets", "Data", "data"),
    ("runs", "Runs", "experiments"),
    ("production", "Production", "models"),
    ("server", "Server", "serve"),
    ("drift", "Drift", "monitor"),
    ("jobs", "Jobs", "jobs"),
]


def short_subject(subject: str) -> str:
    """Run ids (32 hex characters) as their first 12, like everywhere else."""
    return subject[:12] if _RUN_ID.fullmatch(subject or "") else subject


class DashboardScreen(StageScreen):
    STAGE_ID = "dashboard"
    STAGE_KEY = "h"
    STAGE_TITLE = "Home"
    STAGE_SUMMARY = "The whole cycle at a glance, and the recent events"
    HELP = (
        "One tile per stage of the cycle — data, runs, production models, the server, the last drift "
        "check and the retraining queue — with its state and the key that opens the stage (also "
        "clickable in the bar at the top). On an empty workspace each tile says what to do first; "
        "`mlcycle demo` builds a workspace that has been around the cycle once.\n\n"
        "Below, the most recent events (ingests, splits, training, promotions, checks, jobs), newest "
        "first; a long message ends with … and **enter** opens it in full. The tiles refresh when you "
        "come back here and when the scheduler reports something; **r** refreshes now."
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Refresh", id="dashboard.refresh")]
    # six tiles in one row on a wide terminal (the app's "-wide" class), two rows of three otherwise

    def compose_body(self) -> ComposeResult:
        with Vertical(id="dashboard"):
            with Grid(id="tiles"):
                for key, _title, _stage in TILES:
                    yield Static(id=f"tile-{key}", classes="tile")
            yield Static("Recent events", classes="section-title")
            yield Static(EMPTY_TEXT, id="dashboard-empty", classes="empty")
            table = FitTable(id="events", cursor_type="row", zebra_stripes=True)
            table.set_columns(EVENT_COLUMNS, elastic=("message",))
            yield table

    def on_mount(self) -> None:
        super().on_mount()
        for key, title, stage in TILES:
            tile = self.query_one(f"#tile-{key}", Static)
            tile.border_title = title
            tile.border_subtitle = self._key(stage)
        self.action_reload()
        self.set_interval(2.0, self._server_tile)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def service_event(self, kind: str) -> None:
        self.action_reload()

    def _key(self, stage_id: str) -> str:
        display = getattr(self.app, "stage_key_display", None)
        return f"key {display(stage_id)}" if display else ""

    # -- loading -------------------------------------------------------------------
    def action_reload(self) -> None:
        ws = self.workspace
        datasets = ws.data.datasets()
        if datasets:
            newest = max(datasets, key=lambda d: d.created or "")
            self._tile("datasets", plural(len(datasets), "dataset"), f"newest {newest.ref}",
                       f"{plural(newest.rows, 'row')}, {ago(newest.created)}")
        else:
            self._tile("datasets", "0 datasets", "press [b]d[/b], then [b]i[/b]", "to import a file")
        events = ws.events.recent(EVENTS_SHOWN)
        table = self.query_one("#events", FitTable)
        table.set_rows(
            (str(event.get("id", i)), {"when": ago(event["time"]), "what": event["kind"],
                                       "subject": short_subject(event["subject"]), "message": event["message"]})
            for i, event in enumerate(events)
        )
        table.display = bool(events)
        self.query_one("#dashboard-empty").display = not events
        self._server_tile()
        self._load(bool(datasets))

    @work(thread=True, exclusive=True, group="dashboard-load")
    def _load(self, has_data: bool) -> None:
        ws = self.workspace
        try:
            runs = ws.runs.count()
            best = ws.runs.best_recent(limit=RECENT_RUNS) if runs else None
            production = ws.registry.production_models()
            status = ws.monitoring.status()
            queued = len(ws.jobs.list(status="queued"))
            waiting = len(ws.jobs.list(status="awaiting_approval"))
            running = len(ws.jobs.list(status="running"))
        except MlcycleError as exc:
            self.app.call_from_thread(self.notify, exc.message, title="Dashboard", severity="error")
            return
        self.app.call_from_thread(self._show, has_data, runs, best, production, status, (queued, running, waiting))

    def _show(self, has_data: bool, runs: int, best: dict[str, Any] | None, production: list[Any],
              status: list[dict[str, Any]], jobs: tuple[int, int, int]) -> None:
        # runs: the best recent run is the core's pick (ws.runs.best_recent), ranked by its primary metric
        if runs:
            if best is not None:
                from mlcycle_tui.experiments.evaluation import primary_metric_of  # loaded by best_recent

                metric = primary_metric_of(best)
                detail = f"best {best['model']} {metric} {metric_value(best['metrics'][metric])}"
                where = f"on {best.get('dataset') or '-'}"
            else:
                detail, where = "no finished run yet", ""
            self._tile("runs", plural(runs, "run"), detail, where)
        elif has_data:
            self._tile("runs", "0 runs", "press [b]e[/b], then [b]t[/b]", "to train a model")
        else:
            self._tile("runs", "0 runs", "import data first", "then train on [b]e[/b]")
        # production
        if production:
            names = ", ".join(f"{mv.name}@{mv.version}" for mv in production)
            self._tile("production", f"{len(production)} in production", names, "")
        elif runs:
            self._tile("production", "none in production", "register a run ([b]g[/b] on [b]e[/b])",
                       "promote it on [b]m[/b] ([b]p[/b])")
        else:
            self._tile("production", "none in production", "train, register and", "promote a model")
        # drift: the most recent check that could judge, of any model (a newer one without enough
        # data does not replace its verdict; the hint says it happened)
        checked = [s for s in status if s.get("last_check")]
        attempted = [s for s in status if s.get("newest_check")]
        if checked:
            last = max(checked, key=lambda s: s["last_check"])
            verdict = "[b red]drift[/]" if last.get("drift") else "[b green]no drift[/]"
            if last.get("decay"):
                verdict += " [b red]decay[/]"
            newest = last.get("newest_check") or {}
            hint = f"share drifted {share(last.get('share_drifted'))}"
            if newest.get("report_id") != last.get("last_report_id") and newest.get("verdict") == NOT_JUDGED:
                hint = f"newest check: {NOT_JUDGED}"
            self._tile("drift", verdict, f"{last['model']} · {ago(last['last_check'])}", hint)
        elif attempted:
            last = max(attempted, key=lambda s: s["newest_check"]["created"])
            self._tile("drift", f"[yellow]{NOT_JUDGED}[/]", f"{last['model']} · {ago(last['newest_check']['created'])}",
                       f"{plural(last['newest_check']['rows'], 'row')}: no verdict yet")
        elif production:
            self._tile("drift", "no checks yet", "serve traffic, then", "press [b]o[/b], then [b]c[/b]")
        else:
            self._tile("drift", "no checks yet", "needs a production", "model and its traffic")
        # jobs
        queued, running, waiting = jobs
        first = f"{queued} queued" + (f" · {running} running" if running else "")
        second = f"[b yellow]{waiting} awaiting approval[/]" if waiting else "none awaiting approval"
        third = "" if queued or running or waiting else "from drift checks"
        self._tile("jobs", first, second, third)

    def _server_tile(self) -> None:
        services = getattr(self.app, "services", None)
        if services is not None and services.server_running:
            stats = services.server_stats()
            rate = stats.get("requests_per_s")
            self._tile("server", "[b green]● running[/]", escape(str(stats.get("url", ""))),
                       plural(stats.get("requests", 0), "request") + (f" · {rate:.1f}/s" if rate else ""))
        else:
            self._tile("server", "○ stopped", "press [b]s[/b], then [b]enter[/b]", "to serve models")

    @on(DataTable.RowSelected, "#events")
    def _event_chosen(self, event: DataTable.RowSelected) -> None:
        """Enter on an event: its whole message (the table cuts long ones with …)."""
        table = self.query_one("#events", FitTable)
        cells = table.row_cells(str(event.row_key.value))
        if cells:
            title = f"{cells.get('what', '')} · {cells.get('subject', '')} · {cells.get('when', '')}"
            self.app.push_screen(TextDialog(title, table.full_text(str(event.row_key.value), "message")))

    def _tile(self, key: str, value: str, detail: str, hint: str) -> None:
        text = f"[b]{value}[/b]\n{detail}"
        if hint:
            text += f"\n[dim]{hint}[/dim]"
        self.query_one(f"#tile-{key}", Static).update(text)

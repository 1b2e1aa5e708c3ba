"""The Serve screen: run the prediction server inside the app and watch its traffic.

Why this exists: "is my model answering, how fast, and are clients getting
errors?" is answered here without a second terminal. The server belongs to
the app (`tui/services.py`), so it keeps serving while you look at other
screens and stops (prediction log flushed) when you quit. Starting loads the
production models and binds the port in a thread worker, so the UI never
freezes; a refusal (port in use, a non-loopback address without a token) is
shown under the address. The live figures come from the running server's
in-memory telemetry once a second. The traffic itself comes from the
workspace's prediction log, read in a thread worker every few seconds: every
answered prediction is logged by whichever process served it (this app,
`mlcycle serve`, the daemon, batch scoring), so the screen shows the
workspace's traffic even when this app never served a request. The errors
(4xx, 5xx), which the log does not hold, come from this app's server.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import DataTable, Input, Static

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.tui.format import now_s, number, plural
from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.widgets.fit_table import FitTable

REFRESH_S = 1.0
LOG_REFRESH_S = 3.0
LOG_WINDOW_S = 86400.0
RECENT_SHOWN = 20
TILES = [("total", "requests", ""), ("p50", "p50", "latency"), ("p95", "p95", "latency"),
         ("4xx", "4xx", "refused"), ("5xx", "5xx", "failed")]
"""(key, title, subtitle) of the figure tiles."""
RECENT_COLUMNS = [("when", "when"), ("source", "source"), ("rows", "rows"), ("status", "status"),
                  ("latency", "latency"), ("model", "model")]
TASK_SHORT = {"classification": "classif.", "regression": "regress."}
NO_MODELS = "No production model yet — promote a version on the Models screen ([b]m[/b], then [b]p[/b])."


def ms(value: float | None) -> str:
    return "-" if value is None else f"{number(value)} ms"


def seconds_ago(then: float, now: float) -> str:
    gap = max(0.0, now - then)
    if gap < 90:
        return f"{gap:.0f}s ago"
    if gap < 5400:
        return f"{gap / 60:.0f} min ago"
    return f"{gap / 3600:.0f} h ago"


def recent_rows(logged: list[dict[str, Any]], live: list[dict[str, Any]], now: float,
                shown: int = RECENT_SHOWN) -> list[tuple[str, dict[str, Any]]]:
    """The Recent requests table: the prediction log's entries (answered, status 200 over HTTP) and this
    app's server's refusals (4xx, 5xx: not logged), newest first."""
    entries: list[tuple[float, dict[str, Any]]] = []
    for e in logged:
        entries.append((float(e["time"]), {
            "when": seconds_ago(float(e["time"]), now), "source": str(e.get("source") or "-"),
            "rows": f"{e.get('rows', 0):,}", "status": "200" if e.get("source") == "http" else "ok",
            "latency": ms(e.get("latency_ms")), "model": f"{e['model']}@{e['version']}"}))
    for r in live:
        if int(r.get("status") or 0) < 400:
            continue  # answered ones are in the log
        model = f"{r['model']}@{r['version']}" if r.get("model") and r.get("version") else (r.get("model") or "-")
        entries.append((float(r["time"]), {
            "when": seconds_ago(float(r["time"]), now), "source": f"http {r.get('method', '')} {r.get('path', '')}",
            "rows": "-", "status": Text(str(r["status"]), style="bold red"), "latency": ms(r.get("latency_ms")),
            "model": model}))
    entries.sort(key=lambda e: e[0], reverse=True)
    return [(f"{i}", cells) for i, (_t, cells) in enumerate(entries[:shown])]


class ServeScreen(StageScreen):
    STAGE_ID = "serve"
    STAGE_KEY = "s"
    STAGE_TITLE = "Serve"
    STAGE_SUMMARY = "Run the prediction server and watch its traffic"
    HELP = (
        "Runs the HTTP prediction server for every model with a **production** version, inside this app. "
        "**enter** starts it on the host and port above (defaults from `[server]` in the workspace's "
        "config.toml; port 0 picks a free one); **x** stops it: in-flight requests finish and the "
        "prediction log is flushed. Quitting the app stops it the same way.\n\n"
        "Any address other than 127.0.0.1/localhost needs a token (the Token field, `MLCYCLE_TOKEN` or "
        "`[server] token`); clients then send `Authorization: Bearer TOKEN`. Send predictions with e.g. "
        "`curl -X POST URL/v1/models/NAME/predict -H 'Content-Type: application/json' "
        "-d '{\"instances\": [...]}'`.\n\n"
        "While the server runs, the figures refresh every second: requests since it started, latency "
        "percentiles over the last 10 seconds, and the refusals by class (4xx: the client sent something "
        "wrong; 5xx: the server failed). While it is stopped they come from the workspace's prediction "
        "log (last 24 h), whoever served the requests (`mlcycle serve`, the daemon). **Recent requests** "
        "lists the logged requests (a request of several rows is one line) and this app's refusals. "
        "Logged predictions feed the drift checks on the Monitor screen (**o**)."
    )
    AUTO_FOCUS = ""  # keys are actions here; the address form is focused with `a`
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "start", "Start", tooltip="start the server on the host and port shown", id="serve.start"),
        Binding("x", "stop", "Stop", tooltip="stop the server (the prediction log is flushed)", id="serve.stop"),
        Binding("a", "edit_address", "Address", tooltip="edit the host, port and token", id="serve.address"),
        Binding("escape", "leave_form", "Leave the form", show=False, id="serve.leave_form"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.starting = False
        self.stopping = False
        self._shown_recent: tuple[Any, ...] | None = None
        self._models_shown: tuple[Any, ...] | None = None
        self.traffic: dict[str, Any] = {}
        """The prediction log's figures of the production models (last 24 h), read in a worker."""
        self._reading_log = False


    def compose_body(self) -> ComposeResult:
        with Vertical(id="serve-main"):
            yield Static(id="serve-status")
            with Horizontal(id="serve-form"):
                host = Input(id="serve-host", placeholder="127.0.0.1")
                host.border_title = "Host"
                port = Input(id="serve-port", placeholder="5005", restrict=r"\d*", max_length=5)
                port.border_title = "Port"
                token = Input(id="serve-token", password=True, placeholder="only beyond 127.0.0.1")
                token.border_title = "Token"
                yield host
                yield port
                yield token
            yield Static(id="serve-error", classes="error")
            with Horizontal(id="serve-figures"):
                for key, label, caption in TILES:
                    tile = Static(id=f"serve-{key}", classes="figure")
                    tile.border_title, tile.border_subtitle = label, caption
                    yield tile
            with Horizontal(id="serve-tables"):
                with Vertical(id="serve-models-panel"):
                    yield Static("Served models", classes="section-title")
                    yield Static(NO_MODELS, id="serve-no-models", classes="empty")
                    served: DataTable[str] = DataTable(id="serve-models", cursor_type="none")
                    served.add_columns("model", "version", "task")
                    served.can_focus = False
                    yield served
                with Vertical(id="serve-recent-panel"):
                    yield Static("Recent requests", id="serve-recent-title", classes="section-title")
                    recent = FitTable(id="serve-recent", cursor_type="none", zebra_stripes=True)
                    recent.set_columns(RECENT_COLUMNS, elastic=("source", "model"))
                    recent.can_focus = False
                    yield recent

    def on_mount(self) -> None:
        super().on_mount()
        host, port = self.services.server_defaults()
        self.query_one("#serve-host", Input).value = host
        self.query_one("#serve-port", Input).value = str(port)
        self.query_one("#serve-error").display = False
        self.set_focus(None)
        self.refresh_view()
        self.read_log()
        self.set_interval(REFRESH_S, self.refresh_view)
        self.set_interval(LOG_REFRESH_S, self.read_log)

    def on_screen_resume(self) -> None:
        self.refresh_view()
        self.read_log()

    # -- the prediction log ----------------------------------------------------
    def read_log(self) -> None:
        """Read the log's traffic of the production models in a worker (not when hidden or busy)."""
        if self._reading_log or not self.is_current:
            return
        self._reading_log = True
        self._read_log()

    @work(thread=True, exclusive=True, group="serve-log")
    def _read_log(self) -> None:
        try:
            names = [mv.name for mv in self.workspace.registry.production_models()]
            traffic = self.workspace.predictions.traffic(names, since=time.time() - LOG_WINDOW_S, recent=RECENT_SHOWN)
        except MlcycleError:
            traffic = {}
        self.app.call_from_thread(self._log_read, traffic)

    def _log_read(self, traffic: dict[str, Any]) -> None:
        self._reading_log = False
        self.traffic = traffic
        self.refresh_view()

    # -- actions ---------------------------------------------------------------
    def action_start(self) -> None:
        if self.starting or self.stopping or self.services.server_running:
            return
        host = self.query_one("#serve-host", Input).value.strip() or "127.0.0.1"
        port_text = self.query_one("#serve-port", Input).value.strip()
        if not port_text.isdigit() or int(port_text) > 65535:
            self._error("the port must be a number from 0 to 65535 (0 picks a free one)")
            return
        token = self.query_one("#serve-token", Input).value.strip() or None
        self.query_one("#serve-error").display = False
        self.starting = True
        self.set_focus(None)
        self.refresh_view()
        self._start(host, int(port_text), token)

    @work(thread=True, exclusive=True, group="server")
    def _start(self, host: str, port: int, token: str | None) -> None:
        try:
            runner = self.services.start_server(host, port, token)
        except MlcycleError as exc:
            self.app.call_from_thread(self._start_failed, exc.message)
        except Exception as exc:  # an unexpected error: one line, never a traceback
            self.app.call_from_thread(self._start_failed, f"unexpected error ({type(exc).__name__}): {exc}")
        else:
            self.app.call_from_thread(self._started, runner.url)

    def _started(self, url: str) -> None:
        self.starting = False
        self.refresh_view()
        self.notify(f"Serving on {url}", title="Server started")

    def _start_failed(self, message: str) -> None:
        self.starting = False
        self._error(message)
        self.refresh_view()

    def action_stop(self) -> None:
        if self.stopping or not self.services.server_running:
            return
        self.stopping = True
        self.refresh_view()
        self._stop()

    @work(thread=True, exclusive=True, group="server")
    def _stop(self) -> None:
        self.services.stop_server()
        self.app.call_from_thread(self._stopped)

    def _stopped(self) -> None:
        self.stopping = False
        self.refresh_view()
        self.read_log()
        self.notify("Server stopped; prediction log flushed.", title="Server stopped")

    def action_edit_address(self) -> None:
        self.query_one("#serve-host", Input).focus()

    def action_leave_form(self) -> None:
        self.set_focus(None)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_start()

    # -- the view ----------------------------------------------------------------
    def refresh_view(self) -> None:
        """Status, figures and tables from the server's in-memory telemetry (no SQL)."""
        services = self.services
        running = services.server_running
        stats = services.server_stats()
        status = self.query_one("#serve-status", Static)
        if self.starting:
            status.update(Content.from_markup("[b $warning]◌ starting…[/] loading the production models"))
        elif self.stopping:
            status.update(Content.from_markup("[b $warning]◌ stopping…[/] finishing requests, flushing the log"))
        elif running:
            up = stats.get("uptime_s", 0.0)
            rate = stats.get("requests_per_s")
            status.update(Content.from_markup(
                "[b $success]● running[/] on [b]$url[/]  [dim]up $up · $rate req/s · x stops it[/]",
                url=stats.get("url", ""), up=_duration(up), rate=f"{rate or 0:.1f}"))
        else:
            status.update(Content.from_markup(
                "[b]○ stopped[/]  [dim]enter starts the server on the address below · a edits it · "
                "figures: the prediction log, last 24 h[/]"))
        for widget in self.query("#serve-form Input"):
            widget.disabled = running or self.starting or self.stopping
        log = self.traffic
        if running:
            self._figure("total", f"{stats.get('requests', 0):,} · {plural(stats.get('predictions', 0), 'row')}")
            self._figure("p50", ms(stats.get("p50_ms")))
            self._figure("p95", ms(stats.get("p95_ms")))
        else:
            self._figure("total", f"{log['requests']:,} · {plural(log['predictions'], 'row')}" if log else "-")
            self._figure("p50", ms(log.get("p50_ms")))
            self._figure("p95", ms(log.get("p95_ms")))
        ran = running or "errors_4xx" in stats  # the refusals are known only of this app's server
        for cls in ("4xx", "5xx"):
            count = int(stats.get(f"errors_{cls}", 0))
            self._figure(cls, f"{count:,}" if ran else "-", hot=count > 0)
        self.query_one("#serve-total", Static).border_subtitle = "live" if running else "24 h log"
        self._show_models(stats.get("models") if running else None)
        self._show_recent(log.get("recent") or [], stats.get("recent") or [])
        self.refresh_bindings()

    def _figure(self, key: str, value: str, hot: bool = False) -> None:
        style = "b $error" if hot else "b"
        self.query_one(f"#serve-{key}", Static).update(Content.from_markup(f"[{style}]$value[/]", value=value))

    def _show_models(self, served: list[dict[str, Any]] | None) -> None:
        """The versions the server holds, or (stopped) the production versions it would load."""
        if served is None:
            served = [{"name": mv.name, "version": mv.version, "task": mv.task}
                      for mv in self._production_models()]
        table = self.query_one("#serve-models", DataTable)
        short = TASK_SHORT if self.narrow else {}
        rows = tuple((m["name"], f"v{m['version']}", short.get(m.get("task") or "", m.get("task") or "-"))
                     for m in served)
        if self._models_shown != rows:
            table.clear()
            for row in rows:
                table.add_row(*row)
            self._models_shown = rows
        table.display = bool(rows)
        self.query_one("#serve-no-models").display = not rows

    def _production_models(self) -> list[Any]:
        # one small query, only while stopped and at most once a second; cached between ticks
        now = time.monotonic()
        cached = getattr(self, "_prod_cache", None)
        if cached is None or now - cached[0] > 5.0:
            cached = (now, self.workspace.registry.production_models())
            self._prod_cache = cached
        return list(cached[1])

    def _show_recent(self, logged: list[dict[str, Any]], live: list[dict[str, Any]]) -> None:
        now = now_s()
        rows = recent_rows(logged, live, now)
        key = tuple((cells["when"], cells["rows"], str(cells["status"])) for _, cells in rows)
        if key == self._shown_recent:
            return
        self._shown_recent = key
        self.query_one("#serve-recent", FitTable).set_rows(rows)
        requests = self.traffic.get("requests")
        title = "Recent requests" + (f" · {plural(requests, 'request')} logged in 24 h" if requests else "")
        self.query_one("#serve-recent-title", Static).update(Content(title))

    def _error(self, message: str) -> None:
        error = self.query_one("#serve-error", Static)
        error.update(Content(f"✘ {message}"))
        error.display = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        busy = self.starting or self.stopping
        running = self.services.server_running
        if action in ("start", "edit_address") and (running or busy):
            return None
        if action == "stop" and (not running or busy):
            return None
        return True


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

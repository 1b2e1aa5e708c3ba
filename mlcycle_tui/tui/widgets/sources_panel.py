"""The Data screen's Sources panel: where a workspace's data arrives from on its own, and how that went.

Why this exists: a dataset fed by a watched folder, SQLite query or growing
JSON-lines file changes without anyone importing it. Next to the datasets,
this panel lists each source (dataset, kind, location, interval, last run
and result with its error, files ingested and quarantined), re-read in a
worker every few seconds, and runs the highlighted one now (in a worker).
The Data screen's bindings drive it: `g` runs, `a` adds (the dialog lives in
`dialogs/source.py`); pausing and removing are on the Schedules screen.
When a run makes a dataset version, the panel posts `SourcesPanel.Ingested`
so the screen can show it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from mlcycle_tui.common.errors import MlcycleError

if TYPE_CHECKING:
    from mlcycle_tui.tui.app import MlcycleApp
    from mlcycle_tui.workspace import Workspace
from mlcycle_tui.tui.widgets.schedule_cells import last_result, last_run, next_run

REFRESH_S = 3.0
FILES_COUNTED = 10_000
EMPTY_LINE = "[b]Sources[/b] [dim]none · [b]a[/b] watches a folder, SQLite query or JSON-lines file[/dim]"


def location_text(src: dict[str, Any], width: int = 34) -> str:
    where = str(src["location"])
    if len(where) > width:
        where = "…" + where[-(width - 1):]
    return where + (f" ({src['key']})" if src.get("key") else "")


def files_cell(files: list[dict[str, Any]]) -> Text:
    """`12 in · 1 quar.`: files (or chunks) ingested and quarantined."""
    ingested = sum(1 for f in files if f["status"] == "ingested")
    quarantined = sum(1 for f in files if f["status"] == "quarantined")
    text = Text(f"{ingested} in")
    if quarantined:
        text.append(" · ")
        text.append(f"{quarantined} quar.", style="bold red")
    return text


def source_cells(src: dict[str, Any], files: list[dict[str, Any]], running: bool) -> list[Text | str]:
    board = dict(src, running=running or src.get("leased_by") is not None)
    return [
        str(src["source_id"]), src["dataset"], src["kind"], location_text(src), src["every"], next_run(board),
        last_run(src.get("last_run")), last_result(src.get("last_status"), src.get("last_error"), width=44),
        files_cell(files),
    ]


class SourcesPanel(Vertical):
    """The workspace's watched sources, with run now."""

    class Ingested(Message):
        """A run of a source made a new version of `dataset`."""

        def __init__(self, dataset: str, version: int) -> None:
            super().__init__()
            self.dataset = dataset
            self.version = version

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sources: list[dict[str, Any]] = []
        self.running: set[int] = set()
        self._loading = False

    @property
    def workspace(self) -> Workspace:
        return cast("MlcycleApp", self.app).workspace

    def compose(self) -> ComposeResult:
        yield Static(EMPTY_LINE, id="sources-title", classes="section-title")
        table: DataTable[Any] = DataTable(id="sources-table", cursor_type="row")
        table.add_columns("id", "dataset", "kind", "location", "every", "next run", "last run", "last result",
                          "files")
        yield table

    def on_mount(self) -> None:
        self.query_one("#sources-table").display = False
        self.reload()
        self.set_interval(REFRESH_S, self._poll)

    def _poll(self) -> None:
        if self.screen.is_current and not self._loading:
            self.reload()

    def reload(self) -> None:
        self._loading = True
        self._load()

    @work(thread=True, exclusive=True, group="sources-load")
    def _load(self) -> None:
        worker = get_current_worker()
        try:
            sources = self.workspace.sources.list()
            files = {s["source_id"]: self.workspace.sources.files(s["source_id"], limit=FILES_COUNTED)
                     for s in sources}
        except MlcycleError:  # e.g. a source removed between the reads: the next poll reads again
            self.app.call_from_thread(setattr, self, "_loading", False)
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, sources, files)

    def _show(self, sources: list[dict[str, Any]], files: dict[int, list[dict[str, Any]]]) -> None:
        self._loading = False
        table = self.query_one("#sources-table", DataTable)
        old = [s["source_id"] for s in self.sources]
        self.sources = sources
        keys = [s["source_id"] for s in sources]
        failing = sum(1 for s in sources if s.get("last_error"))
        title = self.query_one("#sources-title", Static)
        if not sources:
            title.update(EMPTY_LINE)
        else:
            errors = f" · [b red]{failing} failing[/]" if failing else ""
            title.update(f"[b]Sources[/b] {len(sources)}{errors} [dim]· [b]g[/b] run now · [b]a[/b] add · "
                         "pause or remove on Schedules ([b]k[/b])[/dim]")
        table.display = bool(sources)
        rows = [source_cells(s, files.get(s["source_id"], []), s["source_id"] in self.running) for s in sources]
        if keys == old and table.row_count == len(rows):
            for key, row in zip(keys, rows, strict=True):
                for column, value in zip(table.columns, row, strict=True):
                    table.update_cell(str(key), column, value, update_width=True)
        else:
            cursor = table.cursor_row
            table.clear()
            for key, row in zip(keys, rows, strict=True):
                table.add_row(*row, key=str(key))
            if rows:
                table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)
        self.screen.refresh_bindings()

    def highlighted(self) -> dict[str, Any] | None:
        table = self.query_one("#sources-table", DataTable)
        if not self.sources or table.cursor_row is None or table.cursor_row >= len(self.sources):
            return None
        return self.sources[table.cursor_row]

    def select(self, source_id: int) -> None:
        """Move the cursor to a source once it is listed (after `reload`)."""
        ids = [s["source_id"] for s in self.sources]
        if source_id in ids:
            self.query_one("#sources-table", DataTable).move_cursor(row=ids.index(source_id), animate=False)

    def run_highlighted(self) -> None:
        """Run the highlighted source now, in a worker; the result becomes a notification."""
        src = self.highlighted()
        if src is None:
            return
        sid = int(src["source_id"])
        if sid in self.running:
            self.notify(f"source {sid} is already running.", title="Run source")
            return
        self.running.add(sid)
        self.query_one("#sources-table", DataTable).update_cell(str(sid), self._column("next run"),
                                                                next_run({"running": True}), update_width=True)
        self._run(sid)

    def _column(self, label: str) -> Any:
        table = self.query_one("#sources-table", DataTable)
        return next(key for key, col in table.columns.items() if str(col.label) == label)

    @work(thread=True, group="sources-run")
    def _run(self, sid: int) -> None:
        try:
            result = self.workspace.sources.run(sid)
        except MlcycleError as exc:
            self.app.call_from_thread(self._ran, sid, {"status": f"error: {exc.message}", "error": exc.message})
            return
        except Exception as exc:  # shown, never a traceback
            message = f"{type(exc).__name__}: {exc}"
            self.app.call_from_thread(self._ran, sid, {"status": f"error: {message}", "error": message})
            return
        self.app.call_from_thread(self._ran, sid, result)

    def _ran(self, sid: int, result: dict[str, Any]) -> None:
        self.running.discard(sid)
        status = str(result.get("status") or "")
        if status == "busy":
            self.notify(f"source {sid}: another run holds it right now; try again in a moment",
                        title="Run source", severity="warning")
        elif result.get("error"):
            self.notify(f"source {sid}: {result['error']}", title="Source run failed", severity="error", timeout=10)
        else:
            self.notify(f"source {sid}: {status.removeprefix('ok: ')}", title="Source run",
                        severity="warning" if result.get("quarantined") else "information")
        if result.get("version") is not None and not result.get("existing"):
            self.post_message(self.Ingested(str(result["dataset"]), int(result["version"])))
        self.reload()

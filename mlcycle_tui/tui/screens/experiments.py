"""The Experiments screen: train, find, inspect, compare, reproduce and register runs.

Why this exists: every training run is tracked; this is where the user sees
them. The runs table is one page from SQL at a time (`Workspace.runs` with
limit/offset and `count_runs`), so it stays quick with 100,000 runs. The
filter box speaks the same language as `mlcycle runs list --filter`, headers
sort, and the panel below shows the highlighted run: everything recorded, a
metric by step, and its evaluation (confusion matrix and ROC/PR curves, or
residuals). Training, reproducing and evaluating run in thread workers.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Input, ProgressBar, Select, Static, TabbedContent, TabPane

from mlcycle_tui.common.errors import MlcycleError
from mlcycle_tui.experiments import catalog
from mlcycle_tui.tui.dialogs.compare import CompareDialog
from mlcycle_tui.tui.dialogs.register import RegisterDialog
from mlcycle_tui.tui.dialogs.train import TrainDialog
from mlcycle_tui.tui.format import ago, number
from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.widgets import run_panels
from mlcycle_tui.tui.widgets.line_plot import LinePlot
from mlcycle_tui.tui.widgets.run_table import RunTable

if TYPE_CHECKING:
    from mlcycle_tui.registry.versions import ModelVersion

PAGE_SIZE = 50
DEFAULT_SORT = "-created"
MARK = "●"
TASK_SHORT = {"classification": "classif.", "regression": "regress."}
NARROW_HIDDEN = ("task", "duration")
"""Runs-table columns left out on a narrow terminal (the Run tab shows both)."""
EMPTY_TEXT = (
    "No runs yet — press [b]t[/b] to train a model on a dataset. "
    "No dataset? Import one on the Data screen ([b]d[/b], then [b]i[/b]; try sample_data/penguins.csv)."
)


def metric_sorts(*metrics: str) -> list[str]:
    """Each metric's sort keys, best first, then worst first (which way is better is the core's rule)."""
    from mlcycle_tui.experiments.evaluation import higher_is_better  # numpy and pandas: not at startup

    keys: list[str] = []
    for metric in metrics:
        best, worst = f"-metrics.{metric}", f"metrics.{metric}"
        keys += [best, worst] if higher_is_better(metric) else [worst, best]
    return keys


@functools.cache
def columns() -> list[tuple[str, str, list[str]]]:
    """(column key, header, sort keys that a click on the header cycles through) of the runs table."""
    from mlcycle_tui.experiments.evaluation import primary_metric

    primary = [primary_metric(task) for task in catalog.TASKS]
    return [
        ("mark", " ", []),
        ("run", "run", ["run_id", "-run_id"]),
        ("experiment", "experiment", ["experiment", "-experiment"]),
        ("status", "status", ["status", "-status"]),
        ("model", "model", ["model", "-model"]),
        ("task", "task", ["task", "-task"]),
        ("m0", "|".join(primary), metric_sorts(*primary)),
        ("m1", "acc|r2", metric_sorts(*run_panels.SECOND_METRIC)),
        ("created", "created", ["-created", "created"]),
        ("duration", "took", ["-duration", "duration"]),
    ]


@functools.cache
def sort_cycle() -> list[str]:
    """Every sort key of the table, in the order S steps through them."""
    return [key for _, _, keys in columns() for key in keys]


def _sort_label(sort: str) -> str:
    return sort.lstrip("-") + (" ▼" if sort.startswith("-") else " ▲")


class ExperimentsScreen(StageScreen):
    STAGE_ID = "experiments"
    STAGE_KEY = "e"
    STAGE_TITLE = "Experiments"
    STAGE_SUMMARY = "Train models and track runs: params, metrics, artifacts"
    HELP = (
        "Every training run, newest first, one page of 50 at a time (**n**/**p**, or PageDown/PageUp "
        "past the last/first row). **/** focuses the filter: e.g. `metrics.f1 > 0.9 and model = \"rf\"`, "
        "`params.n_estimators = \"100\"`, `experiment = \"penguins\"`, `status = \"failed\"`; Enter "
        "applies it, an empty filter shows all. Click a header (or **S**) to sort. The panel shows the "
        "highlighted run: **Run** (params, metrics with the baseline, tags, versions), **Metric plot** "
        "(a metric by step, e.g. cv_score of a search) and **Evaluation** (**x**: confusion matrix and "
        "ROC/PR curves, or residuals). **space** marks runs and **c** compares them, highlighting what "
        "differs. **t** trains, **r** reproduces the highlighted run (same data, split and seed) and "
        "**g** registers it as a model version for the Models screen."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "train", "Train", tooltip="train a model on a dataset (one tracked run)", id="experiments.train"),
        Binding("slash", "focus_filter", "Filter", key_display="/", tooltip="filter runs", id="experiments.filter"),
        Binding("S", "cycle_sort", "Sort", tooltip="sort by the next column (or click a header)",
                id="experiments.sort"),
        Binding("space", "mark", "Mark", tooltip="mark the run for comparison", id="experiments.mark"),
        Binding("c", "compare", "Compare", tooltip="compare the marked runs side by side", id="experiments.compare"),
        Binding("x", "evaluate", "Evaluate", tooltip="confusion matrix and curves, or residuals",
                id="experiments.evaluate"),
        Binding("X", "evaluate_groups", "By group", tooltip="metrics per slice, fairness per group, importances",
                id="experiments.groups"),
        Binding("r", "reproduce", "Reproduce", tooltip="train the run again from its record",
                id="experiments.reproduce"),
        Binding("g", "register", "Register", tooltip="register the run as a model version",
                id="experiments.register"),
        Binding("n", "page(1)", "Next page", tooltip="the next 50 runs", id="experiments.next_page"),
        Binding("p", "page(-1)", "Prev page", tooltip="the previous 50 runs", id="experiments.prev_page"),
        Binding("ctrl+r", "reload", "Refresh", show=False, id="experiments.refresh"),
        Binding("escape", "focus_table", "Back to the table", show=False, id="experiments.focus_table"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.page_offset = 0
        self.total_runs = 0
        self.run_filter = ""
        self.run_sort = DEFAULT_SORT
        self.page_runs: dict[str, dict[str, Any]] = {}
        self.marked: dict[str, None] = {}
        self.current_run: dict[str, Any] | None = None
        self.evaluations: dict[str, dict[str, Any]] = {}
        self.busy_with = ""

    def compose_body(self) -> ComposeResult:
        yield Static(EMPTY_TEXT, id="exp-empty", classes="empty")
        with Vertical(id="exp-main"):
            with Horizontal(id="exp-bar"):
                yield Input(
                    placeholder='/ filter: metrics.f1 > 0.9 and model = "rf"',
                    id="exp-filter", compact=True,
                )
                yield Static(id="exp-status")
            yield Static(id="exp-filter-error", classes="error")
            with Horizontal(id="exp-running", classes="progress-row"):
                yield ProgressBar(total=1.0, show_eta=False, id="exp-progress")
                yield Static("", id="exp-progress-text")
            yield RunTable(id="runs", cursor_type="row", zebra_stripes=True)
            with TabbedContent(id="exp-details"):
                with TabPane("Run", id="tab-run"), Horizontal():
                    with VerticalScroll(id="run-summary-scroll"):
                        yield Static(id="run-detail")
                    with VerticalScroll(id="run-inputs-scroll"):
                        yield Static(id="run-inputs")
                with TabPane("Metric plot", id="tab-plot"), Vertical():
                    yield Select[str]([], prompt="metric", id="plot-metric", compact=True)
                    yield LinePlot(id="metric-plot")
                with TabPane("Evaluation", id="tab-eval"), Vertical():
                    yield Static(id="eval-status")
                    with Horizontal(id="eval-classification"):
                        yield DataTable(id="confusion", cursor_type="none")
                        yield LinePlot(id="roc-plot", classes="curve")
                        yield LinePlot(id="pr-plot", classes="curve")
                    with VerticalScroll(id="eval-regression"):
                        yield Static(id="residuals")
                with TabPane("Groups & why", id="tab-groups"), VerticalScroll():
                    yield Static("X evaluates the run per slice and per group, with what it relies on",
                                 id="groups-text")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#exp-filter-error").display = False
        self.query_one("#exp-running").display = False
        self._show_evaluation(None)
        self.action_reload()
        self.query_one("#runs").focus()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def layout_changed(self) -> None:
        if self.is_mounted:
            self.action_reload()

    # -- loading ---------------------------------------------------------
    def action_reload(self, select: str | None = None) -> None:
        """Re-read the current page (same filter, sort, offset); keep or move the cursor."""
        table = self.query_one("#runs", RunTable)
        if select is None and table.row_count:
            select = self.current_run["run_id"] if self.current_run else None
        try:
            self.total_runs = self.workspace.runs.count(filter=self.run_filter or None)
            if self.page_offset >= self.total_runs:
                self.page_offset = max(0, (self.total_runs - 1) // PAGE_SIZE * PAGE_SIZE)
            runs = self.workspace.runs.search(filter=self.run_filter or None, sort=self.run_sort, limit=PAGE_SIZE,
                                       offset=self.page_offset)
        except MlcycleError as exc:  # e.g. a filter that parsed but names an unknown experiment
            self._filter_error(exc.message)
            self.run_filter = ""
            return self.action_reload(select)
        empty = self.total_runs == 0 and not self.run_filter
        self.query_one("#exp-empty").display = empty
        self.query_one("#exp-main").display = not empty
        self.page_runs = {r["run_id"]: r for r in runs}
        self._fill(table, runs)
        ids = list(self.page_runs)
        if ids:
            row = ids.index(select) if select in ids else 0
            table.move_cursor(row=row, animate=False)
            self._show_run(ids[row])
        else:
            self._show_run(None)
        self._update_status()
        self.refresh_bindings()

    def _fill(self, table: RunTable, runs: list[dict[str, Any]]) -> None:
        table.clear(columns=True)
        sorted_column = next((key for key, _, keys in columns() if self.run_sort in keys), None)
        shown = [c for c in columns() if not (self.narrow and c[0] in NARROW_HIDDEN)]
        for key, header, _ in shown:
            label = f"{header} {'▼' if self.run_sort.startswith('-') else '▲'}" if key == sorted_column else header
            table.add_column(label, key=key)
        keys = [key for key, _, _ in shown]
        for r in runs:
            status = r.get("status") or "?"
            style = {"failed": "red", "killed": "red", "running": "yellow"}.get(status, "")
            cells = {
                "mark": MARK if r["run_id"] in self.marked else " ",
                "run": run_panels.short_id(r["run_id"]),
                "experiment": r.get("experiment") or "-",
                "status": Text(status, style=style),
                "model": r.get("model") or "-",
                "task": TASK_SHORT.get(r.get("task") or "", r.get("task") or "-"),
                "m0": Text(run_panels.run_metric(r, 0), justify="right"),
                "m1": Text(run_panels.run_metric(r, 1), justify="right"),
                "created": ago(r.get("created")),
                "duration": Text(run_panels.duration(r.get("duration")), justify="right"),
            }
            table.add_row(*(cells[k] for k in keys), key=r["run_id"])

    def _update_status(self) -> None:
        if self.total_runs:
            shown = len(self.page_runs)
            rows = f"rows {self.page_offset + 1:,}-{self.page_offset + shown:,} of {self.total_runs:,}"
        else:
            rows = "no runs match" if self.run_filter else "no runs"
        marked = f" · {len(self.marked)} marked" if self.marked else ""
        self.query_one("#exp-status", Static).update(Content(f"{rows} · sort {_sort_label(self.run_sort)}{marked}"))

    @on(DataTable.RowHighlighted, "#runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        run_id = str(event.row_key.value)
        if self.current_run is None or self.current_run["run_id"] != run_id:
            self._show_run(run_id)

    def _show_run(self, run_id: str | None) -> None:
        detail = self.query_one("#run-detail", Static)
        if run_id is None:
            self.current_run = None
            detail.update("No run matches the filter." if self.run_filter else "")
            self.query_one("#run-inputs", Static).update("")
            self._plot_options([])
            self._show_evaluation(None)
            self.refresh_bindings()
            return
        try:
            run = self.workspace.runs.get(run_id)
        except MlcycleError as exc:  # deleted meanwhile
            self.current_run = None
            detail.update(Content(exc.message))
            return
        self.current_run = run
        detail.update(run_panels.run_summary_text(run))
        self.query_one("#run-inputs", Static).update(run_panels.run_inputs_text(run))
        stepped = run_panels.stepped_metrics(run)
        others = sorted(k for k in run["metrics"] if k not in stepped and not k.startswith("baseline_"))
        self._plot_options(stepped + others)
        self._show_evaluation(self.evaluations.get(run_id))
        self.refresh_bindings()

    # -- metric plot -----------------------------------------------------
    def _plot_options(self, keys: list[str]) -> None:
        select = self.query_one("#plot-metric", Select)
        with select.prevent(Select.Changed):
            select.set_options([(k, k) for k in keys])
            if keys:
                select.value = keys[0]
        self._plot(keys[0] if keys else None)

    @on(Select.Changed, "#plot-metric")
    def _metric_chosen(self, event: Select.Changed) -> None:
        self._plot(event.value if isinstance(event.value, str) else None)

    def _plot(self, key: str | None) -> None:
        plot = self.query_one("#metric-plot", LinePlot)
        run = self.current_run
        if run is None or key is None:
            plot.message("no metric to plot" if run is not None else "")
            return
        history = self.workspace.runs.metric_history(run["run_id"], key)
        xs = [h["step"] for h in history]
        ys = [h["value"] for h in history]
        steps = "" if len(xs) > 1 else " — one value; metrics with steps (cv_score of a search) draw a curve"
        plot.show(f"{key} by step{steps}", [(key, xs, ys)], xlabel="step")

    # -- filter and sort ---------------------------------------------------
    def action_focus_filter(self) -> None:
        self.query_one("#exp-filter", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#runs").focus()

    @on(Input.Submitted, "#exp-filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        try:
            self.workspace.runs.count(filter=text or None)
        except MlcycleError as exc:
            self._filter_error(exc.message)
            return
        self.query_one("#exp-filter-error").display = False
        self.run_filter, self.page_offset = text, 0
        self.action_reload()
        self.query_one("#runs").focus()

    def _filter_error(self, message: str) -> None:
        error = self.query_one("#exp-filter-error", Static)
        error.update(Content(f"✘ {message}"))
        error.display = True

    @on(DataTable.HeaderSelected, "#runs")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        keys = next((keys for key, _, keys in columns() if key == event.column_key.value), [])
        if keys:
            following = keys[(keys.index(self.run_sort) + 1) % len(keys)] if self.run_sort in keys else keys[0]
            self.set_sort(following)

    def action_cycle_sort(self) -> None:
        cycle = sort_cycle()
        index = cycle.index(self.run_sort) if self.run_sort in cycle else -1
        # step over the reverse direction of the same key: S moves to the next column
        following = cycle[(index + 1) % len(cycle)]
        if following.lstrip("-") == self.run_sort.lstrip("-"):
            following = cycle[(index + 2) % len(cycle)]
        self.set_sort(following)

    def set_sort(self, sort: str) -> None:
        """Sort by `sort` (e.g. `-metrics.f1`) and go back to the first page."""
        self.run_sort, self.page_offset = sort, 0
        self.action_reload()

    # -- paging ----------------------------------------------------------
    def action_page(self, step: int) -> None:
        target = self.page_offset + step * PAGE_SIZE
        if 0 <= target < max(self.total_runs, 1):
            self.page_offset = target
            self.current_run = None
            self.action_reload()
            if step < 0:
                table = self.query_one("#runs", RunTable)
                table.move_cursor(row=table.row_count - 1, animate=False)

    @on(RunTable.PageRequest)
    def _page_request(self, event: RunTable.PageRequest) -> None:
        self.action_page(event.step)

    # -- marks and comparison ---------------------------------------------
    def action_mark(self) -> None:
        if self.current_run is None:
            return
        run_id = self.current_run["run_id"]
        if run_id in self.marked:
            del self.marked[run_id]
        else:
            self.marked[run_id] = None
        table = self.query_one("#runs", RunTable)
        table.update_cell(run_id, "mark", MARK if run_id in self.marked else " ")
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._update_status()
        self.refresh_bindings()

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify("Mark at least two runs with space first.", title="Compare")
            return
        try:
            comparison = self.workspace.runs.compare(list(self.marked))
        except MlcycleError as exc:
            self.notify(exc.message, title="Compare failed", severity="error")
            return
        self.app.push_screen(CompareDialog(comparison))

    # -- train, reproduce, register -------------------------------------------
    def action_train(self) -> None:
        dataset = None
        if self.current_run and self.current_run.get("dataset"):
            dataset = str(self.current_run["dataset"]).split("@")[0]

        def done(result: dict[str, Any] | None) -> None:
            if result is None:
                return
            self._new_run(result["run_id"])
            from mlcycle_tui.experiments.evaluation import primary_metric_of  # loaded by training

            metric = primary_metric_of(result)
            self.notify(
                f"run {run_panels.short_id(result['run_id'])}: {result['model']} on {result.get('dataset')}, "
                f"{metric} {number(result['metrics'].get(metric))} "
                f"(baseline {number(result.get('baseline', {}).get(metric))})",
                title="Trained",
            )

        self.app.push_screen(TrainDialog(self.workspace, dataset), done)

    def _new_run(self, run_id: str) -> None:
        """Show a run that was just made: first page; without filter and newest first if needed."""
        self.page_offset = 0
        self.action_reload(select=run_id)
        if run_id not in self.page_runs:
            self.run_filter, self.run_sort = "", DEFAULT_SORT
            self.query_one("#exp-filter", Input).value = ""
            self.action_reload(select=run_id)
        self.query_one("#runs").focus()

    def action_reproduce(self) -> None:
        if self.current_run is None or self.busy_with:
            return
        self._set_busy(f"reproducing run {run_panels.short_id(self.current_run['run_id'])}")
        self._reproduce(self.current_run["run_id"])

    @work(thread=True, exclusive=True, group="reproduce")
    def _reproduce(self, run_id: str) -> None:
        def progress(fraction: float, message: str) -> None:
            self.app.call_from_thread(self._progress, fraction, message)

        try:
            result = self.workspace.training.reproduce(run_id, progress=progress)
        except MlcycleError as exc:
            self.app.call_from_thread(self._failed, "Reproduce failed", exc.message)
        except Exception as exc:  # a library error: one line, never a traceback
            self.app.call_from_thread(self._failed, "Reproduce failed", f"{type(exc).__name__}: {exc}")
        else:
            self.app.call_from_thread(self._reproduced, result)

    def _reproduced(self, result: dict[str, Any]) -> None:
        self._set_busy("")
        self._new_run(result["run_id"])
        same = result["same_metrics"] and result["same_predictions"]
        checks = (
            f"same metrics {'✔' if result['same_metrics'] else '✘'} · "
            f"same predictions {'✔' if result['same_predictions'] else '✘'}"
        )
        differences = "; ".join(f"{k} {number(a)} → {number(b)}" for k, (a, b) in
                                result.get("metric_differences", {}).items())
        self.notify(
            f"run {run_panels.short_id(result['original'])} → {run_panels.short_id(result['run_id'])}: {checks}"
            + (f"\n{differences}" if differences else ""),
            title="Reproduced exactly" if same else "Reproduced with differences",
            severity="information" if same else "warning",
            timeout=10,
        )

    def action_register(self) -> None:
        if self.current_run is None:
            return
        run = self.current_run
        name = str(run.get("dataset") or run.get("experiment") or "model").split("@")[0]

        def done(mv: ModelVersion | None) -> None:
            if mv is not None:
                self.notify(f"{mv.ref} from run {run_panels.short_id(mv.run_id)}; promote it on the Models "
                            "screen (m).", title="Registered")

        self.app.push_screen(RegisterDialog(self.workspace, run["run_id"], name), done)

    # -- evaluation ----------------------------------------------------------
    def action_evaluate(self) -> None:
        if self.current_run is None:
            return
        run_id = self.current_run["run_id"]
        self.query_one("#exp-details", TabbedContent).active = "tab-eval"
        if run_id in self.evaluations:
            self._show_evaluation(self.evaluations[run_id])
            return
        self._eval_status(f"Evaluating run {run_panels.short_id(run_id)} on its test split…")
        self._evaluate(run_id)

    @work(thread=True, exclusive=True, group="evaluate")
    def _evaluate(self, run_id: str) -> None:
        try:
            result = self.workspace.evaluation.evaluate(run_id)
        except MlcycleError as exc:
            self.app.call_from_thread(self._eval_failed, run_id, exc.message)
        except Exception as exc:  # a library error: one line, never a traceback
            self.app.call_from_thread(self._eval_failed, run_id, f"{type(exc).__name__}: {exc}")
        else:
            self.app.call_from_thread(self._evaluated, run_id, result)

    def _evaluated(self, run_id: str, result: dict[str, Any]) -> None:
        self.evaluations[run_id] = result
        if self.current_run is not None and self.current_run["run_id"] == run_id:
            self._show_evaluation(result)

    def _eval_failed(self, run_id: str, message: str) -> None:
        if self.current_run is not None and self.current_run["run_id"] == run_id:
            self._eval_status(f"[red]✘[/red] {message}", markup=True)

    def _eval_status(self, text: str, markup: bool = False) -> None:
        self.query_one("#eval-status", Static).update(text if markup else Content(text))

    def _show_evaluation(self, result: dict[str, Any] | None) -> None:
        classification = self.query_one("#eval-classification")
        regression = self.query_one("#eval-regression")
        if result is None:
            classification.display = regression.display = False
            run = self.current_run
            self._eval_status(f"Press x to evaluate run {run_panels.short_id(run['run_id'])} on its test split."
                              if run else "")
            return
        metrics = result["metrics"]
        self._eval_status(f"run {run_panels.short_id(result['run_id'])} on {result['data']}")
        if result["task"] == "regression":
            classification.display, regression.display = False, True
            self.query_one("#residuals", Static).update(run_panels.residual_text(metrics, result.get("baseline")))
            return
        classification.display, regression.display = True, False
        self._confusion(metrics.get("confusion_matrix") or {"labels": [], "matrix": []})
        roc, pr = metrics.get("roc_curve"), metrics.get("pr_curve")
        roc_plot, pr_plot = self.query_one("#roc-plot", LinePlot), self.query_one("#pr-plot", LinePlot)
        if roc:
            roc_plot.show("ROC", _curve_series(roc, "fpr", "tpr"), xlabel="false positive rate", unit_square=True)
        else:
            roc_plot.message("no ROC curve (no probabilities)")
        if pr:
            pr_plot.show("precision-recall", _curve_series(pr, "recall", "precision"), xlabel="recall",
                         unit_square=True)
        else:
            pr_plot.message("no PR curve (no probabilities)")

    def action_evaluate_groups(self) -> None:
        if self.current_run is None:
            return
        from mlcycle_tui.tui.dialogs.groups import GroupsDialog

        run = self.current_run
        try:
            rec = self.workspace.runs.recipe(run["run_id"])
            ds = self.workspace.data.dataset(rec["dataset"])
        except MlcycleError as exc:
            self.notify(exc.message, title="By group", severity="error")
            return
        target = rec.get("target") or ds.target
        columns = [c["name"] for c in ds.schema if c["name"] != target]

        def chosen(args: dict[str, Any] | None) -> None:
            if args is None:
                return
            self.query_one("#exp-details", TabbedContent).active = "tab-groups"
            self.query_one("#groups-text", Static).update(Content(f"Evaluating run {run_panels.short_id(run['run_id'])}"
                                                                  " by slice and group…"))
            self._evaluate_groups(run["run_id"], args)

        self.app.push_screen(GroupsDialog(run_panels.short_id(run["run_id"]), columns,
                                          rec.get("task") == "classification"), chosen)

    @work(thread=True, exclusive=True, group="evaluate-groups")
    def _evaluate_groups(self, run_id: str, args: dict[str, Any]) -> None:
        try:
            result = self.workspace.evaluation.evaluate(run_id, **args)
            explained = self.workspace.evaluation.explanation(run_id)
        except MlcycleError as exc:
            self.app.call_from_thread(self.query_one("#groups-text", Static).update, Text(f"✘ {exc.message}",
                                                                                          style="red"))
            return
        self.app.call_from_thread(self.query_one("#groups-text", Static).update,
                                  run_panels.groups_text(result, explained))

    def _confusion(self, cm: dict[str, Any]) -> None:
        table = self.query_one("#confusion", DataTable)
        table.clear(columns=True)
        table.add_column("true \\ pred", key="true")
        for i, label in enumerate(cm["labels"]):
            table.add_column(str(label), key=f"c{i}")
        for label, row in zip(cm["labels"], cm["matrix"], strict=False):
            cells = [Text(str(v), style="bold" if j == cm["labels"].index(label) else "dim", justify="right")
                     for j, v in enumerate(row)]
            table.add_row(str(label), *cells)

    # -- shared ------------------------------------------------------------
    def _set_busy(self, what: str) -> None:
        self.busy_with = what
        self.query_one("#exp-running").display = bool(what)
        if what:
            self._progress(0.0, what)
        self.refresh_bindings()

    def _progress(self, fraction: float, message: str) -> None:
        self.query_one("#exp-progress", ProgressBar).update(progress=fraction)
        label = f"{self.busy_with}: {message}" if self.busy_with and message != self.busy_with else message
        self.query_one("#exp-progress-text", Static).update(Content(label))

    def _failed(self, title: str, message: str) -> None:
        self._set_busy("")
        self.notify(message, title=title, severity="error", timeout=10)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reproduce", "register", "evaluate", "evaluate_groups", "mark") and self.current_run is None:
            return None
        if action == "reproduce" and self.busy_with:
            return None
        if action == "compare" and len(self.marked) < 2:
            return None
        if action == "page" and parameters:
            target = self.page_offset + int(parameters[0]) * PAGE_SIZE  # type: ignore[call-overload]
            return True if 0 <= target < self.total_runs else None
        return True


def _curve_series(curve: dict[str, Any], x: str, y: str) -> list[tuple[str, list[float], list[float]]]:
    """Plot series of a ROC or PR curve: one for a binary model, one per class otherwise."""
    if "per_class" in curve:
        return [(str(label), c[x], c[y]) for label, c in curve["per_class"].items() if c]
    return [(str(curve.get("positive_class", "")), curve[x], curve[y])]

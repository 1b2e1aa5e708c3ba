"""The Train dialog: dataset, target, model kind, metric, positive class, params, search, folds, columns, seed.

Why this exists: training is the heart of the Experiments stage. The dialog
offers only what the catalog accepts for the dataset's task (inferred from
the target column's profile, or forced) plus any scikit-learn-compatible
class typed as module:Class, the metrics that task can rank by, and the same
fold spellings as `mlcycle train --cv`. It runs `training.train` in a thread
worker with a ProgressBar fed by the core's progress callback, and keeps
errors (bad params, too few rows for the folds, ...) inline so the user can
fix a field and press Train again. The fields scroll when the terminal is
short (80x24).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Select, Static
from textual.widgets._select import SelectCurrent

from mlcycle_tui.experiments import catalog
from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid

if TYPE_CHECKING:
    from mlcycle_tui.data.versions import DatasetVersion
    from mlcycle_tui.workspace import Workspace

AUTO = "auto"
OTHER_MODEL = "__import_path__"
CLASSIFICATION_KINDS = ("categorical", "boolean", "text", "id")
MAX_CLASSES_GUESS = 20


def guess_task(ds: DatasetVersion, target: str | None = None) -> str | None:
    """The task the target's profile points to, or None when only the values can tell."""
    target = target or ds.target
    col = ds.column(target) if target else None
    if col is None:
        return None
    if col.get("kind") in CLASSIFICATION_KINDS:
        return "classification"
    if col.get("kind") == "numeric" and (col.get("unique") or 0) > MAX_CLASSES_GUESS:
        return "regression"
    return None


def model_options(task: str | None) -> list[tuple[str, str]]:
    """(label, kind) for the Select: one task's kinds, or both tasks' when the task is unknown."""
    tasks = [task] if task else list(catalog.TASKS)
    options: dict[str, str] = {}
    for t in tasks:
        for entry in catalog.catalog(t):
            kind = entry["kind"]
            only = [x for x in catalog.TASKS if kind in catalog.kinds(x)]
            suffix = f" ({only[0]} only)" if task is None and len(only) == 1 else ""
            options.setdefault(kind, f"{kind} — {entry['description']}{suffix}")
    out = [(label, kind) for kind, label in options.items()]
    return [*out, ("other — any scikit-learn-compatible class (module:Class)", OTHER_MODEL)]


def metric_options(task: str | None) -> list[tuple[str, str]]:
    """(label, metric) for the Metric select: the task's default first; both tasks' when it is unknown."""
    from mlcycle_tui.experiments.evaluation import METRICS, primary_metric

    if task is None:
        return [("default", AUTO)]
    return [(f"{primary_metric(task)} (default)", AUTO), *((m, m) for m in METRICS[task] if m != primary_metric(task))]


def column_list(text: str) -> list[str] | None:
    """`id, notes` -> ["id", "notes"]; names may hold spaces, so only commas separate them."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    return names or None


def param_hint(kind: str, task: str | None) -> str:
    """The params a kind takes, with defaults: shown under the params field."""
    for t in [task] if task else list(catalog.TASKS):
        try:
            entry = next(e for e in catalog.catalog(t) if e["kind"] == kind)
        except StopIteration:
            continue
        parts = [f"{name}={spec.get('default')}" for name, spec in entry["params"].items()]
        return f"{kind} params: " + (", ".join(parts) if parts else "none")
    return ""


def split_params(text: str) -> list[str]:
    """`n_estimators=10, max_depth=5` -> ["n_estimators=10", "max_depth=5"]."""
    return [p for p in re.split(r"[\s,;]+", text.strip()) if p]


def _titled(select: Select[Any], title: str) -> None:
    select.query_one(SelectCurrent).border_title = title


def _set_options(select: Select[Any], options: list[tuple[str, Any]], value: Any) -> None:
    """New options and a value; the shown label follows even when the value stays the same
    (Select only redraws its label when the value changes)."""
    select.set_options(options)
    select.value = value
    label = next((prompt for prompt, v in options if v == value), None)
    if label is not None:
        select.query_one(SelectCurrent).update(label)


class TrainDialog(FormDialog["dict[str, Any] | None"]):
    """Returns the result of `Workspace.train`, or None if cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="train.cancel")]
    PREFIX = "train"
    OK_LABEL = "Train"
    PROGRESS = True
    FOCUS = "#train-model"
    BUSY_MESSAGE = "Training is still running; it cannot be stopped halfway."

    def __init__(self, workspace: Workspace, dataset: str | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.datasets = {ds.name: ds for ds in workspace.data.datasets()}
        trainable = [name for name, ds in self.datasets.items() if ds.target]
        self.initial = dataset if dataset in self.datasets else (trainable or list(self.datasets) or [None])[0]

    # -- layout ------------------------------------------------------------
    DEFAULT_CSS = """
    #train-fields { height: auto; max-height: 65vh; }
    #train-hint { height: auto; }
    #train-box .row Input.text { width: 1fr; }
    #train-box .row Input.number { width: 10; }
    """

    def compose_fields(self) -> ComposeResult:
        options = [
            (f"{ds.ref} (target {ds.target})" if ds.target else f"{ds.ref} (no target)", name)
            for name, ds in self.datasets.items()
        ]
        yield Static("[b]Train a model[/b] — one tracked run", classes="dialog-title")
        with VerticalScroll(id="train-fields"):
            with Horizontal(classes="row"):
                yield Select(options, value=self.initial or Select.NULL, allow_blank=self.initial is None,
                             id="train-dataset", classes="wide")
                yield Select([("auto", AUTO), ("classification", "classification"),
                              ("regression", "regression")], value=AUTO, allow_blank=False, id="train-task")
            with Horizontal(classes="row"):
                yield Select([("the dataset's", AUTO)], value=AUTO, allow_blank=False, id="train-target")
                yield Select(metric_options(None), value=AUTO, allow_blank=False, id="train-metric")
                positive = Input(placeholder="auto: 1/yes, else rarer", id="train-positive", classes="text")
                positive.border_title = "Positive class"
                yield positive
            with Horizontal(classes="row"):
                yield Select(model_options(None), value="rf", allow_blank=False, id="train-model", classes="wide")
                yield Select([("no search", "none"), ("grid search", "grid"), ("random search", "random")],
                             value="none", allow_blank=False, id="train-search")
            path = Input(placeholder="e.g. sklearn.svm:SVC or lightgbm:LGBMClassifier", id="train-import")
            path.border_title = "Class (module:Class)"
            path.display = False
            yield path
            params = Input(placeholder="e.g. n_estimators=100 max_depth=8", id="train-params")
            params.border_title = "Params (name=value …)"
            yield params
            yield Static(id="train-hint", classes="hint")
            with Horizontal(classes="row"):
                folds = Input("3", placeholder="3, group:COL, time:5", id="train-cv", classes="text")
                folds.border_title = "Folds"
                yield folds
                include = Input(placeholder="id/text columns to use", id="train-include", classes="text")
                include.border_title = "Include"
                yield include
                drop = Input(placeholder="columns to leave out", id="train-drop", classes="text")
                drop.border_title = "Drop"
                yield drop
            with Horizontal(classes="row"):
                for label, value, wid in (("Trials", "10", "train-trials"), ("Seed", "42", "train-seed")):
                    field = Input(value, id=wid, restrict=r"-?[0-9]*", classes="number")
                    field.border_title = label
                    yield field
                experiment = Input(placeholder="dataset name", id="train-experiment")
                experiment.border_title = "Experiment"
                yield experiment

    def on_mount(self) -> None:
        _titled(self.query_one("#train-dataset", Select), "Dataset")
        _titled(self.query_one("#train-task", Select), "Task")
        _titled(self.query_one("#train-model", Select), "Model")
        _titled(self.query_one("#train-search", Select), "Search")
        _titled(self.query_one("#train-target", Select), "Target")
        _titled(self.query_one("#train-metric", Select), "Metric")
        self.query_one("#train-hint").styles.height = "auto"  # the params hint wraps instead of being cut
        self._dataset_changed()
        if not self.datasets:
            self.show_error("no datasets yet: import one on the Data screen (d, then i) with a target column")
        self.query_one("#train-model", Select).focus()

    # -- choices -------------------------------------------------------------
    def task(self) -> str | None:
        """The forced task, else the one the dataset's target suggests, else None."""
        forced = self.query_one("#train-task", Select).value
        if forced in catalog.TASKS:
            return str(forced)
        ds = self.datasets.get(str(self.query_one("#train-dataset", Select).value))
        return guess_task(ds, self.target()) if ds is not None else None

    def target(self) -> str | None:
        """The target column chosen in the dialog, or None for the dataset's own."""
        value = self.query_one("#train-target", Select).value
        return str(value) if isinstance(value, str) and value != AUTO else None

    @on(Select.Changed, "#train-dataset")
    def _dataset_changed(self) -> None:
        ds = self.datasets.get(str(self.query_one("#train-dataset", Select).value))
        target = self.query_one("#train-target", Select)
        columns = [c["name"] for c in ds.schema] if ds is not None else []
        own = f"{ds.target} (dataset)" if ds is not None and ds.target else "choose a column"
        _set_options(target, [(own, AUTO), *((c, c) for c in columns if ds is None or c != ds.target)], AUTO)
        self._task_changed()

    @on(Select.Changed, "#train-task")
    @on(Select.Changed, "#train-target")
    def _task_changed(self) -> None:
        task = self.task()
        model = self.query_one("#train-model", Select)
        current = model.value
        options = model_options(task)
        kinds = [k for _, k in options]
        model.set_options(options)
        model.value = current if current in kinds else ("rf" if "rf" in kinds else kinds[0])
        metric = self.query_one("#train-metric", Select)
        chosen = metric.value
        metrics = metric_options(task)
        _set_options(metric, metrics, chosen if chosen in [m for _, m in metrics] else AUTO)
        ds = self.datasets.get(str(self.query_one("#train-dataset", Select).value))
        self.query_one("#train-experiment", Input).placeholder = ds.name if ds else "dataset name"
        self._model_changed()

    @on(Select.Changed, "#train-model")
    def _model_changed(self) -> None:
        kind = self.query_one("#train-model", Select).value
        task = self.task()
        self.query_one("#train-import", Input).display = kind == OTHER_MODEL
        where = f"task {task}" if task else "task decided from the target's values"
        if kind == OTHER_MODEL:
            hint = "params: the class's own (name=value); no search space"
        else:
            hint = param_hint(str(kind), task) if isinstance(kind, str) else ""
        self.query_one("#train-hint", Static).update(Content(f"{where} · {hint}"))

    # -- running ---------------------------------------------------------------
    def collect(self) -> tuple[str, str, dict[str, Any]]:
        """(dataset, model kind, the other keyword arguments of `training.train`)."""
        dataset = self.query_one("#train-dataset", Select).value
        if not isinstance(dataset, str):
            raise Invalid("choose a dataset (import one on the Data screen first)")
        if self.target() is None and not self.datasets[dataset].target:
            raise Invalid(f"{dataset} has no target column: choose one under Target")
        numbers: dict[str, int] = {}
        for wid, name in (("#train-trials", "trials"), ("#train-seed", "seed")):
            try:
                numbers[name] = int(self.query_one(wid, Input).value)
            except ValueError:
                raise Invalid(f"{name} must be a whole number") from None
        model = str(self.query_one("#train-model", Select).value)
        if model == OTHER_MODEL:
            model = self.query_one("#train-import", Input).value.strip()
            if ":" not in model:
                raise Invalid("type the estimator's import path as module:Class, e.g. sklearn.svm:SVC")
        search = self.query_one("#train-search", Select).value
        forced = self.query_one("#train-task", Select).value
        metric = self.query_one("#train-metric", Select).value
        options: dict[str, Any] = {
            "params": split_params(self.query_one("#train-params", Input).value),
            "search": None if search == "none" else str(search),
            "experiment": self.query_one("#train-experiment", Input).value.strip() or None,
            "task": str(forced) if forced in catalog.TASKS else None,
            "target": self.target(),
            "metric": None if metric == AUTO else str(metric),
            "positive_class": self.query_one("#train-positive", Input).value.strip() or None,
            "cv": self.query_one("#train-cv", Input).value.strip() or "3",
            "include": column_list(self.query_one("#train-include", Input).value),
            "drop": column_list(self.query_one("#train-drop", Input).value),
            **numbers,
        }
        return dataset, model, options

    def run(self, args: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
        dataset, model, options = args
        return self.workspace.training.train(dataset, model, progress=self.report_progress, **options)

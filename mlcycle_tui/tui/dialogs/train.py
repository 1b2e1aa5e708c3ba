"""The Train dialog: dataset, model kind, params, search, folds, seed, experiment.

Why this exists: training is the heart of the Experiments stage. The dialog
offers only what the catalog accepts for the dataset's task (inferred from
the target column's profile, or forced), runs `Workspace.train` in a thread
worker with a ProgressBar fed by the core's progress callback, and keeps
errors (bad params, too few rows for the folds, ...) inline so the user can
fix a field and press Train again.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Input, Select, Static
from textual.widgets._select import SelectCurrent

from mlcycle_tui.experiments import catalog
from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid

if TYPE_CHECKING:
    from mlcycle_tui.data.versions import DatasetVersion
    from mlcycle_tui.workspace import Workspace

AUTO = "auto"
CLASSIFICATION_KINDS = ("categorical", "boolean", "text", "id")
MAX_CLASSES_GUESS = 20


def guess_task(ds: DatasetVersion) -> str | None:
    """The task the target's profile points to, or None when only the values can tell."""
    col = ds.column(ds.target) if ds.target else None
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
    return [(label, kind) for kind, label in options.items()]


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
    def compose_fields(self) -> ComposeResult:
        options = [
            (f"{ds.ref} (target {ds.target})" if ds.target else f"{ds.ref} (no target)", name)
            for name, ds in self.datasets.items()
        ]
        yield Static("[b]Train a model[/b] — one tracked run", classes="dialog-title")
        with Horizontal(classes="row"):
            yield Select(options, value=self.initial or Select.NULL, allow_blank=self.initial is None,
                         id="train-dataset", classes="wide")
            yield Select([("auto", AUTO), ("classification", "classification"),
                          ("regression", "regression")], value=AUTO, allow_blank=False, id="train-task")
        with Horizontal(classes="row"):
            yield Select(model_options(None), value="rf", allow_blank=False, id="train-model", classes="wide")
            yield Select([("no search", "none"), ("grid search", "grid"), ("random search", "random")],
                         value="none", allow_blank=False, id="train-search")
        params = Input(placeholder="e.g. n_estimators=100 max_depth=8", id="train-params")
        params.border_title = "Params (name=value …)"
        yield params
        yield Static(id="train-hint", classes="hint")
        with Horizontal(classes="row"):
            for label, value, wid in (("Trials", "10", "train-trials"), ("CV folds", "3", "train-cv"),
                                      ("Seed", "42", "train-seed")):
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
        self._task_changed()
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
        return guess_task(ds) if ds is not None else None

    @on(Select.Changed, "#train-dataset")
    @on(Select.Changed, "#train-task")
    def _task_changed(self) -> None:
        task = self.task()
        model = self.query_one("#train-model", Select)
        current = model.value
        options = model_options(task)
        kinds = [k for _, k in options]
        model.set_options(options)
        model.value = current if current in kinds else ("rf" if "rf" in kinds else kinds[0])
        ds = self.datasets.get(str(self.query_one("#train-dataset", Select).value))
        self.query_one("#train-experiment", Input).placeholder = ds.name if ds else "dataset name"
        self._model_changed()

    @on(Select.Changed, "#train-model")
    def _model_changed(self) -> None:
        kind = self.query_one("#train-model", Select).value
        task = self.task()
        where = f"task {task}" if task else "task decided from the target's values"
        hint = param_hint(str(kind), task) if isinstance(kind, str) else ""
        self.query_one("#train-hint", Static).update(Content(f"{where} · {hint}"))

    # -- running ---------------------------------------------------------------
    def collect(self) -> tuple[str, str, dict[str, Any]]:
        """(dataset, model kind, the other keyword arguments of `training.train`)."""
        dataset = self.query_one("#train-dataset", Select).value
        if not isinstance(dataset, str):
            raise Invalid("choose a dataset (import one on the Data screen first)")
        numbers: dict[str, int] = {}
        for wid, name in (("#train-trials", "trials"), ("#train-cv", "cv"), ("#train-seed", "seed")):
            try:
                numbers[name] = int(self.query_one(wid, Input).value)
            except ValueError:
                raise Invalid(f"{name} must be a whole number") from None
        search = self.query_one("#train-search", Select).value
        forced = self.query_one("#train-task", Select).value
        options: dict[str, Any] = {
            "params": split_params(self.query_one("#train-params", Input).value),
            "search": None if search == "none" else str(search),
            "experiment": self.query_one("#train-experiment", Input).value.strip() or None,
            "task": str(forced) if forced in catalog.TASKS else None,
            **numbers,
        }
        return dataset, str(self.query_one("#train-model", Select).value), options

    def run(self, args: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
        dataset, model, options = args
        return self.workspace.training.train(dataset, model, progress=self.report_progress, **options)

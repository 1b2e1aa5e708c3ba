"""The Experiments screen: empty state, train through the dialog, filter, sort, detail, plot,
compare, register, evaluate, reproduce, and paging over hundreds of runs."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, Select, TabbedContent

from mlcycle_tui.tui.app import MlcycleApp
from mlcycle_tui.tui.dialogs.compare import CompareDialog
from mlcycle_tui.tui.dialogs.register import RegisterDialog
from mlcycle_tui.tui.dialogs.train import TrainDialog, model_options, split_params
from mlcycle_tui.tui.screens.experiments import ExperimentsScreen
from mlcycle_tui.tui.widgets.line_plot import LinePlot
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, make_app, text_of

SMALL = ["n_estimators=10"]


async def _settle(app: MlcycleApp, pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def _screen(app: MlcycleApp) -> ExperimentsScreen:
    screen = app.screen
    assert isinstance(screen, ExperimentsScreen)
    return screen


def _ids(app: MlcycleApp) -> list[str]:
    table = app.screen.query_one("#runs", DataTable)
    return [str(k.value) for k in table.rows]


def test_dialog_helpers() -> None:
    assert split_params(" n_estimators=10, max_depth=3;  ") == ["n_estimators=10", "max_depth=3"]
    both = dict((kind, label) for label, kind in model_options(None))
    assert "logistic" in both and "ridge" in both and "only" in both["ridge"]
    assert "ridge" not in dict((k, v) for v, k in model_options("classification"))


async def test_empty_experiments_screen_says_how_to_train(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await pilot.pause()
        screen = _screen(app)
        assert screen.query_one("#exp-empty").display
        assert not screen.query_one("#exp-main").display
        assert "No runs yet — press t to train" in text_of(app, "#exp-empty")
        for action in ("reproduce", "register", "evaluate", "compare"):
            assert screen.check_action(action, ()) is None
        # the Train dialog says there is nothing to train on yet
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TrainDialog)
        assert "no datasets yet" in text_of(app, "#train-error")
        await pilot.press("escape")


async def test_train_filter_sort_detail_compare_register(workspace: Workspace, sample_data: Path) -> None:
    workspace.data.ingest(sample_data / "penguins.csv", "penguins", target="species")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "t")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TrainDialog)
        assert dialog.query_one("#train-dataset", Select).value == "penguins"
        assert dialog.task() == "classification"  # species is categorical
        # a bad param value stays in the dialog as one line
        dialog.query_one("#train-params", Input).value = "n_estimators=many"
        await pilot.click("#train-ok")
        await _settle(app, pilot)
        assert isinstance(app.screen, TrainDialog)
        assert "n_estimators" in text_of(app, "#train-error")
        dialog.query_one("#train-params", Input).value = "n_estimators=10"
        await pilot.click("#train-ok")
        await _settle(app, pilot)
        assert not isinstance(app.screen, TrainDialog)

        screen = _screen(app)
        (first,) = [r["run_id"] for r in workspace.runs.search()]
        assert _ids(app) == [first]
        assert screen.current_run is not None and screen.current_run["run_id"] == first
        assert "rows 1-1 of 1" in text_of(app, "#exp-status")
        detail = text_of(app, "#run-detail")
        assert first[:8] in detail and "f1" in detail and "penguins@1" in detail
        assert "n_estimators" in text_of(app, "#run-inputs")

        # a second, different run through the API; the screen shows it after a refresh
        second = workspace.training.train("penguins", "logistic", seed=7)["run_id"]
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert _ids(app) == [second, first]  # newest first

        # filter: a good expression narrows, a bad one explains itself and changes nothing
        await pilot.press("slash")
        assert isinstance(screen.focused, Input)
        await pilot.press(*'model = "logistic"', "enter")
        await pilot.pause()
        assert _ids(app) == [second]
        assert not screen.query_one("#exp-filter-error").display
        screen.query_one("#exp-filter", Input).value = "metrics.f1 >"
        await pilot.press("slash", "enter")
        await pilot.pause()
        assert screen.query_one("#exp-filter-error").display
        assert "bad filter" in text_of(app, "#exp-filter-error")
        assert _ids(app) == [second]
        screen.query_one("#exp-filter", Input).value = ""  # focus is still in the box after an error
        await pilot.press("enter")
        await pilot.pause()
        assert len(_ids(app)) == 2 and not screen.query_one("#exp-filter-error").display

        # sort: S moves to the next column; a header click cycles that column's directions
        await pilot.press("S")
        await pilot.pause()
        assert screen.run_sort == "-duration"  # from created (the default) to the next column
        await pilot.press("S")
        await pilot.pause()
        assert screen.run_sort == "run_id"  # and around to the first
        assert _ids(app) == sorted([first, second])
        screen.set_sort("-metrics.f1")
        await pilot.pause()
        runs = {r["run_id"]: r["metrics"]["f1"] for r in workspace.runs.search()}
        assert _ids(app) == sorted(runs, key=lambda i: -runs[i])
        assert "sort metrics.f1 ▼" in text_of(app, "#exp-status")
        table = screen.query_one("#runs", DataTable)
        table.post_message(DataTable.HeaderSelected(table, table.ordered_columns[6].key, 6,
                                                    table.ordered_columns[6].label))
        await pilot.pause()
        assert screen.run_sort == "metrics.f1"
        screen.set_sort("-created")
        await pilot.pause()

        # compare: mark both runs (space moves down), then c
        assert screen.check_action("compare", ()) is None
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("space", "space")
        await pilot.pause()
        assert set(screen.marked) == {first, second}
        assert "2 marked" in text_of(app, "#exp-status")
        await pilot.press("c")
        await pilot.pause()
        compare = app.screen
        assert isinstance(compare, CompareDialog)
        rows = {label: differs for label, _, differs in compare.rows}
        assert rows["model"] and rows["seed"] and not rows["dataset"]
        ctable = compare.query_one("#compare-table", DataTable)
        everything = ctable.row_count
        await pilot.press("d")
        assert 0 < ctable.row_count < everything
        assert all(rows[str(k.value)] for k in ctable.rows)
        await pilot.press("escape")
        await pilot.pause()

        # register the highlighted run: the dialog suggests the dataset's name
        table.move_cursor(row=1)
        await pilot.pause()
        assert screen.current_run is not None and screen.current_run["run_id"] == first
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, RegisterDialog)
        assert app.screen.query_one("#register-name", Input).value == "penguins"
        await pilot.press("enter")
        await _settle(app, pilot)
        assert not isinstance(app.screen, RegisterDialog)
        (mv,) = workspace.registry.model_versions("penguins")
        assert mv.run_id == first


async def test_evaluate_plot_and_reproduce(workspace: Workspace, sample_data: Path) -> None:
    workspace.data.ingest(sample_data / "penguins.csv", "penguins", target="species")
    trained = workspace.training.train("penguins", "rf", params=SMALL)["run_id"]
    with workspace.runs.start("curves") as run:
        for step in range(6):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await pilot.pause()
        screen = _screen(app)
        assert _ids(app) == [run.id, trained]
        # the manual run's stepped metric is plotted
        plot = screen.query_one("#metric-plot", LinePlot)
        assert screen.query_one("#plot-metric", Select).value == "loss"
        assert plot.plot_title == "loss by step" and plot.labels == ["loss"]
        await pilot.press("x")
        await _settle(app, pilot)
        assert "no training recipe" in text_of(app, "#eval-status")

        await pilot.press("down")
        await pilot.pause()
        assert screen.current_run is not None and screen.current_run["run_id"] == trained
        await pilot.press("x")
        await _settle(app, pilot)
        assert screen.query_one("#exp-details", TabbedContent).active == "tab-eval"
        confusion = screen.query_one("#confusion", DataTable)
        assert confusion.row_count == 3 and len(confusion.columns) == 4
        assert screen.query_one("#roc-plot", LinePlot).labels == ["Adelie", "Chinstrap", "Gentoo"]
        assert screen.query_one("#pr-plot", LinePlot).plot_title == "precision-recall"

        await pilot.press("r")
        await _settle(app, pilot)
        assert workspace.runs.count() == 3
        newest = workspace.runs.search(limit=1)[0]
        assert newest["tags"].get("reproduces") == trained
        assert screen.current_run is not None and screen.current_run["run_id"] == newest["run_id"]
        assert not screen.busy_with
        assert any(n.title == "Reproduced exactly" for n in app._notifications)


async def test_paging_through_300_runs(workspace: Workspace) -> None:
    for i in range(300):
        with workspace.runs.start("sweep") as run:
            run.log_metrics({"f1": i / 300})
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await pilot.pause()
        screen = _screen(app)
        table = screen.query_one("#runs", DataTable)
        assert table.row_count == 50
        assert "rows 1-50 of 300" in text_of(app, "#exp-status")
        assert screen.check_action("page", (-1,)) is None
        first_page = _ids(app)
        await pilot.press("n")
        await pilot.pause()
        assert "rows 51-100 of 300" in text_of(app, "#exp-status")
        assert not set(first_page) & set(_ids(app))
        # PageDown past the last row loads the next page
        table.move_cursor(row=49)
        await pilot.press("pagedown")
        await pilot.pause()
        assert "rows 101-150 of 300" in text_of(app, "#exp-status")
        await pilot.press("p", "p")
        await pilot.pause()
        assert _ids(app) == first_page
        # the last page, sorted by the metric
        screen.set_sort("metrics.f1")
        for _ in range(5):
            await pilot.press("n")
        await pilot.pause()
        assert "rows 251-300 of 300" in text_of(app, "#exp-status")
        assert screen.check_action("page", (1,)) is None
        assert table.row_count == 50

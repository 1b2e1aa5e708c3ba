"""The Models screen: empty state, versions, gate verdicts, promotion (also forced) and rollback."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from mlcycle_tui.tui.app import MlcycleApp
from mlcycle_tui.tui.dialogs.confirm import ConfirmDialog
from mlcycle_tui.tui.screens.models import ModelsScreen
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, make_app, text_of


async def _settle(app: MlcycleApp, pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def _cells(app: MlcycleApp, selector: str, column: int) -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    return [str(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def test_empty_models_screen_says_what_to_do(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        assert app.screen.query_one("#models-empty").display
        assert not app.screen.query_one("#models-main").display
        assert "No models yet — train a run on the Experiments screen (e, then t)" in text_of(app, "#models-empty")
        assert app.screen.check_action("promote", ()) is None


async def test_gates_promote_force_and_rollback(workspace: Workspace, sample_data: Path) -> None:
    workspace.data.ingest(sample_data / "penguins.csv", "penguins", target="species")
    weak = workspace.training.train("penguins", "dummy")["run_id"]  # cannot beat the baseline: the gates refuse it
    strong = workspace.training.train("penguins", "rf", params=["n_estimators=10"])["run_id"]
    workspace.registry.register(weak, "penguins")
    workspace.registry.register(strong, "penguins")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await _settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        assert _cells(app, "#models-table", 0) == ["penguins"]
        assert _cells(app, "#model-versions", 0) == ["v2", "v1"]
        assert _cells(app, "#model-versions", 2) == ["rf", "dummy"]
        # the highlighted (newest) version's verdict
        assert "PASS" in text_of(app, "#gate-text") and "beats the baseline" in text_of(app, "#gate-text")
        assert "No alias has moved yet" in text_of(app, "#history-text")
        assert screen.check_action("rollback", ()) is True

        # promote v2: the confirmation shows the verdict; confirm
        await pilot.press("p")
        await _settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert "PASS" in text_of(app, "#confirm-body")
        assert not dialog.query("#confirm-force")
        await pilot.click("#confirm-promote")
        await _settle(app, pilot)
        assert workspace.registry.model_version("penguins@production").version == 2
        assert _cells(app, "#models-table", 2) == ["v2"]
        assert _cells(app, "#model-versions", 1) == ["production", "-"]
        assert "production (none) → v2" in text_of(app, "#history-text")

        # v1 fails the gates; promoting offers force, explicitly, and cancel changes nothing
        versions = screen.query_one("#model-versions", DataTable)
        versions.focus()
        await pilot.press("down")
        await _settle(app, pilot)
        assert "FAIL" in text_of(app, "#gate-text")
        await pilot.press("p")
        await _settle(app, pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "refuse" in text_of(app, "#confirm-body") and "recorded" in text_of(app, "#confirm-body")
        assert not app.screen.query("#confirm-promote")
        await pilot.press("escape")
        await pilot.pause()
        assert workspace.registry.model_version("penguins@production").version == 2
        await pilot.press("p")
        await _settle(app, pilot)
        await pilot.click("#confirm-force")
        await _settle(app, pilot)
        assert workspace.registry.model_version("penguins@production").version == 1
        assert "forced past the gates" in text_of(app, "#history-text")

        # roll back (with confirmation) to v2
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "back from v1 to v2" in text_of(app, "#confirm-body")
        await pilot.click("#confirm-rollback")
        await _settle(app, pilot)
        assert workspace.registry.model_version("penguins@production").version == 2
        assert _cells(app, "#models-table", 2) == ["v2"]
        assert "by rollback" in text_of(app, "#history-text")


async def test_w_writes_the_model_card(workspace: Workspace, sample_data: Path) -> None:
    workspace.data.ingest(sample_data / "penguins.csv", name="penguins", target="species")
    run = workspace.training.train("penguins", "logistic")
    workspace.registry.register(run["run_id"], "penguins")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await _settle(app, pilot)
        await pilot.press("w")
        await _settle(app, pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
    (card,) = (workspace.home / "reports").glob("*.html")
    html = card.read_text()
    assert "penguins@1" in html and "<svg" in html


async def test_i_explains_the_last_logged_predictions(workspace: Workspace, sample_data: Path) -> None:
    import pandas as pd

    from mlcycle_tui.predictions.log import prediction_rows_from_frame
    from mlcycle_tui.tui.dialogs.text import TextDialog

    workspace.data.ingest(sample_data / "penguins.csv", "penguins", target="species")
    run = workspace.training.train("penguins", "rf", params=["n_estimators=10"])["run_id"]
    workspace.registry.register(run, "penguins")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await _settle(app, pilot)
        await pilot.press("i")  # nothing logged yet: it says how to get predictions
        await _settle(app, pilot)
        assert not isinstance(app.screen, TextDialog)
        assert any("no predictions of penguins are logged yet" in str(n.message) for n in app._notifications)
        rows = pd.read_csv(sample_data / "penguins.csv").drop(columns=["species"]).head(3)
        workspace.predictions.log(prediction_rows_from_frame("penguins", 1, rows, ["Adelie"] * 3))
        await pilot.press("i")
        await _settle(app, pilot)
        assert isinstance(app.screen, TextDialog)
        body = text_of(app, "#text-body")
        assert "penguins@1: exact (TreeSHAP) contributions to P(predicted class)" in body
        assert body.count("row ") == 3 and "from base" in body and "bill_length_mm" in body

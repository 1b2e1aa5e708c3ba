"""The Experiments screen evaluates a run per slice and per group, with its importances (X), as bar charts."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Select

from mlcycle_tui.tui.dialogs.groups import GroupsDialog
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, make_app, text_of


async def test_slices_fairness_and_importances_from_the_dialog(workspace: Workspace, sample_data: Path) -> None:
    workspace.data.ingest(sample_data / "penguins.csv", name="penguins", target="species")
    workspace.training.train("penguins", "logistic")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        for _ in range(2):
            await app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.press("X")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, GroupsDialog)
        await pilot.click("#groups-ok")  # nothing chosen: refused inside the dialog
        await pilot.pause()
        assert "choose a slice column" in text_of(app, "#groups-error")
        dialog.query_one("#groups-slice", Select).value = "island"
        dialog.query_one("#groups-sensitive", Select).value = "sex"
        dialog.query_one("#groups-positive").value = "Adelie"
        await pilot.pause()
        dialog.submit()  # what the Evaluate button does (a click can land on the error line as it appears)
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        text = text_of(app, "#groups-text")
    assert "What it relies on: the drop of f1" in text
    assert "f1 per slice of island" in text and "Biscoe" in text and "█" in text
    assert "selection_rate per group (positive: Adelie)" in text and "gaps (max - min)" in text

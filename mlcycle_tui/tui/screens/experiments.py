"""The Experiments stage screen (a placeholder until the Experiments stage is built).

Why this exists: the stage is reachable by key and palette from day one; its
body says honestly what is coming and what to do today. Replace the base class
with `StageScreen` and write `compose_body` when the stage lands.
"""

from __future__ import annotations

from mlcycle_tui.tui.screens.placeholder import PlaceholderScreen


class ExperimentsScreen(PlaceholderScreen):
    STAGE_ID = "experiments"
    STAGE_KEY = "e"
    STAGE_TITLE = "Experiments"
    STAGE_SUMMARY = "Train models and track runs: params, metrics, artifacts"
    COMING = (
        "Training arrives with the Experiments stage: pick a model from the catalog, train it on a "
        "split, compare runs side by side."
    )
    TODAY = "import and check data on the Data screen (d)"

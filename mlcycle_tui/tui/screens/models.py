"""The Models stage screen (a placeholder until the Models stage is built).

Why this exists: the stage is reachable by key and palette from day one; its
body says honestly what is coming and what to do today. Replace the base class
with `StageScreen` and write `compose_body` when the stage lands.
"""

from __future__ import annotations

from mlcycle_tui.tui.screens.placeholder import PlaceholderScreen


class ModelsScreen(PlaceholderScreen):
    STAGE_ID = "models"
    STAGE_KEY = "m"
    STAGE_TITLE = "Models"
    STAGE_SUMMARY = "The model registry: versions, aliases, promotion"
    COMING = (
        "The registry arrives with the Models stage: register a run as a model version, move the "
        "production alias, compare challenger and champion."
    )
    TODAY = "import, validate and split data on the Data screen (d)"

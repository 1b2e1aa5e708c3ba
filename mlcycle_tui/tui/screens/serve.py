"""The Serve stage screen (a placeholder until the Serve stage is built).

Why this exists: the stage is reachable by key and palette from day one; its
body says honestly what is coming and what to do today. Replace the base class
with `StageScreen` and write `compose_body` when the stage lands.
"""

from __future__ import annotations

from mlcycle_tui.tui.screens.placeholder import PlaceholderScreen


class ServeScreen(PlaceholderScreen):
    STAGE_ID = "serve"
    STAGE_KEY = "s"
    STAGE_TITLE = "Serve"
    STAGE_SUMMARY = "Run the prediction server and watch its traffic"
    COMING = (
        "Serving arrives with the Serve stage: start the local prediction server for the production"
        " model and see requests as they come."
    )
    TODAY = "import, validate and split data on the Data screen (d)"

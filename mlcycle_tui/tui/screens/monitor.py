"""The Monitor stage screen (a placeholder until the Monitor stage is built).

Why this exists: the stage is reachable by key and palette from day one; its
body says honestly what is coming and what to do today. Replace the base class
with `StageScreen` and write `compose_body` when the stage lands.
"""

from __future__ import annotations

from mlcycle_tui.tui.screens.placeholder import PlaceholderScreen


class MonitorScreen(PlaceholderScreen):
    STAGE_ID = "monitor"
    STAGE_KEY = "o"
    STAGE_TITLE = "Monitor"
    STAGE_SUMMARY = "Drift checks, prediction logs and feedback"
    COMING = (
        "Monitoring arrives with the Monitor stage: drift reports per column against the training "
        "data, prediction logs and feedback."
    )
    TODAY = (
        "compare a new dataset version with the previous one: import it on the Data screen (d) and "
        "validate it (v)"
    )

"""The Jobs stage screen (a placeholder until the Jobs stage is built).

Why this exists: the stage is reachable by key and palette from day one; its
body says honestly what is coming and what to do today. Replace the base class
with `StageScreen` and write `compose_body` when the stage lands.
"""

from __future__ import annotations

from mlcycle_tui.tui.screens.placeholder import PlaceholderScreen


class JobsScreen(PlaceholderScreen):
    STAGE_ID = "jobs"
    STAGE_KEY = "j"
    STAGE_TITLE = "Jobs"
    STAGE_SUMMARY = "The retraining queue: approve, cancel, follow"
    COMING = (
        "The job queue arrives with the Jobs stage: retraining jobs queued by drift checks, with "
        "approval and progress."
    )
    TODAY = "import and check data on the Data screen (d)"

"""The registry of stage screens: the one place a new stage is added.

To add a stage: write `screens/<stage>.py` with a `StageScreen` subclass (set
`STAGE_ID`, `STAGE_KEY`, `STAGE_TITLE`, `STAGE_SUMMARY`, `HELP` and
`compose_body`) and add it to `STAGES` below. The app turns each entry into a
mode, a key binding with id `goto.<STAGE_ID>` (remappable), a stage-bar item
and a command palette entry. Order here is the order on screen.
"""

from __future__ import annotations

from mlcycle_tui.tui.screens.base import StageScreen
from mlcycle_tui.tui.screens.dashboard import DashboardScreen
from mlcycle_tui.tui.screens.data import DataScreen
from mlcycle_tui.tui.screens.experiments import ExperimentsScreen
from mlcycle_tui.tui.screens.jobs import JobsScreen
from mlcycle_tui.tui.screens.models import ModelsScreen
from mlcycle_tui.tui.screens.monitor import MonitorScreen
from mlcycle_tui.tui.screens.schedules import SchedulesScreen
from mlcycle_tui.tui.screens.serve import ServeScreen

STAGES: list[type[StageScreen]] = [
    DashboardScreen,
    DataScreen,
    ExperimentsScreen,
    ModelsScreen,
    ServeScreen,
    MonitorScreen,
    JobsScreen,
    SchedulesScreen,
]

__all__ = ["STAGES", "StageScreen"]

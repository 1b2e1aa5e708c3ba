"""Snapshot tests of the empty Schedules screen at 80x24 and 160x50: the empty state names the keys and
the CLI commands that create each kind of schedule.

The app is made without the scheduler at launch (its state shows in the
status line and would depend on thread timing). Update with
`pytest tests/tui/test_snapshots_schedules.py --snapshot-update` after an
intended change, and look at them.
"""

from __future__ import annotations

import pytest

from mlcycle_tui.workspace import Workspace

from .ops_helpers import make_ops_app

SIZES = [(80, 24), (160, 50)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_empty_schedules_screen(snap_compare, workspace: Workspace, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def open_screen(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("k")
        for _ in range(3):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

    assert snap_compare(make_ops_app(workspace), run_before=open_screen, terminal_size=size)

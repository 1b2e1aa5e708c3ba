"""Snapshots of the Data, Experiments and Models screens on an empty workspace at 160x50.

Together with the other snapshot files, every screen is covered at 80x24 and
160x50. Update with `pytest tests/tui/test_snapshots_wide.py --snapshot-update`
after an intended change, and look at the result.
"""

from __future__ import annotations

import pytest

from mlcycle_tui.workspace import Workspace

from .ops_helpers import make_ops_app


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.mark.parametrize("key", ["d", "e", "m"], ids=["data", "experiments", "models"])
def test_empty_screen_wide(snap_compare, workspace: Workspace, key: str) -> None:  # type: ignore[no-untyped-def]
    async def open_screen(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press(key)
        await _settle(pilot)

    assert snap_compare(make_ops_app(workspace), run_before=open_screen, terminal_size=(160, 50))

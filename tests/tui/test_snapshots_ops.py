"""Snapshot tests of the operations screens on an empty workspace: Serve, Monitor, Jobs and the Dashboard,
at 80x24 and 160x50.

The app is made without the scheduler at launch (its state shows on the
Monitor screen and would depend on thread timing). Update with
`pytest tests/tui/test_snapshots_ops.py --snapshot-update` after an intended
change, and look at them.
"""

from __future__ import annotations

import pytest

from mlcycle_tui.workspace import Workspace

from .ops_helpers import make_ops_app

SIZES = [(80, 24), (160, 50)]


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("key", ["h", "s", "o", "j"], ids=["dashboard", "serve", "monitor", "jobs"])
def test_empty_ops_screen(snap_compare, workspace: Workspace, key: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    async def open_screen(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press(key)
        await _settle(pilot)

    assert snap_compare(make_ops_app(workspace), run_before=open_screen, terminal_size=size)

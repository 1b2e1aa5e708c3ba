"""Snapshot tests: the empty Dashboard and the Data screen with penguins, at 80x24 and 120x40.

The workspace label is fixed and times are shown relative ("just now"), so
the pictures do not depend on where or when the tests run. Update them with
`pytest tests/tui --snapshot-update` after an intended change, and look at them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcycle_tui.workspace import Workspace

from .helpers import make_app

SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_empty_dashboard(snap_compare, workspace: Workspace, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(workspace), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_data_screen_with_penguins(  # type: ignore[no-untyped-def]
    snap_compare, workspace: Workspace, sample_data: Path, size: tuple[int, int]
) -> None:
    workspace.data.ingest(sample_data / "penguins.csv", "penguins", target="species")
    assert snap_compare(make_app(workspace), press=["d"], terminal_size=size)


def test_empty_data_screen(snap_compare, workspace: Workspace) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(workspace), press=["d"], terminal_size=(80, 24))

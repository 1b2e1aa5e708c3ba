"""Fixtures shared by every test folder: a fresh workspace and the sample data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlcycle_tui.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """An empty workspace in a temporary folder, closed after the test."""
    ws = Workspace.open(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture
def sample_data() -> Path:
    """The folder of bundled sample data sets (penguins.csv, bikeshare.csv, ...)."""
    return REPO / "sample_data"

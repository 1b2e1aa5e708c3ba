"""Fixtures of the TUI tests, shared by every module here so that each is built once per session:
`trained` (penguins@1 in production, `ops_helpers.py`) and `demo`, a copy of a small workspace that has
been around the cycle once (`demo_data.py`)."""

from __future__ import annotations

from .demo_data import demo, demo_build
from .ops_helpers import trained, trained_home

__all__ = ["demo", "demo_build", "trained", "trained_home"]

"""Reusable widgets of the TUI (stage bar, column chart, panel texts)."""

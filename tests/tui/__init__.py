"""Tests of the terminal UI: Pilot-driven behaviour and SVG snapshots."""

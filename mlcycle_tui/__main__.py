"""`python -m mlcycle_tui` is the same as the `mlcycle` command."""

from mlcycle_tui.cli import run

run()

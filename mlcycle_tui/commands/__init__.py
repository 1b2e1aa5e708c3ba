"""Subcommands of `mlcycle`, one module per stage; each has `register(sub, common)`."""

from mlcycle_tui.commands import data, general, runs, tui

COMMAND_MODULES = [general, data, runs, tui]

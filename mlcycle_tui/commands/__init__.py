"""Subcommands of `mlcycle`, one module per stage; each has `register(sub, common)`."""

from mlcycle_tui.commands import data, general, tui

COMMAND_MODULES = [general, data, tui]

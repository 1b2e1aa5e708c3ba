"""Subcommands of `mlcycle`, one module per stage; each has `register(sub, common)`."""

from mlcycle_tui.commands import data, deploy, general, models, runs, train, tui

COMMAND_MODULES = [general, data, train, runs, models, deploy, tui]

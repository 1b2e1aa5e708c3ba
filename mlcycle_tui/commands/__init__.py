"""Subcommands of `mlcycle`, one module per stage; each has `register(sub, common)`."""

from mlcycle_tui.commands import (
    daemon,
    data,
    demo,
    deploy,
    general,
    importing,
    models,
    monitor,
    report,
    runs,
    scoring,
    serve,
    train,
    tui,
)

COMMAND_MODULES = [general, demo, data, train, runs, models, monitor, report, importing, deploy, scoring,
                   serve, daemon, tui]

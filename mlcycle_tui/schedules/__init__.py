"""Schedules: periodic work of every kind (drift checks, sources, scoring) in one place."""

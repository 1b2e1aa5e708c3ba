"""The command line's edges: JSON errors, usage errors that point at the right help, help for every argument."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from mlcycle_tui.cli import build_parser


def mlcycle(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), *args],
                          capture_output=True, text=True, timeout=120)


def test_json_errors_are_one_document_on_stdout(tmp_path):
    r = mlcycle(tmp_path / "ws", "data", "show", "nope", "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout) == {"error": {"code": "not_found", "message": json.loads(r.stdout)["error"]["message"]}}
    assert "no dataset 'nope'" in json.loads(r.stdout)["error"]["message"]
    assert r.stderr.startswith("mlcycle: error: no dataset 'nope'")
    usage = mlcycle(tmp_path / "ws", "train", "x", "--bogus", "--json")
    assert usage.returncode == 2
    assert json.loads(usage.stdout)["error"]["code"] == "usage"


def test_an_unknown_option_points_to_the_subcommand_help(tmp_path):
    r = mlcycle(tmp_path / "ws", "models", "promote", "m", "1", "--bogus")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1] == (
        "mlcycle: error: unrecognized arguments: --bogus (see `mlcycle models promote --help`)")


def test_every_argument_has_help_and_states_its_default():
    missing, silent = [], []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*path, name])
            elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
                where = f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
                if not action.help:
                    missing.append(where)
                elif action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
                    text = formatter._expand_help(action) if "%(" in formatter._get_help_string(action) \
                        else formatter._get_help_string(action)
                    if "default" not in text.lower() and f"({action.default})" not in text:
                        silent.append(where)

    walk(build_parser(), ["mlcycle"])
    assert missing == [] and silent == []
    text = subprocess.run([sys.executable, "-m", "mlcycle_tui", "train", "--help"], capture_output=True,
                          text=True, timeout=60).stdout
    assert "(default: 42)" in " ".join(text.split())  # --seed
    assert "(default: rf)" in " ".join(text.split())  # --model


def test_prose_is_not_a_one_by_one_dataset(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("These are my notes about the experiment.\nWe should try more trees next time!\n")
    r = mlcycle(tmp_path / "ws", "data", "ingest", str(notes), "--name", "notes")
    assert r.returncode == 2
    assert "does not look like CSV (its first line reads like a sentence" in r.stderr
    assert "Traceback" not in r.stderr
    listing = mlcycle(tmp_path / "ws", "--json", "data", "list")
    assert json.loads(listing.stdout) == []  # nothing was created
    # a real one-column table still ingests
    names = tmp_path / "names.csv"
    names.write_text("first name\nalice\nbob\n")
    assert mlcycle(tmp_path / "ws", "data", "ingest", str(names), "--name", "names").returncode == 0


def test_the_cli_offers_exactly_the_drift_methods_the_core_has():
    from mlcycle_tui.commands.base import DRIFT_METHODS  # a literal: `mlcycle --help` must not import numpy
    from mlcycle_tui.monitoring import drift

    assert tuple(drift.METHODS) == DRIFT_METHODS

"""The `mlcycle` command line: argument parsing, output, exit codes.

Why this exists: scripts and CI drive mlcycle through this front door. It
parses arguments, calls the Workspace and prints the result (a table for
people, exactly one JSON document with `--json`, also for errors:
`{"error": {"code", "message"}}`). Exit status: 0 done, 1 the operation or a
check failed, 2 bad usage or bad input. Errors are one line on stderr;
`--debug` shows the traceback. Imports stay lazy so `--help` is fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from mlcycle_tui import __version__
from mlcycle_tui.commands import COMMAND_MODULES
from mlcycle_tui.commands.base import CliContext, CliExit


class _Formatter(argparse.HelpFormatter):
    """Help that states every option's default (unless its text already does)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        said = "default" in text.lower() or f"({default})" in text
        if (action.option_strings and default not in (None, False, [], argparse.SUPPRESS) and not said
                and not isinstance(action, argparse._VersionAction)):
            text = f"{text} (default: %(default)s)" if text else "default: %(default)s"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and a one-line hint naming the (sub)command's help on bad usage;
    with --json the error is also one JSON document on stdout."""

    json_errors = False
    deepest: _Parser | None = None  # the last (sub)command parser that parsed: where a usage error belongs

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def,override]
        _Parser.deepest = self
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"mlcycle: error: {message} (see `{self.prog} --help`)\n")
        if _Parser.json_errors:
            sys.stdout.write(json.dumps({"error": {"code": "usage", "message": f"{message} (see `{self.prog} "
                                                                                f"--help`)"}}) + "\n")
            sys.stdout.flush()
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workspace", "-w", metavar="DIR", default=argparse.SUPPRESS,
        help="workspace folder (default: $MLCYCLE_HOME, else ./.mlcycle)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS,
        help="print exactly one JSON document on stdout",
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show tracebacks on errors",
    )
    parser = _Parser(
        prog="mlcycle",
        description="The machine-learning lifecycle in one terminal app. "
        "Run without a command to open the terminal UI.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"mlcycle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMAND_MODULES:
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else list(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:  # an unknown option belongs to the subcommand it was given to: point at that one's help
        (_Parser.deepest or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    ctx = CliContext(
        workspace=getattr(args, "workspace", None),
        json=getattr(args, "json", False),
        debug=getattr(args, "debug", False),
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        from mlcycle_tui.commands.tui import run_tui

        handler = run_tui
    try:
        return int(handler(args, ctx) or 0)
    except CliExit as exc:
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("mlcycle: interrupted\n")
        return 130
    except Exception as exc:
        return ctx.fail(exc)


def run() -> None:
    """The `mlcycle` program: `main()`, then exit without the interpreter's teardown.

    Freeing the modules of scikit-learn, SciPy and pandas one by one takes a
    quarter of a second after the work is done. When only the main thread is
    left, exit handlers run, output is flushed and the process ends at once;
    otherwise (a thread still working) Python exits the usual way.
    """
    code = main()
    exit_now(code)


def exit_now(code: int) -> None:
    import atexit
    import os
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say
            pass
    os._exit(code)


if __name__ == "__main__":
    run()

"""What every subcommand shares: the workspace, output (table or JSON), errors.

Why this exists: `--json` must print exactly one JSON document and nothing
else (an error is `{"error": {"code", "message"}}`), errors must be one clear
line on stderr with the right exit status, and progress
must go to stderr. Doing that in one place keeps every command consistent.
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from mlcycle_tui.common.jsonsafe import json_safe


class CliExit(Exception):
    """Stop with an exit status after output was printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class CliContext:
    workspace: str | None = None
    json: bool = False
    debug: bool = False
    _ws: Any = field(default=None, repr=False)

    def ws(self) -> Any:
        if self._ws is None:
            from mlcycle_tui.workspace import Workspace

            self._ws = Workspace.open(self.workspace)
        return self._ws

    def emit(self, document: Any, human: str | None = None) -> None:
        """Print the result: JSON with --json, else the human text (or pretty JSON)."""
        if self.json:
            sys.stdout.write(json.dumps(json_safe(document), default=str) + "\n")
        elif human is not None:
            sys.stdout.write(human if human.endswith("\n") else human + "\n")
        else:
            sys.stdout.write(json.dumps(json_safe(document), indent=2, default=str) + "\n")
        sys.stdout.flush()

    def info(self, message: str) -> None:
        sys.stderr.write(message + "\n")

    def progress(self, label: str) -> Any:
        """A progress callback drawing a bar on stderr when it is a terminal."""
        tty = sys.stderr.isatty()

        def report(fraction: float, message: str) -> None:
            if not tty:
                return
            width = 30
            filled = int(width * max(0.0, min(1.0, fraction)))
            sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {message:<12}")
            if fraction >= 1.0:
                sys.stderr.write("\n")
            sys.stderr.flush()

        return report

    def fail(self, exc: BaseException) -> int:
        from mlcycle_tui.common.errors import MlcycleError

        if self.debug:
            traceback.print_exception(exc)
        if isinstance(exc, MlcycleError):
            code, message, status = exc.code, exc.message, exc.exit_code
            sys.stderr.write(f"mlcycle: error: {message}\n")
        elif isinstance(exc, OSError):
            code, message, status = "os_error", f"{exc.strerror or exc} ({getattr(exc, 'filename', '')})", 1
            sys.stderr.write(f"mlcycle: error: {message}\n")
        else:
            code, status = "unexpected", 1
            message = (f"{type(exc).__name__}: {exc} "
                       "(run again with --debug for the traceback, and please report it)")
            sys.stderr.write(f"mlcycle: unexpected error: {message}\n")
        if self.json:  # scripts read stdout: one JSON document there too
            sys.stdout.write(json.dumps({"error": {"code": code, "message": message}}) + "\n")
            sys.stdout.flush()
        return status


DRIFT_METHODS = ("auto", "ks", "psi", "wasserstein", "js", "chi2", "evidently")  # monitoring.drift.METHODS


def model_and_current(p: Any) -> None:
    """MODELREF plus what to check it on: --current REF|PATH, or --window DURATION / --last N of the log."""
    p.add_argument("model", metavar="MODELREF", help="NAME (production), NAME@VERSION or NAME@ALIAS")
    p.add_argument("--current", metavar="REF|PATH", help="a dataset reference or a file (default: logged inputs)")
    window = p.add_mutually_exclusive_group()
    window.add_argument("--window", metavar="DURATION", help="logged predictions of the last DURATION (default 24h)")
    window.add_argument("--last", metavar="N", type=int, help="the last N logged predictions")


def drift_method(p: Any) -> None:
    p.add_argument("--method", default="auto", choices=DRIFT_METHODS,
                   help="the drift statistic (auto: by column kind)")


def table(rows: list[dict[str, Any]], columns: list[str], empty: str = "nothing yet",
          keep_case: set[str] | None = None) -> str:
    """A plain aligned text table for people; headers in capitals except those in `keep_case` (ids)."""
    if not rows:
        return empty
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    keep = keep_case or set()
    lines = ["  ".join((c if c in keep else c.upper()).ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)

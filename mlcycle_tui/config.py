"""Workspace location, names and references, settings with their defaults.

Why this exists: every front door resolves the workspace the same way
(`--workspace DIR` > `MLCYCLE_HOME` > `./.mlcycle`), checks names the same way
(they are never trusted to build a path) and reads the same settings file
(`config.toml` in the workspace), so the rules live here once.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcycle_tui.common.errors import UserError

ENV_HOME = "MLCYCLE_HOME"
DEFAULT_DIR = ".mlcycle"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The request body limit of the prediction server, in MiB (413 above it; `[server] max_body_mb`
# in config.toml changes it): about what a 2-core machine scores in 10 s at /invocations,
# logging included (a 200-tree random forest, penguins rows as JSON or CSV).
DEFAULT_MAX_BODY_MB = 24

DEFAULTS: dict[str, Any] = {
    "server": {"host": "127.0.0.1", "port": 5005, "max_body_mb": DEFAULT_MAX_BODY_MB, "batching": True},
    "scheduler": {"lease_seconds": 60},
    "policy": {
        "drift_share": 0.5,
        "min_rows": 20,
        "persistence_k": 1,
        "persistence_m": 1,
        "decay_margin": 0.05,
        "promotion": "auto",
        "win_margin": 0.0,
        # each scheduled drift check also estimates performance without labels (monitor estimate);
        # an alert queues retraining like drift and decay do
        "estimate_on_check": True,
    },
    "gates": {"max_regression": 0.01, "min": {}, "max": {}},
    # every run measures permutation importance and partial dependence on its test rows
    "training": {"explain": True},
    # `PRAGMA synchronous` of the workspace database (WAL): "normal" does not flush each commit to
    # the disk (a power cut may lose the last ones, never corrupts the file); "full" flushes each one
    "storage": {"synchronous": "normal"},
    # a CSV above this many MiB (or above a quarter of the free memory) is ingested block by block,
    # in bounded memory; its profile marks what it estimates (see README, "Large files")
    "ingest": {"stream_above_mb": 1024},
}


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The workspace folder: explicit > $MLCYCLE_HOME > ./.mlcycle."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return Path.cwd() / DEFAULT_DIR


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise UserError(
            f"invalid {what} {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit (no '/' and no '..')"
        )
    return name


@dataclass(frozen=True)
class Ref:
    """A parsed `NAME`, `NAME@VERSION` or `NAME@ALIAS` reference."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(text: str, what: str = "reference", allow_alias: bool = False) -> Ref:
    if not isinstance(text, str) or not text:
        raise UserError(f"empty {what}; give NAME or NAME@VERSION")
    name, sep, tail = text.partition("@")
    check_name(name, what)
    if not sep:
        return Ref(name)
    if tail.isdigit() and int(tail) >= 1:
        return Ref(name, version=int(tail))
    if allow_alias and tail:
        check_name(tail, "alias")
        return Ref(name, alias=tail)
    expected = "NAME, NAME@VERSION or NAME@ALIAS" if allow_alias else "NAME or NAME@VERSION"
    raise UserError(f"bad {what} {text!r}: expected {expected} (versions start at 1)")


def load_settings(home: Path) -> dict[str, Any]:
    """Defaults overlaid with `config.toml` from the workspace (if any)."""
    settings = {k: dict(v) for k, v in DEFAULTS.items()}
    path = home / "config.toml"
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} is not valid TOML ({exc}); fix or delete it") from None
        for section, values in data.items():
            if isinstance(values, dict):
                settings.setdefault(section, {}).update(values)
            else:
                settings[section] = values
    return settings


def parse_duration(text: str) -> float:
    """`30s`, `15m`, `1h`, `7d` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(text))
    if not m:
        raise UserError(f"bad duration {text!r}: use a number and a unit, e.g. 30s, 15m, 1h or 7d")
    value = float(m.group(1))
    if value <= 0:
        raise UserError(f"bad duration {text!r}: it must be greater than zero")
    return value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]

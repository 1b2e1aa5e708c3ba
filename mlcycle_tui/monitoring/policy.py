"""The monitoring policy: when drift counts, when it acts, and how a challenger must win.

Why this exists: the drift check and the retraining job both read it, so it
lives below both (the "policy" section of config.toml, defaults in
`config.DEFAULTS`).
"""

from __future__ import annotations

from typing import Any

from mlcycle_tui.common.errors import UserError


def monitoring_policy(settings: dict[str, Any]) -> dict[str, Any]:
    """The monitoring policy: settings with their defaults, checked."""
    from mlcycle_tui.config import DEFAULTS

    pol = {**DEFAULTS["policy"], **settings.get("policy", {})}
    k, m = int(pol["persistence_k"]), int(pol["persistence_m"])
    if not 1 <= k <= m:
        raise UserError(f"policy persistence_k={k} must be between 1 and persistence_m={m}")
    min_rows = int(pol["min_rows"])
    if min_rows < 1:
        raise UserError(f"policy min_rows={min_rows} must be at least 1")
    if pol["promotion"] not in ("auto", "approval"):
        raise UserError(f"policy promotion={pol['promotion']!r} must be 'auto' or 'approval'")
    pol.update(persistence_k=k, persistence_m=m, min_rows=min_rows, drift_share=float(pol["drift_share"]),
               decay_margin=float(pol["decay_margin"]), win_margin=float(pol["win_margin"]))
    return pol

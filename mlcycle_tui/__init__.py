"""mlcycle: the whole machine-learning lifecycle, local-first, in one terminal app.

Only `Workspace` is exported, and lazily, so that `mlcycle --help` does not pay
for pandas, scikit-learn or Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle_tui.common.version import __version__

__all__ = ["Workspace", "__version__"]

if TYPE_CHECKING:
    from mlcycle_tui.workspace import Workspace


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from mlcycle_tui.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'mlcycle_tui' has no attribute {name!r}")

"""mlcycle: the whole machine-learning lifecycle, local-first, in one terminal app.

Only `Workspace` is exported, and lazily, so that `mlcycle --help` does not pay
for pandas, scikit-learn or Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__"]

if TYPE_CHECKING:
    from mlcycle_tui.core.workspace import Workspace


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from mlcycle_tui.core.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'mlcycle_tui' has no attribute {name!r}")

"""Regenerate the README's screenshots: one SVG per screen of the real app, into assets/.

    .venv/bin/python scripts/screenshots.py [--workspace DIR] [--size 120x36]

Without --workspace it builds a fresh demo workspace (`mlcycle demo --no-tui`)
in a temporary folder first, so every screen has real content.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"


async def shoot(home: Path, size: tuple[int, int]) -> list[Path]:
    from mlcycle_tui.tui.app import MlcycleApp
    from mlcycle_tui.tui.screens import STAGES
    from mlcycle_tui.workspace import Workspace

    ws = Workspace.open(home)
    app = MlcycleApp(ws, workspace_label="mlcycle-demo")
    written = []
    async with app.run_test(size=size) as pilot:
        for stage in STAGES:
            await pilot.press(stage.STAGE_KEY)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause(0.5)
            await app.workers.wait_for_complete()
            name = f"screen-{stage.STAGE_ID}.svg"
            app.save_screenshot(name, str(ASSETS))
            written.append(ASSETS / name)
    ws.close()
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path)
    ap.add_argument("--size", default="120x36")
    args = ap.parse_args()
    cols, rows = (int(x) for x in args.size.split("x"))
    ASSETS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = args.workspace
        if home is None:
            home = Path(tmp) / "mlcycle-demo"
            subprocess.run([sys.executable, "-m", "mlcycle_tui", "--workspace", str(home), "demo", "--no-tui"],
                           check=True)
        for path in asyncio.run(shoot(home, (cols, rows))):
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

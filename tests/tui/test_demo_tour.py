"""The TUI on a demo workspace: every screen reachable from the Dashboard shows real content."""

from __future__ import annotations

import re
from html import unescape

import pytest

from mlcycle_tui.demo import Demo
from mlcycle_tui.tui.app import MlcycleApp
from mlcycle_tui.workspace import Workspace

# what each screen must show once the demo has run (words from its real content)
EXPECTED = {
    "h": ["weather"],
    "d": ["weather", "penguins", "bikeshare"],
    "e": ["weather", "rf"],
    "m": ["weather", "production"],
    "s": ["weather"],
    "o": ["weather"],
    "j": ["weather"],
    "k": ["mlcycle data source add"],  # the demo removes its drift schedule at the end: the empty state
}


def _screen_text(app: MlcycleApp) -> str:
    svg = app.export_screenshot()
    return unescape(re.sub(r"<[^>]+>", " ", svg)).replace("\xa0", " ")


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("tour") / "demo"
    Demo(home).run()
    return home


@pytest.mark.slow
async def test_every_screen_has_real_content(demo_home):
    ws = Workspace.open(demo_home)
    app = MlcycleApp(ws, workspace_label="demo")
    async with app.run_test(size=(160, 50)) as pilot:
        for key, words in EXPECTED.items():
            await pilot.press(key)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause(0.3)
            text = _screen_text(app)
            missing = [w for w in words if w not in text]
            assert not missing, f"screen {key!r} does not show {missing}"
            assert "Traceback" not in text
    ws.close()

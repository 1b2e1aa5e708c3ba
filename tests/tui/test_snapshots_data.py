"""Snapshots of every screen *with data* at 80x24 and 160x50, and of the dialogs at 80x24.

The workspace is the `demo` fixture (`demo_data.py`): penguins, three runs, three model versions with
penguins@3 in production after a retraining job, 40 logged predictions with feedback, a drift report,
a drift check every hour and a paused one. Its ids, library versions and run durations are pinned when
it is built and the screens' clock is pinned to the build (`tui.format.PINNED_NOW`), so the pictures are
the same on every machine; the job log's times of day are masked. The app runs without its scheduler.

At 80x24 every key hint, the drift statistic and threshold, the metrics and every dialog label must be
in the picture: look at them after `pytest tests/tui/test_snapshots_data.py --snapshot-update`.
"""

from __future__ import annotations

import re

import pytest

from mlcycle_tui.tui.screens import jobs as jobs_screen
from mlcycle_tui.workspace import Workspace

from .ops_helpers import make_ops_app

SIZES = [(80, 24), (160, 50)]
SCREENS = {"dashboard": "h", "data": "d", "experiments": "e", "models": "m", "serve": "s", "monitor": "o",
           "jobs": "j", "schedules": "k"}
DIALOGS = {
    "ingest": ["d", "i"],
    "split": ["d", "t"],
    "source": ["d", "a"],
    "train": ["e", "t"],
    "register": ["e", "g"],
    "compare": ["e", "space", "space", "c"],
    "rollback": ["m", "b"],  # the promotion's confirmation is the same dialog (its gates: the Models snapshot)
    "schedule": ["o", "n"],
    "scoring": ["k", "n"],
    "remove": ["k", "x"],
    "help": ["o", "question_mark"],
    "event": ["h", "down", "down", "enter"],
}
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\S*", re.MULTILINE)


@pytest.fixture(autouse=True)
def _masked_job_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The job log's lines start with the time of day they were written: masked."""
    monkeypatch.setattr(jobs_screen, "short_log", lambda log: _ISO_TIME.sub("hh:mm:ss", log))


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def _keys(keys: list[str]):  # type: ignore[no-untyped-def]
    async def press(pilot) -> None:  # type: ignore[no-untyped-def]
        for key in keys:
            await pilot.press(key)
            await _settle(pilot)

    return press


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_with_data(snap_compare, demo: Workspace, screen: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_ops_app(demo), run_before=_keys([SCREENS[screen]]), terminal_size=size)


SLOW = {"compare"}  # marks two runs and compares them: over 5 s on a loaded machine


@pytest.mark.parametrize("dialog", [pytest.param(d, marks=[pytest.mark.slow] if d in SLOW else []) for d in DIALOGS])
def test_dialog_at_80x24(snap_compare, demo: Workspace, dialog: str) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_ops_app(demo), run_before=_keys(DIALOGS[dialog]), terminal_size=(80, 24))

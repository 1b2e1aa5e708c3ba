"""The app shell: start on an empty workspace, stage keys, help, palette, keymap."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcycle_tui.tui.dialogs.help import HelpDialog
from mlcycle_tui.tui.screens import STAGES
from mlcycle_tui.tui.screens.placeholder import PlaceholderScreen
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, make_app, text_of


async def test_starts_on_the_dashboard_with_an_empty_state(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.current_mode == "dashboard"
        assert app.screen.query_one("#dashboard-empty").display
        assert "press d for the Data screen, then i to import" in text_of(app, "#dashboard-empty")
        assert "0" in text_of(app, "#tile-datasets")
        assert not app.screen.query_one("#events").display


async def test_every_stage_is_reachable_by_its_key(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        for stage in [*STAGES[1:], STAGES[0]]:
            await pilot.press(stage.STAGE_KEY)
            await pilot.pause()
            assert app.current_mode == stage.STAGE_ID
            assert isinstance(app.screen, stage)


async def test_placeholders_say_what_is_coming_and_what_to_do_today(workspace: Workspace) -> None:
    app = make_app(workspace)
    placeholders = [s for s in STAGES if issubclass(s, PlaceholderScreen)]
    # stages leave this set as they are built; none may go back to being a placeholder
    assert {s.STAGE_ID for s in placeholders} <= {"serve", "monitor", "jobs"}
    async with app.run_test(size=SIZE) as pilot:
        for stage in placeholders:
            await pilot.press(stage.STAGE_KEY)
            await pilot.pause()
            text = text_of(app, "#placeholder")
            assert "not built yet" in text
            assert "Today:" in text and "Data screen (d)" in text


async def test_help_shows_the_keys_of_the_current_screen(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpDialog)
        descriptions = [desc for _key, desc in app.screen.keys]
        assert "Import" in descriptions and "Validate" in descriptions and "Split" in descriptions
        await pilot.press("e")  # stage keys do nothing while a dialog is open
        await pilot.pause()
        assert isinstance(app.screen, HelpDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "data" and not isinstance(app.screen, HelpDialog)


async def test_command_palette_goes_to_a_stage(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Go to Models")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "models"


async def test_command_palette_runs_a_screen_action(workspace: Workspace) -> None:
    from mlcycle_tui.tui.dialogs.ingest import IngestDialog

    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d", "ctrl+p")
        await pilot.pause()
        await pilot.press(*"Data: Import")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, IngestDialog)


@pytest.mark.parametrize("theme", ["textual-light", "textual-dark"])
async def test_theme_switch_keeps_the_app_working(workspace: Workspace, theme: str) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        await pilot.press("d")
        await pilot.pause()
        assert app.theme == theme and app.current_mode == "data"


async def test_stage_keys_can_be_remapped_in_the_workspace_config(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "config.toml").write_text('[tui.keymap]\n"goto.data" = "f2"\n', encoding="utf-8")
    ws = Workspace.open(home)
    app = make_app(ws)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        assert app.current_mode == "data"
        assert "f2 Data" in text_of(app, "#stage-bar")
    ws.close()


async def test_palette_keeps_the_theme_switch(workspace: Workspace) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        names = [command.title for command in app.get_system_commands(app.screen)]
        assert any("theme" in name.lower() for name in names)

"""The form dialog every train/register/split/schedule/source/scoring dialog is built on.

A small dialog made from `FormDialog` in a real Textual app shows what each of
them inherits: a refused field stays in the dialog as one line and nothing
runs; the core call runs in a worker thread (never the UI thread) while its
progress moves the bar and the fields are locked; Escape is refused with a
notification while it runs; a refusal of the core (its message) or any other
error (its type, never a traceback) comes back as one line with the fields
usable again; success dismisses with the result. The converted dialogs are
then checked against a real workspace.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, ProgressBar

from mlcycle_tui.common.errors import UserError
from mlcycle_tui.registry.versions import ModelVersion
from mlcycle_tui.tui.dialogs.form import FormDialog, Invalid
from mlcycle_tui.tui.dialogs.ingest import IngestDialog
from mlcycle_tui.tui.dialogs.register import RegisterDialog
from mlcycle_tui.tui.dialogs.schedule import ScheduleDialog
from mlcycle_tui.tui.dialogs.scoring import ScoringDialog
from mlcycle_tui.tui.dialogs.source import SourceDialog
from mlcycle_tui.tui.dialogs.split import SplitDialog
from mlcycle_tui.tui.dialogs.train import TrainDialog
from mlcycle_tui.workspace import Workspace

from .helpers import SIZE, text_of
from .ops_helpers import wait_until


class Probe(FormDialog[str | None]):
    """Upper-cases a name in a worker; "refused" and "boom" fail, the gate holds the worker."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    PREFIX = "probe"
    OK_LABEL = "Go"
    PROGRESS = True
    FOCUS = "#probe-name"
    BUSY_MESSAGE = "The probe is still running."

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.thread: threading.Thread | None = None

    def compose_fields(self) -> ComposeResult:
        yield Input(id="probe-name")

    def collect(self) -> str:
        name = self.query_one("#probe-name", Input).value.strip()
        if not name:
            raise Invalid("enter a name")
        return name

    def run(self, args: str) -> str:
        self.thread = threading.current_thread()
        self.report_progress(0.5, "halfway [b]there[/b]")  # shown as text, not markup
        if not self.gate.wait(10):
            raise AssertionError("the test never opened the gate")
        if args == "refused":
            raise UserError("no such thing")
        if args == "boom":
            raise ValueError("boom")
        return args.upper()


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.results: list[Any] = []
        self.probe = Probe()

    def on_mount(self) -> None:
        self.push_screen(self.probe, self.results.append)


def _error(app: App[Any], prefix: str) -> str:
    return str(app.screen.query_one(f"#{prefix}-error").render())


async def test_a_refused_field_stays_in_the_dialog_and_nothing_runs() -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#probe-ok")
        await pilot.pause()
        assert app.screen is app.probe and not app.probe.running
        assert app.screen.query_one("#probe-error").display
        assert _error(app, "probe") == "✘ enter a name"
        assert app.probe.thread is None and not app.screen.query_one("#probe-running").display


async def test_the_core_call_runs_in_a_worker_and_escape_waits_for_it() -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one("#probe-name", Input).value = "abc"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.probe.thread is not None
                         and "halfway" in text_of(app, "#probe-status"))
        probe = app.probe
        assert probe.thread is not threading.main_thread()
        assert probe.running and probe.query_one("#probe-running").display
        assert probe.query_one("#probe-progress", ProgressBar).progress == 0.5
        assert text_of(app, "#probe-status") == "halfway [b]there[/b]"
        assert probe.query_one("#probe-name").disabled and probe.query_one("#probe-ok").disabled
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is probe and app.results == []
        assert any(n.message == "The probe is still running." for n in app._notifications)
        probe.gate.set()
        await wait_until(pilot, lambda: app.results == ["ABC"])
        assert app.screen is not probe


async def test_a_refusal_or_a_bug_is_one_line_and_the_fields_come_back() -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        probe = app.probe
        probe.gate.set()
        name = probe.query_one("#probe-name", Input)
        name.value = "refused"
        await pilot.press("enter")
        await wait_until(pilot, lambda: probe.query_one("#probe-error").display)
        assert _error(app, "probe") == "✘ no such thing"  # the core's message
        assert not probe.running and not name.disabled and not probe.query_one("#probe-running").display
        assert app.focused is name

        name.value = "boom"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "boom" in _error(app, "probe"))
        assert _error(app, "probe") == "✘ unexpected error (ValueError): boom"
        assert "Traceback" not in _error(app, "probe")
        assert app.screen is probe and app.results == []

        await pilot.press("escape")  # not running: Escape cancels
        await pilot.pause()
        assert app.results == [None]


def test_the_dialogs_share_the_base() -> None:
    for dialog in (IngestDialog, TrainDialog, RegisterDialog, SplitDialog, ScheduleDialog, SourceDialog,
                   ScoringDialog):
        assert issubclass(dialog, FormDialog), dialog
        assert "compose" not in vars(dialog) and "_submit" not in vars(dialog), dialog
    assert SplitDialog.ASKS_ONLY and TrainDialog.PROGRESS and IngestDialog.PROGRESS


async def test_register_dialog_shows_the_core_refusal_then_registers(trained: Workspace) -> None:
    run_id = trained.runs.search(limit=1)[0]["run_id"]
    results: list[Any] = []

    class RegisterHost(App[None]):
        def on_mount(self) -> None:
            self.push_screen(RegisterDialog(trained, run_id, "bad name!"), results.append)

    app = RegisterHost()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#register-ok")
        await wait_until(pilot, lambda: app.screen.query_one("#register-error").display)
        assert "bad name!" in _error(app, "register") and "Traceback" not in _error(app, "register")
        assert isinstance(app.screen, RegisterDialog) and len(trained.registry.model_versions("penguins")) == 1
        assert app.focused is app.screen.query_one("#register-name")

        app.screen.query_one("#register-name", Input).value = "penguins"
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(results))
        (mv,) = results
        assert isinstance(mv, ModelVersion) and mv.name == "penguins" and mv.version == 2

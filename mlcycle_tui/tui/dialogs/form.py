"""The form dialog: fill in fields, the core does the work off the UI thread, a refusal stays in the dialog.

Why this exists: the ingest, train, register, split, schedule, source and
scoring dialogs all do the same things. They check their fields, run one core call in
a thread worker (never on the UI thread), show a refusal as one line inside
the dialog so the user can fix a field and try again (an MlcycleError's
message, or "unexpected error (Type): ..." but never a traceback), dismiss
with the core's result, and refuse Escape with a notification while the call
runs. That is written once here. A dialog composes its fields
(`compose_fields`), turns them into arguments or refuses them (`collect`,
raising `Invalid`), and makes the call (`run`).

The widgets the base adds are named after the dialog's PREFIX:
`{prefix}-box` (the frame), `{prefix}-error`, `{prefix}-ok` and
`{prefix}-cancel`, and with PROGRESS the row `{prefix}-running` holding
`{prefix}-progress` and `{prefix}-status`, which `report_progress` (the core's
progress callback) moves from the worker thread.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, ProgressBar, Select, Static

from mlcycle_tui.common.errors import MlcycleError

ResultT = TypeVar("ResultT")


class Invalid(Exception):
    """Raised by `collect` for fields that cannot be used; the message is shown in the dialog."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def title_select(select: Select[Any], title: str) -> None:
    """Show `title` on a Select's frame, as an Input shows its `border_title` (call it once mounted:
    the frame belongs to the Select's inner SelectCurrent, not to the Select)."""
    from textual.widgets._select import SelectCurrent

    select.query_one(SelectCurrent).border_title = title


def failure_text(exc: BaseException) -> str:
    """One line for the dialog: the core's message, or the type and text of anything else."""
    if isinstance(exc, MlcycleError):
        return exc.message
    return f"unexpected error ({type(exc).__name__}): {exc}"


class FormDialog(ModalScreen[ResultT]):
    """A dialog of fields whose OK runs one core call; returns its result, or None if cancelled.

    Subclasses set PREFIX (and OK_LABEL, PROGRESS, FOCUS, BUSY_MESSAGE as
    needed), their own Escape binding, and implement `compose_fields`,
    `collect` and `run`. A dialog that only asks (ASKS_ONLY) dismisses with
    what `collect` returns and leaves the work to its caller.
    """

    PREFIX: ClassVar[str] = "form"
    OK_LABEL: ClassVar[str] = "OK"
    PROGRESS: ClassVar[bool] = False
    """Whether the dialog has a progress row that the core's progress callback moves."""
    ASKS_ONLY: ClassVar[bool] = False
    """Dismiss with `collect()`'s arguments at once: the caller makes the core call."""
    FOCUS: ClassVar[str] = "Input"
    """The field focused again after the core refused (the fields were disabled meanwhile)."""
    BUSY_MESSAGE: ClassVar[str] = "Still working; it cannot be stopped halfway."

    running: bool = False

    # -- what a dialog writes ------------------------------------------------
    def compose_fields(self) -> ComposeResult:
        """The title and the fields, inside the dialog's frame."""
        raise NotImplementedError

    def collect(self) -> Any:
        """The arguments of `run` from the fields; raises Invalid(message) for fields that cannot be used."""
        raise NotImplementedError

    def run(self, args: Any) -> Any:
        """The core call, in a worker thread: its result is what the dialog returns."""
        raise NotImplementedError

    # -- layout ----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        prefix = self.PREFIX
        with Vertical(id=f"{prefix}-box", classes="dialog"):
            yield from self.compose_fields()
            error = Static(id=f"{prefix}-error", classes="error")
            error.display = False
            yield error
            if self.PROGRESS:
                with Horizontal(id=f"{prefix}-running", classes="row progress-row") as row:
                    row.display = False
                    yield ProgressBar(total=1.0, show_eta=False, id=f"{prefix}-progress")
                    yield Static("", id=f"{prefix}-status")
            with Horizontal(classes="buttons"):
                yield Button(self.OK_LABEL, id=f"{prefix}-ok", variant="primary")
                yield Button("Cancel", id=f"{prefix}-cancel")

    def show_error(self, message: str) -> None:
        error = self.query_one(f"#{self.PREFIX}-error", Static)
        error.update(Content(f"✘ {message}"))
        error.display = True

    # -- submitting and cancelling ---------------------------------------------
    @on(Input.Submitted)
    def _entered(self) -> None:
        self.submit()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"{self.PREFIX}-ok":
            self.submit()
        elif event.button.id == f"{self.PREFIX}-cancel":
            self.action_cancel()

    def submit(self) -> None:
        """Check the fields, then run the core call in a worker (or hand the arguments back)."""
        if self.running:
            return
        try:
            args = self.collect()
        except Invalid as exc:
            self.show_error(exc.message)
            return
        if self.ASKS_ONLY:
            self.dismiss(args)
            return
        self._set_running(True)
        self._call(args)

    def action_cancel(self) -> None:
        if self.running:
            self.notify(self.BUSY_MESSAGE, severity="warning")
            return
        self.dismiss(None)

    # -- running -----------------------------------------------------------------
    @work(thread=True, exclusive=True, group="form")
    def _call(self, args: Any) -> None:
        try:
            result = self.run(args)
        except Exception as exc:  # a refusal, a bug or a library error: one line, never a traceback
            self.app.call_from_thread(self._failed, failure_text(exc))
        else:
            self.app.call_from_thread(self._done, result)

    def report_progress(self, fraction: float, message: str) -> None:
        """The core's progress callback: safe to call from the worker thread."""
        self.app.call_from_thread(self._progress, fraction, message)

    def _progress(self, fraction: float, message: str) -> None:
        self.query_one(f"#{self.PREFIX}-progress", ProgressBar).update(progress=fraction)
        self.query_one(f"#{self.PREFIX}-status", Static).update(Content(message))

    def _failed(self, message: str) -> None:
        self._set_running(False)
        self.show_error(message)
        self.query_one(self.FOCUS).focus()

    def _done(self, result: Any) -> None:
        self.running = False
        self.dismiss(result)

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.query_one(f"#{self.PREFIX}-error").display = False
        if self.PROGRESS:
            self.query_one(f"#{self.PREFIX}-running").display = running
            if running:
                self._progress(0.0, "starting")
        for widget in self.query(f"Input, Select, #{self.PREFIX}-ok"):
            widget.disabled = running

"""Errors that front doors turn into a clear message and an exit status.

`UserError` means the input was wrong (exit 2, HTTP 4xx); `OperationError`
means the operation could not be done or a check failed (exit 1). Messages are
written for the person at the keyboard: what happened and what to do next.
"""

from __future__ import annotations


class MlcycleError(Exception):
    """Base class for every error mlcycle reports to a user."""

    exit_code = 1
    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class UserError(MlcycleError):
    """The request, file, name or option given was not acceptable (exit 2)."""

    exit_code = 2
    code = "bad_input"


class NotFoundError(UserError):
    """A dataset, run, model or file named by the user does not exist."""

    code = "not_found"


class OperationError(MlcycleError):
    """The operation was valid but failed or a check did not pass (exit 1)."""

    exit_code = 1
    code = "failed"


class IntegrityError(OperationError):
    """Stored data does not match its recorded checksum."""

    code = "integrity"

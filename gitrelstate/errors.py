"""The one error base of gitrelstate, and how errors become exit codes."""

from __future__ import annotations


class RelstateError(Exception):
    """A user-facing error: printed as ``error: MESSAGE`` plus ``hint: HINT``; exit 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotARepoError(RelstateError):
    """Raised when the current folder is not inside a Git work tree."""


class StateFileError(RelstateError):
    """A state file (pointer, manifest, record, config) is malformed or unsupported."""

    # State files arrive through Git from other people: every refusal says what to do.
    DEFAULT_HINT = (
        "state files are written by gitrelstate; restore this one from Git "
        "(git checkout -- FILE) or see who changed it (git log -p -- FILE)"
    )

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint or self.DEFAULT_HINT)


class UnsafePathError(RelstateError):
    """A path would escape the repository."""

    DEFAULT_HINT = (
        "paths in state files are relative, '/'-separated and stay inside the repository; "
        "restore the file from Git (git checkout -- FILE)"
    )

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint or self.DEFAULT_HINT)


class IntegrityError(RelstateError):
    """Content does not hash to the name it is stored under."""


class LockError(RelstateError):
    """Another gitrelstate process holds the repository lock."""


class RemoteError(RelstateError):
    """A remote could not be reached, read or written."""


class CheckoutConflict(RelstateError):
    """Checkout would overwrite local changes whose content is not in the cache."""


class ComparisonTrouble(RelstateError):
    """A comparing command (diff(1) convention) could not compare: exit 2."""

    exit_code = 2

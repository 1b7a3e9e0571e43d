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


class UnsafePathError(RelstateError):
    """A path would escape the repository."""


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

"""Retries and error mapping for every remote request: transient failures are retried
with backoff; what still fails becomes one user-facing error naming the remote.

Every backend and transfer goes through here, so "what counts as transient", "how long
to wait" and "what the user is told" are decided once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from gitrelstate import fsutil, ui
from gitrelstate.errors import RelstateError, RemoteError
from gitrelstate.guard.reads import BoundedReadError
from gitrelstate.remotes.backends.base import Failures
from gitrelstate.remotes.remote import Remote

RETRIES = 3
FIRST_BACKOFF = 0.5
T = TypeVar("T")


def transient(exc: BaseException) -> bool:
    """Worth another try: not a missing object, not a refusal, not our own disk."""
    return not isinstance(
        exc, (FileNotFoundError, PermissionError, RelstateError)
    ) and not fsutil.storage_error(exc)


def _delays() -> Iterator[float]:
    delay = FIRST_BACKOFF
    for _ in range(RETRIES - 1):
        yield delay
        delay *= 4


def retrying(call: Callable[[], T]) -> T:
    """One request, retried with backoff while it fails transiently."""
    for delay in _delays():
        try:
            return call()
        except Exception as exc:
            if not transient(exc):
                raise
            ui.debug(f"retrying in {delay:.1f}s after: {type(exc).__name__}")
            time.sleep(delay)
    return call()


def retrying_batch(hexes: Sequence[str], run: Callable[[Sequence[str]], Failures]) -> Failures:
    """Run a batch of object transfers; retry the transient failures (only while every
    failure is transient: a permanent one means stop); return what still failed."""
    todo = list(hexes)
    failures = run(todo)
    for delay in _delays():
        retry = [h for h, exc in failures if transient(exc)]
        if not retry or len(retry) < len(failures):
            break
        ui.debug(f"retrying {len(retry)} object(s) in {delay:.1f}s")
        time.sleep(delay)
        failures = run(retry)
    return failures


def as_error(
    remote: Remote, action: str, exc: BaseException, *, what: str, missing_hint: str
) -> RelstateError:
    """The error to show for one failed request about ``what``."""
    if isinstance(exc, BoundedReadError) and remote.shown not in exc.message:
        # Raised below the remote layer, which does not know the remote's name.
        return BoundedReadError(
            f"{exc.message} (remote {remote.shown})",
            (exc.hint or "").replace("REMOTE", remote.name),
        )
    if isinstance(exc, RelstateError):
        return exc
    local_trouble = fsutil.storage_error(exc)  # our disk is full, not the remote down
    if local_trouble is not None:
        return local_trouble
    if isinstance(exc, FileNotFoundError):
        return RemoteError(f"{what} is missing on remote {remote.shown}", hint=missing_hint)
    return remote.error(action, exc)


def raise_failures(remote: Remote, action: str, failures: Failures) -> None:
    """Raise one error for a batch's failures (nothing when there are none)."""
    if not failures:
        return
    for hex_, exc in failures:
        if isinstance(exc, (RelstateError, FileNotFoundError)) or fsutil.storage_error(exc):
            raise as_error(
                remote,
                action,
                exc,
                what=f"object {hex_[:16]}…",
                missing_hint="push it from a clone that has it",
            )
    lines = [
        f"{h[:16]}…: {remote.redact(str(e).splitlines()[0]) if str(e) else type(e).__name__}"
        for h, e in failures
    ]
    raise RemoteError(
        f"{len(failures)} object(s) failed to {action} remote {remote.shown}:\n"
        + ui.bullets(lines, 10),
        hint="check that the remote is reachable and run the command again; "
        "objects already transferred are not sent twice",
    )

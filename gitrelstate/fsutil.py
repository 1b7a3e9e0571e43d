"""Atomic file writes and the temp-file naming that makes interrupted runs harmless.

Every temp file gitrelstate creates carries ``TMP_MARKER`` in its name, so a later
run (and the tree walker) recognises the leftovers of a killed process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gitrelstate import faults
from gitrelstate.errors import RelstateError
from gitrelstate.state.paths import RESERVED_PREFIX

TMP_MARKER = RESERVED_PREFIX

STALE_TMP_SECONDS = 3600.0


def tmp_name(final: Path) -> Path:
    """A unique sibling temp path for ``final`` (same folder, so rename is atomic)."""
    return final.with_name(f"{TMP_MARKER}{os.getpid()}-{os.urandom(4).hex()}-{final.name}"[:250])


def is_tmp_name(name: str) -> bool:
    return name.startswith(TMP_MARKER)


@contextlib.contextmanager
def atomic_open(final: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a temp file that replaces ``final`` by rename only if the block succeeds."""
    tmp = tmp_name(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        faults.checkpoint("fsutil.replace")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(final: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``final`` so readers see the old or the new content, never a mix."""
    with atomic_open(final, mode) as f:
        f.write(data)


def write_text_atomic(final: Path, text: str) -> None:
    write_atomic(final, text.encode("utf-8"))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale_tmp(path: Path) -> bool:
    """A temp file whose writer is gone (dead pid) or that is older than an hour."""
    rest = path.name[len(TMP_MARKER) :]
    pid_text = rest.split("-", 1)[0]
    try:
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            return True
        return time.time() - path.lstat().st_mtime > STALE_TMP_SECONDS
    except OSError:
        return False


def remove_stale_tmps(folder: Path) -> int:
    """Delete leftovers of killed processes directly inside ``folder``; return the count."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if is_tmp_name(entry.name) and is_stale_tmp(Path(entry.path)):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


# Errors of the storage itself, not of gitrelstate: each gets a message and a way out.
_STORAGE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
}


def storage_error(exc: BaseException) -> RelstateError | None:
    """A user-facing error for a full disk (or quota, or read-only file system), else None.

    The writers leave nothing half-written when a write fails (temp files are
    removed, renames never happen), so a retry once there is room is safe.
    """
    what = _STORAGE_ERRORS.get(exc.errno or 0) if isinstance(exc, OSError) else None
    if what is None:
        return None
    assert isinstance(exc, OSError)
    where = f" (in {os.path.dirname(os.fspath(exc.filename))})" if exc.filename else ""
    return RelstateError(
        f"{what}{where}; nothing half-written was kept",
        hint="free some space (git relstate gc removes unreferenced cache objects), "
        "then run the command again",
    )


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Within the block, a full disk becomes a user-facing error (see storage_error)."""
    try:
        yield
    except OSError as exc:
        error = storage_error(exc)
        if error is None:
            raise
        raise error from None

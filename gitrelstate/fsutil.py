"""Atomic file writes and the temp-file naming that makes interrupted runs harmless.

Every temp file gitrelstate creates carries ``TMP_MARKER`` in its name, so a later
run (and the tree walker) recognises the leftovers of a killed process.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

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


def _pid_alive(pid: int) -> bool:
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
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
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

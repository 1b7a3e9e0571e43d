"""An inter-process lock so two gitrelstate processes never interleave their writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from gitrelstate.errors import LockError

DEFAULT_WAIT = float(os.environ.get("RELSTATE_LOCK_TIMEOUT", "60"))


@contextlib.contextmanager
def locked(path: Path, *, shared: bool = False, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold an flock on ``path`` (released by the kernel even on kill -9)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    raise LockError(
                        f"another gitrelstate process{holder} is using this repository",
                        hint="wait for it to finish and try again",
                    ) from None
                time.sleep(0.05)
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""

"""Bounded reads: nothing is read from a remote (or a file it names) without a limit.

Whoever can write to a remote, or commit a remote URL that CI will read from, can
make an object that never ends: a symlink to ``/dev/zero``, a FIFO nobody writes
to, a sparse file of a terabyte, a server that streams forever. So every read of
remote content states up front how many bytes it may take, and the limit always
comes from something already validated: the size a pointer or listing declares
(exact), the file count of a folder (listings), the pack format (indexes), the
pack's index (packs). Every backend reads through here:

- a local file must be a regular file (a device or a pipe is refused before the
  first byte, without blocking) and its size must not exceed the limit;
- a stream (fsspec, obstore) is read chunk by chunk and stopped at limit + 1
  bytes, and stopped when it is slower than ``MIN_RATE`` after a grace period,
  so a server that trickles cannot hold a command for ever.

Exceeding a limit is :class:`BoundedReadError`: a user-facing integrity error,
never retried (the same bytes come back), never swallowed as "unavailable".
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from gitrelstate import hashing
from gitrelstate.errors import IntegrityError

CHUNK = 1024 * 1024
# A folder listing's bytes per file at most: a path of 4096 bytes with every byte
# JSON-escaped, the 64-hex id, a size of 20 digits, the flag and the punctuation.
LISTING_LINE_BYTES = 2 * 4096 + 128
LISTING_HEAD_BYTES = 4096
# No listing is larger than this, whatever file count a pointer claims (about two
# million files of ordinary names).
LISTING_MAX_BYTES = 256 * 1024 * 1024
# A transfer slower than this (after the grace period) is stopped: a server that
# sends one byte a minute would otherwise hold the command for ever.
MIN_RATE = 64 * 1024
GRACE_SECONDS = 120.0
_HINT = (
    "the remote holds something other than what the state files describe (damaged or "
    "tampered with): run 'git relstate verify -r REMOTE' to see what, then push the "
    "objects again from a clone that has them"
)


class BoundedReadError(IntegrityError):
    """A remote read that exceeded what was declared: not a regular file, more bytes
    than the limit, or slower than ``MIN_RATE``."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint or _HINT)


def listing_limit(nfiles: int | None) -> int:
    """The most bytes a folder listing of ``nfiles`` files can take (capped)."""
    if nfiles is None or nfiles < 0:
        return LISTING_MAX_BYTES
    return min(LISTING_MAX_BYTES, LISTING_HEAD_BYTES + nfiles * LISTING_LINE_BYTES)


def time_limit(max_bytes: int) -> float:
    """Seconds a read of ``max_bytes`` may take before it counts as stalled."""
    return GRACE_SECONDS + max_bytes / MIN_RATE


def _too_large(what: str, max_bytes: int) -> BoundedReadError:
    return BoundedReadError(
        f"{what} is larger than the {max_bytes} byte(s) it should hold; it was not read"
    )


class Budget:
    """The bytes and time left to one read; :meth:`take` raises once either runs out."""

    def __init__(self, max_bytes: int, what: str) -> None:
        self.max_bytes = max_bytes
        self.what = what
        self.done = 0
        self._started = time.monotonic()
        self._deadline = self._started + time_limit(max_bytes)

    def want(self, chunk: int = CHUNK) -> int:
        """How much to ask for next: up to one byte past the limit, to see it crossed."""
        return max(1, min(chunk, self.max_bytes + 1 - self.done))

    def take(self, n: int) -> None:
        """Account for ``n`` bytes just received."""
        self.done += n
        if self.done > self.max_bytes:
            raise _too_large(self.what, self.max_bytes)
        if time.monotonic() > self._deadline:
            raise BoundedReadError(
                f"{self.what} arrived slower than {MIN_RATE // 1024} KiB/s "
                f"({self.done} byte(s) in {time.monotonic() - self._started:.0f} s); "
                "the transfer was stopped"
            )

    def check_declared(self, size: int | None) -> None:
        """Refuse before reading when the other side already says it is too large."""
        if size is not None and size > self.max_bytes:
            raise _too_large(self.what, self.max_bytes)


def open_regular(path: str | os.PathLike[str], max_bytes: int, what: str) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file of at most ``max_bytes``.

    Symlinks are followed, but what they lead to must be a regular file: a device,
    a FIFO (opened without blocking, so one nobody writes to cannot hang us), a
    socket or a folder is refused before anything is read. A missing file raises
    ``FileNotFoundError`` as usual.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket
            raise BoundedReadError(f"{what} is not a regular file; it was not read") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
            raise BoundedReadError(f"{what} is not a regular file ({kind}); it was not read")
        if info.st_size > max_bytes:
            raise _too_large(what, max_bytes)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def read_stream(src: BinaryIO, budget: Budget, chunk_size: int = CHUNK) -> bytes:
    """All of ``src``, at most ``budget.max_bytes`` of it."""
    parts: list[bytes] = []
    while True:
        chunk = src.read(budget.want(chunk_size))
        if not chunk:
            return b"".join(parts)
        budget.take(len(chunk))
        parts.append(bytes(chunk))


def copy_stream(
    src: BinaryIO | Iterable[bytes], dst: BinaryIO, budget: Budget, chunk_size: int = CHUNK
) -> str:
    """Copy ``src`` (a file or an iterable of chunks) to ``dst`` within ``budget``;
    return the blake3 hex of exactly the bytes written."""
    hasher = hashing.hasher(budget.max_bytes)
    if isinstance(src, Iterable) and not hasattr(src, "read"):
        for chunk in src:
            budget.take(len(chunk))
            hasher.update(chunk)
            dst.write(chunk)
        return str(hasher.hexdigest())
    reader: BinaryIO = src  # type: ignore[assignment]
    while True:
        data = reader.read(budget.want(chunk_size))
        if not data:
            return str(hasher.hexdigest())
        budget.take(len(data))
        hasher.update(data)
        dst.write(data)


def read_file(path: str | os.PathLike[str], max_bytes: int, what: str) -> bytes:
    """A local file's content, when it is a regular file of at most ``max_bytes``."""
    with open_regular(path, max_bytes, what) as f:
        return read_stream(f, Budget(max_bytes, what))


def copy_file(
    path: str | os.PathLike[str], dst: str | os.PathLike[str], max_bytes: int, what: str
) -> str:
    """Copy a local regular file of at most ``max_bytes`` to ``dst`` (created, or
    truncated); return the blake3 hex of the bytes written."""
    with open_regular(path, max_bytes, what) as src, open(Path(dst), "wb") as out:
        return copy_stream(src, out, Budget(max_bytes, what))

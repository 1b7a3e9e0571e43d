"""Content hashing with blake3: streaming, constant memory, multi-threaded when large."""

from __future__ import annotations

import os
from typing import Any, BinaryIO

ALGO = "blake3"
CHUNK = 8 * 1024 * 1024
SMALL_FILE = 1024 * 1024
# Below this size, spinning up blake3's thread pool costs more than it saves.
THREADED_FROM = 4 * 1024 * 1024


def hasher(size_hint: int = 0) -> Any:
    """A blake3 hasher, multi-threaded for inputs of ``THREADED_FROM`` bytes and more."""
    from blake3 import blake3

    if size_hint >= THREADED_FROM:
        return blake3(max_threads=blake3.AUTO)
    return blake3()


def keyed_hex(key: bytes, data: bytes) -> str:
    """A keyed digest (blake3's keyed mode, 32-byte key): equal inputs under another key
    give unrelated digests."""
    from blake3 import blake3

    return str(blake3(data, key=key).hexdigest())


def content_id(hex_digest: str) -> str:
    """The algorithm-prefixed id written into state files."""
    return f"{ALGO}:{hex_digest}"


def hex_of(content_id_: str) -> str:
    return content_id_.split(":", 1)[1]


def hash_bytes(data: bytes | memoryview) -> str:
    if len(data) < THREADED_FROM:
        # The common case of many small files: no per-call import, one call into blake3.
        return str(_blake3()(data).hexdigest())
    h = hasher(len(data))
    h.update(data)
    return str(h.hexdigest())


_BLAKE3: Any = None


def _blake3() -> Any:
    global _BLAKE3
    if _BLAKE3 is None:
        from blake3 import blake3

        _BLAKE3 = blake3
    return _BLAKE3


def hash_stream(f: BinaryIO, size_hint: int = 0) -> tuple[str, int]:
    """Hash an open binary stream in constant memory; return (hex, bytes read)."""
    h = hasher(size_hint)
    buf = bytearray(CHUNK if size_hint >= CHUNK else max(64 * 1024, min(size_hint, CHUNK)))
    view = memoryview(buf)
    total = 0
    while True:
        n = f.readinto(buf)  # type: ignore[attr-defined]
        if not n:
            break
        h.update(view[:n])
        total += n
    return str(h.hexdigest()), total


def hash_file(path: str | os.PathLike[str], size_hint: int | None = None) -> tuple[str, int]:
    """Hash a file's content; return (hex, size)."""
    with open(path, "rb", buffering=0) as f:
        if size_hint is None:
            size_hint = os.fstat(f.fileno()).st_size
        if size_hint <= SMALL_FILE:
            data = f.read()
            # The file may have grown since it was stat'ed; read the rest too.
            rest = f.read()
            if rest:
                data += rest
            return hash_bytes(data), len(data)
        return hash_stream(f, size_hint)


def copy_and_hash(src: BinaryIO, dst: BinaryIO, size_hint: int = 0) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` in constant memory, hashing exactly the bytes written."""
    h = hasher(size_hint)
    buf = bytearray(CHUNK if size_hint >= CHUNK else max(64 * 1024, min(size_hint, CHUNK)))
    view = memoryview(buf)
    total = 0
    while True:
        n = src.readinto(buf)  # type: ignore[attr-defined]
        if not n:
            break
        h.update(view[:n])
        dst.write(view[:n])
        total += n
    return str(h.hexdigest()), total


# The unit of a pipelined copy: the kernel copies one while the previous is hashed.
COPY_CHUNK = 16 * 1024 * 1024


def copy_file_and_hash(src: BinaryIO, dst: BinaryIO, size: int) -> tuple[str, int]:
    """Copy ``size`` bytes of ``src`` into ``dst`` (opened for reading too), hashing the
    bytes *as stored*: each chunk is copied by the kernel (``copy_file_range``: no pass
    through user space, and a reflink or server-side copy where the file system offers
    one) while the previous chunk is read back from ``dst`` and hashed, so the copy and
    the hashing overlap and the source is read once. Falls back to :func:`copy_and_hash`
    where ``copy_file_range`` does not work (other file systems, old kernels)."""
    if size < COPY_CHUNK or not hasattr(os, "copy_file_range"):
        return copy_and_hash(src, dst, size)
    from concurrent.futures import ThreadPoolExecutor

    sfd, dfd = src.fileno(), dst.fileno()

    def copy(offset: int) -> int:
        want = min(COPY_CHUNK, size - offset)
        done = 0
        while done < want:
            n = os.copy_file_range(sfd, dfd, want - done, offset + done, offset + done)
            if n == 0:
                break
            done += n
        return done

    try:
        first = copy(0)
    except OSError:
        src.seek(0)
        dst.seek(0)
        dst.truncate()
        return copy_and_hash(src, dst, size)
    h = hasher(size)
    buf = bytearray(COPY_CHUNK)
    view = memoryview(buf)
    offset, length = 0, first
    with ThreadPoolExecutor(max_workers=1) as pool:
        while length:
            following = pool.submit(copy, offset + length) if offset + length < size else None
            got = os.preadv(dfd, [view[:length]], offset)
            h.update(view[:got])
            offset += got
            length = following.result() if following is not None else 0
    # Bytes the source gained after it was sized are not copied: the caller compares
    # the source's stat before and after, and the total with the size it expected.
    src.seek(offset)
    dst.seek(offset)
    return str(h.hexdigest()), offset

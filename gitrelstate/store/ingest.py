"""Hash files (through the stat cache) and, when asked, store them in the cache.

This is the hashing layer above the object store: it decides what a file's id is,
and copies content into the store verifying that what was stored is what was
hashed, so a file changing under our feet can never produce a mislabelled object.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gitrelstate import hashing, parallel
from gitrelstate.errors import RelstateError
from gitrelstate.store.objects import ObjectStore
from gitrelstate.store.statcache import StatCache

FileItem = tuple[str | Path, os.stat_result]
BATCH = 64
# Files averaging at most this size are hashed in the calling thread.
SERIAL_BYTES_PER_FILE = 64 * 1024


def _changed(path: str | Path, before: os.stat_result) -> RelstateError:
    return RelstateError(
        f"{path} changed while it was being read",
        hint="wait until whatever writes it has finished, then run the command again",
    )


def _same_stat(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino) == (b.st_size, b.st_mtime_ns, b.st_ino)


def _ingest_one(path: str | Path, st: os.stat_result, store: ObjectStore | None) -> str:
    if st.st_size <= hashing.SMALL_FILE:
        # Plain descriptors: for 10^6 files of a few hundred bytes, file objects cost
        # more than the reading. One byte more than expected shows a file that grew.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            data = os.read(fd, st.st_size + 1)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if len(data) != after.st_size or not _same_stat(st, after):
            raise _changed(path, st)
        hex_ = hashing.hash_bytes(data)
        if store is not None:
            store.add_bytes(hex_, data)
        return hex_
    if store is None:
        hex_, size = hashing.hash_file(path, st.st_size)
        if size != st.st_size or not _same_stat(st, os.stat(path)):
            raise _changed(path, st)
        return hex_
    return copy_into_store(path, st, store)


def copy_into_store(path: str | Path, st: os.stat_result, store: ObjectStore) -> str:
    """Copy ``path`` into ``store`` once, hashing the bytes stored; their hex.

    The file is read once (the copy is hashed as it is written); it must keep the stat
    ``st`` from before the copy to after it, or nothing is stored. An object already
    present is not replaced (the copy is dropped).
    """
    tmp = store.tmp_path()
    try:
        with open(path, "rb") as src, open(tmp, "xb+") as dst:
            hex_, size = hashing.copy_file_and_hash(src, dst, st.st_size)
            after = os.fstat(src.fileno())
        if size != st.st_size or after.st_size != size or not _same_stat(st, after):
            raise _changed(path, st)
        if not store.exists(hex_):
            store.install(tmp, hex_)
        return hex_
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def hash_files(
    items: Sequence[FileItem],
    statcache: StatCache,
    store: ObjectStore | None = None,
    *,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    remember: bool = True,
) -> list[str]:
    """Content hex of each file; with ``store``, also make sure each is in the cache.

    A file whose stat matches the stat cache is not read at all (unless its
    object is missing from ``store``). Without ``remember`` the hashes are not added
    to the stat cache (the caller keeps them, as folder snapshots do).
    """
    results: list[str | None] = [None] * len(items)
    todo: list[int] = []
    cached_hexes = statcache.get_many([st for _, st in items])
    for i, cached in enumerate(cached_hexes):
        if cached is not None and (store is None or store.exists(cached)):
            results[i] = cached
        else:
            todo.append(i)
    if progress and len(items) > len(todo):
        progress(len(items) - len(todo))

    def work(batch: Sequence[int]) -> None:
        # Taken before any of these files is read: the stat cache trusts a stat only
        # if the file was not written within the racy window before its content was.
        read_at = time.time_ns()
        for i in batch:
            path, st = items[i]
            hex_ = _ingest_one(path, st, store)
            results[i] = hex_
            if remember:
                statcache.put(st, hex_, read_at_ns=read_at)
        if progress:
            progress(len(batch))

    batches = [todo[k : k + BATCH] for k in range(0, len(todo), BATCH)]
    if jobs is None:
        # Small files are bound by the interpreter, not the disk: threads only contend
        # for the GIL (measured: 20% slower on 2 cores), so they are read in this thread.
        small = sum(items[i][1].st_size for i in todo) <= SERIAL_BYTES_PER_FILE * len(todo)
        jobs = 1 if small else parallel.default_jobs()
    parallel.run_all(batches, work, jobs)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]

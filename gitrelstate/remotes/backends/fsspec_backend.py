"""Any fsspec filesystem (s3fs, gcsfs, memory://, ...): the fallback for every protocol."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from gitrelstate.guard import reads
from gitrelstate.hashing import ALGO
from gitrelstate.remotes.backends.base import (
    Named,
    ThreadedBackend,
    hexes_from_keys,
    object_key,
    shown_name,
)

LIST_THRESHOLD = 256
# Streamed reads ask for this much per ranged request (memory: one chunk per transfer).
STREAM_CHUNK = 4 * 1024 * 1024
# What changes when a file is rewritten, by the names fsspec implementations use.
_STAMP_KEYS = (
    "ETag",
    "etag",
    "md5Hash",
    "generation",
    "LastModified",
    "updated",
    "mtime",
    "created",
)


class FsspecBackend(ThreadedBackend):
    """Object stores write each object in one PUT, which is atomic by nature."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.kind = f"fsspec ({type(fs).__name__})"
        # HTTP servers may ignore a Range header, and fsspec then reads the whole
        # response: there every read streams, chunk by chunk.
        protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
        self._ranged = not {"http", "https"} & set(protocols)

    def _path(self, hex_: str) -> str:
        return f"{self.root}/{object_key(hex_)}"

    def existing(self, hexes: set[str]) -> set[str]:
        if len(hexes) < LIST_THRESHOLD:
            return {h for h in hexes if self.fs.exists(self._path(h))}
        return hexes & self.list_all()

    def list_all(self) -> set[str]:
        try:
            return hexes_from_keys(self.fs.find(f"{self.root}/{ALGO}"))
        except FileNotFoundError:
            return set()

    def put_file(self, path: Path, hex_: str) -> None:
        self.fs.put_file(str(path), self._path(hex_))

    def put_bytes(self, data: bytes, hex_: str) -> None:
        self.fs.pipe_file(self._path(hex_), data)

    def fetch_bytes(self, name: str, max_bytes: int) -> bytes:
        what = shown_name(name)
        if self._ranged and max_bytes > 0:
            # One GET for the first max_bytes + 1 bytes: more than max_bytes means too
            # large, and no more than that is ever asked for. (An empty range is an
            # error on S3 and GCS, hence the stream for an empty object.)
            data = bytes(self.fs.cat_file(f"{self.root}/{name}", start=0, end=max_bytes + 1))
            reads.Budget(max_bytes, what).take(len(data))
            return data
        with self._open(name, max_bytes) as (f, budget):
            return reads.read_stream(f, budget, STREAM_CHUNK)

    def fetch_file(self, name: str, path: Path, max_bytes: int) -> str:
        with self._open(name, max_bytes) as (f, budget), open(path, "wb") as out:
            return reads.copy_stream(f, out, budget, STREAM_CHUNK)

    @contextlib.contextmanager
    def _open(self, name: str, max_bytes: int) -> Iterator[tuple[BinaryIO, reads.Budget]]:
        """``name`` open for bounded reading: its declared size is checked first, then
        it is read in ranged chunks (never one unbounded response)."""
        budget = reads.Budget(max_bytes, shown_name(name))
        with self.fs.open(
            f"{self.root}/{name}", "rb", block_size=STREAM_CHUNK, cache_type="none"
        ) as f:
            budget.check_declared(getattr(f, "size", None))
            yield f, budget

    def delete(self, hex_: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(hex_))

    # -- named files (packs) ----------------------------------------------------------

    def list_named(self, folder: str) -> dict[str, Named]:
        path = f"{self.root}/{folder}"
        # fsspec filesystems cache listings; another clone may have changed the folder.
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(path)
        try:
            found = self.fs.ls(path, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        named: dict[str, Named] = {}
        for info in found:
            if info.get("type") == "directory":
                continue
            size = info.get("size")
            stamp = next((str(info[k]) for k in _STAMP_KEYS if info.get(k) is not None), "")
            leaf = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            named[leaf] = Named(size if isinstance(size, int) else -1, stamp)
        return named

    def put_named(self, name: str, path: Path) -> None:
        self.fs.put_file(str(path), f"{self.root}/{name}")

    def delete_named(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{self.root}/{name}")

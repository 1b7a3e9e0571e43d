"""The local content-addressed object store (the cache).

It stores what the caller names and does no hashing itself: objects live at
``<root>/blake3/ab/cdef...``, are read-only, and appear only by atomic rename
from ``<root>/tmp``, so a reader never sees a partial object.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from gitrelstate import fsutil
from gitrelstate.hashing import ALGO

OBJECT_MODE = 0o444


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / ALGO
        self.tmp_dir = root / "tmp"
        self._shards_made: set[str] = set()

    def path(self, hex_: str) -> Path:
        return self.objects_dir / hex_[:2] / hex_[2:]

    def exists(self, hex_: str) -> bool:
        return os.path.exists(self.objects_dir / hex_[:2] / hex_[2:])

    def tmp_path(self) -> Path:
        """A fresh temp path inside the store (same filesystem as the objects)."""
        if not self.tmp_dir.is_dir():
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return self.tmp_dir / f"{fsutil.TMP_MARKER}{os.getpid()}-{secrets.token_hex(8)}"

    def install(self, tmp: Path, hex_: str) -> None:
        """Move a fully written temp file into place as object ``hex_`` (atomic)."""
        shard = hex_[:2]
        final = self.objects_dir / shard / hex_[2:]
        if shard not in self._shards_made:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._shards_made.add(shard)
        os.chmod(tmp, OBJECT_MODE)
        os.replace(tmp, final)

    def add_bytes(self, hex_: str, data: bytes) -> None:
        """Store ``data`` (already known to hash to ``hex_``) unless present."""
        shard = hex_[:2]
        final = f"{self.objects_dir}/{shard}/{hex_[2:]}"
        if os.path.exists(final):
            return
        if shard not in self._shards_made:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            self._shards_made.add(shard)
        # The hot path of tracking many small files: plain string paths, the
        # read-only mode given at creation (no chmod), one write, one rename.
        tmp = f"{self.tmp_dir}/{fsutil.TMP_MARKER}{os.getpid()}-{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OBJECT_MODE)
        except FileNotFoundError:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OBJECT_MODE)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def read_bytes(self, hex_: str) -> bytes:
        return self.path(hex_).read_bytes()

    def remove(self, hex_: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(hex_).unlink()

    def iter_hexes(self) -> Iterator[str]:
        """Every object id in the store (order unspecified)."""
        if not self.objects_dir.is_dir():
            return
        for shard in os.scandir(self.objects_dir):
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for entry in os.scandir(shard.path):
                if not fsutil.is_tmp_name(entry.name):
                    yield shard.name + entry.name

    def clean_tmp(self) -> int:
        """Remove temp files left by killed processes."""
        return fsutil.remove_stale_tmps(self.tmp_dir)

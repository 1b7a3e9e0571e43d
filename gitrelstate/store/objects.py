"""The local content-addressed object store (the cache).

It stores what the caller names and does no hashing itself.  Objects live as
loose files at ``<root>/blake3/ab/cdef...`` or, when small and written in bulk,
inside pack files (``<root>/packs``, see :mod:`gitrelstate.packs`).  Loose
objects are read-only and appear only by atomic rename from ``<root>/tmp``, so
a reader never sees a partial object.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gitrelstate import faults, fsutil
from gitrelstate.hashing import ALGO
from gitrelstate.store.packs import PACKABLE, PackIndex, PackWriter

OBJECT_MODE = 0o444
# A pack file whose index never appeared (its writer was killed) is garbage
# once it is this old.
ORPHAN_PACK_SECONDS = 3600.0


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / ALGO
        self.tmp_dir = root / "tmp"
        self.packs_dir = root / "packs"
        self._shards_made: set[str] = set()
        self._shards: set[str] | None = None
        self._packs: list[PackIndex] | None = None
        self._writer: PackWriter | None = None

    # -- lookup -----------------------------------------------------------------

    def path(self, hex_: str) -> Path:
        """Where the loose object would be (packed objects have no path of their own)."""
        return self.objects_dir / hex_[:2] / hex_[2:]

    @property
    def packs(self) -> list[PackIndex]:
        if self._packs is None:
            try:
                names = sorted(
                    n
                    for n in os.listdir(self.packs_dir)
                    if n.startswith("pack-") and n.endswith(".idx")  # not temp files
                )
            except FileNotFoundError:
                names = []
            self._packs = [PackIndex(self.packs_dir / n) for n in names]
        return self._packs

    def _pack_of(self, hex_: str) -> PackIndex | None:
        if not self.packs:
            return None
        digest = bytes.fromhex(hex_)
        for pack in self.packs:
            if pack.find(digest) is not None:
                return pack
        return None

    def is_loose(self, hex_: str) -> bool:
        if self._shards is None:
            # Which shard folders exist, listed once: in a cache that keeps its small
            # objects in packs most are absent, and a lookup there needs no system call.
            try:
                self._shards = set(os.listdir(self.objects_dir))
            except FileNotFoundError:
                self._shards = set()
        if hex_[:2] not in self._shards and hex_[:2] not in self._shards_made:
            return False
        return os.path.exists(f"{self.objects_dir}/{hex_[:2]}/{hex_[2:]}")

    def exists(self, hex_: str) -> bool:
        return self._pack_of(hex_) is not None or self.is_loose(hex_)

    def read_bytes(self, hex_: str) -> bytes:
        """The object's content; FileNotFoundError when absent."""
        pack = self._pack_of(hex_)
        if pack is not None:
            return pack.read(bytes.fromhex(hex_))
        return self.path(hex_).read_bytes()

    def open(self, hex_: str) -> BinaryIO:
        """A binary stream over the object (a file for loose objects)."""
        pack = self._pack_of(hex_)
        if pack is not None:
            return io.BytesIO(pack.read(bytes.fromhex(hex_)))
        return open(self.path(hex_), "rb")

    # -- writing ----------------------------------------------------------------

    def tmp_path(self) -> Path:
        """A fresh temp path inside the store (same filesystem as the objects)."""
        if not self.tmp_dir.is_dir():
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return self.tmp_dir / f"{fsutil.TMP_MARKER}{os.getpid()}-{os.urandom(8).hex()}"

    def install(self, tmp: Path, hex_: str) -> None:
        """Move a fully written temp file into place as loose object ``hex_`` (atomic)."""
        shard = hex_[:2]
        final = self.objects_dir / shard / hex_[2:]
        if shard not in self._shards_made:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._shards_made.add(shard)
        os.chmod(tmp, OBJECT_MODE)
        faults.checkpoint("objects.install")
        os.replace(tmp, final)

    @contextlib.contextmanager
    def packing(self) -> Iterator[None]:
        """Within this block, small objects added with :meth:`add_bytes` go into one pack,
        published (atomically) when the block ends without error."""
        if self._writer is not None:
            yield
            return
        self._writer = PackWriter(self.packs_dir)
        try:
            yield
            self._writer.close()
            if self._packs is not None:
                self._packs.extend(PackIndex(idx) for idx in self._writer.published)
        finally:
            if self._writer is not None:
                self._writer.abort()
            self._writer = None

    def add_bytes(self, hex_: str, data: bytes) -> None:
        """Store ``data`` (already known to hash to ``hex_``) unless present."""
        writer = self._writer
        if writer is not None and len(data) <= PACKABLE:
            digest = bytes.fromhex(hex_)
            if digest not in writer and not self.exists(hex_):
                writer.add(digest, data)
            return
        shard = hex_[:2]
        final = f"{self.objects_dir}/{shard}/{hex_[2:]}"
        if self.exists(hex_):
            return
        if shard not in self._shards_made:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            self._shards_made.add(shard)
        # Plain string paths, the read-only mode given at creation (no chmod),
        # one write, one rename.
        tmp = f"{self.tmp_dir}/{fsutil.TMP_MARKER}{os.getpid()}-{os.urandom(8).hex()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OBJECT_MODE)
        except FileNotFoundError:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OBJECT_MODE)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            faults.checkpoint("objects.add")
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def remove(self, hex_: str) -> None:
        """Drop an object (a corrupt one, or garbage); packed ones leave their pack's index."""
        faults.checkpoint("objects.remove")
        with contextlib.suppress(FileNotFoundError):
            self.path(hex_).unlink()
        pack = self._pack_of(hex_)
        if pack is not None:
            from gitrelstate.store.packs import ENTRY, MAGIC

            entries = dict(pack.entries)
            del entries[bytes.fromhex(hex_)]
            table = b"".join(ENTRY.pack(d, o, s) for d, (o, s) in sorted(entries.items()))
            fsutil.write_atomic(pack.idx_path, MAGIC + table, mode=0o444)
            pack.reload()

    # -- listing and housekeeping --------------------------------------------------

    def iter_hexes(self) -> Iterator[str]:
        """Every object id in the store, loose or packed (order unspecified)."""
        for pack in self.packs:
            for digest in pack.entries:
                yield digest.hex()
        yield from self.iter_loose()

    def iter_loose(self) -> Iterator[str]:
        if not self.objects_dir.is_dir():
            return
        for shard in os.scandir(self.objects_dir):
            if len(shard.name) != 2 or not shard.is_dir():
                continue
            for entry in os.scandir(shard.path):
                if not fsutil.is_tmp_name(entry.name):
                    yield shard.name + entry.name

    def clean_tmp(self) -> int:
        """Remove temp files and index-less packs left by killed processes."""
        removed = fsutil.remove_stale_tmps(self.tmp_dir) + fsutil.remove_stale_tmps(self.packs_dir)
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.packs_dir):
                if (
                    entry.name.endswith(".pack")
                    and not os.path.exists(entry.path[: -len(".pack")] + ".idx")
                    and time.time() - entry.stat().st_mtime > ORPHAN_PACK_SECONDS
                ):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def forget_packs(self) -> None:
        """Re-read the pack list on next use (after packs were added or removed)."""
        self.close()
        self._packs = None

    def close(self) -> None:
        for pack in self._packs or []:
            pack.close()

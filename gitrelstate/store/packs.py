"""Pack files: many small objects in one file, so tracking 10^5 small files does
not cost 10^5 file creations in the cache.

A pack is ``packs/pack-<id>.pack`` (the objects' bytes, concatenated) plus
``packs/pack-<id>.idx`` (a sorted table of digest, offset, size).  Both are
written to temp files first; the pack is renamed into place before its index,
and an object counts as present only once the index exists, so a killed writer
leaves no half-visible pack.  Packs are immutable.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from pathlib import Path

from gitrelstate import faults, fsutil

MAGIC = b"RSPACK1\n"
ENTRY = struct.Struct(">32sQQ")  # digest, offset, size
# Objects up to this size are worth packing; bigger ones stay loose files.
PACKABLE = 64 * 1024


class PackIndex:
    """The lookup table of one pack, loaded lazily."""

    def __init__(self, idx_path: Path) -> None:
        self.idx_path = idx_path
        self.pack_path = idx_path.with_suffix(".pack")
        self._entries: dict[bytes, tuple[int, int]] | None = None
        self._fd: int | None = None

    @property
    def entries(self) -> dict[bytes, tuple[int, int]]:
        if self._entries is None:
            raw = self.idx_path.read_bytes()
            if not raw.startswith(MAGIC) or (len(raw) - len(MAGIC)) % ENTRY.size:
                raise OSError(f"malformed pack index {self.idx_path.name}")
            self._entries = {
                digest: (offset, size)
                for digest, offset, size in ENTRY.iter_unpack(memoryview(raw)[len(MAGIC) :])
            }
        return self._entries

    def read(self, digest: bytes) -> bytes:
        offset, size = self.entries[digest]
        if self._fd is None:
            self._fd = os.open(self.pack_path, os.O_RDONLY)
        data = os.pread(self._fd, size, offset)  # thread-safe: no shared file position
        if len(data) != size:
            raise OSError(f"pack {self.pack_path.name} is truncated")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PackWriter:
    """Collects small objects and writes them as one pack on :meth:`close`."""

    def __init__(self, packs_dir: Path) -> None:
        self.packs_dir = packs_dir
        self._tmp: Path | None = None
        self._file: object = None
        self._offset = 0
        self._index: dict[bytes, tuple[int, int]] = {}
        self._lock = threading.Lock()  # ingest adds from a thread pool

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._index

    def add(self, digest: bytes, data: bytes) -> None:
        with self._lock:
            self._add(digest, data)

    def _add(self, digest: bytes, data: bytes) -> None:
        if digest in self._index:
            return
        if self._tmp is None:
            self.packs_dir.mkdir(parents=True, exist_ok=True)
            self._tmp = self.packs_dir / f"{fsutil.TMP_MARKER}{os.getpid()}-{os.urandom(8).hex()}"
            self._file = open(self._tmp, "xb")  # noqa: SIM115 - closed in close()/abort()
        faults.checkpoint("packs.add")
        self._file.write(data)  # type: ignore[attr-defined]
        self._index[digest] = (self._offset, len(data))
        self._offset += len(data)

    def close(self) -> Path | None:
        """Publish the pack (data first, index last); return the index path."""
        if self._tmp is None:
            return None
        self._file.close()  # type: ignore[attr-defined]
        table = b"".join(ENTRY.pack(d, o, s) for d, (o, s) in sorted(self._index.items()))
        pack_id = os.urandom(16).hex()
        pack = self.packs_dir / f"pack-{pack_id}.pack"
        idx = self.packs_dir / f"pack-{pack_id}.idx"
        os.chmod(self._tmp, 0o444)
        faults.checkpoint("packs.publish")
        os.replace(self._tmp, pack)
        self._tmp = None
        faults.checkpoint("packs.index")
        fsutil.write_atomic(idx, MAGIC + table, mode=0o444)
        return idx

    def abort(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._file.close()  # type: ignore[attr-defined]
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._tmp = None

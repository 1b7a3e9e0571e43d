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
import mmap
import operator
import os
import struct
import threading
from pathlib import Path

from gitrelstate import faults, fsutil

MAGIC = b"RSPACK1\n"
ENTRY = struct.Struct(">32sQQ")  # digest, offset, size
# Objects up to this size are worth packing; bigger ones stay loose files.
PACKABLE = 64 * 1024

Entries = dict[bytes, tuple[int, int]]  # digest -> (offset, size)


class DamagedIndex(ValueError):
    """An index that breaks the format's rules (docs/spec.md section 7.1); the message
    says which."""


def check_index(raw: bytes, pack_size: int, *, max_entries: int | None = None) -> Entries:
    """The entries of an index, once it is known to describe ``pack_size`` bytes of pack
    sanely: the magic, whole 48-byte records, at most ``max_entries`` of them, digests
    strictly increasing (sorted, no duplicates), sizes within ``PACKABLE``, and every
    entry inside the pack with no two overlapping. Raises :class:`DamagedIndex`."""
    if not raw.startswith(MAGIC):
        raise DamagedIndex("it does not start with the pack index magic")
    body = memoryview(raw)[len(MAGIC) :]
    if len(body) % ENTRY.size:
        raise DamagedIndex(f"its length is not {len(MAGIC)} + a multiple of {ENTRY.size} bytes")
    count = len(body) // ENTRY.size
    if max_entries is not None and count > max_entries:
        raise DamagedIndex(f"it lists {count} entries (at most {max_entries} are allowed)")
    if not count:
        return {}
    # Column-wise, in C-level passes (an index of 10^5 entries: about 0.1 s).
    digests, offsets, sizes = zip(*ENTRY.iter_unpack(body), strict=True)
    if not all(map(bytes.__lt__, digests, digests[1:])):
        raise DamagedIndex("its entries are not sorted by digest, or one is listed twice")
    if max(sizes) > PACKABLE:
        raise DamagedIndex(f"an entry is larger than {PACKABLE} bytes")
    starts, lengths = offsets, sizes
    if not all(map(operator.le, offsets, offsets[1:])):  # gitrelstate writes them in order
        pick = operator.itemgetter(*sorted(range(count), key=offsets.__getitem__))
        starts, lengths = pick(offsets), pick(sizes)
    ends = list(map(operator.add, starts, lengths))
    if not all(map(operator.le, ends, starts[1:])):
        raise DamagedIndex("two of its entries overlap")
    if ends[-1] > pack_size:
        raise DamagedIndex(f"its entries reach byte {ends[-1]} of a pack of {pack_size} bytes")
    return dict(zip(digests, zip(offsets, sizes, strict=True), strict=True))


class PackIndex:
    """The lookup table of one pack: looked up by binary search in the mapped index file
    (an index of 10^6 objects costs no load time and only the pages it touches), or
    loaded whole by :attr:`entries` for those that walk it."""

    def __init__(self, idx_path: Path) -> None:
        self.idx_path = idx_path
        self.pack_path = idx_path.with_suffix(".pack")
        self._entries: dict[bytes, tuple[int, int]] | None = None
        self._table: mmap.mmap | None = None
        self._count = 0
        self._fd: int | None = None

    def _mapped(self) -> mmap.mmap:
        if self._table is None:
            with open(self.idx_path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < len(MAGIC) or (size - len(MAGIC)) % ENTRY.size:
                    raise OSError(f"malformed pack index {self.idx_path.name}")
                table = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            if table[: len(MAGIC)] != MAGIC:
                table.close()
                raise OSError(f"malformed pack index {self.idx_path.name}")
            self._table, self._count = table, (size - len(MAGIC)) // ENTRY.size
        return self._table

    @property
    def entries(self) -> Entries:
        if self._entries is None:
            table = self._mapped()
            self._entries = {
                digest: (offset, size)
                for digest, offset, size in ENTRY.iter_unpack(table[len(MAGIC) :])
            }
        return self._entries

    def find(self, digest: bytes) -> tuple[int, int] | None:
        """(offset, size) of ``digest`` in the pack, or None."""
        if self._entries is not None:
            return self._entries.get(digest)
        table = self._mapped()
        lo, hi = 0, self._count
        while lo < hi:
            mid = (lo + hi) // 2
            at = len(MAGIC) + ENTRY.size * mid
            found = table[at : at + 32]
            if found < digest:
                lo = mid + 1
            elif found > digest:
                hi = mid
            else:
                _, offset, size = ENTRY.unpack_from(table, at)
                return offset, size
        return None

    def __contains__(self, digest: bytes) -> bool:
        return self.find(digest) is not None

    def reload(self) -> None:
        """Read the index file again (after it was rewritten)."""
        if self._table is not None:
            self._table.close()
        self._table = None
        self._entries = None

    def read(self, digest: bytes) -> bytes:
        found = self.find(digest)
        if found is None:
            raise KeyError(digest.hex())
        offset, size = found
        if self._fd is None:
            self._fd = os.open(self.pack_path, os.O_RDONLY)
        if size > PACKABLE or offset + size > os.fstat(self._fd).st_size:
            # This cache wrote the index, so only damage gets here; never pread past
            # the pack (an offset beyond a C long would be a crash, not an error).
            raise OSError(f"pack index {self.idx_path.name} is damaged (entry past the pack)")
        data = os.pread(self._fd, size, offset)  # thread-safe: no shared file position
        if len(data) != size:
            raise OSError(f"pack {self.pack_path.name} is truncated")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._table is not None:
            self._table.close()
            self._table = None


# A writer starts a new pack after this many objects (docs/spec.md 7.1).
MAX_OBJECTS = 262_144
# An object's place in a pack being written: offset << SIZE_BITS | size (one int, not a
# tuple: a pack of 10^6 objects is indexed in memory while it is written).
SIZE_BITS = 17


class PackWriter:
    """Collects small objects and writes them as packs (one per ``MAX_OBJECTS``),
    publishing the last on :meth:`close`."""

    def __init__(self, packs_dir: Path) -> None:
        self.packs_dir = packs_dir
        self._tmp: Path | None = None
        self._file: object = None
        self._offset = 0
        self._index: dict[bytes, int] = {}
        self._done: set[bytes] = set()  # in packs this writer already published
        self.published: list[Path] = []
        self._lock = threading.Lock()  # ingest adds from a thread pool

    def __len__(self) -> int:
        return len(self._index) + len(self._done)

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._index or digest in self._done

    def add(self, digest: bytes, data: bytes) -> None:
        with self._lock:
            self._add(digest, data)

    def _add(self, digest: bytes, data: bytes) -> None:
        if digest in self._index or digest in self._done:
            return
        if len(self._index) >= MAX_OBJECTS:
            self._done.update(self._index)
            self._publish()
        if self._tmp is None:
            self.packs_dir.mkdir(parents=True, exist_ok=True)
            self._tmp = self.packs_dir / f"{fsutil.TMP_MARKER}{os.getpid()}-{os.urandom(8).hex()}"
            self._file = open(self._tmp, "xb")  # noqa: SIM115 - closed in close()/abort()
            self._offset = 0
        faults.checkpoint("packs.add")
        self._file.write(data)  # type: ignore[attr-defined]
        self._index[digest] = self._offset << SIZE_BITS | len(data)
        self._offset += len(data)

    def close(self) -> Path | None:
        """Publish the pack being written (data first, index last); the last index
        published by this writer, if any."""
        if self._tmp is not None:
            self._publish()
        return self.published[-1] if self.published else None

    def _publish(self) -> None:
        assert self._tmp is not None
        self._file.close()  # type: ignore[attr-defined]
        mask = (1 << SIZE_BITS) - 1
        table = b"".join(
            ENTRY.pack(d, v >> SIZE_BITS, v & mask) for d, v in sorted(self._index.items())
        )
        pack_id = os.urandom(16).hex()
        pack = self.packs_dir / f"pack-{pack_id}.pack"
        idx = self.packs_dir / f"pack-{pack_id}.idx"
        os.chmod(self._tmp, 0o444)
        faults.checkpoint("packs.publish")
        os.replace(self._tmp, pack)
        self._tmp = None
        faults.checkpoint("packs.index")
        fsutil.write_atomic(idx, MAGIC + table, mode=0o444)
        self._index = {}
        self.published.append(idx)

    def abort(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._file.close()  # type: ignore[attr-defined]
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._tmp = None

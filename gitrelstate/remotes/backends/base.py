"""The backend interface, and a thread-pool implementation of its batch operations."""

from __future__ import annotations

import contextlib
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol, TypeVar

from gitrelstate.guard import reads
from gitrelstate.hashing import ALGO

# Objects up to this size are downloaded into memory (and packed in the cache);
# bigger ones stream to a temp file.
IN_MEMORY = 1024 * 1024
_HEX_TAIL = re.compile(r"([0-9a-f]{2})/([0-9a-f]{62})$")


def object_key(hex_: str) -> str:
    """The object's key below a remote's root."""
    return f"{ALGO}/{hex_[:2]}/{hex_[2:]}"


def shown_name(name: str) -> str:
    """A key as messages show it: an object by its short id, a named file by its name."""
    match = _HEX_TAIL.search(name)
    if match and name.startswith(f"{ALGO}/"):
        return f"remote object {match.group(1)}{match.group(2)[:14]}…"
    return f"remote file {name}"


def hexes_from_keys(keys: Iterable[str]) -> set[str]:
    """Object ids from listed keys ``.../ab/cdef...`` (temp files and strays skipped)."""
    found = set()
    for key in keys:
        match = _HEX_TAIL.search(str(key).rstrip("/"))
        if match:
            found.add(match.group(1) + match.group(2))
    return found


@dataclass(frozen=True)
class Upload:
    """One object to send: a loose file, or a packed object read when its turn comes
    (so memory stays bounded by the number of transfers in flight)."""

    hex: str
    size: int
    path: Path | None = None
    read: Callable[[], bytes] | None = None


@dataclass(frozen=True)
class Download:
    """One object to fetch. ``size`` is the exact size the state files declare (it
    picks memory or a temp file); without it (a folder listing), ``max_bytes`` bounds
    the read. Nothing is ever read past the bound (:mod:`gitrelstate.guard.reads`)."""

    hex: str
    size: int | None
    max_bytes: int = reads.LISTING_MAX_BYTES

    @property
    def bound(self) -> int:
        return self.size if self.size is not None else self.max_bytes


class Named(NamedTuple):
    """A named file as a listing shows it: its size (-1 when it is not a regular file)
    and a stamp that changes when it is rewritten (mtime, ETag; '' when unknown)."""

    size: int
    stamp: str


# After this many failures in a row (the remote is down, say), a batch stops
# starting new transfers instead of waiting out every object's own retries.
GIVE_UP_AFTER = 8


class Breaker:
    """Counts consecutive failures of a batch; trips after ``GIVE_UP_AFTER``."""

    def __init__(self) -> None:
        self.failures_in_a_row = 0
        self.last: BaseException | None = None

    @property
    def tripped(self) -> bool:
        return self.failures_in_a_row >= GIVE_UP_AFTER

    def record(self, exc: BaseException | None) -> None:
        if exc is None:
            self.failures_in_a_row = 0
        elif not isinstance(exc, FileNotFoundError):  # a missing object is not an outage
            self.failures_in_a_row += 1
            self.last = exc


@dataclass(frozen=True)
class Fetched:
    """A complete temp file and the hash of the bytes written into it (hashed while
    streaming, so the file need not be read again to verify it)."""

    path: Path
    actual: str


# receive(hex, payload) gets the bytes, the path of a complete temp file, or a Fetched.
Receiver = Callable[[str, "bytes | Path | Fetched"], None]
Advance = Callable[[int, int], None]  # (objects, bytes) done
Failures = list[tuple[str, BaseException]]


class Backend(Protocol):
    kind: str

    def existing(self, hexes: set[str]) -> set[str]: ...
    def list_all(self) -> set[str]: ...
    def upload(self, items: Sequence[Upload], jobs: int, advance: Advance) -> Failures: ...
    def download(
        self,
        items: Sequence[Download],
        jobs: int,
        tmp_path: Callable[[], Path],
        receive: Receiver,
        advance: Advance,
    ) -> Failures: ...
    # Reads by key below the root (``object_key(hex)``, ``packs/pack-<id>.idx``), each
    # bounded: BoundedReadError past ``max_bytes``, FileNotFoundError when absent.
    def fetch_bytes(self, name: str, max_bytes: int) -> bytes: ...
    def fetch_file(self, name: str, path: Path, max_bytes: int) -> str: ...
    def open(self, hex_: str) -> BinaryIO: ...
    def delete(self, hex_: str) -> None: ...
    # Named files below the root that are not objects (``packs/pack-<id>.pack``).
    def list_named(self, folder: str) -> dict[str, Named]: ...
    def put_named(self, name: str, path: Path) -> None: ...
    def delete_named(self, name: str) -> None: ...


class ThreadedBackend(ABC):
    """Batch operations as a thread pool over per-object primitives."""

    kind = "threaded"

    @abstractmethod
    def put_file(self, path: Path, hex_: str) -> None: ...

    @abstractmethod
    def put_bytes(self, data: bytes, hex_: str) -> None: ...

    @abstractmethod
    def fetch_bytes(self, name: str, max_bytes: int) -> bytes:
        """The content of ``name``, at most ``max_bytes`` of it (BoundedReadError beyond)."""

    @abstractmethod
    def fetch_file(self, name: str, path: Path, max_bytes: int) -> str:
        """Stream ``name`` into the local file ``path`` (at most ``max_bytes``, constant
        memory); return the blake3 hex of the bytes written."""

    def open(self, hex_: str) -> BinaryIO:
        """An object as a stream, bounded by the largest folder listing (prefer
        :func:`gitrelstate.remotes.listings.read_listing`, which knows the bound)."""
        return io.BytesIO(self.fetch_bytes(object_key(hex_), reads.LISTING_MAX_BYTES))

    @abstractmethod
    def list_named(self, folder: str) -> dict[str, Named]:
        """The files directly in ``folder`` by base name (missing folder: none)."""

    @abstractmethod
    def put_named(self, name: str, path: Path) -> None:
        """Store the local file ``path`` as ``name``, atomically (complete or absent)."""

    @abstractmethod
    def delete_named(self, name: str) -> None:
        """Remove ``name``; a missing file is not an error."""

    def upload(self, items: Sequence[Upload], jobs: int, advance: Advance) -> Failures:
        def one(item: Upload) -> None:
            if item.read is not None:
                self.put_bytes(item.read(), item.hex)
            else:
                assert item.path is not None
                self.put_file(item.path, item.hex)

        return _pool(items, jobs, one, lambda item: advance(1, item.size))

    def download(
        self,
        items: Sequence[Download],
        jobs: int,
        tmp_path: Callable[[], Path],
        receive: Receiver,
        advance: Advance,
    ) -> Failures:
        def one(item: Download) -> None:
            name = object_key(item.hex)
            if item.size is not None and item.size <= IN_MEMORY:
                receive(item.hex, self.fetch_bytes(name, item.size))
            else:
                tmp = tmp_path()
                try:
                    actual = self.fetch_file(name, tmp, item.bound)
                except BaseException:
                    # A download cut short leaves no partial temp file behind.
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                    raise
                receive(item.hex, Fetched(tmp, actual))

        return _pool(items, jobs, one, lambda item: advance(1, item.size or 0))


T = TypeVar("T")


def _pool(
    items: Sequence[T], jobs: int, work: Callable[[T], None], done: Callable[[T], None]
) -> Failures:
    failures: Failures = []
    breaker = Breaker()

    def run(item: T) -> None:
        if breaker.tripped:
            assert breaker.last is not None
            failures.append((getattr(item, "hex", "?"), breaker.last))
            return
        try:
            work(item)
            breaker.record(None)
        except Exception as exc:
            breaker.record(exc)
            failures.append((getattr(item, "hex", "?"), exc))
        done(item)

    if jobs <= 1 or len(items) <= 1:
        for item in items:
            run(item)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(run, items))
    return failures

"""The backend interface, and a thread-pool implementation of its batch operations."""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

from gitrelstate.hashing import ALGO

# Objects up to this size are downloaded into memory (and packed in the cache);
# bigger ones stream to a temp file.
IN_MEMORY = 1024 * 1024
_HEX_TAIL = re.compile(r"([0-9a-f]{2})/([0-9a-f]{62})$")


def object_key(hex_: str) -> str:
    """The object's key below a remote's root."""
    return f"{ALGO}/{hex_[:2]}/{hex_[2:]}"


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
    """One object to fetch; ``size`` (when known) picks memory or a temp file."""

    hex: str
    size: int | None


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
    def open(self, hex_: str) -> BinaryIO: ...
    def delete(self, hex_: str) -> None: ...
    # Named files below the root that are not objects (``packs/pack-<id>.pack``).
    def list_names(self, folder: str) -> list[str]: ...
    def put_named(self, name: str, path: Path) -> None: ...
    def get_named_file(self, name: str, path: Path) -> None: ...
    def delete_named(self, name: str) -> None: ...


class ThreadedBackend(ABC):
    """Batch operations as a thread pool over per-object primitives."""

    kind = "threaded"

    @abstractmethod
    def put_file(self, path: Path, hex_: str) -> None: ...

    @abstractmethod
    def put_bytes(self, data: bytes, hex_: str) -> None: ...

    @abstractmethod
    def get_bytes(self, hex_: str) -> bytes: ...

    @abstractmethod
    def get_file(self, hex_: str, path: Path) -> None: ...

    @abstractmethod
    def list_names(self, folder: str) -> list[str]:
        """Base names of the files directly in ``folder`` (missing folder: none)."""

    @abstractmethod
    def put_named(self, name: str, path: Path) -> None:
        """Store the local file ``path`` as ``name``, atomically (complete or absent)."""

    @abstractmethod
    def get_named_file(self, name: str, path: Path) -> None:
        """Download ``name`` into the local file ``path``, streamed (constant memory)."""

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
            if item.size is not None and item.size <= IN_MEMORY:
                receive(item.hex, self.get_bytes(item.hex))
            else:
                tmp = tmp_path()
                try:
                    self.get_file(item.hex, tmp)
                except BaseException:
                    # A download cut short leaves no partial temp file behind.
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                    raise
                receive(item.hex, tmp)

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

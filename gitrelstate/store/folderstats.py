"""Folder snapshots: per tracked folder and listing, each sub-folder's files with the stat
at which they last matched the listing, and their content ids.

This is the stat cache for tracked folders (docs/design.md, "Hashing and the stat
cache"). A snapshot belongs to one tracked path *and* one listing id: a row for
folder ``F`` holds exactly the listing's entries directly in ``F`` (name, content id,
size, executable bit through the mode) together with the (device, inode, size,
mtime, ctime, mode) each file had when it was last seen to hold that content. A file
whose stat could not be trusted (written within the racy window, modified, deleted)
is stored with ``mtime = ctime = -1``, which no real stat matches, so it is looked at
again next time.

``status`` then walks the folder, digests the names and stats it finds, and compares
the digest with the row's: equal means every listed file is there, unchanged, and
nothing was added, without reading the listing; a different digest loads that one
folder's row (one query), never the whole tree's.

Rows are machine-local (native byte order) and versioned by ``FORMAT``: a row of
another format, or one that does not decode, makes the snapshot absent, which only
costs a full comparison against the listing.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat as stat_mod
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from operator import attrgetter, ne
from typing import Any

from gitrelstate import faults
from gitrelstate.store.statcache import RACY_WINDOW_NS, StatCache

FORMAT = 1  # of the rows below; a snapshot of another format is absent
FIELDS = 6  # dev, ino, size, mtime_ns, ctime_ns, mode
UNTRUSTED = -1
stat_fields = attrgetter("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns", "st_mode")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS snapshot_tree (tree TEXT PRIMARY KEY, listing TEXT,"
    " format INTEGER)",
    "CREATE TABLE IF NOT EXISTS snapshot_folder (tree TEXT, folder TEXT, digest BLOB,"
    " names BLOB, stats BLOB, hashes BLOB, checksum BLOB, PRIMARY KEY (tree, folder))",
)


class Damaged(Exception):
    """A snapshot row that does not decode: the caller compares with the listing instead."""


def stat_rows(stats: Sequence[os.stat_result]) -> array[int]:
    """The stat fields a snapshot compares, six signed 64-bit integers per file."""
    # A list first: array() from a list is several times faster than from an iterator.
    return array("q", list(chain.from_iterable(map(stat_fields, stats))))


def _names_blob(names: Sequence[str]) -> bytes:
    # Names never hold NUL; surrogateescape keeps the rare undecodable name exact.
    return "\0".join(names).encode("utf-8", "surrogateescape")


def _hasher() -> Any:
    # BLAKE2b rather than blake3: these digests never leave this machine, and status then
    # imports neither blake3 (7 ms) nor, through hashlib, OpenSSL (3 ms).
    try:
        from _blake2 import blake2b  # CPython's own module behind hashlib.blake2b
    except ImportError:  # pragma: no cover - other interpreters
        from hashlib import blake2b
    return blake2b(digest_size=32)


def digest(names: Sequence[str], rows: array[int]) -> bytes:
    """What a folder row is recognised by: its names and stat fields."""
    h = _hasher()
    h.update(_names_blob(names))
    h.update(b"\0\0")
    h.update(rows.tobytes())
    return bytes(h.digest())


def _checksum(names: bytes, rows: bytes, hashes: bytes) -> bytes:
    # A row's content ids are what status trusts; a damaged database must not lie.
    h = _hasher()
    for part in (names, rows, hashes):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return bytes(h.digest())


def trusted_row(st: os.stat_result, trusted_before_ns: int) -> tuple[int, ...]:
    """The row for a file seen to hold its listed content; untrusted when it was written
    too recently to rule out a second write within the same timestamp tick."""
    fields: tuple[int, ...] = stat_fields(st)
    if max(st.st_mtime_ns, st.st_ctime_ns) >= trusted_before_ns:
        return (fields[0], fields[1], fields[2], UNTRUSTED, UNTRUSTED, fields[5])
    return fields


def untrusted_row(size: int, executable: bool) -> tuple[int, ...]:
    """The row of a listed file that is missing or differs: it never matches a stat."""
    mode = stat_mod.S_IFREG | (0o755 if executable else 0o644)
    return (0, 0, size, UNTRUSTED, UNTRUSTED, mode)


def changed_indexes(current: array[int], recorded: array[int]) -> list[int]:
    """Which files' stat rows differ, for two rows of the same names: compared as 48-byte
    slices in C-level passes (a Python loop per file cost a second per million)."""
    a, b = current.tobytes(), recorded.tobytes()
    if a == b:
        return []
    width = FIELDS * 8
    ends = range(0, len(a), width)
    mine = [a[k : k + width] for k in ends]
    theirs = [b[k : k + width] for k in ends]
    return list(compress(range(len(mine)), map(ne, mine, theirs)))


def trusted_rows(rows: array[int], trusted_before_ns: int) -> array[int]:
    """:func:`trusted_row` for a whole folder's stat rows (one pass when all are old)."""
    if not rows or (
        max(rows[3::FIELDS]) < trusted_before_ns and max(rows[4::FIELDS]) < trusted_before_ns
    ):
        return rows
    out = array("q", rows)
    for i in range(len(rows) // FIELDS):
        at = FIELDS * i
        if max(rows[at + 3], rows[at + 4]) >= trusted_before_ns:
            out[at + 3] = out[at + 4] = UNTRUSTED
    return out


def trust_limit() -> int:
    """Files whose mtime or ctime is at or after this are not trusted: take it before
    the stats it judges (a write after it gets a later timestamp)."""
    return time.time_ns() - RACY_WINDOW_NS


@dataclass
class FolderRecord:
    """One folder's row: listed names (sorted), their stat rows and content ids."""

    names: list[str]
    rows: array[int]
    hashes: bytearray

    @classmethod
    def empty(cls) -> FolderRecord:
        return cls([], array("q"), bytearray())

    def add(self, name: str, row: Sequence[int], hex_: str) -> None:
        self.names.append(name)
        self.rows.extend(row)
        self.hashes += bytes.fromhex(hex_)

    def extend(self, other: FolderRecord) -> None:
        """Append ``other``'s entries (a folder's later segment)."""
        self.names.extend(other.names)
        self.rows.extend(other.rows)
        self.hashes += other.hashes

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def row(self, i: int) -> tuple[int, ...]:
        return tuple(self.rows[FIELDS * i : FIELDS * i + FIELDS])

    def set_row(self, i: int, row: Sequence[int]) -> None:
        self.rows[FIELDS * i : FIELDS * i + FIELDS] = array("q", row)

    def hex(self, i: int) -> str:
        return self.hashes[32 * i : 32 * i + 32].hex()

    def size(self, i: int) -> int:
        return self.rows[FIELDS * i + 2]

    def executable(self, i: int) -> bool:
        return bool(self.rows[FIELDS * i + 5] & stat_mod.S_IXUSR)

    def hexes(self) -> list[str]:
        raw = bytes(self.hashes)
        return [raw[k : k + 32].hex() for k in range(0, len(raw), 32)]

    def sizes(self) -> array[int]:
        return self.rows[2::FIELDS]

    def modes(self) -> array[int]:
        return self.rows[5::FIELDS]

    def sorted(self) -> FolderRecord:
        """The same entries in name order (rows added out of order, e.g. deleted files)."""
        order = sorted(range(len(self.names)), key=self.names.__getitem__)
        if order == list(range(len(order))):
            return self
        out = FolderRecord.empty()
        for i in order:
            out.names.append(self.names[i])
            out.rows.extend(self.rows[FIELDS * i : FIELDS * i + FIELDS])
            out.hashes += self.hashes[32 * i : 32 * i + 32]
        return out

    def digest(self) -> bytes:
        return digest(self.names, self.rows)

    def encode(self) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """(digest, names, stats, hashes, checksum) as stored."""
        names, rows, hashes = _names_blob(self.names), self.rows.tobytes(), bytes(self.hashes)
        return self.digest(), names, rows, hashes, _checksum(names, rows, hashes)

    @classmethod
    def decode(cls, names: bytes, stats: bytes, hashes: bytes) -> FolderRecord:
        listed = names.decode("utf-8", "surrogateescape").split("\0") if names else []
        rows: array[int] = array("q")
        try:
            rows.frombytes(stats)
        except ValueError:
            raise Damaged("stat fields of a folder snapshot are truncated") from None
        if len(rows) != FIELDS * len(listed) or len(hashes) != 32 * len(listed):
            raise Damaged("a folder snapshot's columns disagree")
        return cls(listed, rows, bytearray(hashes))


class Snapshot:
    """The snapshot of one tracked folder for one listing, read folder by folder."""

    def __init__(self, statcache: StatCache, tree: str, listing: str, digests: dict[str, bytes]):
        self.statcache = statcache
        self.tree = tree
        self.listing = listing
        self.digests = digests

    def load(self, folder: str) -> FolderRecord | None:
        """The row of ``folder`` (``""`` or ``"a/b/"``); None when the listing has no file
        directly in it. Raises :class:`Damaged`."""
        if folder not in self.digests:
            return None
        try:
            row = (
                self.statcache.connection()
                .execute(
                    "SELECT names, stats, hashes, checksum FROM snapshot_folder"
                    " WHERE tree=? AND folder=?",
                    (self.tree, folder),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise Damaged(str(exc)) from None
        if row is None:
            raise Damaged("a folder snapshot row disappeared")
        if row[3] != _checksum(row[0], row[1], row[2]):
            raise Damaged("a folder snapshot row does not match its checksum")
        # The checksum covers the columns read; a damaged digest column can only make
        # the folder look changed (no walk digests to a value that was never written).
        return FolderRecord.decode(row[0], row[1], row[2])

    def update(self, records: Iterable[tuple[str, FolderRecord]]) -> None:
        """Store refreshed rows of this snapshot's folders (best effort: only a speed-up),
        unless the tree meanwhile got a snapshot for another listing."""
        rows = [(self.tree, folder, *record.encode()) for folder, record in records]
        if not rows:
            return
        with _writing(self.statcache) as db:
            current = db.execute(
                "SELECT listing, format FROM snapshot_tree WHERE tree=?", (self.tree,)
            ).fetchone()
            if current != (self.listing, FORMAT):
                return
            db.executemany(
                "INSERT OR REPLACE INTO snapshot_folder VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )
        for folder, _, digest_, *_ in rows:
            self.digests[folder] = digest_


def open_snapshot(statcache: StatCache, tree: str, listing: str) -> Snapshot | None:
    """The snapshot of ``tree`` (its absolute path) for ``listing`` (a content id), if
    one was stored for exactly that listing."""
    try:
        db = statcache.connection()
        row = db.execute(
            "SELECT listing, format FROM snapshot_tree WHERE tree=?", (tree,)
        ).fetchone()
        if row != (listing, FORMAT):
            return None
        digests = dict(
            db.execute("SELECT folder, digest FROM snapshot_folder WHERE tree=?", (tree,))
        )
    except sqlite3.Error:
        return None
    return Snapshot(statcache, tree, listing, digests)


Encoded = tuple[bytes, bytes, bytes, bytes, bytes]


def save_snapshot(
    statcache: StatCache,
    tree: str,
    listing: str,
    records: Iterable[tuple[str, FolderRecord | Encoded]],
) -> None:
    """Replace ``tree``'s snapshot by ``records`` (every folder of ``listing`` with files,
    as records or as :meth:`FolderRecord.encode` gave them), in one transaction: a
    reader sees the old snapshot or the complete new one."""
    rows = [
        (tree, folder, *(r.encode() if isinstance(r, FolderRecord) else r)) for folder, r in records
    ]
    with _writing(statcache) as db:
        db.execute("DELETE FROM snapshot_folder WHERE tree=?", (tree,))
        db.executemany("INSERT INTO snapshot_folder VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("INSERT OR REPLACE INTO snapshot_tree VALUES (?, ?, ?)", (tree, listing, FORMAT))


def forget(statcache: StatCache, tree: str) -> None:
    """Drop ``tree``'s snapshot (before its listing changes under it)."""
    with _writing(statcache) as db:
        db.execute("DELETE FROM snapshot_tree WHERE tree=?", (tree,))
        db.execute("DELETE FROM snapshot_folder WHERE tree=?", (tree,))


@contextlib.contextmanager
def _writing(statcache: StatCache) -> Iterator[sqlite3.Connection]:
    """One write transaction; any storage trouble only loses the speed-up."""
    try:
        faults.checkpoint("statcache.snapshot")
        db = statcache.connection()
        db.execute("BEGIN IMMEDIATE")
    except (sqlite3.Error, OSError):
        yield _discard()
        return
    try:
        yield db
        db.execute("COMMIT")
    except (sqlite3.Error, OSError):
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def _discard() -> sqlite3.Connection:
    """A throw-away database for writes that cannot be stored."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    for statement in SCHEMA:
        db.execute(statement)
    return db

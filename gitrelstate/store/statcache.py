"""The stat cache: never rehash a file whose (device, inode, size, mtime, ctime) is unchanged.

Stored in SQLite under the git common dir, so it is shared by worktrees, survives
across runs, and is safe when several processes use it at once (WAL + busy timeout).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from gitrelstate import faults, hashing

# A file modified within the same timestamp tick as our stat would look unchanged
# afterwards ("racy git"); entries that fresh are not trusted and not stored.
RACY_WINDOW_NS = 50_000_000
BULK_THRESHOLD = 512

StatKey = tuple[int, int]
StatValue = tuple[int, int, int, str]


def key_of(st: os.stat_result) -> StatKey:
    return (st.st_dev, st.st_ino)


def value_of(st: os.stat_result, hex_: str) -> StatValue:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, hex_)


class StatCache:
    """Maps a file's identity and stat to the hash of its content."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._loaded: dict[StatKey, StatValue] | None = None
        self._pending: dict[StatKey, StatValue] = {}

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = self._open(self.path)
            except sqlite3.OperationalError:
                # Cannot be opened here and now (a full disk, a read-only folder): work
                # from memory; only the speed-up is lost.
                self._db = self._open(":memory:")
            except sqlite3.DatabaseError:
                # Only a cache: a damaged file is set aside and rebuilt by rehashing.
                self.path.replace(self.path.with_name(self.path.name + ".damaged"))
                for suffix in ("-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(str(self.path) + suffix)
                self._db = self._open(self.path)
            except OSError:
                self._db = self._open(":memory:")
        return self._db

    def _open(self, path: Path | str) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=60.0, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS stat (dev INTEGER, ino INTEGER, size INTEGER,"
            " mtime_ns INTEGER, ctime_ns INTEGER, hash TEXT, PRIMARY KEY (dev, ino))"
            " WITHOUT ROWID"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS tree (path TEXT PRIMARY KEY, hash TEXT, digest TEXT)"
        )
        return db

    def preload(self, expected: int) -> None:
        """Load every entry at once when many lookups are coming (one query, not N)."""
        if self._loaded is None and expected >= BULK_THRESHOLD:
            rows = self._conn().execute("SELECT dev, ino, size, mtime_ns, ctime_ns, hash FROM stat")
            self._loaded = {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows}

    def get(self, st: os.stat_result) -> str | None:
        """The cached hex for this exact stat, or None when the file must be hashed."""
        key = key_of(st)
        value = self._pending.get(key)
        if value is None:
            if self._loaded is not None:
                value = self._loaded.get(key)
            else:
                row = (
                    self._conn()
                    .execute(
                        "SELECT size, mtime_ns, ctime_ns, hash FROM stat WHERE dev=? AND ino=?",
                        key,
                    )
                    .fetchone()
                )
                value = (row[0], row[1], row[2], row[3]) if row else None
        if value is None:
            return None
        if value[:3] != (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
            return None
        return value[3]

    def put(self, st: os.stat_result, hex_: str) -> None:
        """Remember ``hex_`` for this stat (written on :meth:`flush`)."""
        now = time.time_ns()
        if now - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_WINDOW_NS:
            return
        self._pending[key_of(st)] = value_of(st, hex_)

    def flush(self) -> None:
        if not self._pending:
            return
        rows = [(k[0], k[1], *v) for k, v in self._pending.items()]
        try:
            faults.checkpoint("statcache.flush")
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
        except (sqlite3.OperationalError, OSError):
            # A full disk or a lock held too long: losing these entries costs a rehash.
            self._pending.clear()
            return
        if self._loaded is not None:
            self._loaded.update(self._pending)
        self._pending.clear()

    def close(self) -> None:
        # The stat cache is an optimisation; losing an update only costs a rehash.
        with contextlib.suppress(sqlite3.Error):
            self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- whole trees ----------------------------------------------------------
    # For a tracked folder, one digest over every file's (path, stat) lets an
    # unchanged tree be recognised without looking up each file.

    def tree_matches(self, path: str, content_id: str, digest: str | None) -> bool:
        if digest is None:
            return False
        row = self._conn().execute("SELECT hash, digest FROM tree WHERE path=?", (path,)).fetchone()
        return row is not None and row[0] == content_id and row[1] == digest

    def remember_tree(self, path: str, content_id: str, digest: str | None) -> None:
        if digest is None:
            return
        with contextlib.suppress(sqlite3.OperationalError):  # a full disk: only a speed-up
            self._conn().execute(
                "INSERT OR REPLACE INTO tree VALUES (?, ?, ?)", (path, content_id, digest)
            )


def tree_digest(files: dict[str, os.stat_result]) -> str | None:
    """A digest of every file's path and stat; None if any file is too fresh to trust.

    It follows the order of ``files`` (the walk's order, stable while nothing
    changes): a different order only costs a full comparison, never a wrong answer.
    """
    from array import array

    if not files:
        return None
    fields = array(
        "q",
        [
            x
            for st in files.values()
            for x in (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
        ],
    )
    newest = time.time_ns() - RACY_WINDOW_NS
    if max(fields[3::6]) > newest or max(fields[4::6]) > newest:
        return None
    h = hashing.hasher()
    h.update("\0".join(files).encode("utf-8", "surrogateescape"))
    h.update(fields.tobytes())
    return str(h.hexdigest())

"""The stat cache: never rehash a file whose (device, inode, size, mtime, ctime) is unchanged.

Stored in SQLite under the git common dir, so it is shared by worktrees, survives
across runs, and is safe when several processes use it at once (WAL + busy timeout).
The same database holds the folder snapshots of tracked folders (store/folderstats).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from gitrelstate import faults

# A file modified within the same timestamp tick as our stat would look unchanged
# afterwards ("racy git"); entries that fresh are not trusted and not stored.
RACY_WINDOW_NS = 50_000_000
# Inodes asked for in one query (SQLite allows 32,766 variables since 3.32).
QUERY_CHUNK = 900

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
        self._pending: dict[StatKey, StatValue] = {}
        self._known_empty: bool | None = None

    def connection(self) -> sqlite3.Connection:
        """The open database (opened on first use; in memory when the file cannot be)."""
        return self._conn()

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
        from gitrelstate.store.folderstats import SCHEMA

        # Caches written by earlier versions also hold a table 'tree' (one digest per
        # tracked folder); it is no longer read, and the folder snapshots replace it.
        for statement in SCHEMA:
            db.execute(statement)
        return db

    def get_many(self, stats: Sequence[os.stat_result]) -> list[str | None]:
        """:meth:`get` for many files at once: one query per few hundred inodes."""
        if not stats or (not self._pending and self._empty()):
            return [None] * len(stats)
        by_dev: dict[int, list[int]] = {}
        for st in stats:
            by_dev.setdefault(st.st_dev, []).append(st.st_ino)
        # Per device: inode -> (ino, size, mtime_ns, ctime_ns, hash), as the rows come.
        rows: dict[int, dict[int, tuple[int, int, int, int, str]]] = {}
        try:
            db = self._conn()
            for dev, inodes in by_dev.items():
                table = rows[dev] = {}
                for k in range(0, len(inodes), QUERY_CHUNK):
                    chunk = inodes[k : k + QUERY_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    cursor = db.execute(
                        "SELECT ino, size, mtime_ns, ctime_ns, hash FROM stat"
                        f" WHERE dev=? AND ino IN ({marks})",
                        (dev, *chunk),
                    )
                    table.update({r[0]: r for r in cursor})
        except sqlite3.Error:
            pass  # only a speed-up: whatever was not found gets hashed
        pending = self._pending  # not flushed yet, and newer than the table
        out: list[str | None] = []
        append = out.append
        for st in stats:
            value = pending.get((st.st_dev, st.st_ino)) if pending else None
            if value is not None:
                matches = value[:3] == (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                append(value[3] if matches else None)
                continue
            row = rows.get(st.st_dev, {}).get(st.st_ino)
            if (
                row is not None
                and row[1] == st.st_size
                and row[2] == st.st_mtime_ns
                and row[3] == st.st_ctime_ns
            ):
                append(row[4])
            else:
                append(None)
        return out

    def _empty(self) -> bool:
        """Whether the table holds no entry at all (a first track asks nothing then)."""
        if self._known_empty is None:
            try:
                row = self._conn().execute("SELECT 1 FROM stat LIMIT 1").fetchone()
            except sqlite3.Error:
                row = None
            self._known_empty = row is None
        return self._known_empty

    def get(self, st: os.stat_result) -> str | None:
        """The cached hex for this exact stat, or None when the file must be hashed."""
        return self.get_many([st])[0]

    def put(self, st: os.stat_result, hex_: str, *, read_at_ns: int | None = None) -> None:
        """Remember ``hex_`` for this stat (written on :meth:`flush`).

        ``read_at_ns`` is a time taken before the content was read (default: now); a
        file modified less than the racy window before it is not remembered, since a
        second write within the same timestamp tick would leave its stat unchanged.
        """
        now = time.time_ns() if read_at_ns is None else read_at_ns
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
        self._pending.clear()
        self._known_empty = False

    def close(self) -> None:
        # The stat cache is an optimisation; losing an update only costs a rehash.
        with contextlib.suppress(sqlite3.Error):
            self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None

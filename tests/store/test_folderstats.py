"""Folder snapshots in the stat cache: rows round-trip, damage is noticed, a snapshot
belongs to one listing, and an old cache (earlier schema) keeps working."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from gitrelstate.store import folderstats
from gitrelstate.store.folderstats import FolderRecord
from gitrelstate.store.statcache import RACY_WINDOW_NS, StatCache

HEX = [f"{i:064x}" for i in range(4)]


def _record(tmp_path: Path, names: list[str]) -> tuple[FolderRecord, list[os.stat_result]]:
    stats = []
    for name in names:
        (tmp_path / name).write_bytes(name.encode())
        stats.append(os.stat(tmp_path / name))
    record = FolderRecord.empty()
    limit = time.time_ns() + RACY_WINDOW_NS  # everything trusted
    for i, (name, st) in enumerate(zip(names, stats, strict=True)):
        record.add(name, folderstats.trusted_row(st, limit + 10**12), HEX[i])
    return record, stats


def test_record_round_trips_and_digests_like_the_walk(tmp_path: Path) -> None:
    names = ["a", "b c", "é"]
    record, stats = _record(tmp_path, names)
    digest, names_blob, rows, hashes, _ = record.encode()
    back = FolderRecord.decode(names_blob, rows, hashes)
    assert back.names == names and back.hexes() == HEX[:3]
    assert back.size(2) == len("é".encode())
    assert not back.executable(0)
    # What status computes from a walk of the same files equals the stored digest.
    assert folderstats.digest(names, folderstats.stat_rows(stats)) == digest


def test_fresh_files_are_stored_untrusted(tmp_path: Path) -> None:
    (tmp_path / "new").write_bytes(b"x")
    st = os.stat(tmp_path / "new")
    row = folderstats.trusted_row(st, folderstats.trust_limit())
    assert row[3] == row[4] == folderstats.UNTRUSTED
    assert row != folderstats.stat_fields(st)  # so it never matches a real stat


@pytest.mark.parametrize(
    ("names", "rows", "hashes"),
    [
        (b"a\0b", b"\0" * 48 * 2 + b"\0", b"\0" * 64),  # stat bytes truncated
        (b"a\0b", b"\0" * 48, b"\0" * 64),  # one row missing
        (b"a", b"\0" * 48, b"\0" * 31),  # hash truncated
    ],
)
def test_damaged_rows_are_refused(names: bytes, rows: bytes, hashes: bytes) -> None:
    with pytest.raises(folderstats.Damaged):
        FolderRecord.decode(names, rows, hashes)


def test_snapshot_belongs_to_one_listing(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "sc.sqlite")
    record, _ = _record(tmp_path, ["a"])
    folderstats.save_snapshot(cache, "/t", "blake3:" + HEX[0], [("", record)])
    assert folderstats.open_snapshot(cache, "/t", "blake3:" + HEX[1]) is None
    snap = folderstats.open_snapshot(cache, "/t", "blake3:" + HEX[0])
    assert snap is not None and set(snap.digests) == {""}
    loaded = snap.load("")
    assert loaded is not None and loaded.names == ["a"]
    # A new listing replaces the snapshot; an update for the old one is then dropped.
    folderstats.save_snapshot(cache, "/t", "blake3:" + HEX[1], [("sub/", record)])
    snap.update([("other/", record)])
    newer = folderstats.open_snapshot(cache, "/t", "blake3:" + HEX[1])
    assert newer is not None and set(newer.digests) == {"sub/"}
    cache.close()


def test_a_row_changed_behind_its_digest_is_damage(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "sc.sqlite")
    record, _ = _record(tmp_path, ["a", "b"])
    folderstats.save_snapshot(cache, "/t", "blake3:" + HEX[0], [("", record)])
    cache.connection().execute("UPDATE snapshot_folder SET hashes = ?", (b"\1" * 64,))
    snap = folderstats.open_snapshot(cache, "/t", "blake3:" + HEX[0])
    assert snap is not None
    with pytest.raises(folderstats.Damaged):
        snap.load("")
    cache.close()


def test_a_cache_of_the_earlier_schema_is_read(tmp_path: Path) -> None:
    path = tmp_path / "statcache.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE stat (dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,"
        " ctime_ns INTEGER, hash TEXT, PRIMARY KEY (dev, ino)) WITHOUT ROWID"
    )
    db.execute("CREATE TABLE tree (path TEXT PRIMARY KEY, hash TEXT, digest TEXT)")
    (tmp_path / "f").write_bytes(b"x")
    st = os.stat(tmp_path / "f")
    db.execute(
        "INSERT INTO stat VALUES (?, ?, ?, ?, ?, ?)",
        (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, HEX[0]),
    )
    db.execute("INSERT INTO tree VALUES ('/t', 'blake3:x', 'y')")
    db.commit()
    db.close()
    cache = StatCache(path)
    assert cache.get(st) == HEX[0]
    assert folderstats.open_snapshot(cache, "/t", "blake3:x") is None
    cache.close()


def test_get_many_asks_in_chunks_and_sees_pending_entries(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "sc.sqlite")
    stats = []
    for i in range(2000):
        p = tmp_path / f"f{i}"
        p.write_bytes(b"%d" % i)
        stats.append(os.stat(p))
    old = time.time_ns() + 10**12  # count every file as read long after it was written
    for i, st in enumerate(stats[:1500]):
        cache.put(st, f"{i:064x}", read_at_ns=old)
    cache.flush()
    cache.put(stats[1600], HEX[3], read_at_ns=old)  # pending, not flushed
    found = cache.get_many(stats)
    assert found[:1500] == [f"{i:064x}" for i in range(1500)]
    assert found[1600] == HEX[3]
    assert found[1500] is None and found[1999] is None
    cache.close()


def test_put_refuses_files_written_within_the_racy_window(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "sc.sqlite")
    (tmp_path / "f").write_bytes(b"x")
    st = os.stat(tmp_path / "f")
    cache.put(st, HEX[0], read_at_ns=st.st_mtime_ns + RACY_WINDOW_NS // 2)
    assert cache.get(st) is None
    cache.close()

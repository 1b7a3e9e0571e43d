"""Turning work-tree data into cached objects and a pointer (the core of ``track``).

A folder is walked once, in the order its listing names files, and the listing is
streamed out as it goes (into the cache, or into memory when nothing is stored):
memory holds one folder's files, the folder snapshot rows and the pack index being
written, never the whole tree's stats or listing. Files whose stat matches the
previous listing's snapshot are neither read nor looked up.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat as stat_mod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gitrelstate import hashing, ui
from gitrelstate.repo import Repo
from gitrelstate.state.manifest import ListingWriter, Manifest
from gitrelstate.state.pointer import DataPointer
from gitrelstate.store import folderstats, ingest
from gitrelstate.store.folderstats import FolderRecord
from gitrelstate.workspace.walk import Segment, is_executable, walk_segments


@dataclass(frozen=True)
class Snapshot:
    """What a path holds now: its content id, size, file count (dirs) and, for a folder
    hashed without storing it, its listing's bytes."""

    hash: str
    size: int
    nfiles: int | None
    executable: bool
    listing: bytes | None = None

    @property
    def manifest(self) -> Manifest | None:
        """The listing parsed (only when it was kept: a folder snapshot without storing)."""
        if self.listing is None:
            return None
        return Manifest.from_bytes(self.listing, "folder listing")


def snapshot(
    repo: Repo,
    path: Path,
    *,
    store: bool,
    label: str = "hashing",
    previous: DataPointer | None = None,
) -> Snapshot:
    """Hash ``path`` (file or folder); with ``store``, put every object in the cache.

    A folder whose files' stats all match the snapshot recorded for ``previous``'s
    listing is not looked at further: re-tracking it costs stats.
    """
    st = os.stat(path)
    if stat_mod.S_ISDIR(st.st_mode):
        try:
            return _FolderSnapshot(repo, path, store, previous).run(label)
        except folderstats.Damaged:
            # A snapshot row that does not decode: hash against nothing remembered.
            return _FolderSnapshot(repo, path, store, None).run(label)
    [hex_] = ingest.hash_files([(path, st)], repo.statcache, repo.cache if store else None)
    return Snapshot(hashing.content_id(hex_), st.st_size, None, is_executable(st))


class _FolderSnapshot:
    """One pass over a folder: hash what changed, stream the listing, note the rows."""

    def __init__(self, repo: Repo, path: Path, store: bool, previous: DataPointer | None):
        self.repo = repo
        self.path = path
        self.store = store
        self.previous = previous if previous is not None and previous.is_dir else None
        self.prev: folderstats.Snapshot | None = None
        if self.previous is not None and repo.cache.exists(hashing.hex_of(self.previous.hash)):
            # The previous listing is in the cache, so every file it lists is too.
            self.prev = folderstats.open_snapshot(repo.statcache, str(path), self.previous.hash)
        self.trusted_before = folderstats.trust_limit()
        self.records: list[tuple[str, folderstats.Encoded]] = []  # encoded: compact
        self.partial: dict[str, FolderRecord] = {}
        self.prev_rows: dict[str, FolderRecord | None] = {}

    def run(self, label: str) -> Snapshot:
        expected = (self.previous.nfiles or 0) if self.previous is not None else 0
        cache = self.repo.cache
        tmp = cache.tmp_path() if self.store else None
        out: BinaryIO = open(tmp, "xb") if tmp is not None else io.BytesIO()  # noqa: SIM115
        try:
            with self._packing(), ui.progress(expected, label) as done:
                writer = ListingWriter(out, hashing.hasher())
                unchanged = self._walk(writer, done)
                hex_ = "" if unchanged else writer.finish()
            # The packs are published now: the listing may follow its files.
            if unchanged:
                assert self.previous is not None
                p = self.previous
                return Snapshot(p.hash, p.size, p.nfiles, False)
            content_id = hashing.content_id(hex_)
            if tmp is None:
                assert isinstance(out, io.BytesIO)
                return Snapshot(content_id, writer.size, writer.nfiles, False, out.getvalue())
            out.close()
            if not cache.exists(hex_):
                cache.install(tmp, hex_)
            folderstats.save_snapshot(self.repo.statcache, str(self.path), content_id, self.records)
            return Snapshot(content_id, writer.size, writer.nfiles, False)
        finally:
            out.close()
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def _walk(self, writer: ListingWriter, done: Callable[[int], None]) -> bool:
        """Write every entry; True when every folder matched the previous snapshot (then
        nothing was written: the listing is the previous one)."""
        # While every folder so far matched the previous snapshot, nothing is written
        # yet: if all do, the listing is the previous one and need not be made again.
        deferred: list[str] | None = [] if self.prev is not None else None
        segments = walk_segments(self.path, self.repo.root, cache_root=self.repo.cache.root)
        for seg in segments:
            whole = seg.last and seg.prefix not in self.partial
            if whole and not seg.names:
                continue
            if whole and self.prev is not None:
                rows = folderstats.stat_rows(seg.stats)
                if self.prev.digests.get(seg.prefix) == folderstats.digest(seg.names, rows):
                    done(len(seg.names))
                    if deferred is not None:
                        deferred.append(seg.prefix)
                    else:
                        self._copy_folder(writer, seg.prefix)
                    continue
            if deferred is not None:
                for folder in deferred:
                    self._copy_folder(writer, folder)
                deferred = None
            self._add_segment(writer, seg)
            done(len(seg.names))
        if deferred is None:
            return False
        assert self.prev is not None
        if set(deferred) == self.prev.digests.keys():
            return True
        for folder in deferred:  # some folder went away: the listing is a new one
            self._copy_folder(writer, folder)
        return False

    def _copy_folder(self, writer: ListingWriter, folder: str) -> None:
        """A folder that matched its row: its entries are the row's."""
        assert self.prev is not None
        record = self.prev.load(folder)
        if record is None:
            raise folderstats.Damaged(f"no row for {folder!r}")
        executable = [bool(m & stat_mod.S_IXUSR) for m in record.modes()]
        writer.add([folder + n for n in record.names], record.hexes(), record.sizes(), executable)
        if self.store:  # rows are kept only for a listing that is stored
            self.records.append((folder, record.encode()))

    def _add_segment(self, writer: ListingWriter, seg: Segment) -> None:
        known = self._previous_row(seg.prefix, seg.last)
        rows = folderstats.stat_rows(seg.stats)
        if known is not None and known.names == seg.names:
            # The folder holds the same names as before (the common case): the files
            # whose stat changed are found in bulk; the others keep their ids unread.
            hashes = bytearray(known.hashes)
            todo = folderstats.changed_indexes(rows, known.rows)
        else:
            index = known.index() if known is not None else {}
            hashes = bytearray(32 * len(seg.names))
            todo = []
            for k, (name, st) in enumerate(zip(seg.names, seg.stats, strict=True)):
                i = index.get(name)
                if (
                    known is not None
                    and i is not None
                    and known.row(i) == folderstats.stat_fields(st)
                ):
                    hashes[32 * k : 32 * k + 32] = known.hashes[32 * i : 32 * i + 32]
                else:
                    todo.append(k)
        if todo:
            base = os.path.join(str(self.path), seg.prefix)
            items = [(base + seg.names[k], seg.stats[k]) for k in todo]
            found = ingest.hash_files(
                items,
                self.repo.statcache,
                self.repo.cache if self.store else None,
                remember=False,  # the folder rows below remember them
            )
            for k, hex_ in zip(todo, found, strict=True):
                hashes[32 * k : 32 * k + 32] = bytes.fromhex(hex_)
        raw = bytes(hashes)
        hexes = [raw[k : k + 32].hex() for k in range(0, len(raw), 32)]
        sizes = rows[2 :: folderstats.FIELDS]
        writer.add([seg.prefix + n for n in seg.names], hexes, sizes, map(is_executable, seg.stats))
        record = FolderRecord(
            seg.names, folderstats.trusted_rows(rows, self.trusted_before), hashes
        )
        held = self.partial.pop(seg.prefix, None)
        if held is not None:
            held.extend(record)
            record = held
        if seg.last:
            if self.store:
                self.records.append((seg.prefix, record.encode()))
        else:
            self.partial[seg.prefix] = record

    def _previous_row(self, folder: str, last: bool) -> FolderRecord | None:
        """The previous row of ``folder``, loaded once while its segments come."""
        if self.prev is None:
            return None
        if folder not in self.prev_rows:
            self.prev_rows[folder] = self.prev.load(folder)
        # Kept while a folder split by its sub-folders comes in several segments.
        return self.prev_rows.pop(folder) if last else self.prev_rows[folder]

    @contextlib.contextmanager
    def _packing(self) -> Iterator[None]:
        # Small new files go into packs, published before the listing is stored.
        if self.store:
            with self.repo.cache.packing():
                yield
        else:
            yield


def pointer_from(snap: Snapshot, name: str, previous: DataPointer | None) -> DataPointer:
    """The pointer for ``snap``, keeping unknown keys of the previous pointer."""
    extra = dict(previous.extra) if previous is not None else {}
    return DataPointer(name, snap.hash, snap.size, snap.nfiles, snap.executable, extra)

"""Comparing the work tree with a pointer: what was added, modified or deleted.

A tracked folder is compared folder by folder against its snapshot in the stat
cache (store/folderstats): a folder whose names and stats digest as recorded is
clean without reading anything; a folder that differs loads only its own row, and
only files whose stat changed are hashed. Without a snapshot for the pointer's
listing (a fresh clone, a new listing, a lost cache) the listing itself is read and
the snapshot recorded for next time.
"""

from __future__ import annotations

import os
import stat as stat_mod
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate import hashing
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.state.manifest import Entry
from gitrelstate.store import folderstats
from gitrelstate.store.folderstats import FolderRecord
from gitrelstate.workspace import pointers
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.walk import is_executable, walk_files, walk_segments, whole_folders

# Keys are paths relative to the tracked path; "" is the tracked path itself
# when it is (or should be) a single file.
SELF = ""
# Refreshed folder rows are written in batches of this many (memory stays bounded).
UPDATE_BATCH = 64


@dataclass
class Comparison:
    """How a tracked path differs from its pointer.

    ``expected`` and ``present`` hold at least the entries of every added, modified and
    deleted key (what checkout needs); ``found`` and ``listed`` count every file."""

    tracked: Tracked
    expected: Mapping[str, Entry]
    present: dict[str, os.stat_result]
    current_hex: dict[str, str] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    problem: str | None = None
    leftovers: list[Path] = field(default_factory=list)
    found: int | None = None
    listed: int | None = None

    @property
    def state(self) -> str:
        if self.problem is not None:
            return "unknown"
        found = len(self.present) if self.found is None else self.found
        listed = len(self.expected) if self.listed is None else self.listed
        if not found and listed:
            return "missing"
        if self.added or self.modified or self.deleted:
            return "modified"
        return "clean"

    @property
    def clean(self) -> bool:
        return self.state == "clean"

    def display(self, key: str) -> str:
        return self.tracked.data_rel if key == SELF else f"{self.tracked.data_rel}/{key}"


def expected_entries(repo: Repo, tracked: Tracked) -> Mapping[str, Entry]:
    p = tracked.pointer
    if p.is_dir:
        return pointers.load_manifest(repo, p.hash, tracked.pointer_rel).entries
    return {SELF: Entry(hashing.hex_of(p.hash), p.size, p.executable)}


def present_entries(
    repo: Repo, tracked: Tracked, leftovers: list[Path] | None = None
) -> dict[str, os.stat_result]:
    path = tracked.data_abs(repo)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}
    if stat_mod.S_ISDIR(st.st_mode):
        return walk_files(path, repo.root, leftovers, repo.cache.root)
    return {SELF: st}


def compare(repo: Repo, tracked: Tracked, *, hash_changed: bool = False) -> Comparison:
    """Compare the work tree with ``tracked``'s pointer.

    Files whose stat matches the folder snapshot or the stat cache are not read.
    With ``hash_changed``, the content of added and resized files is hashed too
    (checkout needs to know whether their content is safe in the cache).
    """
    path = tracked.data_abs(repo)
    if tracked.pointer.is_dir and os.path.isdir(path):
        snapshot = folderstats.open_snapshot(repo.statcache, str(path), tracked.pointer.hash)
        if snapshot is not None:
            try:
                return _compare_with_snapshot(repo, tracked, snapshot, hash_changed)
            except folderstats.Damaged:
                pass  # compared with the listing below, which records a new snapshot
        from gitrelstate.state.manifest import NotCanonical
        from gitrelstate.workspace.listingmerge import compare_streaming

        try:
            return compare_streaming(repo, tracked, hash_changed)
        except NotCanonical:
            pass  # valid but written by another tool: read whole, below
        return _compare_with_listing(repo, tracked, hash_changed, record=True)
    return _compare_with_listing(repo, tracked, hash_changed, record=False)


def _hash(
    repo: Repo, base: Path, keys: list[str], present: Mapping[str, os.stat_result]
) -> dict[str, str]:
    if not keys:
        return {}
    from gitrelstate.store import ingest

    where = str(base)
    items = [(os.path.join(where, k) if k else where, present[k]) for k in keys]
    return dict(zip(keys, ingest.hash_files(items, repo.statcache), strict=True))


def _compare_with_snapshot(
    repo: Repo, tracked: Tracked, snapshot: folderstats.Snapshot, hash_changed: bool
) -> Comparison:
    base = tracked.data_abs(repo)
    cmp = Comparison(tracked, {}, {}, found=0, listed=tracked.pointer.nfiles or 0)
    expected: dict[str, Entry] = {}
    trusted_before = folderstats.trust_limit()
    seen: set[str] = set()
    refreshed: list[tuple[str, FolderRecord]] = []
    segments = walk_segments(base, repo.root, cmp.leftovers, repo.cache.root)
    for folder, names, stats in whole_folders(segments):
        cmp.found = (cmp.found or 0) + len(names)
        seen.add(folder)
        rows = folderstats.stat_rows(stats)
        if snapshot.digests.get(folder) == folderstats.digest(names, rows):
            continue
        record = snapshot.load(folder) or FolderRecord.empty()
        if _check_folder(
            repo, cmp, expected, (folder, names, stats, rows), record, hash_changed, trusted_before
        ):
            refreshed.append((folder, record))
            if len(refreshed) >= UPDATE_BATCH:
                snapshot.update(refreshed)
                refreshed = []
    snapshot.update(refreshed)
    for folder in sorted(snapshot.digests.keys() - seen):  # folders gone altogether
        gone = snapshot.load(folder) or FolderRecord.empty()
        for i, name in enumerate(gone.names):
            expected[folder + name] = Entry(gone.hex(i), gone.size(i), gone.executable(i))
            cmp.deleted.append(folder + name)
    cmp.expected = expected
    cmp.added.sort()
    cmp.modified.sort()
    cmp.deleted.sort()
    return cmp


def _check_folder(
    repo: Repo,
    cmp: Comparison,
    expected: dict[str, Entry],
    found: tuple[str, list[str], list[os.stat_result], array[int]],
    record: FolderRecord,
    hash_changed: bool,
    trusted_before: int,
) -> bool:
    """Compare one folder (prefix, names, stats, their stat rows) whose digest differs
    with its row; True when the row learnt new trusted stats (files touched but
    unchanged) and should be stored again."""
    folder, names, stats, rows = found
    if names == record.names:
        # Nothing added or deleted here (the common case): the files whose stat changed
        # are found in bulk, and only those are looked at.
        changed = folderstats.changed_indexes(rows, record.rows)
        candidates = [(i, i) for i in changed]
        added: list[str] = []
    else:
        index = record.index()
        listed_seen = bytearray(len(record.names))
        candidates = []
        added = []
        for k, (name, st) in enumerate(zip(names, stats, strict=True)):
            i = index.get(name)
            if i is None:
                key = folder + name
                added.append(key)
                cmp.present[key] = st
                continue
            listed_seen[i] = 1
            if record.row(i) != folderstats.stat_fields(st):
                candidates.append((k, i))
        for i, was_seen in enumerate(listed_seen):
            if not was_seen:
                key = folder + record.names[i]
                cmp.deleted.append(key)
                expected[key] = _entry(record, i)
    suspects: list[tuple[str, int]] = []
    for k, i in candidates:
        key, st = folder + names[k], stats[k]
        cmp.present[key] = st
        if record.size(i) != st.st_size and not hash_changed:
            cmp.modified.append(key)
            expected[key] = _entry(record, i)
        else:
            suspects.append((key, i))
    cmp.added.extend(added)
    to_hash = [key for key, _ in suspects] + (added if hash_changed else [])
    hexes = _hash(repo, cmp.tracked.data_abs(repo), to_hash, cmp.present)
    learnt = False
    for key, i in suspects:
        st = cmp.present[key]
        entry = _entry(record, i)
        if hexes[key] == entry.hex and is_executable(st) == entry.executable:
            del cmp.present[key]
            row = folderstats.trusted_row(st, trusted_before)
            if row != record.row(i):
                record.set_row(i, row)
                learnt = True
            continue
        cmp.modified.append(key)
        expected[key] = entry
        cmp.current_hex[key] = hexes[key]
    for key in added if hash_changed else []:
        cmp.current_hex[key] = hexes[key]
    return learnt


def _entry(record: FolderRecord, i: int) -> Entry:
    return Entry(record.hex(i), record.size(i), record.executable(i))


def _compare_with_listing(
    repo: Repo, tracked: Tracked, hash_changed: bool, *, record: bool
) -> Comparison:
    """Compare with the pointer's listing (or its file entry); with ``record``, store the
    folder snapshot of what was found for next time."""
    leftovers: list[Path] = []
    trusted_before = folderstats.trust_limit()
    present = present_entries(repo, tracked, leftovers)
    try:
        expected = expected_entries(repo, tracked)
    except RelstateError as exc:
        return Comparison(tracked, {}, present, problem=exc.message, leftovers=leftovers)
    cmp = Comparison(tracked, expected, {}, leftovers=leftovers, found=len(present))
    to_hash: list[str] = []
    for key, st in present.items():
        entry = expected.get(key)
        if entry is None:
            cmp.added.append(key)
            cmp.present[key] = st
            if hash_changed:
                to_hash.append(key)
        elif entry.size == st.st_size or hash_changed:
            to_hash.append(key)
        else:
            cmp.modified.append(key)
            cmp.present[key] = st
    cmp.deleted = [k for k in expected if k not in present]
    hexes = _hash(repo, tracked.data_abs(repo), to_hash, present)
    clean_stats: dict[str, os.stat_result] = {}
    for key in to_hash:
        entry = expected.get(key)
        if entry is None:
            cmp.current_hex[key] = hexes[key]
        elif hexes[key] != entry.hex or is_executable(present[key]) != entry.executable:
            cmp.modified.append(key)
            cmp.present[key] = present[key]
            cmp.current_hex[key] = hexes[key]
        else:
            clean_stats[key] = present[key]
    cmp.added.sort()
    cmp.modified.sort()
    cmp.deleted.sort()
    if record and SELF not in present:
        _record_snapshot(repo, tracked, expected, clean_stats, trusted_before)
    return cmp


def _record_snapshot(
    repo: Repo,
    tracked: Tracked,
    expected: Mapping[str, Entry],
    clean_stats: Mapping[str, os.stat_result],
    trusted_before: int,
) -> None:
    """The listing's entries, folder by folder, with the stat of each file just seen to
    hold its listed content (the others untrusted)."""
    records: dict[str, FolderRecord] = {}
    for key in sorted(expected):
        folder, _, name = key.rpartition("/")
        prefix = folder + "/" if folder else ""
        entry = expected[key]
        st = clean_stats.get(key)
        row = (
            folderstats.trusted_row(st, trusted_before)
            if st is not None
            else folderstats.untrusted_row(entry.size, entry.executable)
        )
        target = records.get(prefix)
        if target is None:
            target = records[prefix] = FolderRecord.empty()
        target.add(name, row, entry.hex)
    where = str(tracked.data_abs(repo))
    folderstats.save_snapshot(
        repo.statcache, where, tracked.pointer.hash, ((f, r.sorted()) for f, r in records.items())
    )

"""Comparing a tracked folder with its listing when no folder snapshot exists yet (a
fresh clone, a checkout, a lost stat cache): the walk and the listing are two streams
sorted the same way, merged in step, so memory holds the folders on the current path
and the listing's bytes, never a dictionary of every file. The snapshot is recorded on
the way, for the next status.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate.errors import RelstateError, StateFileError, UnsafePathError
from gitrelstate.repo import Repo
from gitrelstate.state.manifest import Entry, iter_entries
from gitrelstate.store import folderstats, ingest
from gitrelstate.store.folderstats import Encoded, FolderRecord
from gitrelstate.workspace import pointers
from gitrelstate.workspace.compare import Comparison
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.walk import Segment, is_executable, walk_segments


@dataclass
class _Folder:
    """One open folder: its listed entries (rows filled in when resolved) and the files
    whose content must be read to decide."""

    prefix: str
    record: FolderRecord = field(default_factory=FolderRecord.empty)
    entries: list[Entry] = field(default_factory=list)
    pending: list[tuple[int, str, os.stat_result]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


class _Merge:
    def __init__(self, repo: Repo, tracked: Tracked, hash_changed: bool) -> None:
        self.repo = repo
        self.base = str(tracked.data_abs(repo))
        self.hash_changed = hash_changed
        self.cmp = Comparison(tracked, {}, {}, found=0, listed=0)
        self.expected: dict[str, Entry] = {}
        self.trusted_before = folderstats.trust_limit()
        self.open: list[_Folder] = [_Folder("")]
        self.done: list[tuple[str, Encoded]] = []

    def folder(self, path: str) -> _Folder:
        prefix = path[: path.rfind("/") + 1]
        top = self.open[-1]
        if top.prefix == prefix:
            return top
        while not prefix.startswith(self.open[-1].prefix):
            self._close(self.open.pop())
        if self.open[-1].prefix != prefix:
            # Folders in between have had no entries so far: opened when they get one.
            self.open.append(_Folder(prefix))
        return self.open[-1]

    def listed_only(self, path: str, entry: Entry) -> None:
        here = self.folder(path)
        self.cmp.deleted.append(path)
        self.expected[path] = entry
        self._listed(here, path, entry, folderstats.untrusted_row(entry.size, entry.executable))

    def found_only(self, path: str, st: os.stat_result) -> None:
        here = self.folder(path)
        self.cmp.present[path] = st
        here.added.append(path)

    def both(self, path: str, entry: Entry, st: os.stat_result) -> None:
        here = self.folder(path)
        untrusted = folderstats.untrusted_row(entry.size, entry.executable)
        i = self._listed(here, path, entry, untrusted)
        if entry.size != st.st_size and not self.hash_changed:
            self.cmp.modified.append(path)
            self.cmp.present[path] = st
            self.expected[path] = entry
        else:
            here.pending.append((i, path, st))

    def _listed(self, here: _Folder, path: str, entry: Entry, row: tuple[int, ...]) -> int:
        here.record.add(path[len(here.prefix) :], row, entry.hex)
        here.entries.append(entry)
        return len(here.entries) - 1

    def _close(self, here: _Folder) -> None:
        """Decide the files of a folder left behind, and keep its row."""
        cmp = self.cmp
        cmp.added.extend(here.added)
        todo = [(p, st) for _, p, st in here.pending]
        todo += [(p, cmp.present[p]) for p in here.added] if self.hash_changed else []
        if todo:
            items = [(os.path.join(self.base, p), st) for p, st in todo]
            hexes = dict(
                zip(
                    (p for p, _ in todo),
                    ingest.hash_files(items, self.repo.statcache),
                    strict=True,
                )
            )
            for p in here.added if self.hash_changed else []:
                cmp.current_hex[p] = hexes[p]
            for i, p, st in here.pending:
                entry = here.entries[i]
                if hexes[p] == entry.hex and is_executable(st) == entry.executable:
                    here.record.set_row(i, folderstats.trusted_row(st, self.trusted_before))
                    continue
                cmp.modified.append(p)
                cmp.present[p] = st
                cmp.current_hex[p] = hexes[p]
                self.expected[p] = entry
        if here.record.names:
            self.done.append((here.prefix, here.record.encode()))

    def finish(self) -> Comparison:
        while self.open:
            self._close(self.open.pop())
        cmp = self.cmp
        cmp.expected = self.expected
        cmp.added.sort()
        cmp.modified.sort()
        cmp.deleted.sort()
        return cmp


def compare_streaming(repo: Repo, tracked: Tracked, hash_changed: bool) -> Comparison:
    """Compare a tracked folder with its listing in step and record its snapshot.
    Raises :class:`~gitrelstate.state.manifest.NotCanonical` for a listing that is not
    in canonical form (compare it the dictionary way)."""
    where = tracked.pointer_rel
    try:
        raw = pointers.read_listing(repo, tracked.pointer.hash, where)
    except RelstateError as exc:
        return Comparison(tracked, {}, {}, problem=exc.message)
    merge = _Merge(repo, tracked, hash_changed)
    leftovers: list[Path] = []
    listed = _entries(raw, where)
    found = _files(walk_segments(tracked.data_abs(repo), repo.root, leftovers, repo.cache.root))
    try:
        cmp = _merged(merge, listed, found)
    except (StateFileError, UnsafePathError) as exc:  # a damaged or hostile listing
        return Comparison(tracked, {}, {}, problem=exc.message, leftovers=leftovers)
    cmp.leftovers = leftovers
    folderstats.save_snapshot(repo.statcache, merge.base, tracked.pointer.hash, merge.done)
    return cmp


def _merged(
    merge: _Merge,
    listed: Iterator[tuple[str, Entry]],
    found: Iterator[tuple[str, os.stat_result]],
) -> Comparison:
    a, b = next(listed, None), next(found, None)
    n_listed = n_found = 0
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            merge.listed_only(*a)
            n_listed += 1
            a = next(listed, None)
        elif a is None or b[0] < a[0]:
            merge.found_only(*b)
            n_found += 1
            b = next(found, None)
        else:
            merge.both(a[0], a[1], b[1])
            n_listed += 1
            n_found += 1
            a, b = next(listed, None), next(found, None)
    cmp = merge.finish()
    cmp.found, cmp.listed = n_found, n_listed
    return cmp


def _entries(raw: bytes, where: str) -> Iterator[tuple[str, Entry]]:
    for paths, entries in iter_entries(raw, where):
        yield from zip(paths, entries, strict=True)


def _files(segments: Iterator[Segment]) -> Iterator[tuple[str, os.stat_result]]:
    for seg in segments:
        prefix = seg.prefix
        for name, st in zip(seg.names, seg.stats, strict=True):
            yield prefix + name, st

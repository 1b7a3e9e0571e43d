"""Comparing the work tree with a pointer: what was added, modified or deleted."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate import hashing
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.state.manifest import Entry
from gitrelstate.store.statcache import tree_digest
from gitrelstate.workspace import pointers
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.walk import is_executable, walk_files

# Keys are paths relative to the tracked path; "" is the tracked path itself
# when it is (or should be) a single file.
SELF = ""


@dataclass
class Comparison:
    tracked: Tracked
    expected: Mapping[str, Entry]
    present: dict[str, os.stat_result]
    current_hex: dict[str, str] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    problem: str | None = None
    leftovers: list[Path] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.problem is not None:
            return "unknown"
        if not self.present and self.expected:
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

    Files whose stat matches the stat cache are not read.  With ``hash_changed``,
    the content of added and resized files is hashed too (checkout needs to know
    whether their content is safe in the cache).
    """
    leftovers: list[Path] = []
    present = present_entries(repo, tracked, leftovers)
    digest: str | None = None
    pointer = tracked.pointer
    where = str(tracked.data_abs(repo))
    if pointer.is_dir and present and SELF not in present:
        digest = tree_digest(present)
        if repo.statcache.tree_matches(where, pointer.hash, digest):
            return Comparison(tracked, {}, present, leftovers=leftovers)
    try:
        expected = expected_entries(repo, tracked)
    except RelstateError as exc:
        return Comparison(tracked, {}, present, problem=exc.message, leftovers=leftovers)
    cmp = Comparison(tracked, expected, present, leftovers=leftovers)
    to_hash: list[str] = []
    for key, st in present.items():
        entry = expected.get(key)
        if entry is None:
            cmp.added.append(key)
            if hash_changed:
                to_hash.append(key)
        elif entry.size == st.st_size or hash_changed:
            to_hash.append(key)
        else:
            cmp.modified.append(key)
    cmp.deleted = [k for k in expected if k not in present]
    if to_hash:
        base = where
        items = [(os.path.join(base, k) if k else base, present[k]) for k in to_hash]
        from gitrelstate.store import ingest

        hexes = ingest.hash_files(items, repo.statcache)
        cmp.current_hex = dict(zip(to_hash, hexes, strict=True))
    for key in to_hash:
        entry = expected.get(key)
        if entry is None or key in cmp.modified:
            continue
        if cmp.current_hex[key] != entry.hex or is_executable(present[key]) != entry.executable:
            cmp.modified.append(key)
    cmp.added.sort()
    cmp.modified.sort()
    cmp.deleted.sort()
    if cmp.clean and digest is not None:
        repo.statcache.remember_tree(where, pointer.hash, digest)
    return cmp

"""Turning work-tree data into cached objects and a pointer (the core of ``track``)."""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass
from pathlib import Path

from gitrelstate import hashing, ui
from gitrelstate.repo import Repo
from gitrelstate.state.manifest import Entry, Manifest
from gitrelstate.state.pointer import DataPointer
from gitrelstate.store import ingest
from gitrelstate.store.statcache import tree_digest
from gitrelstate.workspace.walk import is_executable, walk_files


@dataclass(frozen=True)
class Snapshot:
    """What a path holds now: its content id, size, file count (dirs) and manifest."""

    hash: str
    size: int
    nfiles: int | None
    executable: bool
    manifest: Manifest | None


def snapshot(
    repo: Repo,
    path: Path,
    *,
    store: bool,
    label: str = "hashing",
    previous: DataPointer | None = None,
) -> Snapshot:
    """Hash ``path`` (file or folder); with ``store``, put every object in the cache.

    A folder whose files' stats all match what was recorded when ``previous``
    was last seen clean is not looked at further: re-tracking it costs stats.
    """
    st = os.stat(path)
    target_store = repo.cache if store else None
    if stat_mod.S_ISDIR(st.st_mode):
        files = walk_files(path, repo.root, cache_root=repo.cache.root)
        if (
            previous is not None
            and previous.is_dir
            and repo.statcache.tree_matches(str(path), previous.hash, tree_digest(files))
            and repo.cache.exists(hashing.hex_of(previous.hash))
        ):
            return Snapshot(previous.hash, previous.size, previous.nfiles, False, None)
        names = sorted(files)
        base = str(path)
        items = [(os.path.join(base, name), files[name]) for name in names]
        # Small new files go into one pack (published before the manifest below).
        with repo.cache.packing(), ui.progress(len(items), label) as progress:
            hexes = ingest.hash_files(items, repo.statcache, target_store, progress=progress)
        manifest = Manifest(
            {
                name: Entry(hex_, files[name].st_size, is_executable(files[name]))
                for name, hex_ in zip(names, hexes, strict=True)
            }
        )
        raw = manifest.to_bytes()
        manifest_hex = hashing.hash_bytes(raw)
        if store:
            # Written after every file it lists: a manifest in the cache means
            # the whole tree is there.
            repo.cache.add_bytes(manifest_hex, raw)
            repo.statcache.remember_tree(base, hashing.content_id(manifest_hex), tree_digest(files))
        return Snapshot(
            hashing.content_id(manifest_hex), manifest.size, manifest.nfiles, False, manifest
        )
    [hex_] = ingest.hash_files([(path, st)], repo.statcache, target_store)
    return Snapshot(hashing.content_id(hex_), st.st_size, None, is_executable(st), None)


def pointer_from(snap: Snapshot, name: str, previous: DataPointer | None) -> DataPointer:
    """The pointer for ``snap``, keeping unknown keys of the previous pointer."""
    extra = dict(previous.extra) if previous is not None else {}
    return DataPointer(name, snap.hash, snap.size, snap.nfiles, snap.executable, extra)

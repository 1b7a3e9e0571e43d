"""Garbage collection in the cache: what is not kept goes, packs are rewritten so that a
reader never misses an object that stays."""

from __future__ import annotations

import contextlib
import os

from gitrelstate import faults, hashing
from gitrelstate.store.objects import ObjectStore
from gitrelstate.store.packs import PackIndex, PackWriter


def collect_garbage(store: ObjectStore, keep: set[str], dry_run: bool) -> tuple[int, int]:
    """Remove every object not in ``keep`` (loose files; packs are rewritten without them):
    (objects removed, bytes freed)."""
    removed = size = 0
    # Loose objects.
    for hex_ in list(store.iter_loose()):
        if hex_ in keep:
            continue
        path = store.path(hex_)
        with contextlib.suppress(FileNotFoundError):
            size += path.stat().st_size
            if not dry_run:
                faults.checkpoint("gc.unlink")
                path.unlink()
            removed += 1
    # Packs: rewrite those holding garbage with only what is kept.
    for pack in list(store.packs):
        garbage = {d: v for d, v in pack.entries.items() if d.hex() not in keep}
        if not garbage:
            continue
        removed += len(garbage)
        size += sum(s for _, s in garbage.values())
        if dry_run:
            continue
        kept = [d for d in pack.entries if d not in garbage]
        _repack(store, pack, kept)
    if not dry_run:
        store.clean_tmp()
    return removed, size


def _repack(store: ObjectStore, pack: PackIndex, kept: list[bytes]) -> None:
    """Replace ``pack`` by a new one with ``kept`` objects; readers never miss one."""
    if kept:
        writer = PackWriter(store.packs_dir)
        try:
            for digest in kept:
                data = pack.read(digest)
                if hashing.hash_bytes(data) == digest.hex():  # never carry corruption over
                    writer.add(digest, data)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    # The new pack is published before the old index goes: an object is never absent.
    pack.close()
    faults.checkpoint("gc.drop_pack")
    os.unlink(pack.idx_path)
    os.unlink(pack.pack_path)
    store.forget_packs()

"""Garbage collection on a remote: objects no reference needs are deleted, packs holding
some are rewritten."""

from __future__ import annotations

from gitrelstate import hashing
from gitrelstate.remotes import packtransfer
from gitrelstate.remotes.remote import Remote
from gitrelstate.state.manifest import Manifest
from gitrelstate.store.objects import ObjectStore
from gitrelstate.workspace.history import ObjectSet


def collect_garbage(
    remote: Remote, store: ObjectStore, needed: ObjectSet, dry_run: bool
) -> tuple[int, int]:
    """Delete from ``remote`` every object ``needed`` does not name (packs rewritten):
    (objects removed, incomplete packs removed)."""
    keep = set(needed.all)
    # A listing only the remote has still protects its files there.
    for rec in needed.unknown_listings:
        hex_ = hashing.hex_of(rec.pointer.hash)
        try:
            with remote.backend.open(hex_) as f:
                raw = f.read()
        except Exception:
            continue
        if hashing.hash_bytes(raw) == hex_:
            keep.update(e.hex for e in Manifest.from_bytes(raw, rec.where).entries.values())
    try:
        listed = remote.backend.list_all()
    except Exception as exc:
        raise remote.error("list", exc) from None
    garbage = sorted(listed - keep)
    if not dry_run:
        for hex_ in garbage:
            try:
                remote.backend.delete(hex_)
            except Exception as exc:
                raise remote.error("delete from", exc) from None
    # Packs: emptied ones go, partly kept ones are rewritten with only what is kept.
    packed, orphans = packtransfer.gc_packs(store, remote, keep, dry_run)
    return len(garbage) + packed, orphans

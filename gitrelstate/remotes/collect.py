"""Garbage collection on a remote: objects no reference needs are deleted, packs holding
some are rewritten."""

from __future__ import annotations

from gitrelstate import hashing
from gitrelstate.errors import IntegrityError, RelstateError, StateFileError
from gitrelstate.remotes import listings, packtransfer
from gitrelstate.remotes.remote import Remote
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
            _, manifest = listings.read_listing(
                remote, hex_, rec.pointer.nfiles, rec.where, store.tmp_dir
            )
        except (FileNotFoundError, IntegrityError, StateFileError):
            continue  # not there, or damaged: it protects nothing
        except RelstateError:
            raise
        except Exception as exc:  # unreachable: collecting now could delete what it lists
            raise remote.error("read a folder listing from", exc) from None
        keep.update(e.hex for e in manifest.entries.values())
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

"""``git relstate gc``: remove objects that no branch, tag or work tree references."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from gitrelstate import faults, fsutil, git, hashing, ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.store.objects import ObjectStore
from gitrelstate.store.packs import PackIndex, PackWriter
from gitrelstate.workspace import history


def gc(repo: Repo, *, dry_run: bool, remote_name: str | None, force: bool) -> int:
    if remote_name is not None and not force and not dry_run:
        raise RelstateError(
            f"gc on remote '{remote_name}' deletes data other clones may still need",
            hint="look first with --dry-run, then confirm with --force",
        )
    with repo.locked(), fsutil.storage_errors():
        # Every ref (branches, tags, remotes, stash) in all of history, plus
        # the work tree's pointers, committed or not.
        recorded = history.recorded_pointers(repo, ["--all"], work_tree=True)
        # Releases keep what they bind, even data no pointer names any more.
        recorded += history.release_pointers(repo, ["--all"], work_tree=True)
        # So do run records (checkout --run and reproduce restore their data).
        recorded += history.run_pointers(repo, ["--all"], work_tree=True)
        # Every worktree of the clone shares this cache: what another one tracked
        # but has not committed yet (or a reproduction in progress) is kept too.
        for other in _other_worktrees(repo):
            recorded += history.recorded_pointers(other, [], work_tree=True)
            recorded += history.release_pointers(other, [], work_tree=True)
            recorded += history.run_pointers(other, [], work_tree=True)
        needed = history.needed_objects(repo, recorded)
        if remote_name is None:
            if needed.unknown_listings:
                ui.warn(
                    f"{len(needed.unknown_listings)} directory listing(s) referenced in "
                    "history are not in the cache; files only they list are not kept"
                )
            removed, size = _gc_cache(repo.cache, needed.all, dry_run)
            where = "the cache"
        else:
            removed, size = _gc_remote(repo, remote_name, needed, dry_run)
            where = f"remote '{remote_name}'"
    verb = "would remove" if dry_run else "removed"
    amount = f" ({ui.human_size(size)})" if size is not None else ""
    ui.echo(
        f"{verb} {removed} unreferenced object(s){amount} from {where}; "
        f"kept {len(needed.all)} referenced"
    )
    return 0


def _other_worktrees(repo: Repo) -> list[Repo]:
    listing = git.run(repo.root, ["worktree", "list", "--porcelain"], check=False)
    found = []
    for field in listing.splitlines():
        if not field.startswith("worktree "):
            continue
        path = Path(field[len("worktree ") :])
        if path.is_dir() and path.resolve() != repo.root:
            found.append(Repo.discover(path))
    return found


def _gc_cache(store: ObjectStore, keep: set[str], dry_run: bool) -> tuple[int, int | None]:
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


def _gc_remote(
    repo: Repo, remote_name: str, needed: history.ObjectSet, dry_run: bool
) -> tuple[int, int | None]:
    from gitrelstate.remotes import packtransfer
    from gitrelstate.remotes.remote import resolve as resolve_remote
    from gitrelstate.state.manifest import Manifest

    remote = resolve_remote(repo, remote_name)
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
    packed, orphans = packtransfer.gc_packs(repo.cache, remote, keep, dry_run)
    if orphans:
        verb = "would remove" if dry_run else "removed"
        ui.echo(f"{verb} {orphans} incomplete pack file(s) (no index) from {remote.shown}")
    return len(garbage) + packed, None

"""Pushing small objects to a remote in packs, fetching from packs, verifying and
collecting garbage in them (the pack format and index: :mod:`gitrelstate.remotes.packindex`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from gitrelstate import faults, hashing, ui
from gitrelstate.errors import IntegrityError, RelstateError, RemoteError
from gitrelstate.remotes import retry
from gitrelstate.remotes.packindex import (
    CHUNK,
    MAX_ENTRIES,
    MAX_PACK_BYTES,
    MIN_OBJECTS,
    MIN_PACK_BYTES,
    PACK_GONE,
    SPLIT,
    RemotePacks,
    pack_name,
    run_packs,
    temp_file,
)
from gitrelstate.remotes.remote import Remote
from gitrelstate.store.objects import ObjectStore
from gitrelstate.store.packs import ENTRY, MAGIC, PACKABLE, Entries

# -- push -----------------------------------------------------------------------------


def packable(remote: Remote, hexes: Sequence[str], sizes: dict[str, int]) -> list[str]:
    """Those of ``hexes`` to send in packs: small ones, when there are enough of them."""
    if not remote.packs:
        return []
    small = [h for h in hexes if sizes[h] <= PACKABLE]
    return small if len(small) >= MIN_OBJECTS else []


def _groups(hexes: Sequence[str], sizes: dict[str, int]) -> list[list[str]]:
    """Split into packs: sorted (so a rerun builds the same packs, with the same ids),
    at most ``MAX_PACK_BYTES`` and ``MAX_ENTRIES`` entries each (what readers accept),
    and at least ``SPLIT`` when that leaves each over ``MIN_PACK_BYTES``."""
    total = sum(sizes[h] for h in hexes)
    target = min(MAX_PACK_BYTES, max(MIN_PACK_BYTES, total // SPLIT))
    groups: list[list[str]] = [[]]
    filled = 0
    for hex_ in sorted(hexes):
        if groups[-1] and (filled + sizes[hex_] > target or len(groups[-1]) >= MAX_ENTRIES):
            groups.append([])
            filled = 0
        groups[-1].append(hex_)
        filled += sizes[hex_]
    return groups


def push_packs(
    store: ObjectStore,
    remote: Remote,
    hexes: Sequence[str],
    sizes: dict[str, int],
    read: Callable[[str], bytes],
    jobs: int,
) -> None:
    """Upload ``hexes`` in packs, each pack before its index.  ``read`` returns an
    object's bytes from the cache, verified against its name."""
    packs = RemotePacks(remote)
    groups = _groups(hexes, sizes)
    uploaded: dict[str, bytes] = {}  # pack id -> index, kept as copies at the end
    for pack in store.packs:
        _ = pack.entries  # loaded once here rather than raced for by the threads

    with ui.transfer_progress(len(hexes), sum(sizes[h] for h in hexes), "push") as advance:

        def one(group: list[str]) -> None:
            with temp_file(store.tmp_dir) as tmp:
                pack_id, index = _write_pack(tmp, group, read)
                idx_tmp = tmp.with_name(tmp.name + "-idx")
                try:
                    idx_tmp.write_bytes(index)
                    name = pack_name(pack_id, "pack")
                    faults.checkpoint("remotepacks.put_pack")
                    retry.retrying(lambda: remote.backend.put_named(name, tmp))
                    # The index last: only now do the pack's objects exist on the remote.
                    faults.checkpoint("remotepacks.put_index")
                    retry.retrying(
                        lambda: remote.backend.put_named(pack_name(pack_id, "idx"), idx_tmp)
                    )
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        idx_tmp.unlink()
            uploaded[pack_id] = index
            advance(len(group), sum(sizes[h] for h in group))

        failures = run_packs(groups, one, jobs)
    packs.remember(uploaded)
    if failures:
        raise retry.as_error(
            remote, "upload to", failures[0], what="a pack", missing_hint=PACK_GONE
        )


def _write_pack(
    path: Path, hexes: Sequence[str], read: Callable[[str], bytes]
) -> tuple[str, bytes]:
    """Write the pack of ``hexes`` to ``path``; return its id and its index bytes."""
    hasher = hashing.hasher(MAX_PACK_BYTES)
    table = []
    offset = 0
    with open(path, "wb") as f:
        for hex_ in hexes:
            data = read(hex_)
            f.write(data)
            hasher.update(data)
            table.append((bytes.fromhex(hex_), offset, len(data)))
            offset += len(data)
    index = MAGIC + b"".join(ENTRY.pack(d, o, s) for d, o, s in sorted(table))
    return str(hasher.hexdigest()), index


@contextlib.contextmanager
def _downloaded(remote: Remote, packs: RemotePacks, pack_id: str, folder: Path) -> Iterator[Path]:
    """The whole pack in a temp file (streamed: constant memory), never more than the
    size the listing showed (which its valid index fits in)."""
    name = pack_name(pack_id, "pack")
    size = packs.sizes[pack_id]
    with temp_file(folder) as tmp:
        try:
            retry.retrying(lambda: remote.backend.fetch_file(name, tmp, size))
        except Exception as exc:
            raise retry.as_error(
                remote, "download from", exc, what=f"pack {name}", missing_hint=PACK_GONE
            ) from None
        yield tmp


def _stream_range(
    fd: int, offset: int, size: int, sink: Callable[[bytes], object] | None = None
) -> str | None:
    """Hash (and pass on) ``size`` bytes at ``offset``; None when the file ends first."""
    hasher = hashing.hasher(size)
    done = 0
    while done < size:
        chunk = os.pread(fd, min(CHUNK, size - done), offset + done)
        if not chunk:
            return None
        hasher.update(chunk)
        if sink is not None:
            sink(chunk)
        done += len(chunk)
    return str(hasher.hexdigest())


def _corrupt(remote: Remote, hex_: str, pack_id: str, actual: str | None) -> IntegrityError:
    found = f"its content hashes to {actual[:16]}…" if actual else "the pack is truncated"
    return IntegrityError(
        f"object {hex_[:16]}… in {pack_name(pack_id, 'pack')} on remote {remote.shown} is "
        f"corrupt ({found}); it was not stored",
        hint=f"run 'git relstate verify -r {remote.name}' in a clone that has a good "
        "copy (it removes corrupt objects from the remote), then push from there",
    )


def _install(
    store: ObjectStore, remote: Remote, pack_id: str, path: Path, entries: Entries, hexes: list[str]
) -> None:
    """Move the needed entries of a downloaded pack into the cache, all verified first:
    a pack with one corrupt entry gives nothing (every entry is small and inside the
    pack: the index was validated)."""
    order = sorted(hexes, key=lambda h: entries[bytes.fromhex(h)][0])
    with open(path, "rb") as f:
        fd = f.fileno()
        for hex_ in order:
            offset, size = entries[bytes.fromhex(hex_)]
            data = os.pread(fd, size, offset)
            actual = hashing.hash_bytes(data) if len(data) == size else None
            if actual != hex_:
                raise _corrupt(remote, hex_, pack_id, actual)
        for hex_ in order:  # our own temp file, read again rather than held in memory
            offset, size = entries[bytes.fromhex(hex_)]
            faults.checkpoint("remotepacks.install")
            store.add_bytes(hex_, os.pread(fd, size, offset))  # into the cache's current pack


def fetch_packed(
    store: ObjectStore, remote: Remote, missing: Sequence[str], jobs: int
) -> list[str]:
    """Bring those of ``missing`` that live in remote packs into the cache (whole packs
    are downloaded, the needed entries verified and kept); return the others.

    A pack that cannot be read whole, or holds a corrupt entry, gives nothing: what it
    should have provided comes from another pack holding it or, with a warning, from
    loose copies; when neither has it, the pack's own error is raised."""
    packs = RemotePacks.load(remote, jobs)
    todo = set(missing)
    failed: dict[str, RelstateError] = {}
    # Small objects go into one cache pack, published only if the fetch succeeds.
    with store.packing():
        while True:
            by_pack = packs.locate(sorted(todo), exclude=failed.keys())
            if not by_pack:
                break
            round_failed = _fetch_round(store, remote, packs, by_pack, jobs)
            for exc in round_failed.values():
                if not isinstance(exc, IntegrityError):
                    raise exc  # the remote is unreachable, or our disk is full
            failed.update(round_failed)
            todo -= {h for p, hs in by_pack.items() if p not in failed for h in hs}
        if failed:
            stranded = todo & packs.holding(todo)  # in a failed pack and no other
            if stranded and stranded - _loose_on(remote, stranded):
                raise next(iter(failed.values()))
            for exc in failed.values():
                ui.warn(f"{exc.message}; its objects are fetched from loose copies instead")
    return [h for h in missing if h in todo]


def _loose_on(remote: Remote, hexes: set[str]) -> set[str]:
    try:
        return remote.backend.existing(hexes)
    except Exception as exc:
        raise remote.error("list", exc) from None


def _fetch_round(
    store: ObjectStore, remote: Remote, packs: RemotePacks, by_pack: dict[str, list[str]], jobs: int
) -> dict[str, RelstateError]:
    """Fetch from each pack in ``by_pack``; return the packs that failed, with why."""
    count = sum(len(v) for v in by_pack.values())
    total = sum(packs.indexes[p][bytes.fromhex(h)][1] for p, hs in by_pack.items() for h in hs)
    failed: dict[str, RelstateError] = {}

    def one(pack_id: str) -> None:
        hexes = by_pack[pack_id]
        try:
            with _downloaded(remote, packs, pack_id, store.tmp_dir) as path:
                _install(store, remote, pack_id, path, packs.indexes[pack_id], hexes)
        except Exception as exc:
            failed[pack_id] = retry.as_error(
                remote, "download from", exc, what=f"pack {pack_id[:16]}…", missing_hint=PACK_GONE
            )
            return
        advance(len(hexes), sum(packs.indexes[pack_id][bytes.fromhex(h)][1] for h in hexes))

    with ui.transfer_progress(count, total, "fetch packs") as advance:
        run_packs(sorted(by_pack), one, jobs)
    return failed


# -- verify and gc --------------------------------------------------------------------


def verify_packed(
    store: ObjectStore,
    remote: Remote,
    packs: RemotePacks,
    hexes: Iterable[str],
    label: Callable[[str], str],
    jobs: int,
) -> list[str]:
    """Download the packs holding ``hexes`` and re-hash those entries; a pack with a
    corrupt one is rewritten without it (so a push from a good clone can restore it)."""
    by_pack = packs.locate(hexes)
    problems: list[str] = []

    def one(pack_id: str) -> None:
        entries = packs.indexes[pack_id]
        try:
            with _downloaded(remote, packs, pack_id, store.tmp_dir) as path:
                needs = max((o + s for o, s in entries.values()), default=0)
                if os.path.getsize(path) < needs:
                    # Short: maybe the transfer, maybe the remote. Nothing is removed
                    # on that evidence (a rewrite would drop every entry past the end).
                    raise RemoteError(f"{pack_name(pack_id, 'pack')} is truncated")
                with open(path, "rb") as f:
                    bad = [
                        h
                        for h in by_pack[pack_id]
                        if _stream_range(f.fileno(), *entries[bytes.fromhex(h)]) != h
                    ]
                if not bad:
                    return
                try:
                    keep = [d for d in entries if d.hex() not in bad]
                    _rewrite(store, remote, packs, pack_id, path, keep, strict=False)
                    what = "corrupt (removed from the remote's pack)"
                except Exception:
                    what = "corrupt (could not be removed)"
                problems.extend(f"{what}: {label(h)}" for h in bad)
        except Exception as exc:
            why = exc.message if isinstance(exc, RelstateError) else str(exc) or type(exc).__name__
            problems.extend(
                f"unreadable: {label(h)} ({why.splitlines()[0]})" for h in by_pack[pack_id]
            )

    with ui.progress(len(by_pack), "verify packs", unit="pack") as advance:

        def checked(pack_id: str) -> None:
            one(pack_id)
            advance(1)

        run_packs(sorted(by_pack), checked, jobs)
    return sorted(problems)


def _rewrite(
    store: ObjectStore,
    remote: Remote,
    packs: RemotePacks,
    pack_id: str,
    path: Path,
    keep: list[bytes],
    *,
    strict: bool,
) -> None:
    """Replace a pack (downloaded to ``path``) by one holding only ``keep``: the new
    pack and its index go up first, then the old index, then the old pack, so a kept
    object is never absent.  Each kept entry is re-hashed on the way; a bad one is
    dropped, or with ``strict`` stops the rewrite before anything is deleted."""
    entries = packs.indexes[pack_id]
    with temp_file(store.tmp_dir) as tmp:
        if keep:
            table = []
            hasher = hashing.hasher(MAX_PACK_BYTES)
            offset = 0
            with open(path, "rb") as src, open(tmp, "wb") as dst:

                def take(chunk: bytes) -> None:
                    dst.write(chunk)
                    hasher.update(chunk)

                for digest in sorted(keep, key=lambda d: entries[d][0]):
                    old_offset, size = entries[digest]
                    # Checked before it is copied: corruption never moves to a new pack.
                    if _stream_range(src.fileno(), old_offset, size) != digest.hex():
                        if strict:
                            raise IntegrityError(
                                f"object {digest.hex()[:16]}… in {pack_name(pack_id, 'pack')} "
                                f"on remote {remote.shown} is corrupt; that pack was left as is",
                                hint=f"run 'git relstate verify -r {remote.name}' first",
                            )
                        continue
                    _stream_range(src.fileno(), old_offset, size, take)
                    table.append((digest, offset, size))
                    offset += size
            if table:
                new_id = str(hasher.hexdigest())
                index = MAGIC + b"".join(ENTRY.pack(d, o, s) for d, o, s in sorted(table))
                if new_id == pack_id:
                    return  # nothing dropped after all
                idx_tmp = tmp.with_name(tmp.name + "-idx")
                try:
                    idx_tmp.write_bytes(index)
                    retry.retrying(lambda: remote.backend.put_named(pack_name(new_id, "pack"), tmp))
                    retry.retrying(
                        lambda: remote.backend.put_named(pack_name(new_id, "idx"), idx_tmp)
                    )
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        idx_tmp.unlink()
                packs.remember({new_id: index})
    drop_pack(remote, packs, pack_id)


def drop_pack(remote: Remote, packs: RemotePacks, pack_id: str) -> None:
    """Delete a pack: index first (its objects stop existing), then the data."""
    faults.checkpoint("remotepacks.drop")
    retry.retrying(lambda: remote.backend.delete_named(pack_name(pack_id, "idx")))
    retry.retrying(lambda: remote.backend.delete_named(pack_name(pack_id, "pack")))
    packs.forget(pack_id)


def gc_packs(store: ObjectStore, remote: Remote, keep: set[str], dry_run: bool) -> tuple[int, int]:
    """Drop unreferenced objects from the remote's packs; return (objects, packs removed
    whole). A pack with nothing kept is deleted; one with some kept is rewritten with
    only those; a pack without index (an interrupted push) is deleted, and so is one
    whose index is damaged (its objects could not be read anyway; a push from a clone
    that has them uploads them again)."""
    try:
        packs = RemotePacks.load(remote, fresh=True)
    except RelstateError:
        raise
    except Exception as exc:
        raise remote.error("list", exc) from None
    removed = 0
    for pack_id, entries in sorted(packs.indexes.items()):
        kept = [d for d in entries if d.hex() in keep]
        if len(kept) == len(entries):
            continue
        removed += len(entries) - len(kept)
        if dry_run:
            continue
        try:
            if kept:
                with _downloaded(remote, packs, pack_id, store.tmp_dir) as path:
                    _rewrite(store, remote, packs, pack_id, path, kept, strict=True)
            else:
                drop_pack(remote, packs, pack_id)
        except Exception as exc:
            raise retry.as_error(
                remote,
                "rewrite a pack on",
                exc,
                what=f"pack {pack_id[:16]}…",
                missing_hint=PACK_GONE,
            ) from None
    if not dry_run:
        for pack_id in sorted(packs.damaged):
            _delete(remote, pack_name(pack_id, "idx"))  # the index first, as for any pack
            _delete(remote, pack_name(pack_id, "pack"))
        for pack_id in packs.orphans:
            _delete(remote, pack_name(pack_id, "pack"))
    return removed, len(packs.orphans) + len(packs.damaged)


def _delete(remote: Remote, name: str) -> None:
    try:
        retry.retrying(lambda: remote.backend.delete_named(name))
    except Exception as exc:
        raise remote.error("delete from", exc) from None

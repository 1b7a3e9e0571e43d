"""Remote packs: small objects travel to and from remotes in pack files.

One request per object makes a push of 20,000 small files cost 20,000 PUTs; the
server's request rate is then the limit.  So push groups missing small objects
into packs of up to ``MAX_PACK_BYTES`` and uploads each as two files below the
remote root, in exactly the cache's pack format (:mod:`gitrelstate.packs`):
``packs/pack-<id>.pack`` first, ``packs/pack-<id>.idx`` last.  An index on the
remote means its pack is complete; a pack without an index is ignored (and
removed by ``gc --remote``).  ``<id>`` is the blake3 of the pack's bytes, so
uploading the same pack twice (a rerun after a crash) writes the same names.

Every command lists ``packs/`` once; indexes are immutable, so each is
downloaded once and kept under ``<private dir>/remote-packs/<remote digest>/``.
Directory listings never go into packs: they stay loose and are uploaded after
everything they list, as before.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gitrelstate import faults, fsutil, hashing, ui
from gitrelstate.errors import IntegrityError, RelstateError, RemoteError
from gitrelstate.remotes.backends.base import IN_MEMORY
from gitrelstate.remotes.remote import Remote, is_local
from gitrelstate.store.objects import ObjectStore
from gitrelstate.store.packs import ENTRY, MAGIC, PACKABLE

PACKS_DIR = "packs"
# Fewer missing small objects than this travel loose (a pack saves nothing there).
MIN_OBJECTS = 64
MAX_PACK_BYTES = 32 * 1024 * 1024
MIN_PACK_BYTES = 1024 * 1024
# A push is split into at least this many packs (when big enough), so that building
# and uploading them overlap.
SPLIT = 4
MAX_IN_FLIGHT = 8  # packs moving at once (disk: up to this many temp packs)
RETRIES = 3
FIRST_BACKOFF = 0.5
CHUNK = 8 * 1024 * 1024
_NAME = re.compile(r"^pack-([0-9a-f]{16,64})\.(pack|idx)$")

Entries = dict[bytes, tuple[int, int]]  # digest -> (offset, size)
T = TypeVar("T")


def _hasher(size: int) -> Any:
    from blake3 import blake3

    # Threads pay off only for big inputs (a whole pack), not for one small entry.
    return blake3(max_threads=blake3.AUTO) if size >= 4 * 1024 * 1024 else blake3()


def pack_name(pack_id: str, ext: str) -> str:
    return f"{PACKS_DIR}/pack-{pack_id}.{ext}"


def parse_index(raw: bytes) -> Entries | None:
    """The entries of an index file, or None when it is malformed."""
    if not raw.startswith(MAGIC) or (len(raw) - len(MAGIC)) % ENTRY.size:
        return None
    return {d: (o, s) for d, o, s in ENTRY.iter_unpack(memoryview(raw)[len(MAGIC) :])}


# -- requests, retried ----------------------------------------------------------------


def _transient(exc: BaseException) -> bool:
    return not isinstance(
        exc, (FileNotFoundError, PermissionError, RelstateError)
    ) and not fsutil.storage_error(exc)


def _retrying(call: Callable[[], T]) -> T:
    """One request with retries and backoff on transient errors (as for objects)."""
    delay = FIRST_BACKOFF
    for attempt in range(RETRIES):
        try:
            return call()
        except Exception as exc:
            if attempt == RETRIES - 1 or not _transient(exc):
                raise
            ui.debug(f"retrying in {delay:.1f}s after: {type(exc).__name__}")
            time.sleep(delay)
            delay *= 4
    raise AssertionError("unreachable")


def _as_error(remote: Remote, action: str, what: str, exc: BaseException) -> RelstateError:
    """A user-facing error for a failed pack transfer, naming the remote."""
    if isinstance(exc, RelstateError):
        return exc
    local_trouble = fsutil.storage_error(exc)  # our disk is full, not the remote down
    if local_trouble is not None:
        return local_trouble
    if isinstance(exc, FileNotFoundError):
        return RemoteError(
            f"{what} is missing on remote {remote.shown}",
            hint="another clone may have removed it ('gc --remote'); run the command again",
        )
    return remote.error(action, exc)


def _run_all(items: Sequence[T], work: Callable[[T], None], jobs: int) -> list[BaseException]:
    """Run ``work`` over ``items`` with up to ``jobs`` threads; return the failures."""
    failures: list[BaseException] = []

    def one(item: T) -> None:
        try:
            work(item)
        except Exception as exc:
            failures.append(exc)

    workers = max(1, min(jobs, MAX_IN_FLIGHT, len(items)))
    if workers == 1:
        for item in items:
            one(item)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, items))
    return failures


# -- what the remote holds ------------------------------------------------------------


def _index_dir(remote: Remote) -> Path | None:
    """This clone's copies of the remote's pack indexes (one folder per remote)."""
    if remote.private_dir is None:
        return None
    where = remote.url
    if is_local(remote.url):
        where = str(getattr(remote.backend, "root", remote.url))  # relative URLs resolved
    return remote.private_dir / "remote-packs" / hashing.hash_bytes(where.encode())[:32]


class RemotePacks:
    """The complete packs on a remote (those with an index), listed once."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.indexes: dict[str, Entries] = {}
        self.orphans: list[str] = []  # ids of packs whose index never arrived
        self._where: dict[bytes, str] | None = None

    @classmethod
    def load(cls, remote: Remote, jobs: int = MAX_IN_FLIGHT) -> RemotePacks:
        packs = cls(remote)
        try:
            names = _retrying(lambda: remote.backend.list_names(PACKS_DIR))
        except Exception as exc:
            raise _as_error(remote, "list", f"folder {PACKS_DIR}/", exc) from None
        found: dict[str, set[str]] = {"pack": set(), "idx": set()}
        for name in names:
            match = _NAME.match(name)
            if match:
                found[match.group(2)].add(match.group(1))
        packs.orphans = sorted(found["pack"] - found["idx"])
        # An index whose pack is gone describes nothing: its objects count as absent,
        # so a push sends them again.
        live = sorted(found["idx"] & found["pack"])
        local = _index_dir(remote)
        raws = packs._read_indexes(live, local, jobs)
        for pack_id in live:
            entries = parse_index(raws[pack_id])
            if entries is None:
                ui.warn(
                    f"pack index {pack_name(pack_id, 'idx')} on remote {remote.shown} is "
                    "malformed; its objects are treated as absent"
                )
                continue
            packs.indexes[pack_id] = entries
        return packs

    def _read_indexes(self, live: list[str], local: Path | None, jobs: int) -> dict[str, bytes]:
        raws: dict[str, bytes] = {}
        wanted = set(live)
        if local is not None and local.is_dir():
            for entry in os.scandir(local):
                match = _NAME.match(entry.name)
                if match and match.group(1) in wanted:
                    with contextlib.suppress(OSError):
                        raws[match.group(1)] = Path(entry.path).read_bytes()
                elif not fsutil.is_tmp_name(entry.name) or fsutil.is_stale_tmp(Path(entry.path)):
                    # The pack is gone from the remote (or a temp file was left behind).
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        todo = [p for p in live if p not in raws]
        if not todo:
            return raws
        if local is not None:
            local.mkdir(parents=True, exist_ok=True)

        def download(pack_id: str) -> None:
            raws[pack_id] = self._download_index(pack_id, local)

        failures = _run_all(todo, download, jobs)
        if failures:
            raise _as_error(self.remote, "list", "a pack index", failures[0])
        return raws

    def _download_index(self, pack_id: str, local: Path | None) -> bytes:
        name = pack_name(pack_id, "idx")
        with _temp_file(local) as tmp:
            _retrying(lambda: self.remote.backend.get_named_file(name, tmp))
            raw = tmp.read_bytes()
            if local is not None and parse_index(raw) is not None:
                os.chmod(tmp, 0o444)
                os.replace(tmp, local / f"pack-{pack_id}.idx")  # immutable: kept for good
        return raw

    def remember(self, pack_id: str, index: bytes) -> None:
        """Keep a copy of an index this clone just uploaded (no download next time)."""
        local = _index_dir(self.remote)
        if local is None:
            return
        with contextlib.suppress(OSError):
            local.mkdir(parents=True, exist_ok=True)
            fsutil.write_atomic(local / f"pack-{pack_id}.idx", index, mode=0o444)

    def forget(self, pack_id: str) -> None:
        local = _index_dir(self.remote)
        self.indexes.pop(pack_id, None)
        self._where = None
        if local is not None:
            with contextlib.suppress(OSError):
                os.unlink(local / f"pack-{pack_id}.idx")

    def _lookup(self) -> dict[bytes, str]:
        if self._where is None:
            self._where = {}
            for pack_id, entries in self.indexes.items():
                for digest in entries:
                    self._where.setdefault(digest, pack_id)
        return self._where

    def holding(self, hexes: Iterable[str]) -> set[str]:
        """Those of ``hexes`` that some pack holds."""
        where = self._lookup()
        return {h for h in hexes if bytes.fromhex(h) in where} if where else set()

    def locate(self, hexes: Iterable[str]) -> dict[str, list[str]]:
        """pack id -> those of ``hexes`` it holds (each object in one pack only)."""
        where = self._lookup()
        found: dict[str, list[str]] = {}
        for hex_ in hexes:
            pack_id = where.get(bytes.fromhex(hex_))
            if pack_id is not None:
                found.setdefault(pack_id, []).append(hex_)
        return found


def existing(remote: Remote, wanted: set[str]) -> tuple[set[str], RemotePacks]:
    """Which of ``wanted`` the remote holds, loose or packed, and its packs.  Packs are
    consulted first, so a no-op push of packed objects costs the packs listing plus
    a look for the few loose ones (the directory listings)."""
    packs = RemotePacks.load(remote)
    packed = packs.holding(wanted)
    rest = wanted - packed
    loose = remote.backend.existing(rest) if rest else set()
    return packed | loose, packs


# -- push -----------------------------------------------------------------------------


def packable(remote: Remote, hexes: Sequence[str], sizes: dict[str, int]) -> list[str]:
    """Those of ``hexes`` to send in packs: small ones, when there are enough of them."""
    if not remote.packs:
        return []
    small = [h for h in hexes if sizes[h] <= PACKABLE]
    return small if len(small) >= MIN_OBJECTS else []


def _groups(hexes: Sequence[str], sizes: dict[str, int]) -> list[list[str]]:
    """Split into packs: sorted (so a rerun builds the same packs, with the same ids),
    at most ``MAX_PACK_BYTES`` each, and at least ``SPLIT`` when that leaves each over
    ``MIN_PACK_BYTES``."""
    total = sum(sizes[h] for h in hexes)
    target = min(MAX_PACK_BYTES, max(MIN_PACK_BYTES, total // SPLIT))
    groups: list[list[str]] = [[]]
    filled = 0
    for hex_ in sorted(hexes):
        if groups[-1] and filled + sizes[hex_] > target:
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
    for pack in store.packs:
        _ = pack.entries  # loaded once here rather than raced for by the threads

    with ui.transfer_progress(len(hexes), sum(sizes[h] for h in hexes), "push") as advance:

        def one(group: list[str]) -> None:
            with _temp_file(store.tmp_dir) as tmp:
                pack_id, index = _write_pack(tmp, group, read)
                idx_tmp = tmp.with_name(tmp.name + "-idx")
                try:
                    idx_tmp.write_bytes(index)
                    name = pack_name(pack_id, "pack")
                    faults.checkpoint("remotepacks.put_pack")
                    _retrying(lambda: remote.backend.put_named(name, tmp))
                    # The index last: only now do the pack's objects exist on the remote.
                    faults.checkpoint("remotepacks.put_index")
                    _retrying(lambda: remote.backend.put_named(pack_name(pack_id, "idx"), idx_tmp))
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        idx_tmp.unlink()
            packs.remember(pack_id, index)
            advance(len(group), sum(sizes[h] for h in group))

        failures = _run_all(groups, one, jobs)
    if failures:
        raise _as_error(remote, "upload to", "a pack", failures[0])


def _write_pack(
    path: Path, hexes: Sequence[str], read: Callable[[str], bytes]
) -> tuple[str, bytes]:
    """Write the pack of ``hexes`` to ``path``; return its id and its index bytes."""
    hasher = _hasher(MAX_PACK_BYTES)
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


# -- reading packs --------------------------------------------------------------------


@contextlib.contextmanager
def _temp_file(folder: Path | None) -> Iterator[Path]:
    """A temp path (removed afterwards) in ``folder``, or in the system's temp folder."""
    if folder is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmpdir:
            yield Path(tmpdir) / "pack"
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{fsutil.TMP_MARKER}{os.getpid()}-{os.urandom(8).hex()}"
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def _downloaded(remote: Remote, pack_id: str, folder: Path) -> Iterator[Path]:
    """The whole pack in a temp file (streamed: constant memory)."""
    name = pack_name(pack_id, "pack")
    with _temp_file(folder) as tmp:
        try:
            _retrying(lambda: remote.backend.get_named_file(name, tmp))
        except Exception as exc:
            raise _as_error(remote, "download from", f"pack {name}", exc) from None
        yield tmp


def _stream_range(
    fd: int, offset: int, size: int, sink: Callable[[bytes], object] | None = None
) -> str | None:
    """Hash (and pass on) ``size`` bytes at ``offset``; None when the file ends first."""
    hasher = _hasher(size)
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
    """Move the needed entries of a downloaded pack into the cache, each verified first."""
    with open(path, "rb") as f:
        fd = f.fileno()
        for hex_ in sorted(hexes, key=lambda h: entries[bytes.fromhex(h)][0]):
            offset, size = entries[bytes.fromhex(hex_)]
            if size <= IN_MEMORY:
                data = os.pread(fd, size, offset)
                actual = hashing.hash_bytes(data) if len(data) == size else None
                if actual != hex_:
                    raise _corrupt(remote, hex_, pack_id, actual)
                faults.checkpoint("remotepacks.install")
                store.add_bytes(hex_, data)  # into the cache's current pack
                continue
            tmp = store.tmp_path()  # a big entry (not written by us): streamed
            try:
                with open(tmp, "wb") as out:
                    actual = _stream_range(fd, offset, size, out.write)
                if actual != hex_:
                    raise _corrupt(remote, hex_, pack_id, actual)
                store.install(tmp, hex_)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


def fetch_packed(
    store: ObjectStore, remote: Remote, missing: Sequence[str], jobs: int
) -> list[str]:
    """Bring those of ``missing`` that live in remote packs into the cache (whole packs
    are downloaded, the needed entries verified and kept); return the others."""
    packs = RemotePacks.load(remote, jobs)
    by_pack = packs.locate(missing)
    if not by_pack:
        return list(missing)
    count = sum(len(v) for v in by_pack.values())
    total = sum(packs.indexes[p][bytes.fromhex(h)][1] for p, hs in by_pack.items() for h in hs)

    def one(pack_id: str) -> None:
        with _downloaded(remote, pack_id, store.tmp_dir) as path:
            _install(store, remote, pack_id, path, packs.indexes[pack_id], by_pack[pack_id])
        hexes = by_pack[pack_id]
        advance(len(hexes), sum(packs.indexes[pack_id][bytes.fromhex(h)][1] for h in hexes))

    # Small objects go into one cache pack, published only if every pack checked out.
    with store.packing(), ui.transfer_progress(count, total, "fetch packs") as advance:
        failures = _run_all(sorted(by_pack), one, jobs)
        if failures:
            raise _as_error(remote, "download from", "a pack", failures[0])
    found = {h for hs in by_pack.values() for h in hs}
    return [h for h in missing if h not in found]


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
            with _downloaded(remote, pack_id, store.tmp_dir) as path:
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

        _run_all(sorted(by_pack), checked, jobs)
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
    with _temp_file(store.tmp_dir) as tmp:
        if keep:
            table = []
            hasher = _hasher(MAX_PACK_BYTES)
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
                    _retrying(lambda: remote.backend.put_named(pack_name(new_id, "pack"), tmp))
                    _retrying(lambda: remote.backend.put_named(pack_name(new_id, "idx"), idx_tmp))
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        idx_tmp.unlink()
                packs.remember(new_id, index)
    drop_pack(remote, packs, pack_id)


def drop_pack(remote: Remote, packs: RemotePacks, pack_id: str) -> None:
    """Delete a pack: index first (its objects stop existing), then the data."""
    faults.checkpoint("remotepacks.drop")
    _retrying(lambda: remote.backend.delete_named(pack_name(pack_id, "idx")))
    _retrying(lambda: remote.backend.delete_named(pack_name(pack_id, "pack")))
    packs.forget(pack_id)


def gc_packs(store: ObjectStore, remote: Remote, keep: set[str], dry_run: bool) -> tuple[int, int]:
    """Drop unreferenced objects from the remote's packs; return (objects, orphan packs).
    A pack with nothing kept is deleted; one with some kept is rewritten with only
    those; a pack without index (an interrupted push) is deleted."""
    try:
        packs = RemotePacks.load(remote)
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
                with _downloaded(remote, pack_id, store.tmp_dir) as path:
                    _rewrite(store, remote, packs, pack_id, path, kept, strict=True)
            else:
                drop_pack(remote, packs, pack_id)
        except Exception as exc:
            raise _as_error(remote, "rewrite a pack on", f"pack {pack_id[:16]}…", exc) from None
    if not dry_run:
        for pack_id in packs.orphans:
            _delete(remote, pack_name(pack_id, "pack"))
    return removed, len(packs.orphans)


def _delete(remote: Remote, name: str) -> None:
    try:
        _retrying(lambda: remote.backend.delete_named(name))
    except Exception as exc:
        raise remote.error("delete from", exc) from None

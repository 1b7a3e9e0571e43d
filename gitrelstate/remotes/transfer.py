"""Moving objects between the cache and a remote: only what is missing, concurrently.

Existence on the remote is checked in bulk (one listing, or batched HEADs for a
few objects).  Directory listings (manifests) are uploaded after every file they
list, so a manifest on a remote means the whole tree is there; every download is
verified by hash before it enters the cache, and transient failures are retried
with backoff.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate import faults, fsutil, hashing, ui
from gitrelstate.errors import IntegrityError, RelstateError
from gitrelstate.guard import reads
from gitrelstate.remotes import packindex, packtransfer, retry
from gitrelstate.remotes.backends.base import IN_MEMORY, Download, Fetched, Upload
from gitrelstate.remotes.remote import Remote, is_local
from gitrelstate.repo import Repo
from gitrelstate.state.manifest import Manifest
from gitrelstate.store.objects import ObjectStore
from gitrelstate.workspace import pointers
from gitrelstate.workspace.pointers import Tracked


@dataclass
class Referenced:
    files: dict[str, int] = field(default_factory=dict)  # hex -> size
    manifests: set[str] = field(default_factory=set)
    unknown_manifests: list[str] = field(default_factory=list)

    @property
    def all(self) -> set[str]:
        return set(self.files) | self.manifests


def referenced(repo: Repo, tracked: Iterable[Tracked]) -> Referenced:
    """Objects the pointers need; manifests not in the cache are listed as unknown."""
    refs = Referenced()
    for t in tracked:
        hex_ = hashing.hex_of(t.pointer.hash)
        if not t.pointer.is_dir:
            refs.files[hex_] = t.pointer.size
            continue
        refs.manifests.add(hex_)
        if repo.cache.exists(hex_):
            manifest = pointers.load_manifest(repo, t.pointer.hash, t.pointer_rel)
            refs.files.update((e.hex, e.size) for e in manifest.entries.values())
        else:
            refs.unknown_manifests.append(t.pointer_rel)
    return refs


def default_jobs(remote: Remote) -> int:
    return 4 if is_local(remote.url) else 64


def _corrupt_in_cache(hex_: str) -> IntegrityError:
    return IntegrityError(
        f"cache object {hex_[:16]}… does not hash to its name (it is corrupt); it was not uploaded",
        hint="run 'git relstate verify' (it removes corrupt objects from the cache), then "
        "'git relstate fetch' or track the data again, and push again",
    )


def _verified_read(store: ObjectStore, hex_: str) -> bytes:
    data = store.read_bytes(hex_)
    if hashing.hash_bytes(data) != hex_:
        raise _corrupt_in_cache(hex_)
    return data


def _upload_items(
    store: ObjectStore, hexes: Sequence[str], sizes: dict[str, int], *, verified_copy: bool
) -> list[Upload]:
    """What to send; every object is checked against its name on the way out, so a
    corrupt cache object never spreads to a remote. Objects up to ``IN_MEMORY`` are
    read and hashed when their turn comes; larger files are hashed here first unless
    the backend hashes its own copy (``verified_copy``: a folder remote)."""
    items = []
    large = []
    for hex_ in hexes:
        if store.is_loose(hex_) and sizes[hex_] > IN_MEMORY:
            items.append(Upload(hex_, sizes[hex_], path=store.path(hex_)))
            large.append(hex_)
        else:
            items.append(
                Upload(hex_, sizes[hex_], read=functools.partial(_verified_read, store, hex_))
            )
    if large and not verified_copy:
        with ThreadPoolExecutor(max_workers=4) as pool:
            actual = pool.map(lambda h: hashing.hash_file(store.path(h))[0], large)
            for hex_, got in zip(large, actual, strict=True):
                if got != hex_:
                    raise _corrupt_in_cache(hex_)
    return items


def existing(remote: Remote, wanted: set[str]) -> set[str]:
    """Which of ``wanted`` the remote holds, loose or in its packs (one bulk check);
    errors name the remote."""
    try:
        return packindex.existing(remote, wanted)[0]
    except RelstateError:
        raise
    except Exception as exc:
        raise remote.error("list", exc) from None


def push(repo: Repo, remote: Remote, tracked: Sequence[Tracked], jobs: int) -> tuple[int, int]:
    """Upload missing objects; return (objects sent, objects already there)."""
    refs = referenced(repo, tracked)
    if refs.unknown_manifests:
        raise RelstateError(
            "cannot push: the directory listing of these pointers is not in the cache:\n"
            + ui.bullets(refs.unknown_manifests, 10),
            hint="run 'git relstate fetch' or re-track the data first",
        )
    wanted = refs.all
    present = existing(remote, wanted)
    missing_local = sorted(h for h in wanted - present if not repo.cache.exists(h))
    if missing_local:
        raise RelstateError(
            f"{len(missing_local)} object(s) to push are not in the local cache:\n"
            + ui.bullets([f"{h[:16]}…" for h in missing_local], 10),
            hint="fetch them from another remote, or re-track the data they belong to",
        )
    sizes = dict(refs.files)
    for hex_ in refs.manifests:
        sizes[hex_] = 0
    files = sorted(set(refs.files) - present)
    listings = sorted(refs.manifests - present)
    # Many small files travel in a few pack files (one request each, not one per object).
    packed = packtransfer.packable(remote, [h for h in files if h not in refs.manifests], sizes)
    if packed:
        read = functools.partial(_verified_read, repo.cache)
        packtransfer.push_packs(repo.cache, remote, packed, sizes, read, jobs)
        files = sorted(set(files) - set(packed))
    for batch, label in ((files, "push"), (listings, "push listings")):
        if not batch:
            continue
        faults.checkpoint(f"transfer.{label.replace(' ', '_')}")
        total = sum(sizes[h] for h in batch)
        with ui.transfer_progress(len(batch), total, label) as advance:
            retry.raise_failures(
                remote,
                "upload to",
                retry.retrying_batch(
                    batch,
                    lambda todo: remote.backend.upload(
                        _upload_items(repo.cache, todo, sizes, verified_copy=is_local(remote.url)),
                        jobs,
                        advance,
                    ),
                ),
            )
    return len(files) + len(packed) + len(listings), len(present)


def _verified_receiver(
    store: ObjectStore, remote: Remote, keep: dict[str, bytes] | None = None
) -> Callable[[str, bytes | Path | Fetched], None]:
    """Check each downloaded object's hash before it enters the cache (or ``keep``)."""

    def corrupt(hex_: str, actual: str) -> IntegrityError:
        return IntegrityError(
            f"object {hex_[:16]}… on remote {remote.shown} is corrupt "
            f"(its content hashes to {actual[:16]}…); it was not stored",
            hint=f"run 'git relstate verify -r {remote.name}' in a clone that has a good "
            "copy (it removes corrupt objects from the remote), then push from there",
        )

    def receive(hex_: str, payload: bytes | Path | Fetched) -> None:
        if isinstance(payload, (Path, Fetched)):
            path = payload.path if isinstance(payload, Fetched) else payload
            try:
                faults.checkpoint("transfer.receive")
                if isinstance(payload, Fetched):
                    actual = payload.actual  # hashed while it streamed in
                else:
                    actual = hashing.hash_file(path)[0]
                if actual != hex_:
                    raise corrupt(hex_, actual)
                if keep is not None:
                    keep[hex_] = path.read_bytes()
                else:
                    store.install(path, hex_)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            return
        faults.checkpoint("transfer.receive")
        actual = hashing.hash_bytes(payload)
        if actual != hex_:
            raise corrupt(hex_, actual)
        if keep is not None:
            keep[hex_] = payload
        else:
            store.add_bytes(hex_, payload)

    return receive


def fetch(repo: Repo, remote: Remote, tracked: Sequence[Tracked], jobs: int) -> int:
    """Download objects missing from the cache, verifying each; return how many."""
    with fsutil.storage_errors():
        return _fetch(repo, remote, tracked, jobs)


def _fetch(repo: Repo, remote: Remote, tracked: Sequence[Tracked], jobs: int) -> int:
    repo.cache.clean_tmp()
    # Listings are read first (only they say which files a folder needs) but
    # enter the cache last, so a listing in the cache means its files are there.
    dirs = [t for t in tracked if t.pointer.is_dir]
    wanted = sorted({hashing.hex_of(t.pointer.hash) for t in dirs} - _in_cache(repo, dirs))
    # A listing is read no further than its pointer's file count allows.
    bounds: dict[str, int] = {}
    for t in dirs:
        hex_ = hashing.hex_of(t.pointer.hash)
        bounds[hex_] = max(bounds.get(hex_, 0), reads.listing_limit(t.pointer.nfiles))
    listings: dict[str, bytes] = {}
    if wanted:
        receive = _verified_receiver(repo.cache, remote, keep=listings)
        with ui.transfer_progress(len(wanted), 0, "fetch listings") as advance:
            retry.raise_failures(
                remote,
                "download from",
                retry.retrying_batch(
                    wanted,
                    lambda todo: remote.backend.download(
                        [Download(h, None, bounds[h]) for h in todo],
                        jobs,
                        repo.cache.tmp_path,
                        receive,
                        advance,
                    ),
                ),
            )
    files: dict[str, int] = {
        hashing.hex_of(t.pointer.hash): t.pointer.size for t in tracked if not t.pointer.is_dir
    }
    for t in dirs:
        hex_ = hashing.hex_of(t.pointer.hash)
        if hex_ in listings:
            manifest = Manifest.from_bytes(listings[hex_], t.pointer_rel)
        else:
            manifest = pointers.load_manifest(repo, t.pointer.hash, t.pointer_rel)
        files.update((e.hex, e.size) for e in manifest.entries.values())
    missing = sorted(h for h in files if not repo.cache.exists(h))
    # Objects in the remote's packs come with their packs; the rest one by one.
    loose = packtransfer.fetch_packed(repo.cache, remote, missing, jobs) if missing else []
    if loose:
        receive = _verified_receiver(repo.cache, remote)
        total = sum(files[h] for h in loose)
        # Small downloads go into one pack, published when the block ends.
        with repo.cache.packing(), ui.transfer_progress(len(loose), total, "fetch") as advance:
            retry.raise_failures(
                remote,
                "download from",
                retry.retrying_batch(
                    loose,
                    lambda todo: remote.backend.download(
                        [Download(h, files[h]) for h in todo],
                        jobs,
                        repo.cache.tmp_path,
                        receive,
                        advance,
                    ),
                ),
            )
    for hex_, raw in listings.items():
        faults.checkpoint("transfer.listing")
        repo.cache.add_bytes(hex_, raw)
    return len(missing) + len(listings)


def _in_cache(repo: Repo, tracked: Iterable[Tracked]) -> set[str]:
    return {h for h in (hashing.hex_of(t.pointer.hash) for t in tracked) if repo.cache.exists(h)}

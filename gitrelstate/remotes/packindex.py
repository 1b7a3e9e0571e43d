"""Remote packs: small objects travel to and from remotes in pack files.

One request per object makes a push of 20,000 small files cost 20,000 PUTs; the
server's request rate is then the limit.  So push groups missing small objects
into packs of up to ``MAX_PACK_BYTES`` and uploads each as two files below the
remote root, in exactly the cache's pack format (:mod:`gitrelstate.packs`):
``packs/pack-<id>.pack`` first, ``packs/pack-<id>.idx`` last.  An index on the
remote means its pack is complete; a pack without an index is ignored (and
removed by ``gc --remote``).  ``<id>`` is the blake3 of the pack's bytes, so
uploading the same pack twice (a rerun after a crash) writes the same names.

Every command lists ``packs/`` once; each index is downloaded once and kept under
``<private dir>/remote-packs/<remote digest>/``, stamped with the size and version
(mtime, ETag) the listing showed, so an index rewritten on the remote is read again.
Every index, kept copy or not, is validated before use (``check_index``); a damaged
one makes its pack absent (docs/remotes.md, "Bounded reads and repair").
Directory listings never go into packs: they stay loose and are uploaded after
everything they list, as before.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from pathlib import Path
from typing import TypeVar

from gitrelstate import fsutil, hashing, parallel, ui
from gitrelstate.errors import RelstateError
from gitrelstate.guard import reads
from gitrelstate.guard.reads import BoundedReadError
from gitrelstate.remotes import retry
from gitrelstate.remotes.backends.base import Named
from gitrelstate.remotes.remote import Remote, is_local
from gitrelstate.store.packs import ENTRY, MAGIC, PACKABLE, DamagedIndex, Entries, check_index

PACKS_DIR = "packs"
# Fewer missing small objects than this travel loose (a pack saves nothing there).
MIN_OBJECTS = 64
MAX_PACK_BYTES = 32 * 1024 * 1024
MIN_PACK_BYTES = 1024 * 1024
# What every reader accepts (docs/spec.md section 7.1): an index of at most MAX_ENTRIES
# entries (a full pack of objects of 128 bytes), a pack of at most PACK_MAX_BYTES.
# Anything larger is refused before it is downloaded.
MAX_ENTRIES = 256 * 1024
INDEX_MAX_BYTES = len(MAGIC) + ENTRY.size * MAX_ENTRIES
PACK_MAX_BYTES = MAX_PACK_BYTES + PACKABLE
# A push is split into at least this many packs (when big enough), so that building
# and uploading them overlap.
SPLIT = 4
MAX_IN_FLIGHT = 8  # packs moving at once (disk: up to this many temp packs)
CHUNK = 8 * 1024 * 1024
_NAME = re.compile(r"^pack-([0-9a-f]{16,64})\.(pack|idx)$")
# A kept copy of a remote index: ``pack-<id>.<stamp>.idx``, the stamp naming the
# remote file's size and version (mtime, ETag) when it was read.
_COPY = re.compile(r"^pack-([0-9a-f]{16,64})\.([0-9a-f]{16})\.idx$")

T = TypeVar("T")
# What a user is told when a pack named by a listing has gone (a concurrent gc).
PACK_GONE = "another clone may have removed it ('gc --remote'); run the command again"


def pack_name(pack_id: str, ext: str) -> str:
    return f"{PACKS_DIR}/pack-{pack_id}.{ext}"


def run_packs(items: Sequence[T], work: Callable[[T], None], jobs: int) -> list[Exception]:
    """Run ``work`` over ``items`` with up to ``jobs`` threads (at most MAX_IN_FLIGHT)."""
    failures = parallel.run_each(items, work, min(jobs, MAX_IN_FLIGHT))
    return [exc for _, exc in failures]


def _stamp(named: Named) -> str:
    return hashing.hash_bytes(f"{named.size}:{named.stamp}".encode())[:16]


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
    """The complete, valid packs on a remote (those with an index), listed once.

    Every index is validated (:func:`gitrelstate.store.packs.check_index`) against its
    pack's listed size whenever it is read, kept copies included. A damaged one makes
    its pack absent: its objects are read from loose copies or other packs, and a push
    from a clone that has them uploads them again (the repair).
    """

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.indexes: dict[str, Entries] = {}
        self.sizes: dict[str, int] = {}  # pack id -> the .pack's size (its read bound)
        self.orphans: list[str] = []  # ids of packs whose index never arrived
        self.damaged: dict[str, str] = {}  # pack id -> why its index was refused
        self._where: dict[bytes, str] | None = None

    @classmethod
    def load(
        cls, remote: Remote, jobs: int = MAX_IN_FLIGHT, *, fresh: bool = False, warn: bool = True
    ) -> RemotePacks:
        """The remote's packs. ``fresh`` downloads every index again instead of trusting
        kept copies (``verify -r``); ``warn`` prints one line per damaged index."""
        packs = cls(remote)
        try:
            listed = retry.retrying(lambda: remote.backend.list_named(PACKS_DIR))
        except Exception as exc:
            raise retry.as_error(
                remote, "list", exc, what=f"folder {PACKS_DIR}/", missing_hint=PACK_GONE
            ) from None
        found: dict[str, dict[str, Named]] = {"pack": {}, "idx": {}}
        for name, named in listed.items():
            match = _NAME.match(name)
            if match:
                found[match.group(2)][match.group(1)] = named
        packs.orphans = sorted(set(found["pack"]) - set(found["idx"]))
        # An index whose pack is gone describes nothing: its objects count as absent,
        # so a push sends them again.
        live = sorted(set(found["idx"]) & set(found["pack"]))
        local = _index_dir(remote)
        raws, downloaded = packs._read_indexes(live, found["idx"], local, jobs, fresh)
        for pack_id in live:
            raw, pack_size = raws[pack_id], found["pack"][pack_id].size
            try:
                entries = _checked(raw, pack_size)
            except DamagedIndex as exc:
                packs.damaged[pack_id] = str(exc)
                packs.forget(pack_id)
                continue
            packs.indexes[pack_id] = entries
            packs.sizes[pack_id] = pack_size
            if local is not None and pack_id in downloaded and isinstance(raw, bytes):
                # Kept only once valid, under the stamp it was listed with.
                copy = local / f"pack-{pack_id}.{_stamp(found['idx'][pack_id])}.idx"
                with contextlib.suppress(OSError):
                    fsutil.write_atomic(copy, raw, mode=0o444)
        if warn:
            for pack_id, why in sorted(packs.damaged.items()):
                ui.warn(packs.damage_note(pack_id, why))
        return packs

    def damage_note(self, pack_id: str, why: str) -> str:
        return (
            f"pack index {pack_name(pack_id, 'idx')} on remote {self.remote.shown} is "
            f"damaged ({why}); its objects are treated as absent (a push from a clone "
            "that has them uploads them again)"
        )

    def _read_indexes(
        self,
        live: list[str],
        listed: dict[str, Named],
        local: Path | None,
        jobs: int,
        fresh: bool,
    ) -> tuple[dict[str, bytes | str], set[str]]:
        """pack id -> the index's bytes (or why it could not be read), and the ids that
        were downloaded (not read from a kept copy)."""
        raws: dict[str, bytes | str] = {}
        wanted = set(live)
        if local is not None and local.is_dir():
            for entry in os.scandir(local):
                match = _COPY.match(entry.name)
                pack_id = match.group(1) if match else ""
                if match and pack_id in wanted and not fresh and pack_id not in raws:
                    kept = self._kept_copy(Path(entry.path), match.group(2), listed[pack_id])
                    if kept is not None:
                        raws[pack_id] = kept
                        continue
                if (
                    match
                    or not fsutil.is_tmp_name(entry.name)
                    or fsutil.is_stale_tmp(Path(entry.path))
                ):
                    # The pack is gone from the remote, its index was rewritten since
                    # (or is read afresh), or a temp file was left behind.
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        todo = [p for p in live if p not in raws]
        if not todo:
            return raws, set()
        if local is not None:
            local.mkdir(parents=True, exist_ok=True)

        def download(pack_id: str) -> None:
            raws[pack_id] = self._download_index(pack_id, listed[pack_id])

        failures = run_packs(todo, download, jobs)
        if failures:
            raise retry.as_error(
                self.remote, "list", failures[0], what="a pack index", missing_hint=PACK_GONE
            )
        return raws, {p for p in todo if isinstance(raws.get(p), bytes)}

    @staticmethod
    def _kept_copy(path: Path, stamp: str, named: Named) -> bytes | None:
        """A kept copy's bytes, if it still describes the remote's index (same stamp)."""
        if stamp != _stamp(named):
            return None
        try:
            return reads.read_file(path, INDEX_MAX_BYTES, f"kept copy {path.name}")
        except (OSError, RelstateError):
            return None

    def _download_index(self, pack_id: str, named: Named) -> bytes | str:
        """The index's bytes, or why it is damaged (not a file, larger than allowed)."""
        if named.size < 0:
            return "it is not a regular file"
        if named.size > INDEX_MAX_BYTES:
            return f"it is {named.size} bytes, more than {MAX_ENTRIES} entries"
        name = pack_name(pack_id, "idx")

        def read() -> bytes:
            raw = self.remote.backend.fetch_bytes(name, named.size)
            if len(raw) != named.size:  # a transfer cut short, not damage: retried
                raise ConnectionError(f"{name}: {len(raw)} of {named.size} byte(s) arrived")
            return raw

        try:
            return retry.retrying(read)
        except BoundedReadError:
            return f"it holds more than the {named.size} byte(s) listed"

    def remember(self, uploaded: dict[str, bytes]) -> None:
        """Keep copies of indexes this clone just uploaded (no download next time),
        stamped as the remote lists them now; without a listing, keep none."""
        local = _index_dir(self.remote)
        if local is None or not uploaded:
            return
        try:
            listed = self.remote.backend.list_named(PACKS_DIR)
        except Exception:
            return  # they are downloaded next time instead
        with contextlib.suppress(OSError):
            local.mkdir(parents=True, exist_ok=True)
            for pack_id, index in uploaded.items():
                named = listed.get(f"pack-{pack_id}.idx")
                if named is not None and named.size == len(index):
                    copy = local / f"pack-{pack_id}.{_stamp(named)}.idx"
                    fsutil.write_atomic(copy, index, mode=0o444)

    def forget(self, pack_id: str) -> None:
        """Drop a pack from this listing and every kept copy of its index."""
        local = _index_dir(self.remote)
        self.indexes.pop(pack_id, None)
        self.sizes.pop(pack_id, None)
        self._where = None
        if local is not None:
            for copy in local.glob(f"pack-{pack_id}*.idx"):
                with contextlib.suppress(OSError):
                    os.unlink(copy)

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

    def locate(self, hexes: Iterable[str], exclude: Set[str] = frozenset()) -> dict[str, list[str]]:
        """pack id -> those of ``hexes`` it holds (each object in one pack only; packs in
        ``exclude`` failed already, so another pack holding the object is chosen)."""
        where = self._lookup()
        found: dict[str, list[str]] = {}
        for hex_ in hexes:
            digest = bytes.fromhex(hex_)
            pack_id = where.get(digest)
            if pack_id in exclude:
                pack_id = next(
                    (p for p, e in self.indexes.items() if p not in exclude and digest in e), None
                )
            if pack_id is not None:
                found.setdefault(pack_id, []).append(hex_)
        return found


def _checked(raw: bytes | str, pack_size: int) -> Entries:
    """The entries of a valid index of a pack of ``pack_size`` bytes (DamagedIndex)."""
    if isinstance(raw, str):
        raise DamagedIndex(raw)
    if pack_size < 0:
        raise DamagedIndex("its pack is not a regular file")
    if pack_size > PACK_MAX_BYTES:
        raise DamagedIndex(f"its pack is {pack_size} bytes, more than {PACK_MAX_BYTES}")
    return check_index(raw, pack_size, max_entries=MAX_ENTRIES)


def existing(
    remote: Remote, wanted: set[str], *, fresh: bool = False, warn: bool = True
) -> tuple[set[str], RemotePacks]:
    """Which of ``wanted`` the remote holds, loose or packed, and its packs.  Packs are
    consulted first, so a no-op push of packed objects costs the packs listing plus
    a look for the few loose ones (the directory listings)."""
    packs = RemotePacks.load(remote, fresh=fresh, warn=warn)
    packed = packs.holding(wanted)
    rest = wanted - packed
    loose = remote.backend.existing(rest) if rest else set()
    return packed | loose, packs


@contextlib.contextmanager
def temp_file(folder: Path | None) -> Iterator[Path]:
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

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from gitrelstate import fsutil, hashing, parallel, ui
from gitrelstate.remotes import retry
from gitrelstate.remotes.remote import Remote, is_local
from gitrelstate.store.packs import ENTRY, MAGIC

PACKS_DIR = "packs"
# Fewer missing small objects than this travel loose (a pack saves nothing there).
MIN_OBJECTS = 64
MAX_PACK_BYTES = 32 * 1024 * 1024
MIN_PACK_BYTES = 1024 * 1024
# A push is split into at least this many packs (when big enough), so that building
# and uploading them overlap.
SPLIT = 4
MAX_IN_FLIGHT = 8  # packs moving at once (disk: up to this many temp packs)
CHUNK = 8 * 1024 * 1024
_NAME = re.compile(r"^pack-([0-9a-f]{16,64})\.(pack|idx)$")

Entries = dict[bytes, tuple[int, int]]  # digest -> (offset, size)
T = TypeVar("T")
# What a user is told when a pack named by a listing has gone (a concurrent gc).
PACK_GONE = "another clone may have removed it ('gc --remote'); run the command again"


def pack_name(pack_id: str, ext: str) -> str:
    return f"{PACKS_DIR}/pack-{pack_id}.{ext}"


def parse_index(raw: bytes) -> Entries | None:
    """The entries of an index file, or None when it is malformed."""
    if not raw.startswith(MAGIC) or (len(raw) - len(MAGIC)) % ENTRY.size:
        return None
    return {d: (o, s) for d, o, s in ENTRY.iter_unpack(memoryview(raw)[len(MAGIC) :])}


def run_packs(items: Sequence[T], work: Callable[[T], None], jobs: int) -> list[Exception]:
    """Run ``work`` over ``items`` with up to ``jobs`` threads (at most MAX_IN_FLIGHT)."""
    failures = parallel.run_each(items, work, min(jobs, MAX_IN_FLIGHT))
    return [exc for _, exc in failures]


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
            names = retry.retrying(lambda: remote.backend.list_names(PACKS_DIR))
        except Exception as exc:
            raise retry.as_error(
                remote, "list", exc, what=f"folder {PACKS_DIR}/", missing_hint=PACK_GONE
            ) from None
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

        failures = run_packs(todo, download, jobs)
        if failures:
            raise retry.as_error(
                self.remote, "list", failures[0], what="a pack index", missing_hint=PACK_GONE
            )
        return raws

    def _download_index(self, pack_id: str, local: Path | None) -> bytes:
        name = pack_name(pack_id, "idx")
        with temp_file(local) as tmp:
            retry.retrying(lambda: self.remote.backend.get_named_file(name, tmp))
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

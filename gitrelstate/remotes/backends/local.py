"""A remote that is a folder on this machine (or a mounted share)."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from gitrelstate import faults, fsutil, hashing
from gitrelstate.errors import IntegrityError
from gitrelstate.guard import reads
from gitrelstate.hashing import ALGO
from gitrelstate.remotes.backends.base import (
    Named,
    ThreadedBackend,
    hexes_from_keys,
    object_key,
    shown_name,
)

# Below this many wanted objects, stat each; above, list the shard folders.
LIST_THRESHOLD = 256


class LocalBackend(ThreadedBackend):
    kind = "local folder"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _final(self, hex_: str) -> Path:
        final = self.root / object_key(hex_)
        final.parent.mkdir(parents=True, exist_ok=True)
        return final

    def existing(self, hexes: set[str]) -> set[str]:
        # Only regular files count: a device or a pipe where an object should be is
        # damage, which the next push repairs by writing the object over it.
        if len(hexes) < LIST_THRESHOLD:
            return {h for h in hexes if (self.root / object_key(h)).is_file()}
        base = self.root / ALGO
        keys: list[str] = []
        for shard in {h[:2] for h in hexes}:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                keys.extend(f"{shard}/{e.name}" for e in os.scandir(base / shard) if e.is_file())
        return hexes & hexes_from_keys(keys)

    def list_all(self) -> set[str]:
        keys: list[str] = []
        base = self.root / ALGO
        with contextlib.suppress(FileNotFoundError):
            for shard in os.listdir(base):
                with contextlib.suppress(NotADirectoryError):
                    keys.extend(f"{shard}/{name}" for name in os.listdir(base / shard))
        return hexes_from_keys(keys)

    def put_file(self, path: Path, hex_: str) -> None:
        # Temp file + rename: a reader of the remote never sees a partial object; the
        # bytes copied are hashed, so a corrupt cache object never lands there.
        final = self._final(hex_)
        tmp = fsutil.tmp_name(final)
        try:
            with open(path, "rb") as src, open(tmp, "xb") as dst:
                actual, _ = hashing.copy_and_hash(src, dst, os.fstat(src.fileno()).st_size)
            if actual != hex_:
                raise IntegrityError(
                    f"cache object {hex_[:16]}… does not hash to its name (it is corrupt); "
                    "it was not uploaded",
                    hint="run 'git relstate verify' (it removes corrupt objects from the "
                    "cache), then 'git relstate fetch' or track the data again, and push again",
                )
            os.chmod(tmp, 0o444)
            faults.checkpoint("local.put")
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def put_bytes(self, data: bytes, hex_: str) -> None:
        fsutil.write_atomic(self._final(hex_), data, mode=0o444)

    # Reads refuse anything but a regular file no larger than the bound before the
    # first byte: a symlink to /dev/zero, a FIFO or a sparse giant cannot stall us.
    def fetch_bytes(self, name: str, max_bytes: int) -> bytes:
        return reads.read_file(self.root / name, max_bytes, shown_name(name))

    def fetch_file(self, name: str, path: Path, max_bytes: int) -> str:
        return reads.copy_file(self.root / name, path, max_bytes, shown_name(name))

    def delete(self, hex_: str) -> None:
        faults.checkpoint("local.delete")
        with contextlib.suppress(FileNotFoundError):
            (self.root / object_key(hex_)).unlink()

    # -- named files (packs) ----------------------------------------------------------

    def list_named(self, folder: str) -> dict[str, Named]:
        found: dict[str, Named] = {}
        try:
            entries = list(os.scandir(self.root / folder))
        except (FileNotFoundError, NotADirectoryError):
            return found
        for entry in entries:
            if fsutil.is_tmp_name(entry.name):
                continue
            try:
                info = entry.stat()  # through a symlink: what a read would get
            except OSError:
                continue  # a dangling symlink, or gone meanwhile
            regular = stat.S_ISREG(info.st_mode)
            found[entry.name] = Named(
                info.st_size if regular else -1, f"{info.st_mtime_ns}:{info.st_ino}"
            )
        return found

    def put_named(self, name: str, path: Path) -> None:
        # Temp file + rename, as for objects: a reader never sees a partial pack.
        final = self.root / name
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = fsutil.tmp_name(final)
        try:
            shutil.copyfile(path, tmp)
            os.chmod(tmp, 0o444)
            faults.checkpoint("local.put_named")
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def delete_named(self, name: str) -> None:
        faults.checkpoint("local.delete_named")
        with contextlib.suppress(FileNotFoundError):
            (self.root / name).unlink()

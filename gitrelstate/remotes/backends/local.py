"""A remote that is a folder on this machine (or a mounted share)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from gitrelstate import faults, fsutil, hashing
from gitrelstate.errors import IntegrityError
from gitrelstate.hashing import ALGO
from gitrelstate.remotes.backends.base import ThreadedBackend, hexes_from_keys, object_key

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
        if len(hexes) < LIST_THRESHOLD:
            return {h for h in hexes if (self.root / object_key(h)).exists()}
        base = self.root / ALGO
        keys: list[str] = []
        for shard in {h[:2] for h in hexes}:
            with contextlib.suppress(FileNotFoundError):
                keys.extend(f"{shard}/{name}" for name in os.listdir(base / shard))
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

    def get_bytes(self, hex_: str) -> bytes:
        return (self.root / object_key(hex_)).read_bytes()

    def get_file(self, hex_: str, path: Path) -> None:
        shutil.copyfile(self.root / object_key(hex_), path)

    def open(self, hex_: str) -> BinaryIO:
        return open(self.root / object_key(hex_), "rb")

    def delete(self, hex_: str) -> None:
        faults.checkpoint("local.delete")
        with contextlib.suppress(FileNotFoundError):
            (self.root / object_key(hex_)).unlink()

    # -- named files (packs) ----------------------------------------------------------

    def list_names(self, folder: str) -> list[str]:
        try:
            names = os.listdir(self.root / folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [n for n in names if not fsutil.is_tmp_name(n)]

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

    def get_named_file(self, name: str, path: Path) -> None:
        shutil.copyfile(self.root / name, path)

    def delete_named(self, name: str) -> None:
        faults.checkpoint("local.delete_named")
        with contextlib.suppress(FileNotFoundError):
            (self.root / name).unlink()

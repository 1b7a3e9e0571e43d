"""Any fsspec filesystem (s3fs, gcsfs, memory://, ...): the fallback for every protocol."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, BinaryIO

from gitrelstate.hashing import ALGO
from gitrelstate.remotes.backends.base import ThreadedBackend, hexes_from_keys, object_key

LIST_THRESHOLD = 256


class FsspecBackend(ThreadedBackend):
    """Object stores write each object in one PUT, which is atomic by nature."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.kind = f"fsspec ({type(fs).__name__})"

    def _path(self, hex_: str) -> str:
        return f"{self.root}/{object_key(hex_)}"

    def existing(self, hexes: set[str]) -> set[str]:
        if len(hexes) < LIST_THRESHOLD:
            return {h for h in hexes if self.fs.exists(self._path(h))}
        return hexes & self.list_all()

    def list_all(self) -> set[str]:
        try:
            return hexes_from_keys(self.fs.find(f"{self.root}/{ALGO}"))
        except FileNotFoundError:
            return set()

    def put_file(self, path: Path, hex_: str) -> None:
        self.fs.put_file(str(path), self._path(hex_))

    def put_bytes(self, data: bytes, hex_: str) -> None:
        self.fs.pipe_file(self._path(hex_), data)

    def get_bytes(self, hex_: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(hex_)))

    def get_file(self, hex_: str, path: Path) -> None:
        self.fs.get_file(self._path(hex_), str(path))

    def open(self, hex_: str) -> BinaryIO:
        return self.fs.open(self._path(hex_), "rb")  # type: ignore[no-any-return]

    def delete(self, hex_: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(hex_))

    # -- named files (packs) ----------------------------------------------------------

    def list_names(self, folder: str) -> list[str]:
        path = f"{self.root}/{folder}"
        # fsspec filesystems cache listings; another clone may have changed the folder.
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(path)
        try:
            found = self.fs.ls(path, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in found]

    def put_named(self, name: str, path: Path) -> None:
        self.fs.put_file(str(path), f"{self.root}/{name}")

    def get_named_file(self, name: str, path: Path) -> None:
        self.fs.get_file(f"{self.root}/{name}", str(path))

    def delete_named(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{self.root}/{name}")

"""Remotes: the one place where fsspec URLs and storage options are turned into storage.

A remote holds the same content-addressed layout as the cache
(``<url>/blake3/ab/cdef...``).  Local folders get a direct backend (atomic
rename, no fsspec overhead); every other protocol goes through fsspec.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from gitrelstate import fsutil
from gitrelstate.errors import RemoteError
from gitrelstate.hashing import ALGO
from gitrelstate.state.config import RemoteConfig

BACKEND_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "http": "aiohttp",
    "https": "aiohttp",
    "ssh": "sshfs",
    "sftp": "sshfs",
}
LIST_THRESHOLD = 256


def redact_url(url: str) -> str:
    """Hide user:password@ in URLs before they are shown anywhere."""
    return re.sub(r"(://)[^/@]*@", r"\1***@", url)


def protocol_of(url: str) -> str:
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return match.group(1).lower() if match else "file"


def is_local(url: str) -> bool:
    return protocol_of(url) in ("file", "local")


class Backend(Protocol):
    def existing(self, hexes: Iterable[str]) -> set[str]: ...
    def put(self, local: Path, hex_: str) -> None: ...
    def put_bytes(self, data: bytes, hex_: str) -> None: ...
    def get(self, hex_: str, local: Path) -> None: ...
    def open(self, hex_: str) -> BinaryIO: ...
    def list_all(self) -> set[str]: ...
    def delete(self, hex_: str) -> None: ...


def _rel(hex_: str) -> str:
    return f"{ALGO}/{hex_[:2]}/{hex_[2:]}"


_HEX_TAIL = re.compile(r"([0-9a-f]{2})/([0-9a-f]{62})$")


def hexes_from_keys(keys: Iterable[str]) -> set[str]:
    """Object ids from listed keys ``.../ab/cdef...`` (temp files and strays skipped)."""
    found = set()
    for key in keys:
        match = _HEX_TAIL.search(str(key).rstrip("/"))
        if match:
            found.add(match.group(1) + match.group(2))
    return found


class LocalBackend:
    """A folder on this machine (or a mounted share)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def existing(self, hexes: Iterable[str]) -> set[str]:
        wanted = set(hexes)
        if len(wanted) < LIST_THRESHOLD:
            return {h for h in wanted if (self.root / _rel(h)).exists()}
        base = self.root / ALGO
        keys: list[str] = []
        for shard in {h[:2] for h in wanted}:
            with contextlib.suppress(FileNotFoundError):
                keys.extend(f"{shard}/{name}" for name in os.listdir(base / shard))
        return wanted & hexes_from_keys(keys)

    def put(self, local: Path, hex_: str) -> None:
        final = self.root / _rel(hex_)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f"{fsutil.TMP_MARKER}{os.getpid()}-{os.urandom(6).hex()}")
        try:
            shutil.copyfile(local, tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def put_bytes(self, data: bytes, hex_: str) -> None:
        final = self.root / _rel(hex_)
        final.parent.mkdir(parents=True, exist_ok=True)
        fsutil.write_atomic(final, data, mode=0o444)

    def get(self, hex_: str, local: Path) -> None:
        shutil.copyfile(self.root / _rel(hex_), local)

    def open(self, hex_: str) -> BinaryIO:
        return open(self.root / _rel(hex_), "rb")

    def list_all(self) -> set[str]:
        keys: list[str] = []
        base = self.root / ALGO
        with contextlib.suppress(FileNotFoundError):
            for shard in os.listdir(base):
                with contextlib.suppress(NotADirectoryError):
                    keys.extend(f"{shard}/{name}" for name in os.listdir(base / shard))
        return hexes_from_keys(keys)

    def delete(self, hex_: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / _rel(hex_)).unlink()


class FsspecBackend:
    """Any fsspec filesystem; object stores write each object in one atomic PUT."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")

    def _path(self, hex_: str) -> str:
        return f"{self.root}/{_rel(hex_)}"

    def existing(self, hexes: Iterable[str]) -> set[str]:
        wanted = set(hexes)
        if len(wanted) < LIST_THRESHOLD:
            return {h for h in wanted if self.fs.exists(self._path(h))}
        return wanted & self.list_all()

    def put(self, local: Path, hex_: str) -> None:
        self.fs.put_file(str(local), self._path(hex_))

    def put_bytes(self, data: bytes, hex_: str) -> None:
        self.fs.pipe_file(self._path(hex_), data)

    def get(self, hex_: str, local: Path) -> None:
        self.fs.get_file(self._path(hex_), str(local))

    def open(self, hex_: str) -> BinaryIO:
        return self.fs.open(self._path(hex_), "rb")  # type: ignore[no-any-return]

    def list_all(self) -> set[str]:
        try:
            return hexes_from_keys(self.fs.find(f"{self.root}/{ALGO}"))
        except FileNotFoundError:
            return set()

    def delete(self, hex_: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(hex_))


class Remote:
    """A named remote from the configuration, opened lazily."""

    def __init__(self, config: RemoteConfig, repo_root: Path) -> None:
        self.name = config.name
        self.url = config.url
        self.options: Mapping[str, Any] = config.options
        self.repo_root = repo_root
        self._backend: Backend | None = None

    @property
    def shown(self) -> str:
        return f"'{self.name}' ({redact_url(self.url)})"

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._open()
        return self._backend

    def _open(self) -> Backend:
        if is_local(self.url):
            raw = re.sub(r"^(file|local)://", "", self.url)
            root = Path(os.path.expanduser(raw))
            if not root.is_absolute():
                root = self.repo_root / root
            return LocalBackend(root)
        protocol = protocol_of(self.url)
        try:
            import fsspec

            fs, root = fsspec.core.url_to_fs(self.url, **dict(self.options))
        except ImportError as exc:
            package = BACKEND_PACKAGES.get(protocol, str(exc.name or "the fsspec backend"))
            raise RemoteError(
                f"remote {self.shown} needs the Python package '{package}'",
                hint=f"pip install {package}",
            ) from None
        except ValueError as exc:
            raise RemoteError(
                f"remote {self.shown}: unsupported URL or option ({exc})",
                hint="check the URL and the -o options with 'git relstate remote list'",
            ) from None
        return FsspecBackend(fs, str(root))

    def error(self, action: str, exc: BaseException) -> RemoteError:
        detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return RemoteError(
            f"could not {action} remote {self.shown}: {redact_url(detail)}",
            hint="check that the remote is reachable and your credentials, then retry",
        )

"""DVC's content ids: md5 of a file's bytes, and for a folder the md5 of its ``.dir``
manifest (``json.dumps`` of ``[{"md5", "relpath"}]`` sorted by path) plus ``.dir``;
entries without ``hash: md5`` are DVC 2's ``md5-dos2unix`` (CRLF read as LF in text).
Also where DVC's cache keeps an object (``.dvc/cache/files/md5/ab/cdef…``)."""

from __future__ import annotations

import configparser
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitrelstate.errors import RelstateError

CHUNK = 1024 * 1024
_TEXT = bytes(range(32, 127)) + b"\n\r\t\f\b"


@dataclass(frozen=True)
class DvcHash:
    """What dvc.lock or a .dvc file says an output holds."""

    md5: str  # hex, with ".dir" for a folder
    legacy: bool  # no 'hash: md5' key: DVC 2's md5-dos2unix
    size: int | None = None
    nfiles: int | None = None

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")

    @classmethod
    def of(cls, entry: Mapping[str, Any], where: str) -> DvcHash | None:
        md5 = entry.get("md5")
        if md5 is None:
            return None
        if not isinstance(md5, str) or not _valid_md5(md5):
            raise RelstateError(f"{where}: 'md5' is not an md5 id: {str(md5)[:80]!r}")
        size, nfiles = entry.get("size"), entry.get("nfiles")
        return cls(
            md5,
            entry.get("hash") != "md5",
            size if isinstance(size, int) and not isinstance(size, bool) else None,
            nfiles if isinstance(nfiles, int) and not isinstance(nfiles, bool) else None,
        )


def _valid_md5(value: str) -> bool:
    hex_ = value[:-4] if value.endswith(".dir") else value
    return len(hex_) == 32 and all(c in "0123456789abcdef" for c in hex_)


def _looks_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    if not head:
        return True
    other = len(head.translate(None, _TEXT))
    return other / len(head) <= 0.3


def file_md5(path: Path, *, dos2unix: bool = False) -> str:
    """md5 of the file's bytes (``dos2unix``: each 1 MiB chunk that looks like text
    read with CRLF as LF, as DVC 2 did)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if dos2unix and _looks_text(chunk[:512]):
                chunk = chunk.replace(b"\r\n", b"\n")
            h.update(chunk)
    return h.hexdigest()


def listing(folder: Path, *, dos2unix: bool = False) -> list[dict[str, str]]:
    """DVC's manifest entries of ``folder``: every regular file below it."""
    entries = []
    for dirpath, dirnames, files in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".dvc"]
        for name in files:
            full = Path(dirpath) / name
            if not full.is_file():
                continue
            rel = full.relative_to(folder).as_posix()
            entries.append({"md5": file_md5(full, dos2unix=dos2unix), "relpath": rel})
    return sorted(entries, key=lambda e: e["relpath"])


def manifest_md5(entries: list[dict[str, str]]) -> str:
    """The id of a ``.dir`` manifest with these entries."""
    raw = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(raw, usedforsecurity=False).hexdigest() + ".dir"


def md5_of(path: Path, *, dos2unix: bool = False) -> str:
    """DVC's id of a file or folder in the work tree."""
    if path.is_dir():
        return manifest_md5(listing(path, dos2unix=dos2unix))
    return file_md5(path, dos2unix=dos2unix)


class DvcCache:
    """DVC's local cache (``.dvc/cache`` unless ``[cache] dir`` says otherwise)."""

    def __init__(self, root: Path) -> None:
        self.dvc_dir = root / ".dvc"
        self.path = self._configured() or self.dvc_dir / "cache"

    def _configured(self) -> Path | None:
        found = None
        for name in ("config", "config.local"):
            parser = configparser.ConfigParser()
            try:
                parser.read(self.dvc_dir / name, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError):
                continue
            for section in parser.sections():
                if section.strip().strip("'\"") == "cache" and parser.has_option(section, "dir"):
                    value = parser.get(section, "dir").strip().strip("'\"")
                    found = value if os.path.isabs(value) else str(self.dvc_dir / value)
        return Path(found) if found else None

    def object(self, md5: str, *, legacy: bool) -> Path | None:
        """Where the object is, when it is there."""
        base = self.path if legacy else self.path / "files" / "md5"
        path = base / md5[:2] / md5[2:]
        return path if path.is_file() else None

    def manifest(self, md5: str, *, legacy: bool) -> list[dict[str, str]] | None:
        """The entries of a ``.dir`` object in the cache (checked against its id)."""
        path = self.object(md5, legacy=legacy)
        if path is None or path.stat().st_size > 256 * 1024 * 1024:
            return None
        raw = path.read_bytes()
        if hashlib.md5(raw, usedforsecurity=False).hexdigest() + ".dir" != md5:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(doc, list):
            return None
        entries = [
            e
            for e in doc
            if isinstance(e, dict)
            and isinstance(e.get("md5"), str)
            and isinstance(e.get("relpath"), str)
        ]
        return entries if len(entries) == len(doc) else None

"""File trees and the object store as tests see them: write, read, count, damage."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gitrelstate import hashing
from gitrelstate.store.objects import ObjectStore


def write_tree(root: Path, files: Mapping[str, bytes | str]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        p.write_bytes(content)


def read_tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def store_of(repo_path: Path) -> ObjectStore:
    return ObjectStore(repo_path / ".git" / "relstate" / "cache")


def assert_store_sound(root: Path) -> int:
    """Every object, loose or packed, re-hashes to its name; returns the count."""
    store = ObjectStore(root)
    count = 0
    for hex_ in store.iter_hexes():
        assert hashing.hash_bytes(store.read_bytes(hex_)) == hex_, f"corrupt object {hex_}"
        count += 1
    store.close()
    return count


def damage_object(repo_path: Path, content: bytes, replacement: bytes | None) -> None:
    """Corrupt (same-length ``replacement``) or delete (None) the object holding ``content``."""
    store = store_of(repo_path)
    hex_ = hashing.hash_bytes(content)
    if store.is_loose(hex_):
        path = store.path(hex_)
        os.chmod(path, 0o644)
        if replacement is None:
            path.unlink()
        else:
            path.write_bytes(replacement)
    elif replacement is None:
        store.remove(hex_)
    else:
        pack = store._pack_of(hex_)
        assert pack is not None, "no such object"
        offset, size = pack.entries[bytes.fromhex(hex_)]
        assert len(replacement) == size
        os.chmod(pack.pack_path, 0o644)
        with open(pack.pack_path, "r+b") as f:
            f.seek(offset)
            f.write(replacement)
    store.close()


def cache_objects(repo_path: Path) -> list[Path]:
    base = repo_path / ".git" / "relstate" / "cache" / "blake3"
    return [p for p in base.rglob("*") if p.is_file()] if base.exists() else []

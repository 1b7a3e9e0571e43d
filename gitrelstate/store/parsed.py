"""Parsed state files, kept by content: a large run record or release is parsed once.

``status``, ``list``, ``diff`` and the ``git log -p`` driver read the same records on
every call; a record listing tens of thousands of packages costs a few hundred
milliseconds to parse, its JSON copy a tenth of that. So a parsed document is kept
under ``<git common dir>/relstate/parsed/`` keyed by the blake3 of the bytes it came
from and by the version of the parsing rules, and only after it passed them (the
YAML reader's checks: nothing unverified is kept). Small files are parsed directly:
their parse costs less than a lookup. The folder is local, never shared or pushed.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from gitrelstate import fsutil, hashing
from gitrelstate.guard import limits
from gitrelstate.state import yamlio

# Bump when the YAML reader's rules change: older entries are then never looked at.
RULES = "1"
# Below this, parsing is cheaper than reading a cached copy.
MIN_BYTES = 32 * 1024
# Documents kept; past this the least recently used half goes.
MAX_ENTRIES = 256


def folder_of(private_dir: Path) -> Path:
    return private_dir / "parsed" / f"rules-{RULES}"


def loads(folder: Path | None, raw: bytes, source: str, *, cap: limits.Cap) -> Any:
    """``yamlio.loads(raw, source, cap=cap)``, from ``folder``'s copy when it has one."""
    cap.check(len(raw), source)
    if folder is None or len(raw) < MIN_BYTES:
        return yamlio.loads(raw, source, cap=cap)
    path = folder / f"{hashing.hash_bytes(raw)}.json"
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
        os.utime(path)  # recently used
        return doc
    except (OSError, ValueError):
        pass  # not kept yet, or unreadable: parse again
    doc = yamlio.loads(raw, source, cap=cap)
    _keep(folder, path, doc)
    return doc


def _keep(folder: Path, path: Path, doc: Any) -> None:
    # Best effort: a cache that cannot be written is only slower.
    with contextlib.suppress(OSError, ValueError, TypeError):
        folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        fsutil.write_atomic(path, data.encode("utf-8", "surrogatepass"))
        _trim(folder)


def _trim(folder: Path) -> None:
    entries = [p for p in folder.iterdir() if p.suffix == ".json"]
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for stale in entries[: len(entries) // 2]:
        with contextlib.suppress(OSError):
            stale.unlink()

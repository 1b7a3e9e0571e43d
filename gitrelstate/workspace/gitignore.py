"""Keeping tracked data out of Git: one anchored line per path in the folder's .gitignore."""

from __future__ import annotations

import re
from pathlib import Path

from gitrelstate import fsutil

_SPECIAL = re.compile(r"([\\*?\[\]!# ])")


def pattern_for(name: str) -> str:
    """An anchored .gitignore pattern matching exactly ``name`` in its folder."""
    return "/" + _SPECIAL.sub(r"\\\1", name)


def ensure_ignored(folder: Path, name: str) -> bool:
    """Add ``/name`` to ``folder/.gitignore`` unless present; return True if written."""
    path = folder / ".gitignore"
    line = pattern_for(name)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        text = ""
    if line in text.splitlines():
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    fsutil.write_text_atomic(path, text + line + "\n")
    return True

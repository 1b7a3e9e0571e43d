"""Directory manifests: the canonical listing whose hash names a tracked directory.

A manifest is stored as an object like any file.  Its encoding is JSON (fast to
parse at 10^5 entries, unlike YAML), one entry per line, sorted by path, so the
same tree always yields the same bytes and therefore the same hash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gitrelstate.errors import StateFileError
from gitrelstate.state import FORMAT_VERSION
from gitrelstate.state.paths import check_relpath

KIND = "manifest"
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Entry:
    hex: str
    size: int
    executable: bool


@dataclass(frozen=True)
class Manifest:
    """Files of a tracked directory: relative path -> (content hex, size, executable bit)."""

    entries: Mapping[str, Entry]

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries.values())

    @property
    def nfiles(self) -> int:
        return len(self.entries)

    @classmethod
    def build(cls, items: Iterable[tuple[str, Entry]]) -> Manifest:
        return cls(dict(sorted(items)))

    def to_bytes(self) -> bytes:
        lines = [
            json.dumps([p, e.hex, e.size, e.executable], ensure_ascii=False, separators=(",", ":"))
            for p, e in sorted(self.entries.items())
        ]
        head = f'{{"relstate":{FORMAT_VERSION},"kind":"{KIND}","algo":"blake3","entries":['
        body = "\n" + ",\n".join(lines) + "\n" if lines else ""
        return (head + body + "]}\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes, source: str) -> Manifest:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise StateFileError(f"{source}: manifest is not valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise StateFileError(f"{source}: not a directory manifest")
        version = data.get("relstate")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise StateFileError(f"{source}: manifest has no valid 'relstate' version")
        if version > FORMAT_VERSION:
            raise StateFileError(
                f"{source}: manifest format version {version} is newer than this gitrelstate",
                hint="upgrade gitrelstate",
            )
        if data.get("algo") != "blake3":
            raise StateFileError(f"{source}: unsupported hash algorithm {data.get('algo')!r}")
        raw_entries = data.get("entries")
        if not isinstance(raw_entries, list):
            raise StateFileError(f"{source}: manifest 'entries' must be a list")
        entries: dict[str, Entry] = {}
        for item in raw_entries:
            if (
                not isinstance(item, list)
                or len(item) != 4
                or not isinstance(item[1], str)
                or not _HEX.fullmatch(item[1])
                or not isinstance(item[2], int)
                or isinstance(item[2], bool)
                or item[2] < 0
                or not isinstance(item[3], bool)
            ):
                raise StateFileError(f"{source}: malformed manifest entry {str(item)[:120]}")
            path = check_relpath(item[0], source, "entries")
            if path in entries:
                raise StateFileError(f"{source}: duplicate manifest entry {path!r}")
            entries[path] = Entry(item[1], item[2], item[3])
        _check_no_file_dir_clash(entries, source)
        return cls(entries)


def _check_no_file_dir_clash(entries: Mapping[str, Entry], source: str) -> None:
    """A path cannot be both a file and a folder holding other entries."""
    for path in entries:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in entries:
                raise StateFileError(
                    f"{source}: manifest lists {parent!r} as a file and as a folder"
                )
            parent = parent.rpartition("/")[0]

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
from itertools import repeat
from typing import NamedTuple

from gitrelstate.errors import StateFileError
from gitrelstate.guard import jsonload, limits
from gitrelstate.state import FORMAT_VERSION
from gitrelstate.state.paths import RESERVED_PREFIX, check_relpath

KIND = "manifest"
# A listing's size is bounded where it is read (by the file count its pointer
# declares, guard/reads); this is the cap for a listing whose origin says nothing.
LISTING = limits.Cap("a folder listing", 256 * limits.MiB)
_HEX = re.compile(r"[0-9a-f]{64}")
_HEXES = re.compile(r"[0-9a-f]*")
# Newline-terminated relative paths, each as paths.check_relpath's fast path
# accepts them: no empty, '.' or '..' component, no control character, no
# backslash, no drive letter (no path can hold '\n': it is a control character).
_COMPONENT = r"(?!\.\.?(?:/|\n))[^/\x00-\x1f\x7f\\]{1,255}"
_PATHS = re.compile(rf"(?:(?![A-Za-z]:){_COMPONENT}(?:/{_COMPONENT})*\n)*")


class Entry(NamedTuple):
    # A tuple, not a dataclass: a listing of 100,000 files builds 100,000 of these.
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
        """Parse and validate a listing: bounded (size, nesting), every entry checked."""
        # Entries are checked one by one below, so numbers need no second walk.
        data = jsonload.loads(raw, source, cap=LISTING, check_values=False)
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
        entries = _fast_entries(raw_entries)
        if entries is None:
            entries = _checked_entries(raw_entries, source)
        _check_no_file_dir_clash(entries, source)
        return cls(entries)


def _fast_entries(raw_entries: list[object]) -> dict[str, Entry] | None:
    """Entries of a well-formed listing, validated in bulk; None when anything is unusual.

    Checking 100,000 entries one by one costs about as much as everything else
    ``diff`` does, so the common case is checked with a few C-level passes over
    all of them at once; any doubt falls back to the exact per-entry checks.
    """
    try:
        paths, hexes, sizes, execs = zip(*raw_entries, strict=True)
    except (TypeError, ValueError):
        return None
    if not (
        all(type(p) is str for p in paths)
        and all(type(h) is str for h in hexes)
        and all(type(n) is int for n in sizes)
        and all(type(x) is bool for x in execs)
        and (not sizes or (min(sizes) >= 0 and max(sizes) <= limits.MAX_INT))
        and len(set(paths)) == len(paths)
    ):
        return None
    joined_hex = "".join(hexes)
    if len(joined_hex) != 64 * len(hexes) or not _HEXES.fullmatch(joined_hex):
        return None
    joined = "\n".join(paths) + "\n" if paths else ""
    if (
        not joined.isascii()
        or max(map(len, paths), default=0) > 1024
        or ".git" in joined.lower()
        or RESERVED_PREFIX in joined
        or not _PATHS.fullmatch(joined)
    ):
        return None
    # tuple.__new__ builds each Entry in C (Entry(...) would run Python code per entry).
    made = map(tuple.__new__, repeat(Entry), zip(hexes, sizes, execs, strict=True))
    return dict(zip(paths, made, strict=True))


def _checked_entries(raw_entries: list[object], source: str) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for item in raw_entries:
        if (
            not isinstance(item, list)
            or len(item) != 4
            or not isinstance(item[1], str)
            or not _HEX.fullmatch(item[1])
            or not isinstance(item[2], int)
            or isinstance(item[2], bool)
            or not 0 <= item[2] <= limits.MAX_INT
            or not isinstance(item[3], bool)
        ):
            raise StateFileError(f"{source}: malformed manifest entry {str(item)[:120]}")
        path = check_relpath(item[0], source, "entries")
        if path in entries:
            raise StateFileError(f"{source}: duplicate manifest entry {path!r}")
        entries[path] = Entry(item[1], item[2], item[3])
    return entries


def _check_no_file_dir_clash(entries: Mapping[str, Entry], source: str) -> None:
    """A path cannot be both a file and a folder holding other entries."""
    folders: set[str] = set()
    for parent in {path.rpartition("/")[0] for path in entries}:
        while parent and parent not in folders:
            folders.add(parent)
            parent = parent.rpartition("/")[0]
    clash = folders & entries.keys()
    if clash:
        raise StateFileError(f"{source}: manifest lists {min(clash)!r} as a file and as a folder")


def changed_entries(
    old_raw: bytes, new_raw: bytes, source: str
) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """The entries only in ``old_raw`` and only in ``new_raw`` (a changed file is in both).

    Two listings in canonical form are compared line by line without parsing the
    lines they share: two listings of 100,000 files with 1% changed cost two
    splits, two set differences and 2,000 small parses. Anything else is parsed
    in full (which validates it) and compared entry by entry.
    """
    old_lines, new_lines = _canonical_lines(old_raw), _canonical_lines(new_raw)
    if old_lines is not None and new_lines is not None:
        try:
            gone = _checked_entries(_parse_lines(old_lines - new_lines, source), source)
            came = _checked_entries(_parse_lines(new_lines - old_lines, source), source)
            return gone, came
        except StateFileError:
            pass  # the full reader below reports it properly
    old = Manifest.from_bytes(old_raw, source).entries
    new = Manifest.from_bytes(new_raw, source).entries
    return (
        {k: e for k, e in old.items() if new.get(k) != e},
        {k: e for k, e in new.items() if old.get(k) != e},
    )


def _parse_lines(lines: set[bytes], source: str) -> list[object]:
    """Entry lines parsed together, as one bounded JSON array (each entry is one level)."""
    parsed = jsonload.loads(
        b"[" + b",".join(lines) + b"]", source, cap=LISTING, depth=2, check_values=False
    )
    if not isinstance(parsed, list):
        raise StateFileError(f"{source}: malformed manifest entries")
    return parsed


def _canonical_lines(raw: bytes) -> set[bytes] | None:
    """The entry lines of a listing written by ``to_bytes``; None if it is not one."""
    head = f'{{"relstate":{FORMAT_VERSION},"kind":"{KIND}","algo":"blake3","entries":['
    encoded = head.encode()
    if not raw.startswith(encoded) or not raw.endswith(b"]}\n"):
        return None
    body = raw[len(encoded) : -3]
    if not body:
        return set()
    if not (body.startswith(b"\n") and body.endswith(b"\n")):
        return None
    # A name cannot hold a raw newline (JSON escapes it), so ",\n" only ends entries.
    return set(body[1:-1].split(b",\n"))

"""Directory manifests: the canonical listing whose hash names a tracked directory.

A manifest is stored as an object like any file.  Its encoding is JSON (fast to
parse at 10^5 entries, unlike YAML), one entry per line, sorted by path, so the
same tree always yields the same bytes and therefore the same hash.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice, repeat
from typing import Any, BinaryIO, NamedTuple

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


HEAD = f'{{"relstate":{FORMAT_VERSION},"kind":"{KIND}","algo":"blake3","entries":['.encode()


def entry_line(path: str, hex_: str, size: int, executable: bool) -> str:
    """One entry of the canonical listing (docs/spec.md 4.1), without separator."""
    if path.isprintable() and '"' not in path and "\\" not in path:
        # What json.dumps writes for such a path, at a fraction of its cost.
        return f'["{path}","{hex_}",{size},{"true" if executable else "false"}]'
    return json.dumps([path, hex_, size, executable], ensure_ascii=False, separators=(",", ":"))


class ListingWriter:
    """Writes a canonical listing entry by entry, hashing it on the way: a listing of
    10^6 files never has to be held in memory (``out`` may be a file)."""

    def __init__(self, out: BinaryIO, hasher: Any) -> None:
        self._out = out
        self._hasher = hasher
        self._last = ""
        self.nfiles = 0
        self.size = 0
        self._emit(HEAD)

    def _emit(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self._out.write(chunk)

    def add(
        self,
        paths: Sequence[str],
        hexes: Sequence[str],
        sizes: Sequence[int],
        execs: Iterable[bool],
    ) -> None:
        """Append entries; ``paths`` are sorted and follow every path added before."""
        if not paths:
            return
        if self.nfiles and paths[0] <= self._last:
            raise ValueError(f"listing entries out of order: {paths[0]!r} after {self._last!r}")
        lines = ",\n".join(map(entry_line, paths, hexes, sizes, execs))
        self._emit(("\n" if not self.nfiles else ",\n").encode() + lines.encode("utf-8"))
        self.nfiles += len(paths)
        self.size += sum(sizes)
        self._last = paths[-1]

    def finish(self) -> str:
        """Close the listing; its hex digest (the directory's id without ``blake3:``)."""
        self._emit(b"\n]}\n" if self.nfiles else b"]}\n")
        return str(self._hasher.hexdigest())


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
            entry_line(p, e.hex, e.size, e.executable) for p, e in sorted(self.entries.items())
        ]
        body = "\n" + ",\n".join(lines) + "\n" if lines else ""
        return HEAD + (body + "]}\n").encode("utf-8")

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


class NotCanonical(Exception):
    """A listing that is valid but not in canonical form (its reader parses it whole)."""


# Entry lines parsed together when a listing is read as a stream.
STREAM_CHUNK = 4096


def iter_entries(raw: bytes, source: str) -> Iterator[tuple[list[str], list[Entry]]]:
    """The entries of a canonical listing, in order, a few thousand at a time, each
    checked as :meth:`Manifest.from_bytes` checks them: memory holds one chunk of
    parsed entries and the folders on the current path, never the whole listing.

    Raises :class:`NotCanonical` for a listing that is not in canonical form (then read
    it with :meth:`Manifest.from_bytes`), :class:`StateFileError` for a bad one.
    """
    start = _canonical_start(raw)
    if start is None:
        raise NotCanonical(source)
    last = ""
    # The folders on the current path, each with its file names: a name listed as a
    # file and as a folder is found when the folder opens (files sort first).
    open_dirs: list[tuple[str, set[str]]] = [("", set())]
    lines = _lines(raw, start)
    while True:
        chunk = list(islice(lines, STREAM_CHUNK))
        if not chunk:
            return
        parsed = _parse_lines([line.rstrip(b",\n") for line in chunk], source)
        entries = _fast_entries(parsed)
        if entries is None:
            entries = _checked_entries(parsed, source)
        paths = list(entries)
        if paths[0] <= last or not all(map(str.__lt__, paths, paths[1:])):
            raise NotCanonical(source)
        last = paths[-1]
        for path in paths:
            folder, _, name = path.rpartition("/")
            prefix = folder + "/" if folder else ""
            if prefix != open_dirs[-1][0]:
                _open_folder(open_dirs, prefix, source)
            open_dirs[-1][1].add(name)
        yield paths, list(entries.values())


def _open_folder(open_dirs: list[tuple[str, set[str]]], prefix: str, source: str) -> None:
    while not prefix.startswith(open_dirs[-1][0]):
        open_dirs.pop()
    while open_dirs[-1][0] != prefix:
        parent, files = open_dirs[-1]
        name = prefix[len(parent) :].split("/", 1)[0]
        if name in files:
            raise StateFileError(
                f"{source}: manifest lists {parent + name!r} as a file and as a folder"
            )
        open_dirs.append((parent + name + "/", set()))


def changed_entries(
    old_raw: bytes, new_raw: bytes, source: str
) -> tuple[dict[str, Entry], dict[str, Entry]]:
    """The entries only in ``old_raw`` and only in ``new_raw`` (a changed file is in both).

    Two listings in canonical form are merged line by line, in step, without
    splitting or parsing the lines they share: two listings of 10^6 files with 1%
    changed cost one pass over each and 20,000 small parses, and no memory beyond
    the two listings themselves. Anything else is parsed in full (which validates
    it) and compared entry by entry.
    """
    old_start, new_start = _canonical_start(old_raw), _canonical_start(new_raw)
    if old_start is not None and new_start is not None:
        try:
            differing = _merge(_lines(old_raw, old_start), _lines(new_raw, new_start))
            if differing is not None:
                gone = _checked_entries(_parse_lines(differing[0], source), source)
                came = _checked_entries(_parse_lines(differing[1], source), source)
                return gone, came
        except StateFileError:
            pass  # the full reader below reports it properly
    old = Manifest.from_bytes(old_raw, source).entries
    new = Manifest.from_bytes(new_raw, source).entries
    return (
        {k: e for k, e in old.items() if new.get(k) != e},
        {k: e for k, e in new.items() if old.get(k) != e},
    )


def _path_key(line: bytes) -> bytes | None:
    """The UTF-8 path of an entry line (whose order is the code points' order)."""
    if not line.startswith(b'["'):
        return None
    end = line.find(b'","', 2)
    if end < 0:
        return None
    key = line[2:end]
    if b"\\" in key:  # escapes: decode properly
        try:
            decoded = json.loads(line)
        except ValueError:
            return None
        if not isinstance(decoded, list) or not decoded or not isinstance(decoded[0], str):
            return None
        return decoded[0].encode("utf-8", "surrogatepass")
    return key


def _lines(raw: bytes, start: int) -> Iterator[bytes]:
    """The entry lines of a canonical listing from ``start``, without copying it (a
    BytesIO over bytes shares them until written to)."""
    stream = io.BytesIO(raw)
    stream.seek(start)
    for line in stream:
        if line == b"]}\n":
            return
        yield line


def _merge(old: Iterator[bytes], new: Iterator[bytes]) -> tuple[list[bytes], list[bytes]] | None:
    """(lines only in old, lines only in new) of two sorted listings' lines; None when
    one turns out not to be sorted where they differ (then the caller parses both)."""
    gone: list[bytes] = []
    came: list[bytes] = []
    a, b = next(old, None), next(new, None)
    last_a = last_b = b""
    while a is not None and b is not None:
        if a == b:
            a, b = next(old, None), next(new, None)
            continue
        x, y = a.rstrip(b",\n"), b.rstrip(b",\n")
        if x == y:
            a, b = next(old, None), next(new, None)
            continue
        ka, kb = _path_key(x), _path_key(y)
        if ka is None or kb is None or ka <= last_a or kb <= last_b:
            return None
        if ka <= kb:
            gone.append(x)
            last_a = ka
            a = next(old, None)
        if kb <= ka:
            came.append(y)
            last_b = kb
            b = next(new, None)
    while a is not None:
        gone.append(a.rstrip(b",\n"))
        a = next(old, None)
    while b is not None:
        came.append(b.rstrip(b",\n"))
        b = next(new, None)
    return gone, came


def _parse_lines(lines: list[bytes], source: str) -> list[object]:
    """Entry lines parsed together, as one bounded JSON array (each entry is one level)."""
    parsed = jsonload.loads(
        b"[" + b",".join(lines) + b"]", source, cap=LISTING, depth=2, check_values=False
    )
    if not isinstance(parsed, list):
        raise StateFileError(f"{source}: malformed manifest entries")
    return parsed


def _canonical_start(raw: bytes) -> int | None:
    """Where the entry lines of a listing written by ``to_bytes`` start; None if it is
    not one. (A name cannot hold a raw newline: JSON escapes it, so lines are entries.)"""
    if not raw.startswith(HEAD) or not raw.endswith(b"]}\n"):
        return None
    if len(raw) == len(HEAD) + 3:
        return len(HEAD)  # no entries
    if raw[len(HEAD) : len(HEAD) + 1] != b"\n" or raw[-4:-3] != b"\n":
        return None
    return len(HEAD) + 1

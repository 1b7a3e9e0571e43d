"""Data pointers: ``<path>.relstate.yaml`` files committed next to tracked data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrelstate.errors import StateFileError
from gitrelstate.state import FORMAT_VERSION, model
from gitrelstate.state.paths import check_relpath

KIND = "data"
SUFFIX = ".relstate.yaml"
KEYS = ("relstate", "kind", "path", "hash", "size", "nfiles", "exec")


# A pointer exactly as gitrelstate writes it, with values whose YAML meaning is
# unambiguous, is parsed without the YAML library (it dominates the start-up of
# 'status'); anything else goes through the full, defensive YAML reader.
_CANONICAL_LINE = re.compile(
    r"(relstate): ([1-9][0-9]{0,8})"
    r"|(kind): (data)"
    r"|(path): ([A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r"|(hash): (blake3:[0-9a-f]{64})"
    r"|(size|nfiles): (0|[1-9][0-9]{0,18})"
    r"|(exec): (true)"
)
_YAML_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})


def parse_canonical(text: str) -> dict[str, Any] | None:
    """The pointer's mapping if ``text`` is in simple canonical form, else None."""
    data: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue
        match = _CANONICAL_LINE.fullmatch(line)
        if match is None:
            return None
        key, value = (g for g in match.groups() if g is not None)
        if key in data:
            return None
        if key == "path":
            # Numbers, dates and YAML words resolve to non-strings: leave them to YAML.
            if value[0] in "0123456789" or value.lower() in _YAML_WORDS:
                return None
            data[key] = value
        elif key in ("relstate", "size", "nfiles"):
            data[key] = int(value)
        elif key == "exec":
            data[key] = True
        else:
            data[key] = value
    return data if text.endswith("\n") else None


@dataclass(frozen=True)
class DataPointer:
    """Where tracked data lives (``path``) and what it is (``hash``, ``size``)."""

    path: str
    hash: str
    size: int
    nfiles: int | None = None
    executable: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return self.nfiles is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "relstate": FORMAT_VERSION,
            "kind": KIND,
            "path": self.path,
            "hash": self.hash,
            "size": self.size,
            "nfiles": self.nfiles,
            "exec": True if self.executable else None,
        }
        data.update(self.extra)
        return model.ordered(data, KEYS)

    @classmethod
    def from_dict(cls, data: object, source: str) -> DataPointer:
        checked = model.check_header(data, source, KIND)
        path = check_relpath(model.require(checked, "path", str, source), source)
        if "/" in path:
            raise StateFileError(
                f"{source}: 'path' must name a file or folder beside the pointer, got {path!r}",
                hint="a pointer sits next to its data: data.relstate.yaml has 'path: data'",
            )
        hash_ = model.check_hash(model.require(checked, "hash", str, source), source)
        size = model.check_size(model.require(checked, "size", int, source), source)
        nfiles = checked.get("nfiles")
        if nfiles is not None:
            nfiles = model.check_size(nfiles, source, "nfiles")
        executable = bool(model.optional(checked, "exec", bool, source))
        return cls(path, hash_, size, nfiles, executable, model.extras(checked, KEYS))

"""Common rules of every state file: header, kinds, key order, value checks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gitrelstate.errors import StateFileError
from gitrelstate.guard import limits
from gitrelstate.state import FORMAT_VERSION

HASH_ALGO = "blake3"
_HASH_RE = re.compile(r"blake3:[0-9a-f]{64}")
# A git object id (SHA-1 or SHA-256), exactly: recorded commits are passed to git, and
# a "commit" such as '--output=FILE' would be read as an option.
_COMMIT_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
HEADER_KEYS = ("relstate", "kind")
_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    type(None): "empty",
}


def check_header(data: object, source: str, kind: str) -> dict[str, Any]:
    """Validate ``relstate``/``kind`` and return the mapping; newer versions are refused."""
    if not isinstance(data, dict):
        raise StateFileError(
            f"{source}: expected a mapping at the top level",
            hint="this does not look like a file gitrelstate wrote",
        )
    version = data.get("relstate")
    if version is None:
        raise StateFileError(
            f"{source}: missing key 'relstate' (the format version)",
            hint="every gitrelstate file starts with 'relstate: 1'",
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StateFileError(f"{source}: 'relstate' must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise StateFileError(
            f"{source}: written in format version {version}; this gitrelstate reads up to "
            f"version {FORMAT_VERSION}",
            hint="upgrade gitrelstate (pip install -U gitrelstate)",
        )
    found = data.get("kind")
    if found != kind:
        raise StateFileError(f"{source}: 'kind' is {found!r}, expected {kind!r}")
    return data


def require(data: Mapping[str, Any], key: str, types: type | tuple[type, ...], source: str) -> Any:
    """Return ``data[key]``, checking that it is present and of ``types``."""
    if key not in data:
        raise StateFileError(f"{source}: missing key '{key}'")
    return check_type(data[key], key, types, source)


def optional(data: Mapping[str, Any], key: str, types: type | tuple[type, ...], source: str) -> Any:
    """Return ``data[key]`` or None, checking the type when present."""
    if data.get(key) is None:
        return None
    return check_type(data[key], key, types, source)


def check_type(value: Any, key: str, types: type | tuple[type, ...], source: str) -> Any:
    wanted = types if isinstance(types, tuple) else (types,)
    # bool is an int in Python; a size of 'true' is still wrong.
    ok = False if isinstance(value, bool) and bool not in wanted else isinstance(value, wanted)
    if not ok:
        names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in wanted)
        got = _TYPE_NAMES.get(type(value), type(value).__name__)
        raise StateFileError(f"{source}: '{key}' must be {names}, got {got}")
    return value


def check_hash(value: object, source: str, key: str = "hash") -> str:
    """Validate an algorithm-prefixed content id (``blake3:<64 hex>``)."""
    if not isinstance(value, str) or not _HASH_RE.fullmatch(value):
        raise StateFileError(
            f"{source}: '{key}' must look like 'blake3:<64 hex digits>', got {str(value)[:80]!r}"
        )
    return value


def check_size(value: object, source: str, key: str = "size") -> int:
    check_type(value, key, int, source)
    assert isinstance(value, int)
    if not 0 <= value <= limits.MAX_INT:
        raise StateFileError(f"{source}: '{key}' must be between 0 and {limits.MAX_INT}")
    return value


def ordered(data: Mapping[str, Any], order: Sequence[str]) -> dict[str, Any]:
    """Known keys first in canonical order, then unknown keys in their original order."""
    out = {k: data[k] for k in order if k in data and data[k] is not None}
    out.update((k, v) for k, v in data.items() if k not in out and k not in order)
    return out


def extras(data: Mapping[str, Any], known: Sequence[str]) -> dict[str, Any]:
    """The keys this version does not know about, kept so a rewrite preserves them."""
    return {k: v for k, v in data.items() if k not in known}


def check_commit(value: object, source: str, key: str = "code.commit") -> str | None:
    """A recorded commit: a full git object id (40 or 64 hex digits), or null."""
    if value is None:
        return None
    if not isinstance(value, str) or not _COMMIT_RE.fullmatch(value):
        raise StateFileError(
            f"{source}: '{key}' must be a full git commit id (40 or 64 hex digits) or null, "
            f"got {str(value)[:80]!r}"
        )
    return value


def check_code(value: object, source: str, key: str = "code") -> dict[str, Any]:
    """The ``code`` section of a record or release: ``commit`` (an object id or null),
    ``branch`` (text or null), ``dirty`` (true/false), ``diff`` (a content id); other
    keys are kept as they are."""
    if value is None:
        return {}
    code = check_type(value, key, dict, source)
    check_commit(code.get("commit"), source, f"{key}.commit")
    for field, types in (("branch", str), ("dirty", bool)):
        if code.get(field) is not None:
            check_type(code[field], f"{key}.{field}", types, source)
    if code.get("diff") is not None:
        check_hash(code["diff"], source, f"{key}.diff")
    return dict(code)

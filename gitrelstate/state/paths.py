"""Validation of the relative paths stored in pointers and manifests.

A stored path is a promise about where data lands on checkout, so it must never
point outside the repository, whatever the file says.
"""

from __future__ import annotations

import re

from gitrelstate.errors import UnsafePathError

_DRIVE = re.compile(r"^[A-Za-z]:")
# The common case, checked in one regex call: components of ordinary characters
# (no control characters, backslash or NUL), none of them '.' or '..'.
_PLAIN = re.compile(r"^(?![A-Za-z]:)(?:(?!\.\.?(?:/|$))[^/\x00-\x1f\x7f\\]{1,255}(?:/|$))+$")
MAX_PATH_BYTES = 4096
# Names gitrelstate gives its own temp files; never valid as data.
RESERVED_PREFIX = ".relstate-tmp-"
MAX_COMPONENT_BYTES = 255


def check_relpath(path: object, source: str, key: str = "path") -> str:
    """Return ``path`` if it is a normalised, ``/``-separated relative path inside the tree.

    Raises :class:`UnsafePathError` naming ``source`` and ``key`` otherwise.
    """
    if (
        isinstance(path, str)
        and path.isascii()
        and len(path) <= 1024
        and _PLAIN.fullmatch(path)
        and path[-1] != "/"
        and ".git" not in path.lower()
        and RESERVED_PREFIX not in path
    ):
        return path
    hint = "paths in state files are relative, '/'-separated and stay inside the repository"
    if not isinstance(path, str) or not path:
        raise UnsafePathError(f"{source}: '{key}' must be a non-empty string", hint=hint)
    shown = path.encode("unicode_escape").decode("ascii")[:200]
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in path):
        raise UnsafePathError(f"{source}: '{key}' contains control characters: {shown}", hint=hint)
    if "\\" in path:
        raise UnsafePathError(f"{source}: '{key}' contains a backslash: {shown}", hint=hint)
    if path.startswith("/") or _DRIVE.match(path):
        raise UnsafePathError(f"{source}: '{key}' is absolute: {shown}", hint=hint)
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePathError(f"{source}: '{key}' is not valid UTF-8: {shown}", hint=hint) from None
    if len(encoded) > MAX_PATH_BYTES:
        raise UnsafePathError(f"{source}: '{key}' is longer than {MAX_PATH_BYTES} bytes", hint=hint)
    for part in path.split("/"):
        if part.lower() == ".git" or part.startswith(RESERVED_PREFIX):
            raise UnsafePathError(f"{source}: '{key}' uses a reserved name: {shown}", hint=hint)
        if part in ("", ".", ".."):
            raise UnsafePathError(
                f"{source}: '{key}' is not a normalised path inside the repository: {shown}",
                hint=hint,
            )
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise UnsafePathError(f"{source}: '{key}' has a component over 255 bytes", hint=hint)
    return path

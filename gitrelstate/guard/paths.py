"""Containment of the paths that state files name (docs/spec.md section 5).

A state file comes from other people through Git. Every path it names, whether
gitrelstate reads it (params, metrics, dependencies, lock files) or writes it
(restored params, run records, releases), must stay inside the work tree: first by
its spelling (:func:`check_relpath`), then where it really lands once symlinks are
resolved (:func:`resolve_inside`), and never inside ``.git``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from gitrelstate.errors import UnsafePathError

_DRIVE = re.compile(r"^[A-Za-z]:")
# The common case, checked in one regex call: components of ordinary characters
# (no control characters, backslash or NUL), none of them '.' or '..'.
_PLAIN = re.compile(r"^(?![A-Za-z]:)(?:(?!\.\.?(?:/|$))[^/\x00-\x1f\x7f\\]{1,255}(?:/|$))+$")
MAX_PATH_BYTES = 4096
# Names gitrelstate gives its own temp files; never valid as data.
RESERVED_PREFIX = ".relstate-tmp-"
MAX_COMPONENT_BYTES = 255
_HINT = "paths in state files are relative, '/'-separated and stay inside the repository"


def check_relpath(path: object, source: str, key: str = "path") -> str:
    """Return ``path`` if it is a normalised, ``/``-separated relative path inside the tree.

    Lexical rules only (no file system access). Raises :class:`UnsafePathError`
    naming ``source`` and ``key`` otherwise.
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
    if not isinstance(path, str) or not path:
        raise UnsafePathError(f"{source}: '{key}' must be a non-empty string", hint=_HINT)
    shown = _shown(path)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in path):
        raise UnsafePathError(f"{source}: '{key}' contains control characters: {shown}", hint=_HINT)
    if "\\" in path:
        raise UnsafePathError(f"{source}: '{key}' contains a backslash: {shown}", hint=_HINT)
    if path.startswith("/") or _DRIVE.match(path):
        raise UnsafePathError(f"{source}: '{key}' is absolute: {shown}", hint=_HINT)
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePathError(
            f"{source}: '{key}' is not valid UTF-8: {shown}", hint=_HINT
        ) from None
    if len(encoded) > MAX_PATH_BYTES:
        raise UnsafePathError(
            f"{source}: '{key}' is longer than {MAX_PATH_BYTES} bytes", hint=_HINT
        )
    for part in path.split("/"):
        if part.lower() == ".git" or part.startswith(RESERVED_PREFIX):
            raise UnsafePathError(f"{source}: '{key}' uses a reserved name: {shown}", hint=_HINT)
        if part in ("", ".", ".."):
            raise UnsafePathError(
                f"{source}: '{key}' is not a normalised path inside the repository: {shown}",
                hint=_HINT,
            )
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise UnsafePathError(f"{source}: '{key}' has a component over 255 bytes", hint=_HINT)
    return path


def inside(path: str, root: str) -> bool:
    """Whether the normalised absolute ``path`` is ``root`` or below it (no file system access)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def contained(root: Path | str, path: Path | str, guarded: Iterable[Path | str] = ()) -> bool:
    """Whether ``path``, symlinks resolved, lands inside ``root`` and outside every ``guarded``.

    ``root/.git`` is always guarded. For callers that skip what leaves the tree
    (lock files found by a walk) rather than refuse it.
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if not inside(real, real_root):
        return False
    fences = [os.path.join(real_root, ".git"), *(os.path.realpath(g) for g in guarded)]
    return not any(inside(real, fence) for fence in fences)


def resolve_inside(
    root: Path | str,
    rel: object,
    source: str,
    key: str = "path",
    *,
    guarded: Iterable[Path | str] = (),
    follow_symlinks: bool = True,
) -> Path:
    """The real location of ``rel`` under ``root``, refused unless it stays inside.

    ``rel`` must pass :func:`check_relpath`; then ``root/rel`` with symlinks resolved
    must be inside ``root`` (also resolved) and outside ``root/.git`` and every
    ``guarded`` folder. With ``follow_symlinks=False`` (for writes) a symlink on any
    existing component of ``rel`` is refused even when it leads back inside, so a
    write never lands on a file other than the one named. The file itself need not
    exist. Returns the resolved path, which is what the caller should open.
    """
    checked = check_relpath(rel, source, key)
    real_root = os.path.realpath(root)
    if not follow_symlinks:
        current = real_root
        for part in checked.split("/"):
            current = os.path.join(current, part)
            if os.path.islink(current):
                raise UnsafePathError(
                    f"{source}: '{key}' {_shown(checked)} goes through a symlink "
                    f"({_shown(os.path.relpath(current, real_root))})",
                    hint="gitrelstate writes state only to real folders inside the work tree; "
                    "replace the symlink with a folder",
                )
    real = os.path.realpath(os.path.join(real_root, checked))
    if not inside(real, real_root):
        raise UnsafePathError(
            f"{source}: '{key}' {_shown(checked)} resolves outside the repository",
            hint="a symlink on the way leads out of the work tree; remove it, "
            "or restore the state file from Git",
        )
    for fence in (os.path.join(real_root, ".git"), *(os.path.realpath(g) for g in guarded)):
        if inside(real, fence):
            raise UnsafePathError(
                f"{source}: '{key}' {_shown(checked)} resolves into "
                f"{os.path.basename(fence.rstrip(os.sep))}/",
                hint="state files may not name git's or gitrelstate's own files; "
                "remove the symlink on the way, or restore the state file from Git",
            )
    return Path(real)


def _shown(path: str) -> str:
    return path.encode("unicode_escape").decode("ascii")[:200]

"""Walking tracked directories in the work tree, safely and fast."""

from __future__ import annotations

import os
import stat as stat_mod
from pathlib import Path

from gitrelstate.errors import RelstateError, UnsafePathError
from gitrelstate.fsutil import TMP_MARKER


def is_executable(st: os.stat_result) -> bool:
    return bool(st.st_mode & stat_mod.S_IXUSR)


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_name(path: str) -> None:
    """Refuse names that state files cannot record faithfully (see docs/spec.md)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise UnsafePathError(
            f"file name is not valid UTF-8: {shown}",
            hint="rename the file; state files record paths as UTF-8 text",
        ) from None
    if "\\" in path or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in path):
        shown = path.encode("unicode_escape").decode("ascii")
        raise UnsafePathError(
            f"file name contains a backslash or control character: {shown}",
            hint="rename the file; such names are not portable and are refused",
        )


def _follow_link(
    entry: os.DirEntry[str], shown: str, root_real: str, cache_real: str | None
) -> os.stat_result:
    target = os.path.realpath(entry.path)
    if not inside(target, root_real) and not (
        cache_real is not None and inside(target, cache_real)
    ):
        raise UnsafePathError(
            f"symlink leaves the repository: {shown} -> {os.readlink(entry.path)}",
            hint="replace the link with the data it points to, or remove it",
        )
    try:
        st = os.stat(entry.path)
    except OSError:
        raise RelstateError(
            f"broken symlink: {shown}", hint="remove it or fix its target"
        ) from None
    if stat_mod.S_ISDIR(st.st_mode):
        raise UnsafePathError(
            f"symlink to a folder inside tracked data: {shown}",
            hint="track the folder it points to instead",
        )
    return st


def walk_files(
    top: Path,
    repo_root: Path,
    leftovers: list[Path] | None = None,
    cache_root: Path | None = None,
) -> dict[str, os.stat_result]:
    """Every file below ``top``: '/'-separated path relative to ``top`` -> stat.

    Symlinks to files inside the repository (or into the cache, as checkout
    makes them with ``cache.link: symlink``) are followed (their content is
    tracked); symlinks leaving the repository, or to folders, are refused.
    Leftover gitrelstate temp files (collected in ``leftovers`` when given) and
    ``.git`` folders are skipped.
    """
    root_real = os.path.realpath(repo_root)
    cache_real = os.path.realpath(cache_root) if cache_root is not None else None
    top_rel = os.path.relpath(top, repo_root)
    display = "" if top_rel == "." else top_rel.replace(os.sep, "/") + "/"
    found: dict[str, os.stat_result] = {}
    stack: list[tuple[str, str]] = [(str(top), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise RelstateError(f"cannot read folder {folder}: {exc.strerror}") from None
        for entry in entries:
            name = entry.name
            if name.startswith(TMP_MARKER):
                if leftovers is not None:
                    leftovers.append(Path(entry.path))
                continue
            if len(name) == 4 and name.lower() == ".git":
                # A nested repository's folder, or a submodule's or worktree's '.git'
                # file, in any case: state files can never name it (docs/spec.md 5.1).
                continue
            # Cheap checks for the common name; the full rules only when needed.
            if not (name.isascii() and name.isprintable()) or "\\" in name:
                check_name(display + prefix + name)
            if entry.is_file(follow_symlinks=False):  # the common case first
                found[prefix + name] = entry.stat(follow_symlinks=False)
            elif entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, prefix + name + "/"))
            elif entry.is_symlink():
                found[prefix + name] = _follow_link(
                    entry, display + prefix + name, root_real, cache_real
                )
            else:
                raise RelstateError(
                    f"not a regular file: {display}{prefix}{name}",
                    hint="sockets, pipes and devices cannot be tracked; move them out",
                )
    return found

"""Walking tracked directories in the work tree, safely and fast."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

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


def _follow_link(path: str, shown: str, root_real: str, cache_real: str | None) -> os.stat_result:
    target = os.path.realpath(path)
    if not inside(target, root_real) and not (
        cache_real is not None and inside(target, cache_real)
    ):
        raise UnsafePathError(
            f"symlink leaves the repository: {shown} -> {os.readlink(path)}",
            hint="replace the link with the data it points to, or remove it",
        )
    try:
        st = os.stat(path)
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


class Segment(NamedTuple):
    """A run of files of one folder, in the order a listing names them.

    ``prefix`` is the folder relative to the walked top (``""`` or ``"a/b/"``);
    ``names`` are sorted; ``last`` says the folder has no files after these (its
    sub-folders can split a folder's files into several segments)."""

    prefix: str
    names: list[str]
    stats: list[os.stat_result]
    last: bool


def walk_segments(
    top: Path,
    repo_root: Path,
    leftovers: list[Path] | None = None,
    cache_root: Path | None = None,
) -> Iterator[Segment]:
    """Every file below ``top`` in ascending order of its '/'-separated path (the order
    of a folder listing, docs/spec.md 4.1), as :class:`Segment` runs, one folder in
    memory at a time.

    A folder's entries are sorted with ``name + "/"`` as the key of a sub-folder:
    since no name holds a ``/``, descending into sub-folders in that order yields the
    files sorted by their whole path (``a-b`` < ``a.b`` < ``a/x``), so callers can
    stream a listing or merge with one without sorting everything. The rules are
    those of :func:`walk_files`.
    """
    root_real = os.path.realpath(repo_root)
    cache_real = os.path.realpath(cache_root) if cache_root is not None else None
    top_rel = os.path.relpath(top, repo_root)
    display = "" if top_rel == "." else top_rel.replace(os.sep, "/") + "/"

    def scan(folder: str, prefix: str) -> tuple[list[tuple[str, os.stat_result]], list[str]]:
        """One folder's files (name, stat) and sub-folder names, each sorted."""
        # Listed through a descriptor: each file is then stat'ed relative to its folder
        # (fstatat), not by a path the kernel resolves from the root again: 15% faster
        # than scandir(path), and a sub-folder replaced by a symlink is not followed.
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (os.O_NOFOLLOW if prefix else 0)
        try:
            fd = os.open(folder, flags)
        except FileNotFoundError:
            return [], []
        except OSError as exc:
            raise RelstateError(f"cannot read folder {folder}: {exc.strerror}") from None
        try:
            return scan_open(fd, folder, prefix)
        finally:
            os.close(fd)

    def scan_open(
        fd: int, folder: str, prefix: str
    ) -> tuple[list[tuple[str, os.stat_result]], list[str]]:
        try:
            entries = list(os.scandir(fd))
        except OSError as exc:
            raise RelstateError(f"cannot read folder {folder}: {exc.strerror}") from None
        files: list[tuple[str, os.stat_result]] = []
        dirs: list[str] = []
        joined = "/".join([e.name for e in entries])  # no name holds a '/'
        if (
            joined.isascii()
            and joined.isprintable()
            and "\\" not in joined
            and TMP_MARKER not in joined
            and ".git" not in joined.lower()
        ):
            # Every name is plain (the common case): the rules below cannot refuse or
            # skip any, so regular files are taken in one pass and the rest looked at.
            files = [
                (e.name, e.stat(follow_symlinks=False))
                for e in entries
                if e.is_file(follow_symlinks=False)
            ]
            if len(files) < len(entries):
                entries = [e for e in entries if not e.is_file(follow_symlinks=False)]
            else:
                entries = []
        for entry in entries:
            name = entry.name
            if name.startswith(TMP_MARKER):
                if leftovers is not None:
                    leftovers.append(Path(folder, name))
                continue
            if len(name) == 4 and name.lower() == ".git":
                # A nested repository's folder, or a submodule's or worktree's '.git'
                # file, in any case: state files can never name it (docs/spec.md 5.1).
                continue
            # Cheap checks for the common name; the full rules only when needed.
            if not (name.isascii() and name.isprintable()) or "\\" in name:
                check_name(display + prefix + name)
            if entry.is_file(follow_symlinks=False):  # the common case first
                files.append((name, entry.stat(follow_symlinks=False)))
            elif entry.is_dir(follow_symlinks=False):
                dirs.append(name)
            elif entry.is_symlink():
                files.append(
                    (
                        name,
                        _follow_link(
                            os.path.join(folder, name),
                            display + prefix + name,
                            root_real,
                            cache_real,
                        ),
                    )
                )
            else:
                raise RelstateError(
                    f"not a regular file: {display}{prefix}{name}",
                    hint="sockets, pipes and devices cannot be tracked; move them out",
                )
        files.sort(key=itemgetter(0))
        dirs.sort(key=lambda name: name + "/")  # a folder sorts as its name + '/'
        return files, dirs

    # A frame: (folder path, prefix, its files, its sub-folders, next file, next folder).
    files, dirs = scan(str(top), "")
    frames: list[list[Any]] = [[str(top), "", files, dirs, 0, 0]]
    while frames:
        frame = frames[-1]
        folder, prefix, files, dirs, fi, di = frame
        if di == len(dirs):  # only files left (a leaf folder: all of them at once)
            frames.pop()
            rest = files[fi:] if fi else files
            yield Segment(prefix, [n for n, _ in rest], [st for _, st in rest], True)
            continue
        # Files that sort before the next sub-folder (whose key is its name + "/").
        key = dirs[di] + "/"
        stop = fi
        while stop < len(files) and files[stop][0] < key:
            stop += 1
        if stop > fi:
            run = files[fi:stop]
            yield Segment(prefix, [n for n, _ in run], [st for _, st in run], False)
        frame[4], frame[5] = stop, di + 1
        sub = os.path.join(folder, dirs[di])
        sub_prefix = prefix + dirs[di] + "/"
        sub_files, sub_dirs = scan(sub, sub_prefix)
        frames.append([sub, sub_prefix, sub_files, sub_dirs, 0, 0])


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
    found: dict[str, os.stat_result] = {}
    for seg in walk_segments(top, repo_root, leftovers, cache_root):
        for name, st in zip(seg.names, seg.stats, strict=True):
            found[seg.prefix + name] = st
    return found


def whole_folders(
    segments: Iterator[Segment],
) -> Iterator[tuple[str, list[str], list[os.stat_result]]]:
    """(prefix, sorted names, stats) of each folder with files, once all its files are
    known; only the folders on the current path are held in memory."""
    partial: dict[str, tuple[list[str], list[os.stat_result]]] = {}
    for seg in segments:
        held = partial.pop(seg.prefix, None) if seg.last else partial.get(seg.prefix)
        if held is None and not seg.last:
            held = partial[seg.prefix] = ([], [])
        if held is not None:
            held[0].extend(seg.names)
            held[1].extend(seg.stats)
            if not seg.last:
                continue
            names, stats = held
        else:
            names, stats = seg.names, seg.stats
        if names:
            yield seg.prefix, names, stats

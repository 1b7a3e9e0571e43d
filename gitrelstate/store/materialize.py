"""Putting a cached object into the work tree: reflink, copy, hardlink or symlink.

Whatever the link type, the object is re-hashed on the way out, so a corrupted
cache object is reported (and removed from the cache) instead of landing in the
work tree.  The target is replaced by rename: it holds the old or the new
content, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from gitrelstate import faults, fsutil, hashing
from gitrelstate.errors import IntegrityError
from gitrelstate.store.objects import ObjectStore

FICLONE = 0x40049409
_UNSUPPORTED = {
    errno.EOPNOTSUPP,
    errno.ENOTTY,
    errno.EXDEV,
    errno.EINVAL,
    errno.ENOSYS,
    errno.EPERM,
}


def _corrupt(store: ObjectStore, hex_: str, target: str) -> IntegrityError:
    store.remove(hex_)
    return IntegrityError(
        f"cache object {hex_[:16]}… (for {target}) is corrupt; it was removed from the cache",
        hint="run 'git relstate fetch' to restore it from a remote, then check out again",
    )


def _verify_object(store: ObjectStore, hex_: str, target: str) -> None:
    try:
        actual, _ = hashing.hash_file(store.path(hex_))
    except FileNotFoundError:
        raise IntegrityError(f"cache object {hex_[:16]}… (for {target}) is missing") from None
    if actual != hex_:
        raise _corrupt(store, hex_, target)


def _try_reflink(src: Path, tmp: Path) -> bool:
    with open(src, "rb") as s, open(tmp, "xb") as d:
        try:
            fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:
                return False
            raise
    return True


def _materialize_packed(
    store: ObjectStore, hex_: str, target: Path, *, executable: bool, display: str
) -> os.stat_result:
    """Small packed objects: read, verify, write a temp file, rename."""
    try:
        data = store.read_bytes(hex_)
    except (KeyError, FileNotFoundError):
        raise IntegrityError(
            f"cache object {hex_[:16]}… (for {display}) is missing",
            hint="run 'git relstate fetch' first",
        ) from None
    if hashing.hash_bytes(data) != hex_:
        raise _corrupt(store, hex_, display)
    fsutil.write_atomic(target, data, mode=0o755 if executable else 0o644)
    return os.stat(target)


def materialize(
    store: ObjectStore,
    hex_: str,
    target: Path,
    *,
    executable: bool,
    link_types: Sequence[str],
    display: str,
) -> os.stat_result:
    """Make ``target`` hold object ``hex_``; return the new file's stat."""
    with fsutil.storage_errors():
        return _materialize(
            store, hex_, target, executable=executable, link_types=link_types, display=display
        )


def _materialize(
    store: ObjectStore,
    hex_: str,
    target: Path,
    *,
    executable: bool,
    link_types: Sequence[str],
    display: str,
) -> os.stat_result:
    src = store.path(hex_)
    if not store.is_loose(hex_):
        return _materialize_packed(store, hex_, target, executable=executable, display=display)
    if executable:
        # Hard/soft links share the read-only object's mode bits; an executable
        # file needs its own inode.
        link_types = [k for k in link_types if k not in ("hardlink", "symlink")] or ["copy"]
    tmp = fsutil.tmp_name(target)
    mode = 0o755 if executable else 0o644
    try:
        for kind in link_types:
            if kind == "copy":
                with open(src, "rb") as s, open(tmp, "xb") as d:
                    actual, _ = hashing.copy_and_hash(s, d, os.fstat(s.fileno()).st_size)
                if actual != hex_:
                    raise _corrupt(store, hex_, display)
                os.chmod(tmp, mode)
                break
            if kind == "reflink":
                _verify_object(store, hex_, display)
                if _try_reflink(src, tmp):
                    os.chmod(tmp, mode)
                    break
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                continue
            if kind == "hardlink":
                _verify_object(store, hex_, display)
                try:
                    os.link(src, tmp)
                except OSError:
                    continue
                break
            if kind == "symlink":
                _verify_object(store, hex_, display)
                os.symlink(src, tmp)
                break
        else:
            raise IntegrityError(
                f"none of the link types {', '.join(link_types)} worked for {display}",
                hint="add 'copy' to cache.link in .relstate/config.yaml",
            )
        faults.checkpoint("materialize.replace")
        os.replace(tmp, target)
    except FileNotFoundError:
        if not os.path.exists(src):
            raise IntegrityError(
                f"cache object {hex_[:16]}… (for {display}) is missing",
                hint="run 'git relstate fetch' first",
            ) from None
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return os.stat(target)

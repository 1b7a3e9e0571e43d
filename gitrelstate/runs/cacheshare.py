"""Run-cache entries on a remote: ``push`` sends the local entries the remote lacks
(with the objects their outputs and environment need, so a teammate's ``repro`` can
restore them), ``fetch`` brings the remote's entries (small; the outputs come later,
when ``repro`` restores one).

On the remote an entry is the named file ``runcache/<key hex>.json``, byte for byte
the local one. A fetched entry is checked as a local one is read: bounded, parsed
strictly, and refused unless its name is the key of the inputs it holds.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gitrelstate import fsutil, hashing, ui
from gitrelstate.errors import RelstateError
from gitrelstate.remotes import retry, transfer
from gitrelstate.remotes.remote import Remote
from gitrelstate.repo import Repo
from gitrelstate.runs import runcache
from gitrelstate.state.pointer import DataPointer
from gitrelstate.workspace.pointers import Tracked

FOLDER = runcache.FOLDER
T = TypeVar("T")


def _tracked(repo: Repo, entry: runcache.Entry) -> list[Tracked] | None:
    """What restoring the entry needs (its outputs, its environment object), when this
    cache holds all of it; else None."""
    found = [
        Tracked(
            f"run cache ({o.path})",
            o.path,
            DataPointer(o.path.rpartition("/")[2], o.hash, o.size, o.nfiles),
        )
        for o in entry.record.outs
    ]
    if entry.environment is not None:
        hex_ = hashing.hex_of(entry.environment)
        if not repo.cache.exists(hex_):
            return None
        size = len(repo.cache.read_bytes(hex_))
        found.append(
            Tracked(
                "run cache (environment)",
                "environment",
                DataPointer("environment", entry.environment, size),
            )
        )
    refs = transfer.referenced(repo, found)
    if refs.unknown_manifests or not all(repo.cache.exists(h) for h in refs.all):
        return None
    return found


def push(repo: Repo, remote: Remote, jobs: int) -> int:
    """Send the local entries the remote lacks; how many were sent."""
    local = list(runcache.entries(repo))
    if not local:
        return 0
    present = set(_remote(remote, "list", lambda: remote.backend.list_named(FOLDER)))
    sent = 0
    for path in local:
        if path.name in present:
            continue
        entry = runcache.read_entry(path)
        tracked = _tracked(repo, entry) if entry is not None else None
        if tracked is None:
            ui.debug(f"run cache {path.name}: not pushed (its outputs left the cache)")
            continue
        transfer.push(repo, remote, tracked, jobs)  # the outputs first, then the entry
        _remote(remote, "upload to", functools.partial(_put, remote, path))
        sent += 1
    if sent:
        ui.echo(f"pushed {sent} run-cache entr{'y' if sent == 1 else 'ies'} to {remote.shown}")
    return sent


def _put(remote: Remote, path: Path) -> None:
    remote.backend.put_named(f"{FOLDER}/{path.name}", path)


def _get(remote: Remote, name: str) -> bytes:
    return remote.backend.fetch_bytes(f"{FOLDER}/{name}", runcache.ENTRY.max_bytes)


def _remote(remote: Remote, action: str, call: Callable[[], T]) -> T:
    """One request to the remote, retried while it fails transiently; errors name it."""
    try:
        return retry.retrying(call)
    except RelstateError:
        raise
    except Exception as exc:
        raise remote.error(action, exc) from None


def fetch(repo: Repo, remote: Remote) -> int:
    """Bring the remote's entries this clone lacks; how many."""
    listed = _remote(remote, "list", lambda: remote.backend.list_named(FOLDER))
    folder = runcache.folder(repo)
    got = 0
    for name, info in sorted(listed.items()):
        if not name.endswith(".json") or (folder / name).exists():
            continue
        if info.size < 0 or info.size > runcache.ENTRY.max_bytes:
            continue
        try:
            raw = _remote(remote, "download from", functools.partial(_get, remote, name))
            entry = runcache.parse_entry(raw, f"remote run cache {name}")
        except RelstateError as exc:
            ui.debug(f"remote run cache {name} ignored: {exc.message}")
            continue
        if runcache.entry_name(entry.key) != name:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            fsutil.write_atomic(folder / name, raw)
            got += 1
    if got:
        ui.echo(f"fetched {got} run-cache entr{'y' if got == 1 else 'ies'} from {remote.shown}")
    return got

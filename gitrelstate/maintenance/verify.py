"""``verify``: every object the state files reference exists (in the cache or on a remote)
and re-hashes to its name, and every release file still matches its ``state_id``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitrelstate import hashing, parallel, ui
from gitrelstate.errors import RelstateError
from gitrelstate.guard import reads
from gitrelstate.repo import Repo
from gitrelstate.workspace import history, pointers

if TYPE_CHECKING:
    from gitrelstate.state.manifest import Manifest


@dataclass(frozen=True)
class Verified:
    where: str
    objects: int
    releases: int
    problems: list[str]


def verify(repo: Repo, *, remote_name: str | None, all_refs: bool, jobs: int | None) -> Verified:
    with repo.locked(shared=True):
        revs = ["--all"] if all_refs else ["HEAD"]
        recorded = history.recorded_pointers(repo, revs, work_tree=True)
        recorded += history.release_pointers(repo, revs, work_tree=True)
        release_problems, release_count = _verify_releases(repo, all_refs)
        if remote_name is None:
            problems, count = _verify_local(repo, recorded)
            where = "the cache"
        else:
            problems, count = _verify_remote(repo, recorded, remote_name, jobs)
            where = f"remote '{remote_name}'"
    return Verified(where, count, release_count, release_problems + problems)


def _verify_releases(repo: Repo, all_refs: bool) -> tuple[list[str], int]:
    """Each release file checked as every command checks it: content against its
    ``state_id``, name, tag and signature (releases are immutable)."""
    from gitrelstate.releases import registry

    return registry.verify_problems(repo, all_refs=all_refs)


def _names(repo: Repo, recorded: list[history.Recorded]) -> dict[str, str]:
    """hex -> a human name (pointer, or pointer:file) for messages."""
    names: dict[str, str] = {}
    for rec in recorded:
        names.setdefault(hashing.hex_of(rec.pointer.hash), rec.where)
    return names


def _check_all(hexes: list[str], check: Callable[[str], str | None], jobs: int) -> list[str]:
    problems: list[str] = []
    with ui.progress(len(hexes), "verify", unit="obj") as advance:

        def one(hex_: str) -> None:
            problem = check(hex_)
            if problem:
                problems.append(problem)
            advance(1)

        parallel.run_all(hexes, one, jobs)
    return sorted(problems)


def _verify_local(repo: Repo, recorded: list[history.Recorded]) -> tuple[list[str], int]:
    needed = history.needed_objects(repo, recorded)
    names = _names(repo, recorded)
    problems = [
        f"missing directory listing {hashing.hex_of(r.pointer.hash)[:16]}… ({r.where})"
        for r in needed.unknown_listings
    ]

    def check(hex_: str) -> str | None:
        label = f"{hex_[:16]}…" + (f" ({names[hex_]})" if hex_ in names else "")
        if not repo.cache.exists(hex_):
            return f"missing: {label}"
        try:
            if repo.cache.is_loose(hex_):
                actual = hashing.hash_file(repo.cache.path(hex_))[0]
            else:
                actual = hashing.hash_bytes(repo.cache.read_bytes(hex_))
        except (OSError, KeyError):
            return f"unreadable: {label}"
        if actual != hex_:
            repo.cache.remove(hex_)
            return f"corrupt (removed from the cache): {label}"
        return None

    unknown = {hashing.hex_of(r.pointer.hash) for r in needed.unknown_listings}
    todo = sorted(needed.files | (needed.listings - unknown))
    problems += _check_all(todo, check, 4)
    return problems, len(todo)


def _verify_remote(
    repo: Repo, recorded: list[history.Recorded], remote_name: str, jobs: int | None
) -> tuple[list[str], int]:
    from gitrelstate.remotes import listings, packindex, packtransfer, transfer
    from gitrelstate.remotes.backends.base import object_key
    from gitrelstate.remotes.remote import resolve as resolve_remote

    remote = resolve_remote(repo, remote_name)
    needed = history.needed_objects(repo, recorded)
    problems: list[str] = []
    # Listings not in the cache are read from the remote, so their files count too.
    remote_listings: list[Manifest] = []
    for rec in needed.unknown_listings:
        hex_ = hashing.hex_of(rec.pointer.hash)
        try:
            _, manifest = listings.read_listing(
                remote, hex_, rec.pointer.nfiles, rec.where, repo.cache.tmp_dir
            )
        except FileNotFoundError:
            continue  # reported as missing below
        except RelstateError as exc:
            problems.append(f"unreadable: directory listing {hex_[:16]}… ({rec.where}): {exc}")
            continue
        except Exception as exc:
            raise remote.error("read a folder listing from", exc) from None
        remote_listings.append(manifest)
        needed.files.update(e.hex for e in manifest.entries.values())
    names = _names(repo, recorded)
    bounds = _read_bounds(repo, recorded, remote_listings)
    wanted = sorted(needed.all)
    try:
        # Indexes are downloaded again, not taken from this clone's copies: damage done
        # on the remote since they were kept is what verify is for.
        present, packs = packindex.existing(remote, set(wanted), fresh=True, warn=False)
    except RelstateError:
        raise
    except Exception as exc:
        raise remote.error("list", exc) from None
    problems += [
        f"damaged pack index {packindex.pack_name(p, 'idx')}: {why} (its objects count as "
        "missing; a push from a clone that has them uploads them again)"
        for p, why in sorted(packs.damaged.items())
    ]
    problems += [
        f"missing: {h[:16]}…" + (f" ({names[h]})" if h in names else "")
        for h in wanted
        if h not in present
    ]

    def check(hex_: str) -> str | None:
        label = f"{hex_[:16]}…" + (f" ({names[hex_]})" if hex_ in names else "")
        try:
            # Hashed as it streams, nothing kept: the null device is the sink.
            actual = remote.backend.fetch_file(
                object_key(hex_), Path(os.devnull), bounds.get(hex_, reads.LISTING_MAX_BYTES)
            )
        except reads.BoundedReadError as exc:
            # Larger than declared: not removed, the pointer's size may be what is wrong.
            return f"unreadable: {label} ({exc.message}; not removed)"
        except Exception as exc:
            return f"unreadable: {label} ({type(exc).__name__})"
        if actual != hex_:
            # Removed, so that a push from a clone with a good copy can put it back
            # (push sends only what the remote lacks).
            try:
                remote.backend.delete(hex_)
                what = "corrupt (removed from the remote)"
            except Exception:
                what = "corrupt (could not be removed)"
            return f"{what}: {label}"
        return None

    packed = packs.holding(present)  # checked pack by pack, below
    problems += _check_all(sorted(present - packed), check, jobs or transfer.default_jobs(remote))
    problems += packtransfer.verify_packed(
        repo.cache,
        remote,
        packs,
        packed,
        lambda h: f"{h[:16]}…" + (f" ({names[h]})" if h in names else ""),
        jobs or transfer.default_jobs(remote),
    )
    return problems, len(wanted)


def _read_bounds(
    repo: Repo, recorded: list[history.Recorded], remote_listings: list[Manifest]
) -> dict[str, int]:
    """hex -> the most bytes reading it may take: the size its pointer or listing
    declares, a listing's bound for its file count (the largest when named twice)."""
    bounds: dict[str, int] = {}

    def declare(hex_: str, size: int) -> None:
        bounds[hex_] = max(bounds.get(hex_, 0), size)

    for manifest in remote_listings:
        for entry in manifest.entries.values():
            declare(entry.hex, entry.size)
    for rec in recorded:
        hex_ = hashing.hex_of(rec.pointer.hash)
        if not rec.pointer.is_dir:
            declare(hex_, rec.pointer.size)
            continue
        declare(hex_, reads.listing_limit(rec.pointer.nfiles))
        if repo.cache.exists(hex_):
            with contextlib.suppress(RelstateError):
                manifest = pointers.load_manifest(repo, rec.pointer.hash, rec.where)
                for entry in manifest.entries.values():
                    declare(entry.hex, entry.size)
    return bounds

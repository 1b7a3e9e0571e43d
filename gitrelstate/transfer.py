"""Moving objects between the cache and a remote: only what is missing, concurrently.

Directory listings (manifests) are uploaded after every file they list, so a
manifest on a remote means the whole tree is there; every download is verified
by hash before it enters the cache.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gitrelstate import hashing, pointers, ui
from gitrelstate.errors import IntegrityError, RelstateError, RemoteError
from gitrelstate.pointers import Tracked
from gitrelstate.remote import Remote
from gitrelstate.repo import Repo
from gitrelstate.state.manifest import Manifest

RETRIES = 3


@dataclass
class Referenced:
    files: set[str] = field(default_factory=set)
    manifests: set[str] = field(default_factory=set)
    unknown_manifests: list[str] = field(default_factory=list)


def referenced(repo: Repo, tracked: Iterable[Tracked]) -> Referenced:
    """Objects the pointers need; manifests not in the cache are listed as unknown."""
    refs = Referenced()
    for t in tracked:
        hex_ = hashing.hex_of(t.pointer.hash)
        if not t.pointer.is_dir:
            refs.files.add(hex_)
            continue
        refs.manifests.add(hex_)
        if repo.cache.exists(hex_):
            manifest = pointers.load_manifest(repo, t.pointer.hash, t.pointer_rel)
            refs.files.update(e.hex for e in manifest.entries.values())
        else:
            refs.unknown_manifests.append(t.pointer_rel)
    return refs


def default_jobs(remote: Remote) -> int:
    from gitrelstate.remote import is_local

    return 4 if is_local(remote.url) else 16


def _retrying(action: Callable[[], None]) -> None:
    delay = 0.2
    for attempt in range(RETRIES):
        try:
            action()
            return
        except (FileNotFoundError, PermissionError, IntegrityError):
            raise
        except OSError:
            if attempt == RETRIES - 1:
                raise
            time.sleep(delay)
            delay *= 4


def _run_all(
    hexes: Sequence[str], job: Callable[[str], None], jobs: int, desc: str
) -> list[tuple[str, BaseException]]:
    failures: list[tuple[str, BaseException]] = []
    with ui.progress(len(hexes), desc, unit="obj") as advance:

        def one(hex_: str) -> None:
            try:
                job(hex_)
            except Exception as exc:
                failures.append((hex_, exc))
            advance(1)

        if jobs <= 1 or len(hexes) <= 1:
            for h in hexes:
                one(h)
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(one, hexes))
    return failures


def _raise_failures(remote: Remote, action: str, failures: list[tuple[str, BaseException]]) -> None:
    if not failures:
        return
    if len(failures) == 1 and isinstance(failures[0][1], RelstateError):
        raise failures[0][1]
    lines = [
        f"{h[:16]}…: {str(e).splitlines()[0] if str(e) else type(e).__name__}" for h, e in failures
    ]
    raise RemoteError(
        f"{len(failures)} object(s) failed to {action} remote {remote.shown}:\n"
        + ui.bullets(lines, 10),
        hint="run the command again; objects already transferred are not sent twice",
    )


def push(repo: Repo, remote: Remote, tracked: Sequence[Tracked], jobs: int) -> tuple[int, int]:
    """Upload missing objects; return (objects sent, objects already there)."""
    refs = referenced(repo, tracked)
    if refs.unknown_manifests:
        raise RelstateError(
            "cannot push: the directory listing of these pointers is not in the cache:\n"
            + ui.bullets(refs.unknown_manifests, 10),
            hint="run 'git relstate fetch' or re-track the data first",
        )
    wanted = refs.files | refs.manifests
    try:
        present = remote.backend.existing(wanted)
    except RelstateError:
        raise
    except Exception as exc:
        raise remote.error("list", exc) from None
    missing_local = sorted(h for h in wanted - present if not repo.cache.exists(h))
    if missing_local:
        raise RelstateError(
            f"{len(missing_local)} object(s) to push are not in the local cache:\n"
            + ui.bullets([f"{h[:16]}…" for h in missing_local], 10),
            hint="fetch them from another remote, or re-track the data they belong to",
        )

    def upload(hex_: str) -> None:
        if repo.cache.is_loose(hex_):
            _retrying(lambda: remote.backend.put(repo.cache.path(hex_), hex_))
        else:
            data = repo.cache.read_bytes(hex_)
            _retrying(lambda: remote.backend.put_bytes(data, hex_))

    files = sorted(refs.files - present)
    manifests = sorted(refs.manifests - present)
    _raise_failures(remote, "upload to", _run_all(files, upload, jobs, "push"))
    _raise_failures(remote, "upload to", _run_all(manifests, upload, jobs, "push listings"))
    return len(files) + len(manifests), len(present)


def fetch(repo: Repo, remote: Remote, tracked: Sequence[Tracked], jobs: int) -> int:
    """Download objects missing from the cache, verifying each; return how many."""
    repo.cache.clean_tmp()

    def download(hex_: str) -> None:
        tmp = repo.cache.tmp_path()
        try:
            _retrying(lambda: remote.backend.get(hex_, tmp))
            actual, _ = hashing.hash_file(tmp)
            if actual != hex_:
                raise IntegrityError(
                    f"object {hex_[:16]}… on remote {remote.shown} is corrupt "
                    f"(its content hashes to {actual[:16]}…); it was not stored",
                    hint="push it again from a clone that has a good copy",
                )
            repo.cache.install(tmp, hex_)
        except FileNotFoundError:
            raise RemoteError(
                f"object {hex_[:16]}… is missing on remote {remote.shown}",
                hint="push it from a clone that has it",
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    # Listings are read first (only they say which files a folder needs) but
    # enter the cache last, so a listing in the cache means its files are there.
    listings: dict[str, bytes] = {}

    def download_listing(hex_: str) -> None:
        tmp = repo.cache.tmp_path()
        try:
            _retrying(lambda: remote.backend.get(hex_, tmp))
            raw = tmp.read_bytes()
        except FileNotFoundError:
            raise RemoteError(
                f"directory listing {hex_[:16]}… is missing on remote {remote.shown}",
                hint="push it from a clone that has it",
            ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if hashing.hash_bytes(raw) != hex_:
            raise IntegrityError(
                f"directory listing {hex_[:16]}… on remote {remote.shown} is corrupt; "
                "it was not stored",
                hint="push it again from a clone that has a good copy",
            )
        listings[hex_] = raw

    dirs = [t for t in tracked if t.pointer.is_dir]
    wanted_listings = sorted({hashing.hex_of(t.pointer.hash) for t in dirs} - _in_cache(repo, dirs))
    failures = _run_all(wanted_listings, download_listing, jobs, "fetch listings")
    _raise_failures(remote, "download from", failures)
    files: set[str] = {hashing.hex_of(t.pointer.hash) for t in tracked if not t.pointer.is_dir}
    for t in dirs:
        hex_ = hashing.hex_of(t.pointer.hash)
        if hex_ in listings:
            manifest = Manifest.from_bytes(listings[hex_], t.pointer_rel)
        else:
            manifest = pointers.load_manifest(repo, t.pointer.hash, t.pointer_rel)
        files.update(e.hex for e in manifest.entries.values())
    missing = sorted(h for h in files if not repo.cache.exists(h))
    _raise_failures(remote, "download from", _run_all(missing, download, jobs, "fetch"))
    for hex_, raw in listings.items():
        repo.cache.add_bytes(hex_, raw)
    return len(missing) + len(listings)


def _in_cache(repo: Repo, tracked: Iterable[Tracked]) -> set[str]:
    return {h for h in (hashing.hex_of(t.pointer.hash) for t in tracked) if repo.cache.exists(h)}

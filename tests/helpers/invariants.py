"""The invariants every interrupted or failed command must leave intact (docs/reliability.md).

Shared by tests/reliability/test_crash.py, test_faults.py and test_concurrency.py:

- every object in the cache and on a folder remote re-hashes to its name;
- every pointer, run record, release file and config file parses (none is half-written);
- a manifest present in a store means every file it lists is there too, and (where the
  store is expected complete) no pointer, record or release refers to a missing object;
- each work-tree file holds a content it had before or should have after, never a mix.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate import hashing
from gitrelstate.fsutil import is_tmp_name
from gitrelstate.state import config as config_model
from gitrelstate.state import yamlio
from gitrelstate.state.manifest import Manifest
from gitrelstate.state.pointer import SUFFIX, DataPointer
from gitrelstate.state.record import RunRecord
from gitrelstate.state.release import Release, compute_state_id
from gitrelstate.store.objects import ObjectStore

RUNS = Path(".relstate/runs")
RELEASES = Path(".relstate/releases")


class InvariantBroken(AssertionError):
    """An invariant does not hold (counted as a corruption by the crash tests)."""


def _fail(message: str) -> None:
    raise InvariantBroken(message)


# -- stores ------------------------------------------------------------------------


def cache_root(repo: Path) -> Path:
    """The cache of the clone ``repo`` belongs to (worktrees share their clone's)."""
    if (repo / ".git").is_file():
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return Path(common) / "relstate" / "cache"
    return repo / ".git" / "relstate" / "cache"


def cache_hexes(repo: Path) -> set[str]:
    """Every object id in the repository's cache (loose or packed)."""
    store = ObjectStore(cache_root(repo))
    try:
        return set(store.iter_hexes())
    finally:
        store.close()


def remote_hexes(remote: Path) -> set[str]:
    """Every object on a folder remote, loose or in a remote pack (temp files are not
    objects): a remote has the cache's layout."""
    store = ObjectStore(remote)
    try:
        return set(store.iter_hexes())
    finally:
        store.close()


def _check_sound(root: Path, where: str) -> int:
    store = ObjectStore(root)
    try:
        count = 0
        for hex_ in store.iter_hexes():
            if hashing.hash_bytes(store.read_bytes(hex_)) != hex_:
                _fail(f"corrupt object {hex_} in {where}")
            count += 1
        return count
    finally:
        store.close()


def check_cache_sound(repo: Path) -> int:
    """Every cached object re-hashes to its name; returns how many were checked."""
    return _check_sound(cache_root(repo), "the cache")


def check_remote_sound(remote: Path) -> int:
    return _check_sound(remote, "the remote")


# -- state files -------------------------------------------------------------------


@dataclass
class References:
    """Content ids the state files name: plain files and directory manifests."""

    files: set[str] = field(default_factory=set)
    manifests: set[str] = field(default_factory=set)
    # What the data pointers alone name (a push moves exactly these).
    pointer_files: set[str] = field(default_factory=set)
    pointer_manifests: set[str] = field(default_factory=set)


def _work_files(repo: Path, pattern: str) -> list[Path]:
    return [
        p
        for p in repo.rglob(pattern)
        if ".git" not in p.relative_to(repo).parts and not is_tmp_name(p.name)
    ]


def parse_state_files(repo: Path) -> References:
    """Parse every pointer, record, release and config file (none may be half-written)."""
    refs = References()

    def add(hash_: str, nfiles: int | None) -> None:
        (refs.manifests if nfiles is not None else refs.files).add(hashing.hex_of(hash_))

    for path in _work_files(repo, f"*{SUFFIX}"):
        where = str(path.relative_to(repo))
        try:
            pointer = DataPointer.from_dict(yamlio.read(path, where), where)
        except Exception as exc:
            _fail(f"pointer {where} does not parse: {exc}")
        add(pointer.hash, pointer.nfiles)
        hex_ = hashing.hex_of(pointer.hash)
        (refs.pointer_manifests if pointer.is_dir else refs.pointer_files).add(hex_)
    for path in sorted((repo / RUNS).glob("*.yaml")) if (repo / RUNS).is_dir() else []:
        if is_tmp_name(path.name):
            continue
        try:
            record = RunRecord.from_dict(yamlio.read(path, path.name), path.name)
        except Exception as exc:
            _fail(f"run record {path.name} does not parse: {exc}")
        for artifact in (*record.deps, *record.outs):
            if (repo / (artifact.path + SUFFIX)).exists():  # data, not code Git carries
                add(artifact.hash, artifact.nfiles)
    for path in sorted((repo / RELEASES).glob("*.yaml")) if (repo / RELEASES).is_dir() else []:
        if is_tmp_name(path.name):
            continue
        try:
            doc = yamlio.read(path, path.name)
            release = Release.from_dict(doc, path.name)
        except Exception as exc:
            _fail(f"release {path.name} does not parse: {exc}")
        if compute_state_id(doc) != release.state_id:
            _fail(f"release {path.name}: state_id does not match its content")
        for artifact in release.artifacts():
            add(artifact.hash, artifact.nfiles)
    for name in ("config.yaml", "config.local.yaml"):
        path = repo / ".relstate" / name
        if path.exists():
            try:
                config_model.validate(yamlio.read(path, name), name)
            except Exception as exc:
                _fail(f"{name} does not parse: {exc}")
    return refs


# -- references against a store -----------------------------------------------------


def _read_object(store_root: Path, hex_: str) -> bytes:
    store = ObjectStore(store_root)
    try:
        return store.read_bytes(hex_)
    finally:
        store.close()


def check_references(
    refs: References,
    present: set[str],
    store_root: Path,
    *,
    remote: bool = False,
    complete: bool = True,
    where: str = "the cache",
) -> None:
    """A manifest in a store means its files are there; with ``complete``, everything
    the state files name (on a remote: what the pointers name) must be there."""
    required_manifests = refs.pointer_manifests if remote else refs.manifests
    for hex_ in refs.manifests:
        if hex_ not in present:
            if complete and hex_ in required_manifests:
                _fail(f"directory listing {hex_[:16]}… is missing from {where}")
            continue
        manifest = Manifest.from_bytes(_read_object(store_root, hex_), hex_)
        lacking = [p for p, e in manifest.entries.items() if e.hex not in present]
        if lacking:
            _fail(f"{where} holds listing {hex_[:16]}… but not its files {lacking[:3]}")
    if complete:
        lacking_files = sorted((refs.pointer_files if remote else refs.files) - present)
        if lacking_files:
            _fail(f"{len(lacking_files)} referenced object(s) missing from {where}")


# -- the work tree -----------------------------------------------------------------


def tree_hashes(root: Path, skip: Iterable[str] = (".git",)) -> dict[str, str]:
    """Every file below ``root`` (temp files included) -> content hex."""
    skipped = set(skip)
    out: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skipped]
        for name in files:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = hashing.hash_file(p)[0]
    return out


def check_old_or_new(
    now: Mapping[str, str], before: Mapping[str, str], after: Mapping[str, str]
) -> None:
    """Every file holds what it held before the command or what it holds after it."""
    for rel, hex_ in now.items():
        if is_tmp_name(rel.rpartition("/")[2]):
            continue  # a temp file of the killed process: never a data file
        if hex_ not in (before.get(rel), after.get(rel)):
            _fail(f"work-tree file {rel} holds neither its old nor its new content")


def check_all(
    repo: Path,
    *,
    remote: Path | None = None,
    cache_complete: bool = True,
    remote_complete: bool = False,
) -> References:
    """Everything above except the work-tree comparison; returns what the files name."""
    if cache_root(repo).exists():
        check_cache_sound(repo)
    refs = parse_state_files(repo)
    check_references(refs, cache_hexes(repo), cache_root(repo), complete=cache_complete)
    if remote is not None:
        check_remote_sound(remote)
        check_references(
            refs,
            remote_hexes(remote),
            remote,
            remote=True,
            complete=remote_complete,
            where="the remote",
        )
    return refs

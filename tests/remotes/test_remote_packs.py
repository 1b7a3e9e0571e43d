"""Remote packs: many small objects travel in a few pack files (docs/remotes.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitrelstate import hashing
from gitrelstate.state import yamlio
from gitrelstate.store.objects import ObjectStore
from gitrelstate.store.packs import ENTRY, MAGIC
from tests.helpers.cli import Runner, commit_all, git, make_repo, relstate
from tests.helpers.servers import S3Server
from tests.helpers.trees import assert_store_sound, read_tree, write_tree

N = 200  # small files per dataset: enough to be packed (>= 64)


def _files(prefix: str, n: int = N, seed: int = 0) -> dict[str, bytes | str]:
    return {f"{prefix}-{i:04d}.bin": os.urandom(1000 + (i + seed) % 3000) for i in range(n)}


def _packs(store: Path, ext: str = "idx") -> list[Path]:
    folder = store / "packs"
    return sorted(folder.glob(f"pack-*.{ext}")) if folder.is_dir() else []


def _loose(store: Path) -> list[Path]:
    base = store / "blake3"
    return [p for p in base.rglob("*") if p.is_file()] if base.is_dir() else []


def _set_remote_option(repo: Path, key: str, value: object) -> None:
    path = repo / ".relstate" / "config.yaml"
    doc = yamlio.read(path)
    doc["remotes"]["origin"][key] = value
    path.write_text(yamlio.dumps(doc))


def _cache_is_empty(repo: Path) -> bool:
    cache = repo / ".git" / "relstate" / "cache"
    return not cache.exists() or assert_store_sound(cache) == 0


def _clone_and_pull(repo: Path, clone: Path) -> None:
    git(clone.parent, "clone", "-q", str(repo), str(clone))
    local = repo / ".relstate" / "config.local.yaml"
    if local.exists():
        (clone / ".relstate" / "config.local.yaml").write_text(local.read_text())
    result = relstate(clone, "pull")  # the real executable, as a user runs it
    assert result.code == 0, result.err


def _pushed_repo(tmp_path: Path, run: Runner, files: int = N) -> tuple[Path, Path]:
    repo = make_repo(tmp_path / "repo", run)
    write_tree(repo / "data", _files("f", files))
    (repo / "big.bin").write_bytes(os.urandom(200_000))  # over 64 KiB: stays loose
    run(repo, "track", "data", "big.bin")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    assert f"pushed {files + 2} object(s)" in run(repo, "push").out
    commit_all(repo, "data")
    return repo, store


def test_folder_remote_round_trip_in_packs(tmp_path: Path, run: Runner) -> None:
    repo, store = _pushed_repo(tmp_path, run)
    # The small files are in packs; the listing and the big file are loose.
    assert _packs(store) and len(_packs(store, "pack")) == len(_packs(store))
    assert len(_loose(store)) == 2
    # The remote keeps the cache's layout: the cache's own reader reads it.
    assert assert_store_sound(store) == N + 2
    for idx in _packs(store):  # content-addressed: the id is the pack's hash
        assert idx.stem == "pack-" + hashing.hash_file(idx.with_suffix(".pack"))[0]
    # A no-op push sends nothing and changes nothing.
    before = sorted(p.name for p in store.rglob("*"))
    assert "everything is already on" in run(repo, "push").out
    assert sorted(p.name for p in store.rglob("*")) == before
    assert "all on remote 'origin'" in run(repo, "status", "--remote", "origin").out
    assert "all present and intact" in run(repo, "verify", "-r", "origin").out

    clone = tmp_path / "clone"
    _clone_and_pull(repo, clone)
    assert read_tree(clone / "data") == read_tree(repo / "data")
    assert (clone / "big.bin").read_bytes() == (repo / "big.bin").read_bytes()
    assert "cache is complete" in run(clone, "fetch").out
    assert assert_store_sound(clone / ".git" / "relstate" / "cache") == N + 2
    # The clone knows the remote's packs now: a no-op push from it sends nothing.
    assert "everything is already on" in run(clone, "push").out


def test_few_small_files_travel_loose(repo: Path, tmp_path: Path, run: Runner) -> None:
    write_tree(repo / "data", _files("f", 20))
    run(repo, "track", "data")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    run(repo, "push")
    assert not _packs(store) and len(_loose(store)) == 21


def test_incremental_push_adds_a_pack(tmp_path: Path, run: Runner) -> None:
    repo, store = _pushed_repo(tmp_path, run)
    first = set(_packs(store))
    write_tree(repo / "data", _files("g", 100))
    run(repo, "track", "data")
    assert "pushed 101 object(s)" in run(repo, "push").out  # 100 files + the new listing
    assert first < set(_packs(store))
    commit_all(repo, "more")
    clone = tmp_path / "clone"
    _clone_and_pull(repo, clone)
    assert read_tree(clone / "data") == read_tree(repo / "data")


def test_corrupt_pack_entry_is_refused_then_repaired(tmp_path: Path, run: Runner) -> None:
    repo, store = _pushed_repo(tmp_path, run)
    victim = (repo / "data" / "f-0007.bin").read_bytes()
    hex_ = hashing.hash_bytes(victim)
    remote = ObjectStore(store)
    pack = remote._pack_of(hex_)
    assert pack is not None
    offset, _ = pack.entries[bytes.fromhex(hex_)]
    remote.close()
    os.chmod(pack.pack_path, 0o644)
    with open(pack.pack_path, "r+b") as f:  # one byte flipped inside the pack
        f.seek(offset + 10)
        byte = f.read(1)
        f.seek(offset + 10)
        f.write(bytes([byte[0] ^ 0xFF]))

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    result = run(clone, "fetch", expect=1)
    assert "corrupt" in result.err and hex_[:16] in result.err and "origin" in result.err
    assert _cache_is_empty(clone)  # nothing of that pack entered the cache
    result = run(clone, "verify", "-r", "origin", expect=1)
    assert "1 problem(s)" in result.err and hex_[:16] in result.err
    # verify rewrote the pack without the corrupt object: a push from a good copy
    # puts it back, and the clone then pulls everything.
    assert "missing" in run(clone, "verify", "-r", "origin", expect=1).err
    assert "pushed 1 object(s)" in run(repo, "push").out
    assert "all present and intact" in run(repo, "verify", "-r", "origin").out
    run(clone, "pull")
    assert read_tree(clone / "data") == read_tree(repo / "data")


def test_gc_remote_rewrites_and_drops_packs(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "repo", run)
    write_tree(repo / "keep", _files("k", 100))
    write_tree(repo / "drop", _files("d", 100))
    run(repo, "track", "keep", "drop")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    run(repo, "push", "keep")
    [keep_pack] = _packs(store)
    run(repo, "push", "drop")
    [drop_pack] = set(_packs(store)) - {keep_pack}
    # Half of 'keep' changes (its old versions become garbage); 'drop' goes entirely.
    write_tree(repo / "keep", _files("k", 50, seed=7))
    run(repo, "track", "keep")
    run(repo, "push")
    os.unlink(repo / "drop.relstate.yaml")
    commit_all(repo, "only keep")
    assert "would remove 152 " in run(repo, "gc", "-r", "origin", "--dry-run").out
    assert set(_packs(store)) >= {keep_pack, drop_pack}  # a dry run changes nothing
    assert "removed 152 " in run(repo, "gc", "-r", "origin", "--force").out
    left = set(_packs(store))
    assert keep_pack not in left and drop_pack not in left  # rewritten / deleted
    assert not keep_pack.with_suffix(".pack").exists()
    assert not drop_pack.with_suffix(".pack").exists()
    assert assert_store_sound(store) == 101  # the 100 files of 'keep' and its listing
    assert "all present and intact" in run(repo, "verify", "-r", "origin").out
    clone = tmp_path / "clone"
    _clone_and_pull(repo, clone)
    assert read_tree(clone / "keep") == read_tree(repo / "keep")
    assert "removed 0 " in run(repo, "gc", "-r", "origin", "--force").out


def test_pack_without_index_is_ignored_and_collected(tmp_path: Path, run: Runner) -> None:
    repo, store = _pushed_repo(tmp_path, run)
    stray = store / "packs" / f"pack-{'ab' * 32}.pack"
    stray.write_bytes(b"an interrupted upload")
    # Objects only in an index-less pack do not exist: they are pushed again.
    [idx] = _packs(store)
    os.chmod(idx, 0o644)
    idx.unlink()
    assert f"data: {N} object(s) not pushed" in run(repo, "status", "-r", "origin").out
    assert f"pushed {N} object(s)" in run(repo, "push").out
    assert idx.exists()  # the same pack again: same bytes, same id
    result = run(repo, "gc", "-r", "origin", "--force")
    assert "removed 1 incomplete pack file(s)" in result.out
    assert not stray.exists()
    assert assert_store_sound(store) == N + 2


def test_push_killed_between_pack_and_index(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "repo", run)
    write_tree(repo / "data", _files("f"))
    run(repo, "track", "data")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    env = {**os.environ, "RELSTATE_CRASH_AT": "remotepacks.put_index"}
    proc = subprocess.run(
        [sys.executable, "-m", "gitrelstate", "push", "-j", "1"],
        cwd=repo,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert _packs(store, "pack") and not _packs(store)  # data up, index never written
    assert not _loose(store)  # and so no listing either
    run(repo, "push")
    assert assert_store_sound(store) == N + 1
    assert len(_packs(store, "pack")) == len(_packs(store))  # the rerun wrote the same pack


def test_packs_false_keeps_one_file_per_object(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "repo", run)
    write_tree(repo / "data", _files("f"))
    run(repo, "track", "data")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    _set_remote_option(repo, "packs", False)
    run(repo, "push")
    assert not _packs(store) and len(_loose(store)) == N + 1
    commit_all(repo, "data")
    # A remote written without packs (as by earlier versions) still pulls.
    clone = tmp_path / "clone"
    _clone_and_pull(repo, clone)
    assert read_tree(clone / "data") == read_tree(repo / "data")
    # Mixed: newer data in packs beside the loose objects.
    _set_remote_option(repo, "packs", True)
    write_tree(repo / "data", _files("g", 100))
    run(repo, "track", "data")
    run(repo, "push")
    assert _packs(store)
    commit_all(repo, "more")
    git(clone, "pull", "-q")
    run(clone, "pull")
    assert read_tree(clone / "data") == read_tree(repo / "data")
    assert "all present and intact" in run(clone, "verify", "-r", "origin").out


def test_packs_option_is_validated(repo: Path, tmp_path: Path, run: Runner) -> None:
    run(repo, "remote", "add", "origin", str(tmp_path / "store"))
    _set_remote_option(repo, "packs", "no")
    result = run(repo, "push", expect=1)
    assert "packs" in result.err and "must be" in result.err


# -- real object stores ---------------------------------------------------------------


def _s3_remote(repo: Path, run: Runner, s3: S3Server, client: str) -> str:
    bucket = s3.make_bucket()
    url = f"s3://{bucket}/team/data"
    args = ["remote", "add", "origin", url, "-o", f"endpoint_url={s3.endpoint_url}"]
    run(repo, *args, "--client", client)
    secrets = ["-o", f"key={s3.key}", "-o", f"secret={s3.secret}"]
    run(repo, "remote", "add", "origin", url, "--local", *secrets)
    return f"{bucket}/team/data"


def _s3_index_entries(s3: S3Server, root: str) -> int:
    fs = s3.fs()
    fs.invalidate_cache()
    indexes = [k for k in fs.find(f"{root}/packs") if k.endswith(".idx")]
    return sum((len(fs.cat_file(k)) - len(MAGIC)) // ENTRY.size for k in indexes)


@pytest.mark.parametrize("client", ["obstore", "fsspec"])
def test_s3_round_trip_in_packs(
    tmp_path: Path, run: Runner, s3_server: S3Server, client: str
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    write_tree(repo / "data", _files("f"))
    run(repo, "track", "data")
    root = _s3_remote(repo, run, s3_server, client)
    assert f"pushed {N + 1} object(s)" in run(repo, "push").out
    assert _s3_index_entries(s3_server, root) == N
    assert len(s3_server.fs().find(f"{root}/blake3")) == 1  # the listing
    assert "everything is already on" in run(repo, "push").out
    assert "all on remote 'origin'" in run(repo, "status", "-r", "origin").out
    commit_all(repo, "data")
    clone = tmp_path / "clone"
    _clone_and_pull(repo, clone)
    assert read_tree(clone / "data") == read_tree(repo / "data")
    assert "all present and intact" in run(clone, "verify", "-r", "origin").out
    # An uncommitted version in a pack, half of it replaced before the commit: gc
    # rewrites that pack with the half still referenced.
    write_tree(repo / "data", _files("f", 100, seed=3))
    run(repo, "track", "data")
    run(repo, "push")
    write_tree(repo / "data", _files("f", 50, seed=5))
    run(repo, "track", "data")
    run(repo, "push")
    commit_all(repo, "v2")
    assert "removed 51 " in run(repo, "gc", "-r", "origin", "--force").out
    assert _s3_index_entries(s3_server, root) == N + 50
    clone2 = tmp_path / "clone2"
    _clone_and_pull(repo, clone2)
    assert read_tree(clone2 / "data") == read_tree(repo / "data")


def test_s3_corrupt_pack_is_refused(tmp_path: Path, run: Runner, s3_server: S3Server) -> None:
    repo = make_repo(tmp_path / "repo", run)
    files = _files("f")
    write_tree(repo / "data", files)
    run(repo, "track", "data")
    root = _s3_remote(repo, run, s3_server, "obstore")
    run(repo, "push")
    commit_all(repo, "data")
    fs = s3_server.fs()
    [pack_key] = [k for k in fs.find(f"{root}/packs") if k.endswith(".pack")]
    data = bytearray(fs.cat_file(pack_key))
    data[5] ^= 0xFF  # inside the first object of the pack
    fs.pipe_file(pack_key, bytes(data))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    (clone / ".relstate" / "config.local.yaml").write_text(
        (repo / ".relstate" / "config.local.yaml").read_text()
    )
    result = run(clone, "pull", expect=1)
    assert "corrupt" in result.err and "origin" in result.err
    assert s3_server.secret not in result.err
    assert _cache_is_empty(clone)
    assert "corrupt" in run(clone, "verify", "-r", "origin", expect=1).err


def test_s3_stopped_server_during_pack_push(
    tmp_path: Path, run: Runner, s3_server: S3Server
) -> None:
    repo = make_repo(tmp_path / "repo", run)
    write_tree(repo / "data", _files("f"))
    run(repo, "track", "data")
    root = _s3_remote(repo, run, s3_server, "obstore")
    with s3_server.stopped():
        result = run(repo, "push", expect=1)
    assert result.err.startswith("error: ") and "hint: " in result.err
    assert "origin" in result.err and s3_server.secret not in result.err
    assert "pushed" in run(repo, "push").out
    assert _s3_index_entries(s3_server, root) == N

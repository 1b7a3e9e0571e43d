from __future__ import annotations

import os
from pathlib import Path

from gitrelstate import hashing
from tests.helpers.cli import Runner, commit_all, git
from tests.helpers.trees import assert_store_sound, damage_object, write_tree


def test_verify_finds_missing_and_corrupt_objects(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "aaaa", "b.txt": "bbbb"})
    (repo / "model.bin").write_bytes(b"m" * 100_000)
    run(repo, "track", "data", "model.bin")
    commit_all(repo, "v1")
    assert "all present and intact" in run(repo, "verify").out
    damage_object(repo, b"aaaa", b"AAAA")
    damage_object(repo, b"m" * 100_000, None)
    result = run(repo, "verify", expect=1)
    assert "corrupt" in result.err and "missing" in result.err
    assert "model.bin.relstate.yaml" in result.err
    assert result.err.count("\n  ") == 2


def test_verify_remote(repo: Path, tmp_path: Path, run: Runner) -> None:
    write_tree(repo / "data", {f"{i}.txt": str(i) * 10 for i in range(20)})
    run(repo, "track", "data")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    commit_all(repo, "v1")
    result = run(repo, "verify", "-r", "origin", expect=1)
    assert "21 problem(s)" in result.err  # nothing pushed yet: 20 files + listing
    run(repo, "push")
    assert "21 object(s)" in run(repo, "verify", "-r", "origin").out
    victim = hashing.hash_bytes(b"3" * 10)
    obj = store / "blake3" / victim[:2] / victim[2:]
    os.chmod(obj, 0o644)
    obj.write_bytes(b"tampered!!")
    result = run(repo, "verify", "-r", "origin", expect=1)
    assert "corrupt" in result.err and victim[:16] in result.err


def test_gc_keeps_everything_history_and_work_tree_reference(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "v1-a", "b.txt": "same"})
    run(repo, "track", "data")
    commit_all(repo, "v1")
    git(repo, "tag", "v1")
    write_tree(repo / "data", {"a.txt": "v2-a"})
    run(repo, "track", "data")
    commit_all(repo, "v2")
    write_tree(repo / "data", {"a.txt": "v3-a-uncommitted"})
    run(repo, "track", "data")
    # Orphans: tracked, then re-tracked over, never committed.
    (repo / "scratch.bin").write_bytes(b"orphan-1")
    run(repo, "track", "scratch.bin")
    (repo / "scratch.bin").write_bytes(b"orphan-2")
    run(repo, "track", "scratch.bin")
    out = run(repo, "gc", "--dry-run").out
    assert "would remove 1 " in out
    cache = repo / ".git" / "relstate" / "cache"
    before = assert_store_sound(cache)
    run(repo, "gc")
    assert assert_store_sound(cache) == before - 1
    # The uncommitted work tree and every committed version still check out from
    # the cache alone.
    os.unlink(repo / "data" / "a.txt")
    os.unlink(repo / "scratch.bin")
    run(repo, "checkout")
    assert (repo / "data" / "a.txt").read_text() == "v3-a-uncommitted"
    assert (repo / "scratch.bin").read_bytes() == b"orphan-2"
    commit_all(repo, "v3")
    for rev in ("v1", "main~1", "main"):
        git(repo, "checkout", "-q", rev)
        run(repo, "checkout", "--force")
        assert run(repo, "status", "--exit-code").code == 0


def test_gc_on_remote_needs_force_and_keeps_referenced(
    repo: Path, tmp_path: Path, run: Runner
) -> None:
    (repo / "f.bin").write_bytes(b"one")
    run(repo, "track", "f.bin")
    store = tmp_path / "store"
    run(repo, "remote", "add", "origin", str(store))
    run(repo, "push")
    (repo / "f.bin").write_bytes(b"two")
    run(repo, "track", "f.bin")
    run(repo, "push")
    commit_all(repo, "only two")
    assert "--force" in run(repo, "gc", "-r", "origin", expect=1).err
    assert "would remove 1 " in run(repo, "gc", "-r", "origin", "--dry-run").out
    run(repo, "gc", "-r", "origin", "--force")
    remaining = [p for p in (store / "blake3").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in remaining] == [b"two"]

from __future__ import annotations

import os
import time
from pathlib import Path

from gitrelstate import hashing
from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git, make_repo
from tests.helpers.trees import assert_store_sound, cache_objects, write_tree


def test_init_outside_git_repo_fails_with_hint(tmp_path: Path, run: Runner) -> None:
    result = run(tmp_path, "init", expect=1)
    assert result.err.startswith("error: not inside a Git work tree")
    assert "hint: run 'git init'" in result.err
    assert "Traceback" not in result.err


def test_init_is_idempotent_and_ignores_local_config(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "r", run)
    before = (repo / ".relstate" / "config.yaml").read_text()
    assert "already set up" in run(repo, "init").out
    assert (repo / ".relstate" / "config.yaml").read_text() == before
    assert before.startswith("relstate: 1\nkind: config\n")
    (repo / ".relstate" / "config.local.yaml").write_text("relstate: 1\nkind: config\n")
    assert git(repo, "status", "--porcelain", "--ignored", ".relstate").count("!!") == 1


def test_commands_before_init_say_how_to_fix(tmp_path: Path, run: Runner) -> None:
    (tmp_path / "r").mkdir()
    git(tmp_path / "r", "init", "-q")
    result = run(tmp_path / "r", "status", expect=1)
    assert "git relstate init" in result.err


def test_track_file_writes_pointer_cache_and_gitignore(repo: Path, run: Runner) -> None:
    (repo / "model.bin").write_bytes(b"weights" * 1000)
    out = run(repo, "track", "model.bin").out
    assert "model.bin.relstate.yaml" in out
    doc = yamlio.read(repo / "model.bin.relstate.yaml")
    assert doc["path"] == "model.bin" and doc["size"] == 7000
    assert doc["hash"] == "blake3:" + hashing.hash_bytes(b"weights" * 1000)
    assert "/model.bin" in (repo / ".gitignore").read_text().splitlines()
    assert git(repo, "check-ignore", "model.bin").strip() == "model.bin"
    [obj] = cache_objects(repo)
    assert obj.read_bytes() == b"weights" * 1000
    assert not os.access(obj, os.W_OK) or os.geteuid() == 0
    assert (obj.stat().st_mode & 0o222) == 0


def test_track_directory_records_manifest(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "a", "sub/b.txt": "bb", "sub/deep/c.txt": "ccc"})
    os.chmod(repo / "data" / "a.txt", 0o755)
    run(repo, "track", "data")
    doc = yamlio.read(repo / "data.relstate.yaml")
    assert doc["nfiles"] == 3 and doc["size"] == 6
    assert assert_store_sound(repo / ".git" / "relstate" / "cache") == 4  # 3 files + listing
    assert len(cache_objects(repo)) == 1  # small files are packed; the listing is loose
    # Tracked from a subfolder with a relative path gives the same pointer.
    text = (repo / "data.relstate.yaml").read_text()
    run(repo / "data", "track", ".")
    assert (repo / "data.relstate.yaml").read_text() == text


def test_retrack_unchanged_is_a_noop(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {f"f{i}.txt": str(i) for i in range(50)})
    run(repo, "track", "data")
    pointer = repo / "data.relstate.yaml"
    mtime = pointer.stat().st_mtime_ns
    time.sleep(0.01)
    assert "unchanged" in run(repo, "track", "data").out
    assert pointer.stat().st_mtime_ns == mtime


def test_retrack_after_change_updates_pointer(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "one"})
    run(repo, "track", "data")
    old = yamlio.read(repo / "data.relstate.yaml")["hash"]
    write_tree(repo / "data", {"a.txt": "two", "b.txt": "new"})
    run(repo, "track", "data")
    doc = yamlio.read(repo / "data.relstate.yaml")
    assert doc["hash"] != old and doc["nfiles"] == 2


def test_unknown_pointer_keys_survive_retrack(repo: Path, run: Runner) -> None:
    (repo / "f.bin").write_bytes(b"1")
    run(repo, "track", "f.bin")
    pointer = repo / "f.bin.relstate.yaml"
    pointer.write_text(pointer.read_text() + "owner: team-a\n")
    (repo / "f.bin").write_bytes(b"2")
    run(repo, "track", "f.bin")
    assert yamlio.read(pointer)["owner"] == "team-a"


def test_track_refuses_unsafe_and_invalid_targets(repo: Path, tmp_path: Path, run: Runner) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    assert "outside the repository" in run(repo, "track", str(outside), expect=1).err
    assert "no such file" in run(repo, "track", "missing", expect=1).err
    assert ".git" in run(repo, "track", ".git/config", expect=1).err
    (repo / "code.py").write_text("print(1)")
    git(repo, "add", "code.py")
    result = run(repo, "track", "code.py", expect=1)
    assert "already tracked by Git" in result.err and "git rm -r --cached" in result.err
    os.symlink(outside, repo / "link")
    assert "symlink" in run(repo, "track", "link", expect=1).err


def test_symlink_leaving_the_tree_inside_a_folder_is_refused(
    repo: Path, tmp_path: Path, run: Runner
) -> None:
    write_tree(repo / "data", {"a.txt": "a"})
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", repo / "data" / "escape")
    result = run(repo, "track", "data", expect=1)
    assert "symlink leaves the repository" in result.err
    assert not (repo / "data.relstate.yaml").exists()


def test_non_utf8_file_name_is_refused(repo: Path, run: Runner) -> None:
    (repo / "data").mkdir()
    (repo / "data").joinpath(os.fsdecode(b"bad\xffname")).write_text("x")
    result = run(repo, "track", "data", expect=1)
    assert "not valid UTF-8" in result.err and "Traceback" not in result.err


def test_nested_tracking_is_refused(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"sub/a.txt": "a"})
    run(repo, "track", "data")
    assert "inside data" in run(repo, "track", "data/sub", expect=1).err
    write_tree(repo / "big", {"inner/x.txt": "x"})
    run(repo, "track", "big/inner")
    assert "contains big/inner" in run(repo, "track", "big", expect=1).err


def test_stat_cache_means_unchanged_files_are_not_read(repo: Path, run: Runner) -> None:
    from gitrelstate.repo import Repo
    from gitrelstate.store.ingest import hash_files

    (repo / "f.bin").write_bytes(b"content")
    time.sleep(0.06)  # older than the racy-timestamp window
    st = os.stat(repo / "f.bin")
    r = Repo.discover(repo)
    fake = "f" * 64
    r.statcache.put(st, fake)
    r.statcache.flush()
    r.close()
    r2 = Repo.discover(repo)
    assert hash_files([(repo / "f.bin", st)], r2.statcache) == [fake]
    # A changed stat (new mtime) is never trusted.
    os.utime(repo / "f.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    st2 = os.stat(repo / "f.bin")
    assert hash_files([(repo / "f.bin", st2)], r2.statcache) == [hashing.hash_bytes(b"content")]
    r2.close()


def test_cache_is_shared_by_worktrees(repo: Path, tmp_path: Path, run: Runner) -> None:
    (repo / "f.bin").write_bytes(b"shared")
    run(repo, "track", "f.bin")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "x")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt))
    run(wt, "checkout")
    assert (wt / "f.bin").read_bytes() == b"shared"


def test_damaged_stat_cache_is_rebuilt(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "a"})
    run(repo, "track", "data")
    db = repo / ".git" / "relstate" / "statcache.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    assert run(repo, "status", "--exit-code").code == 0
    assert (db.parent / "statcache.sqlite.damaged").exists()

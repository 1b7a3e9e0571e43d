"""status and track against folder snapshots: a change is never called clean, a folder
that differs is read alone, listings keep their ids, and damage or an old cache only
costs speed."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from gitrelstate import hashing
from gitrelstate.state.manifest import Entry, Manifest
from tests.helpers.cli import Runner, make_repo
from tests.helpers.trees import write_tree

FILES = {
    "data/a.csv": "1,2\n",
    "data/a-b": "dash",
    "data/a.b": "dot",
    "data/a b": "space",
    "data/a/x.bin": "x",
    "data/a/y/z.bin": "z",
    "data/b/1.txt": "one",
    "data/b/2.txt": "two",
    'data/q"uote': "quote",
    "data/é.txt": "accent",
}


def _settle() -> None:
    time.sleep(0.12)  # past the racy window: a user's next command comes later too


def _status(run: Runner, repo: Path) -> dict[str, object]:
    doc = json.loads(run(repo, "status", "--json").out)
    [data] = doc["data"]
    assert isinstance(data, dict)
    return data


def _listing_id(root: Path) -> str:
    entries = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            raw = p.read_bytes()
            rel = p.relative_to(root).as_posix()
            entries[rel] = Entry(hashing.hash_bytes(raw), len(raw), os.access(p, os.X_OK))
    return hashing.content_id(hashing.hash_bytes(Manifest(entries).to_bytes()))


def _pointer_hash(repo: Path) -> str:
    for line in (repo / "data.relstate.yaml").read_text().splitlines():
        if line.startswith("hash: "):
            return line[len("hash: ") :]
    raise AssertionError("no hash")


def _tracked(repo: Path, run: Runner) -> None:
    write_tree(repo, FILES)
    _settle()
    run(repo, "track", "data")
    _settle()


def test_listing_id_is_the_canonical_one(repo: Path, run: Runner) -> None:
    _tracked(repo, run)
    assert _pointer_hash(repo) == _listing_id(repo / "data")


def test_every_kind_of_change_is_seen(repo: Path, run: Runner) -> None:
    _tracked(repo, run)
    assert _status(run, repo)["state"] == "clean"
    (repo / "data/b/1.txt").write_text("ONE")  # same size, new content
    (repo / "data/a.b").write_text("longer now")  # new size
    (repo / "data/a/y/z.bin").unlink()  # the only file of its folder
    (repo / "data/new").mkdir()
    (repo / "data/new/n.txt").write_text("n")  # a new folder
    (repo / "data/a b").chmod(0o755)  # mode only
    data = _status(run, repo)
    assert data["state"] == "modified"
    assert data["modified"] == ["data/a b", "data/a.b", "data/b/1.txt"]
    assert data["deleted"] == ["data/a/y/z.bin"]
    assert data["added"] == ["data/new/n.txt"]
    # The same answer again (now from the stat cache's hashes), and after re-tracking
    # the listing is exactly what a fresh track of the same files gives.
    assert _status(run, repo)["modified"] == data["modified"]
    run(repo, "track", "data")
    assert _pointer_hash(repo) == _listing_id(repo / "data")
    assert _status(run, repo)["state"] == "clean"


def test_a_write_within_the_racy_window_is_not_called_clean(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "r", run)
    write_tree(repo, FILES)
    run(repo, "track", "data")  # no pause: every file is too fresh to trust
    target = repo / "data/b/2.txt"
    before = os.stat(target)
    target.write_text("TWO")  # same size; put the old mtime back
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _status(run, repo)["modified"] == ["data/b/2.txt"]


def test_touched_files_are_clean_and_learnt(repo: Path, run: Runner) -> None:
    _tracked(repo, run)
    for name in ("data/b/1.txt", "data/b/2.txt"):
        os.utime(repo / name)
    _settle()
    assert _status(run, repo)["state"] == "clean"
    db = sqlite3.connect(repo / ".git/relstate/statcache.sqlite")
    [(stats,)] = db.execute("SELECT stats FROM snapshot_folder WHERE folder = 'b/'")
    db.close()
    st = os.stat(repo / "data/b/1.txt")
    assert st.st_mtime_ns.to_bytes(8, "little", signed=True) in stats  # the new stat kept


def test_damaged_or_missing_snapshots_fall_back_to_the_listing(repo: Path, run: Runner) -> None:
    _tracked(repo, run)
    db_path = repo / ".git/relstate/statcache.sqlite"
    db = sqlite3.connect(db_path)
    db.execute("UPDATE snapshot_folder SET hashes = zeroblob(length(hashes))")
    db.commit()
    db.close()
    (repo / "data/b/1.txt").write_text("ONE")
    assert _status(run, repo)["modified"] == ["data/b/1.txt"]
    os.unlink(db_path)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(db_path) + suffix):
            os.unlink(str(db_path) + suffix)
    assert _status(run, repo)["modified"] == ["data/b/1.txt"]
    (repo / "data/b/1.txt").write_text("one")
    assert _status(run, repo)["state"] == "clean"


def test_a_cache_written_by_the_earlier_version_is_used(repo: Path, run: Runner) -> None:
    _tracked(repo, run)
    db_path = repo / ".git/relstate/statcache.sqlite"
    db = sqlite3.connect(db_path)
    db.execute("DROP TABLE snapshot_tree")
    db.execute("DROP TABLE snapshot_folder")
    db.execute("CREATE TABLE tree (path TEXT PRIMARY KEY, hash TEXT, digest TEXT)")
    db.execute("INSERT INTO tree VALUES (?, ?, 'old')", (str(repo / "data"), _pointer_hash(repo)))
    db.commit()
    db.close()
    assert _status(run, repo)["state"] == "clean"
    (repo / "data/a.csv").write_text("9,9\n")
    assert _status(run, repo)["modified"] == ["data/a.csv"]


def test_checkout_restores_and_status_agrees(repo: Path, run: Runner) -> None:
    _tracked(repo, run)
    (repo / "data/b/1.txt").write_text("changed")
    (repo / "data/a/x.bin").unlink()
    run(repo, "checkout", "data", "--force")
    _settle()
    assert _status(run, repo)["state"] == "clean"
    assert (repo / "data/b/1.txt").read_text() == "one"


def test_retrack_of_nothing_changed_keeps_the_pointer(repo: Path, run: Runner) -> None:
    _tracked(repo, run)
    before = (repo / "data.relstate.yaml").read_text()
    assert "unchanged" in run(repo, "track", "data").out
    assert (repo / "data.relstate.yaml").read_text() == before
    (repo / "data/b").rename(repo / "data/c")  # a whole folder moves
    run(repo, "track", "data")
    assert _pointer_hash(repo) == _listing_id(repo / "data")


def test_large_file_is_copied_once_and_stored_as_hashed(
    repo: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "COPY_CHUNK", 1024 * 1024)  # several pipelined chunks
    data = os.urandom(3 * 1024 * 1024 + 5)
    (repo / "model.bin").write_bytes(data)
    run(repo, "track", "model.bin")
    hex_ = hashing.hash_bytes(data)
    stored = repo / ".git/relstate/cache/blake3" / hex_[:2] / hex_[2:]
    assert stored.read_bytes() == data
    assert not list((repo / ".git/relstate/cache/tmp").iterdir())  # no copy left behind
    (repo / "model.bin").write_bytes(data)  # same content, new stat: stored once
    run(repo, "track", "model.bin")
    assert stored.read_bytes() == data


def _forget_snapshots(repo: Path) -> None:
    db = sqlite3.connect(repo / ".git/relstate/statcache.sqlite")
    db.execute("DELETE FROM snapshot_tree")
    db.execute("DELETE FROM snapshot_folder")
    db.commit()
    db.close()


def _three_ways(repo: Path) -> list[tuple[list[str], list[str], list[str], str]]:
    """(added, modified, deleted, state) by the merge in step (no snapshot), by the
    snapshot it recorded, and by the whole-listing comparison."""
    from gitrelstate.repo import Repo
    from gitrelstate.workspace import compare, listingmerge, pointers

    out = []
    with Repo.open(repo) as r:
        [tracked] = pointers.load_all(r)
        for how in ("merge", "snapshot", "listing"):
            if how == "merge":
                cmp = listingmerge.compare_streaming(r, tracked, False)
            elif how == "snapshot":
                cmp = compare.compare(r, tracked)
            else:
                cmp = compare._compare_with_listing(r, tracked, False, record=False)
            out.append((cmp.added, cmp.modified, cmp.deleted, cmp.state))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_merge_in_step_agrees_with_the_whole_listing(repo: Path, run: Runner, seed: int) -> None:
    import random

    rnd = random.Random(seed)
    names = ["a", "a b", "a-b", "a.b", "b", "é", "z", "a0"]
    files: dict[str, str] = {}
    for _ in range(40):
        depth = rnd.randint(1, 3)
        parts = [rnd.choice(names) for _ in range(depth)]
        path = "data/" + "/".join(parts)
        if any(p.startswith(path + "/") or path.startswith(p + "/") for p in files):
            continue
        files[path] = rnd.choice(["x", "yy", "zzz"])
    write_tree(repo, files)
    _settle()
    run(repo, "track", "data")
    _settle()
    chosen = sorted(files)
    for path in rnd.sample(chosen, min(5, len(chosen))):
        action = rnd.choice(["edit", "resize", "delete"])
        if action == "delete":
            (repo / path).unlink()
        else:
            (repo / path).write_text("Q" * len(files[path]) if action == "edit" else "longer!")
    (repo / "data/new folder").mkdir(exist_ok=True)
    (repo / "data/new folder/n").write_text("n")
    _forget_snapshots(repo)
    merge, snapshot, listing = _three_ways(repo)
    assert merge == listing
    assert snapshot == listing
    assert listing[0] == ["new folder/n"]


def test_a_listing_naming_a_file_and_a_folder_is_refused_in_step() -> None:
    from gitrelstate.errors import StateFileError
    from gitrelstate.state.manifest import iter_entries

    a = Entry("0" * 64, 1, False)
    raw = Manifest({"a": a, "a b": a, "a/x": a}).to_bytes()
    with pytest.raises(StateFileError, match="as a file and as a folder"):
        list(iter_entries(raw, "listing"))

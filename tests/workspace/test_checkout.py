from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.cli import Runner
from tests.helpers.trees import cache_objects, damage_object, read_tree, write_tree


def test_checkout_restores_deleted_and_modified_files(repo: Path, run: Runner) -> None:
    files: dict[str, bytes | str] = {"a.txt": "a", "sub/b.txt": "bb", "sub/c.bin": b"\x00\x01"}
    write_tree(repo / "data", files)
    os.chmod(repo / "data" / "a.txt", 0o755)
    run(repo, "track", "data")
    os.unlink(repo / "data" / "sub" / "b.txt")
    run(repo, "checkout", "data")
    assert read_tree(repo / "data") == {
        k: v if isinstance(v, bytes) else v.encode() for k, v in files.items()
    }
    assert os.stat(repo / "data" / "a.txt").st_mode & 0o111


def test_checkout_refuses_to_lose_unsaved_changes(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "original", "b.txt": "b"})
    run(repo, "track", "data")
    write_tree(repo / "data", {"a.txt": "my precious edit", "new.txt": "unsaved new file"})
    result = run(repo, "checkout", expect=1)
    assert "data/a.txt" in result.err and "data/new.txt" in result.err
    assert "--force" in result.err
    # Nothing was touched.
    assert (repo / "data" / "a.txt").read_text() == "my precious edit"
    assert (repo / "data" / "new.txt").read_text() == "unsaved new file"
    run(repo, "checkout", "--force")
    assert read_tree(repo / "data") == {"a.txt": b"original", "b.txt": b"b"}


def test_checkout_overwrites_changes_whose_content_is_cached(repo: Path, run: Runner) -> None:
    (repo / "f.bin").write_bytes(b"v1")
    run(repo, "track", "f.bin")
    v1_pointer = (repo / "f.bin.relstate.yaml").read_text()
    (repo / "f.bin").write_bytes(b"v2")
    run(repo, "track", "f.bin")
    # Going back to v1 is safe: v2 is in the cache.
    (repo / "f.bin.relstate.yaml").write_text(v1_pointer)
    run(repo, "checkout")
    assert (repo / "f.bin").read_bytes() == b"v1"


def test_corrupt_cache_object_is_detected_and_not_copied(repo: Path, run: Runner) -> None:
    (repo / "f.bin").write_bytes(b"good data")
    run(repo, "track", "f.bin")
    [obj] = cache_objects(repo)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"bad data!")
    os.unlink(repo / "f.bin")
    result = run(repo, "checkout", expect=1)
    assert "corrupt" in result.err and "fetch" in result.err
    assert not (repo / "f.bin").exists()
    assert not obj.exists()  # removed so a fetch can restore it
    assert not [p for p in repo.iterdir() if ".relstate-tmp-" in p.name]


def test_missing_objects_are_reported_before_anything_changes(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "a", "b.txt": "b"})
    run(repo, "track", "data")
    damage_object(repo, b"b", None)
    os.unlink(repo / "data" / "a.txt")
    os.unlink(repo / "data" / "b.txt")
    result = run(repo, "checkout", expect=1)
    assert "not in the cache" in result.err and "data/b.txt" in result.err
    assert not (repo / "data" / "a.txt").exists()


def test_checkout_handles_file_and_folder_swaps(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"x": "file x", "y/z": "z"})
    run(repo, "track", "data")
    os.unlink(repo / "data" / "x")
    write_tree(repo / "data", {"x/inner": "now a folder"})
    run(repo, "track", "data")
    os.unlink(repo / "data" / "x" / "inner")
    os.rmdir(repo / "data" / "x")
    (repo / "data" / "x").write_text("file x")  # content is in the cache: safe to replace
    run(repo, "checkout")
    assert read_tree(repo / "data") == {"x/inner": b"now a folder", "y/z": b"z"}


def test_checkout_of_named_path_only(repo: Path, run: Runner) -> None:
    (repo / "a.bin").write_bytes(b"a")
    (repo / "b.bin").write_bytes(b"b")
    run(repo, "track", "a.bin", "b.bin")
    os.unlink(repo / "a.bin")
    os.unlink(repo / "b.bin")
    run(repo, "checkout", "a.bin")
    assert (repo / "a.bin").exists() and not (repo / "b.bin").exists()
    assert "not tracked" in run(repo, "checkout", "nope", expect=1).err


def test_status_reports_changes_per_file(repo: Path, run: Runner) -> None:
    import json

    write_tree(repo / "data", {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    (repo / "m.bin").write_bytes(b"m")
    run(repo, "track", "data", "m.bin")
    assert run(repo, "status", "--exit-code").code == 0
    write_tree(repo / "data", {"a.txt": "A", "d.txt": "new"})
    os.unlink(repo / "data" / "c.txt")
    os.unlink(repo / "m.bin")
    text = run(repo, "status").out
    assert "modified: data/a.txt" in text and "added:    data/d.txt" in text
    assert "deleted:  data/c.txt" in text and "m.bin: missing" in text
    doc = json.loads(run(repo, "status", "--json", "--exit-code", expect=1).out)
    assert doc["clean"] is False
    data = {d["path"]: d for d in doc["data"]}
    assert data["data"]["added"] == ["data/d.txt"]
    assert data["data"]["modified"] == ["data/a.txt"]
    assert data["data"]["deleted"] == ["data/c.txt"]
    assert data["m.bin"]["state"] == "missing"


def test_touch_without_content_change_is_clean(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "a"})
    run(repo, "track", "data")
    os.utime(repo / "data" / "a.txt", (1, 1))
    assert run(repo, "status", "--exit-code").code == 0


def test_corrupt_packed_object_is_detected(repo: Path, run: Runner) -> None:
    write_tree(repo / "data", {"a.txt": "aaaa", "b.txt": "bbbb"})
    run(repo, "track", "data")
    damage_object(repo, b"aaaa", b"AAAA")
    os.unlink(repo / "data" / "a.txt")
    result = run(repo, "checkout", expect=1)
    assert "corrupt" in result.err and "data/a.txt" in result.err
    assert not (repo / "data" / "a.txt").exists()
    assert (repo / "data" / "b.txt").read_text() == "bbbb"

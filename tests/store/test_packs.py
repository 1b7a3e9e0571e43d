"""Pack indexes are searched in the mapped index file; a writer starts a new pack
after MAX_OBJECTS objects; all packs it wrote are found."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitrelstate import hashing
from gitrelstate.store import packs
from gitrelstate.store.objects import ObjectStore


def test_find_agrees_with_the_whole_table(tmp_path: Path) -> None:
    writer = packs.PackWriter(tmp_path)
    data = {hashing.hash_bytes(b"%d" % i): b"%d" % i for i in range(500)}
    for hex_, raw in data.items():
        writer.add(bytes.fromhex(hex_), raw)
    idx = writer.close()
    assert idx is not None
    index = packs.PackIndex(idx)
    for hex_, raw in data.items():
        assert index.find(bytes.fromhex(hex_)) is not None
        assert index.read(bytes.fromhex(hex_)) == raw
    assert index.find(b"\0" * 32) is None and index.find(b"\xff" * 32) is None
    assert len(index.entries) == 500
    index.close()


def test_a_writer_rolls_over_to_a_new_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packs, "MAX_OBJECTS", 10)
    store = ObjectStore(tmp_path / "cache")
    blobs = [b"blob %d" % i for i in range(25)]
    with store.packing():
        for raw in blobs:
            store.add_bytes(hashing.hash_bytes(raw), raw)
        store.add_bytes(hashing.hash_bytes(blobs[0]), blobs[0])  # already written: skipped
    assert len(list((tmp_path / "cache" / "packs").glob("*.idx"))) == 3
    for raw in blobs:
        assert store.read_bytes(hashing.hash_bytes(raw)) == raw
    assert sorted(store.iter_hexes()) == sorted(hashing.hash_bytes(b) for b in blobs)
    store.close()


def test_removing_an_object_rewrites_the_index_read_by_search(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / "cache")
    blobs = [b"x%d" % i for i in range(20)]
    with store.packing():
        for raw in blobs:
            store.add_bytes(hashing.hash_bytes(raw), raw)
    gone = hashing.hash_bytes(blobs[3])
    assert store.exists(gone)
    store.remove(gone)
    assert not store.exists(gone)
    assert all(store.exists(hashing.hash_bytes(b)) for b in blobs if b != blobs[3])
    store.close()

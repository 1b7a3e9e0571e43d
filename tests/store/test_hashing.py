"""Hashing while copying: the copy is hashed as stored, in one pass over the source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitrelstate import hashing


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 + 3, 3 * 4096 + 17])
def test_copy_file_and_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(hashing, "COPY_CHUNK", 4096)  # several chunks, pipelined
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    with open(tmp_path / "src", "rb") as src, open(tmp_path / "dst", "xb+") as dst:
        hex_, n = hashing.copy_file_and_hash(src, dst, size)
    assert (hex_, n) == (hashing.hash_bytes(data), size)
    assert (tmp_path / "dst").read_bytes() == data


def test_copy_falls_back_without_copy_file_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "COPY_CHUNK", 4096)

    def refuse(*_args: object) -> int:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    data = os.urandom(10_000)
    (tmp_path / "src").write_bytes(data)
    with open(tmp_path / "src", "rb") as src, open(tmp_path / "dst", "xb+") as dst:
        hex_, n = hashing.copy_file_and_hash(src, dst, len(data))
    assert (hex_, n) == (hashing.hash_bytes(data), len(data))
    assert (tmp_path / "dst").read_bytes() == data

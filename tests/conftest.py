"""Test fixtures: real git repositories in temp folders, isolated from the user's config."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The real object stores on loopback, as session fixtures (tests/servers.py).
from servers import gcs_server, s3_server  # noqa: F401

from gitrelstate import hashing
from gitrelstate.cli import main
from gitrelstate.store.objects import ObjectStore


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or touch the real home directory or global git config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n\ttemplateDir =\n"
        "[advice]\n\tdetachedHead = false\n"
    )
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "RELSTATE_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)


@dataclass
class Result:
    code: int
    out: str
    err: str


def relstate(cwd: Path, *args: str) -> Result:
    """Run the real CLI in a subprocess (what a user runs)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gitrelstate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


class Runner:
    """Runs the CLI in-process (fast) with cwd set; returns exit code and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, cwd: Path, *args: str, expect: int | None = 0) -> Result:
        self.monkeypatch.chdir(cwd)
        self.capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        result = Result(code, captured.out, captured.err)
        if expect is not None:
            assert code == expect, f"exit {code} != {expect}\nout: {result.out}\nerr: {result.err}"
        return result


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    return Runner(capsys, monkeypatch)


def make_repo(path: Path, run: Runner | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    if run is not None:
        run(path, "init", "--no-hooks")
    else:
        assert relstate(path, "init", "--no-hooks").code == 0
    return path


@pytest.fixture
def repo(tmp_path: Path, run: Runner) -> Iterator[Path]:
    yield make_repo(tmp_path / "repo", run)


def write_tree(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        p.write_bytes(content)


def read_tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def store_of(repo_path: Path) -> ObjectStore:
    return ObjectStore(repo_path / ".git" / "relstate" / "cache")


def assert_store_sound(root: Path) -> int:
    """Every object, loose or packed, re-hashes to its name; returns the count."""
    store = ObjectStore(root)
    count = 0
    for hex_ in store.iter_hexes():
        assert hashing.hash_bytes(store.read_bytes(hex_)) == hex_, f"corrupt object {hex_}"
        count += 1
    store.close()
    return count


def damage_object(repo_path: Path, content: bytes, replacement: bytes | None) -> None:
    """Corrupt (same-length ``replacement``) or delete (None) the object holding ``content``."""
    store = store_of(repo_path)
    hex_ = hashing.hash_bytes(content)
    if store.is_loose(hex_):
        path = store.path(hex_)
        os.chmod(path, 0o644)
        if replacement is None:
            path.unlink()
        else:
            path.write_bytes(replacement)
    elif replacement is None:
        store.remove(hex_)
    else:
        pack = store._pack_of(hex_)
        assert pack is not None, "no such object"
        offset, size = pack.entries[bytes.fromhex(hex_)]
        assert len(replacement) == size
        os.chmod(pack.pack_path, 0o644)
        with open(pack.pack_path, "r+b") as f:
            f.seek(offset)
            f.write(replacement)
    store.close()


def cache_objects(repo_path: Path) -> list[Path]:
    base = repo_path / ".git" / "relstate" / "cache" / "blake3"
    return [p for p in base.rglob("*") if p.is_file()] if base.exists() else []

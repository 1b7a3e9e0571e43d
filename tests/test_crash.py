"""Crash consistency: kill -9 at random points, then check the invariants.

The default run takes a small sample; ``pytest -m slow`` runs many more kills.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_store_sound, git, make_repo, read_tree, relstate, write_tree

from gitrelstate.state import yamlio

TMP = ".relstate-tmp-"


def _start(cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitrelstate", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL after ``delay`` s; True if it was killed before finishing."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _assert_store_sound(root: Path) -> None:
    """Every object, loose or packed, re-hashes to its name (temp files are not objects)."""
    if root.exists():
        assert_store_sound(root)


def _assert_pointers_parse(repo: Path) -> None:
    for p in repo.rglob("*.relstate.yaml"):
        if ".git" not in p.parts:
            yamlio.read(p)  # raises on a half-written file


def _dataset(root: Path, rng: random.Random) -> None:
    write_tree(root, {f"d{i % 20}/f{i}.bin": rng.randbytes(2048) for i in range(1500)})
    (root / "big.bin").write_bytes(rng.randbytes(40 * 1024 * 1024))


def _timed(cwd: Path, *args: str) -> float:
    """Run the CLI to completion; return its wall time (to aim the kills inside it)."""
    start = time.monotonic()
    result = relstate(cwd, *args)
    assert result.code == 0, result.err
    return time.monotonic() - start


def _reference_pointer(tmp_path: Path, data: Path) -> tuple[str, float]:
    ref = make_repo(tmp_path / "reference")
    shutil.copytree(data, ref / "data")
    took = _timed(ref, "track", "data")
    return (ref / "data.relstate.yaml").read_text(), took


def _crash_track(tmp_path: Path, kills: int, seed: int) -> int:
    rng = random.Random(seed)
    repo = make_repo(tmp_path / "repo")
    _dataset(repo / "data", rng)
    expected, took = _reference_pointer(tmp_path, repo / "data")
    private = repo / ".git" / "relstate"
    killed = 0
    for _ in range(kills):
        # Mostly from scratch (a kill can land anywhere in a full run); sometimes
        # resuming what an earlier killed run left behind.
        if rng.random() < 0.7 and private.exists():
            shutil.rmtree(private)
        killed += _kill_after(_start(repo, "track", "data"), rng.uniform(0.02, took))
        _assert_store_sound(private / "cache")
        _assert_pointers_parse(repo)
    assert relstate(repo, "track", "data").code == 0
    assert (repo / "data.relstate.yaml").read_text() == expected
    assert relstate(repo, "status", "--exit-code").code == 0
    assert not list((repo / ".git" / "relstate" / "cache" / "tmp").glob(TMP + "*"))
    return killed


def _crash_checkout(tmp_path: Path, kills: int, seed: int) -> int:
    rng = random.Random(seed)
    repo = make_repo(tmp_path / "repo")
    _dataset(repo / "data", rng)
    assert relstate(repo, "track", "data").code == 0
    original = read_tree(repo / "data")
    shutil.rmtree(repo / "data")
    took = _timed(repo, "checkout")
    killed = 0
    for _ in range(kills):
        shutil.rmtree(repo / "data")
        killed += _kill_after(_start(repo, "checkout"), rng.uniform(0.02, took))
        # Every file is absent or complete: never truncated or mixed.
        for rel, content in read_tree(repo / "data").items():
            if TMP not in rel:
                assert content == original[rel], f"partial file {rel}"
        assert relstate(repo, "checkout").code == 0
        assert read_tree(repo / "data") == original  # no temp litter left either
    return killed


def _crash_push(tmp_path: Path, kills: int, seed: int) -> int:
    rng = random.Random(seed)
    repo = make_repo(tmp_path / "repo")
    _dataset(repo / "data", rng)
    assert relstate(repo, "track", "data").code == 0
    store = tmp_path / "store"
    assert relstate(repo, "remote", "add", "origin", str(store)).code == 0
    took = _timed(repo, "push")
    killed = 0
    for _ in range(kills):
        if store.exists():
            shutil.rmtree(store)
        killed += _kill_after(_start(repo, "push"), rng.uniform(0.02, took))
        _assert_store_sound(store)
        assert relstate(repo, "push").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert relstate(clone, "pull").code == 0
    assert read_tree(clone / "data") == read_tree(repo / "data")
    return killed


@pytest.mark.parametrize("scenario", [_crash_track, _crash_checkout, _crash_push])
def test_kill_sample(tmp_path: Path, scenario: object) -> None:
    assert callable(scenario)
    scenario(tmp_path, kills=3, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [_crash_track, _crash_checkout, _crash_push])
def test_kill_many(tmp_path: Path, scenario: object) -> None:
    assert callable(scenario)
    killed = scenario(tmp_path, kills=25, seed=int(time.time()))
    assert killed >= 15, "too few runs were actually interrupted to mean anything"

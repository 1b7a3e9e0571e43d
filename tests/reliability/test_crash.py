"""Crash consistency: SIGKILL at every write step (and at random times), then check the
invariants of tests/helpers/invariants.py and that running the command again gives the result
an uninterrupted run gives.

Two ways to pick the kill point:

- **checkpoints** (deterministic): every write step calls ``faults.checkpoint(NAME)``;
  ``RELSTATE_CRASH_AT=*:K`` kills the command at its K-th write step, ``NAME:N`` at the
  N-th time it reaches that step. A traced run (``RELSTATE_CRASH_TRACE``) lists them.
- **time**: SIGKILL after a random delay within the command's normal run time.

Commands: track, checkout, run, release, push, fetch, pull, gc.  The default run takes
a sample of about twenty crashes; ``pytest -m slow tests/reliability/test_crash.py`` runs every
checkpoint of every command plus timed kills on larger data (see docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitrelstate.faults import CRASH_AT
from gitrelstate.state import yamlio
from tests.helpers.cli import git, make_repo, relstate
from tests.helpers.invariants import InvariantBroken, check_all, check_old_or_new
from tests.helpers.trees import assert_store_sound, read_tree, write_tree
from tests.helpers.worlds import (
    COMMANDS,
    Prepared,
    Worlds,
    cli,
)

TMP = ".relstate-tmp-"


@dataclass
class Tally:
    """Counts for docs/reliability.md."""

    killed: dict[str, int] = field(default_factory=dict)
    finished_first: dict[str, int] = field(default_factory=dict)  # the kill came too late
    checkpoints: dict[str, int] = field(default_factory=dict)
    corruptions: list[str] = field(default_factory=list)

    def add(self, command: str, killed: bool) -> None:
        table = self.killed if killed else self.finished_first
        table[command] = table.get(command, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "crashes_injected": sum(self.killed.values()),
            "finished_before_the_kill": sum(self.finished_first.values()),
            "corruptions_found": len(self.corruptions),
            "by_command": self.killed,
            "checkpoints_per_command": self.checkpoints,
            "corruptions": self.corruptions,
        }


def _check(prepared: Prepared, world: Path, *, complete_remote: bool) -> None:
    remote = world / "remote"
    check_all(
        world / prepared.scenario.cwd,
        remote=remote if remote.exists() else None,
        cache_complete=prepared.scenario.cache_complete,
        remote_complete=complete_remote,
    )


def crash_once(
    prepared: Prepared,
    world: Path,
    tally: Tally,
    env: dict[str, str] | None = None,
    delay: float | None = None,
) -> None:
    """Run the command once under a fault, check, rerun, compare; count what happened."""
    scenario = prepared.scenario
    where = prepared.copy(world)
    label = f"{scenario.command} {env or f'after {delay:.3f}s'}"
    if delay is None:
        code, err = cli(where, scenario.args, env)
        killed = code == -signal.SIGKILL
        assert killed or code == 0, f"{label}: exit {code}: {err}"
    else:
        killed = _kill_after(_start(where, *scenario.args), delay)
    tally.add(scenario.command, killed)
    try:
        _check(prepared, world, complete_remote=False)
        if scenario.command != "run" or delay is None:
            # A timed kill of 'run' can land in the user's own command, whose writes are
            # its business; every write gitrelstate makes is checked.
            check_old_or_new(prepared.tree(world), prepared.before, prepared.after)
        code, err = cli(where, scenario.args)
        assert code == 0, f"{label}: the rerun failed: {err}"
        _check(prepared, world, complete_remote=scenario.remote_complete_after)
        assert scenario.result(world) == prepared.expected, f"{label}: different result"
        leftovers = [p for p in where.rglob(f"{TMP}*") if ".git" not in p.parts]
        assert not leftovers, f"{label}: temp files left after the rerun: {leftovers}"
    except (InvariantBroken, AssertionError) as exc:
        message = str(exc).splitlines()[0]
        tally.corruptions.append(message if message.startswith(label) else f"{label}: {message}")
    shutil.rmtree(world)


def _kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL after ``delay`` s; True if it was killed before finishing."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _start(cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gitrelstate", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _targets(steps: list[str], *, every: bool, rng: random.Random) -> list[str]:
    """Crash points. With ``every``: each write step (the K-th overall; for commands with
    many, one per object moved, 40 spread evenly) and the first hit of each step name.
    Else the first hit of two step names and one random step."""
    names = list(dict.fromkeys(steps))
    if every:
        n = len(steps)
        ks = sorted({1 + (i * (n - 1)) // 39 for i in range(40)}) if n > 40 else range(1, n + 1)
        return [f"*:{k}" for k in ks] + [f"{name}:1" for name in names]
    picked = rng.sample(names, min(2, len(names)))
    return [f"{n}:1" for n in picked] + [f"*:{rng.randint(1, len(steps))}"]


def _report(tmp_path: Path, tally: Tally, name: str) -> dict[str, Any]:
    summary = tally.summary()
    (tmp_path / f"{name}.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{name}: {json.dumps(summary)}")
    return summary


def test_checkpoint_crash_sample(tmp_path: Path, worlds: Worlds) -> None:
    """About twenty crashes at write steps, three per command."""
    tally = Tally()
    rng = random.Random(8)
    for command in COMMANDS:
        prepared = worlds[command]
        tally.checkpoints[command] = len(prepared.steps)
        assert prepared.steps, f"{command} reached no checkpoint"
        for i, target in enumerate(_targets(prepared.steps, every=False, rng=rng)):
            crash_once(prepared, tmp_path / f"{command}-{i}", tally, {CRASH_AT: target})
    summary = _report(tmp_path, tally, "crash-sample")
    assert summary["corruptions_found"] == 0, "\n".join(tally.corruptions)
    assert summary["crashes_injected"] >= 15


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_checkpoint_crash_every_step(tmp_path: Path, worlds: Worlds) -> None:
    """A crash at every write step of every command, plus timed kills of each."""
    tally = Tally()
    rng = random.Random(int(os.environ.get("RELSTATE_CRASH_SEED", "0")) or time.time_ns())
    for command in COMMANDS:
        prepared = worlds[command]
        tally.checkpoints[command] = len(prepared.steps)
        targets = _targets(prepared.steps, every=True, rng=rng)
        for i, target in enumerate(targets):
            crash_once(prepared, tmp_path / f"{command}-{i}", tally, {CRASH_AT: target})
        for i in range(6):
            delay = rng.uniform(0.05, prepared.took)
            crash_once(prepared, tmp_path / f"{command}-t{i}", tally, delay=delay)
    summary = _report(tmp_path, tally, "crash-every-step")
    assert summary["corruptions_found"] == 0, "\n".join(tally.corruptions)
    assert summary["crashes_injected"] >= 200


# -- timed kills on larger data ---------------------------------------------------------


def _assert_store_sound(root: Path) -> None:
    """Every object, loose or packed, re-hashes to its name (temp files are not objects)."""
    if root.exists():
        assert_store_sound(root)


def _assert_pointers_parse(repo: Path) -> None:
    for p in repo.rglob("*.relstate.yaml"):
        if ".git" not in p.parts:
            yamlio.read(p)  # raises on a half-written file


def _dataset(root: Path, rng: random.Random, scale: int) -> None:
    write_tree(root, {f"d{i % 20}/f{i}.bin": rng.randbytes(2048) for i in range(150 * scale)})
    (root / "big.bin").write_bytes(rng.randbytes(4 * scale * 1024 * 1024))


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


def _crash_track(tmp_path: Path, kills: int, seed: int, scale: int) -> int:
    rng = random.Random(seed)
    repo = make_repo(tmp_path / "repo")
    _dataset(repo / "data", rng, scale)
    expected, took = _reference_pointer(tmp_path, repo / "data")
    private = repo / ".git" / "relstate"
    killed = 0
    for _ in range(kills):
        # Mostly from scratch (a kill can land anywhere in a full run); sometimes
        # resuming what an earlier killed run left behind.
        if rng.random() < 0.7 and private.exists():
            shutil.rmtree(private)
        killed += _kill_after(_start(repo, "track", "data"), rng.uniform(0.02, 0.7 * took))
        _assert_store_sound(private / "cache")
        _assert_pointers_parse(repo)
    assert relstate(repo, "track", "data").code == 0
    assert (repo / "data.relstate.yaml").read_text() == expected
    assert relstate(repo, "status", "--exit-code").code == 0
    assert not list((repo / ".git" / "relstate" / "cache" / "tmp").glob(TMP + "*"))
    return killed


def _crash_checkout(tmp_path: Path, kills: int, seed: int, scale: int) -> int:
    rng = random.Random(seed)
    repo = make_repo(tmp_path / "repo")
    _dataset(repo / "data", rng, scale)
    assert relstate(repo, "track", "data").code == 0
    original = read_tree(repo / "data")
    shutil.rmtree(repo / "data")
    took = _timed(repo, "checkout")
    killed = 0
    for _ in range(kills):
        shutil.rmtree(repo / "data")
        killed += _kill_after(_start(repo, "checkout"), rng.uniform(0.02, 0.7 * took))
        # Every file is absent or complete: never truncated or mixed.
        for rel, content in read_tree(repo / "data").items():
            if TMP not in rel:
                assert content == original[rel], f"partial file {rel}"
        assert relstate(repo, "checkout").code == 0
        assert read_tree(repo / "data") == original  # no temp litter left either
    return killed


def _crash_push(tmp_path: Path, kills: int, seed: int, scale: int) -> int:
    rng = random.Random(seed)
    repo = make_repo(tmp_path / "repo")
    _dataset(repo / "data", rng, scale)
    assert relstate(repo, "track", "data").code == 0
    store = tmp_path / "store"
    assert relstate(repo, "remote", "add", "origin", str(store)).code == 0
    took = _timed(repo, "push")
    killed = 0
    for _ in range(kills):
        if store.exists():
            shutil.rmtree(store)
        killed += _kill_after(_start(repo, "push"), rng.uniform(0.02, 0.7 * took))
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
def test_kill_sample(tmp_path: Path, scenario: Callable[..., int]) -> None:
    scenario(tmp_path, kills=2, seed=1, scale=2)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [_crash_track, _crash_checkout, _crash_push])
def test_kill_many(tmp_path: Path, scenario: Callable[..., int]) -> None:
    killed = scenario(tmp_path, kills=25, seed=int(time.time()), scale=10)
    print(f"\n{scenario.__name__}: {killed} of 25 runs killed before finishing")
    # The reference run is timed cold; reruns are faster, so some kills come too late.
    assert killed >= 10, "too few runs were actually interrupted to mean anything"

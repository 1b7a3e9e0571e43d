"""Small, complete worlds for the reliability tests: a repository (and a folder remote,
and for fetch/pull a clone) set up so that one command has real work to do.

``Worlds`` (the session fixture ``worlds`` of tests/reliability/conftest.py) builds each
world once, runs its command uninterrupted on a copy to learn the expected result and the
write steps it takes, and hands out fresh copies; tests/reliability/test_crash.py kills the
command, tests/reliability/test_faults.py fails its writes.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitrelstate.state import yamlio

from .cli import commit_all, git, make_repo, relstate
from .invariants import cache_hexes, remote_hexes, tree_hashes
from .trees import write_tree

COMMANDS = ("track", "checkout", "run", "release", "push", "fetch", "pull", "gc")

MAKE_PY = """\
import hashlib, json, pathlib
seed = pathlib.Path("params.yaml").read_text().split(":")[1].strip()
out = pathlib.Path("out")
out.mkdir(exist_ok=True)
for i in range(8):
    (out / f"part{i}.txt").write_text(f"{seed}-{i}\\n" * 50)
(out / "weights.bin").write_bytes(hashlib.sha256(seed.encode()).digest() * 4096)
total = sum(len(p.read_bytes()) for p in sorted(pathlib.Path("data").rglob("*")) if p.is_file())
pathlib.Path("metrics.json").write_text(json.dumps({"seed": int(seed), "bytes": total}))
"""

RUN_ARGS = (
    "run",
    "-n",
    "train",
    "-d",
    "data",
    "-p",
    "params.yaml:seed",
    "-o",
    "out",
    "-m",
    "metrics.json",
    "--",
    sys.executable,
    "make.py",
)


def cli(cwd: Path, args: tuple[str, ...], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI in a subprocess with extra environment; (exit status, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gitrelstate", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stderr


def data_files(version: int) -> dict[str, bytes]:
    """A tracked folder: small files (packed), two larger ones (loose), one executable."""
    rng = random.Random(version)
    # 90 small files: enough for push to send them in remote packs (remotepacks.py).
    files: dict[str, bytes] = {f"s{i % 3}/f{i:02d}.txt": b"v1-%d\n" % i * 40 for i in range(90)}
    files["big/a.bin"] = random.Random(1).randbytes(100_000)
    files["big/b.bin"] = random.Random(2).randbytes(90_000)
    files["tool.sh"] = b"#!/bin/sh\necho hi\n"
    if version >= 2:
        for i in (1, 5, 9, 13):
            files[f"s{i % 3}/f{i:02d}.txt"] = b"v%d-changed-%d\n" % (version, i) * 30
        for i in range(3):
            files[f"new/v{version}-{i}.txt"] = b"new %d %d\n" % (version, i) * 20
        del files["s0/f00.txt"], files["s1/f01.txt"]
        files["big/a.bin"] = rng.randbytes(100_000)
    return files


def set_data(repo: Path, version: int) -> None:
    if (repo / "data").exists():
        shutil.rmtree(repo / "data")
    write_tree(repo / "data", data_files(version))
    os.chmod(repo / "data" / "tool.sh", 0o755)
    # Over 1 MiB: stored by copy + rename rather than from memory.
    (repo / "model.bin").write_bytes(random.Random(100 + version).randbytes(1_200_000))


def ok(cwd: Path, *args: str) -> None:
    result = relstate(cwd, *args)
    assert result.code == 0, f"{args}: {result.err}"


def build_base(world: Path) -> None:
    """repo/ with data v1, a recorded run, everything committed and pushed to remote/."""
    repo = make_repo(world / "repo")
    (repo / "make.py").write_text(MAKE_PY)
    (repo / "params.yaml").write_text("seed: 1\n")
    commit_all(repo, "code")
    set_data(repo, 1)
    ok(repo, "track", "data", "model.bin")
    ok(repo, "remote", "add", "origin", "../remote")  # relative: copies stay self-contained
    ok(repo, *RUN_ARGS)
    commit_all(repo, "v1")
    ok(repo, "push")


def _track(world: Path) -> None:
    set_data(world / "repo", 2)


def _checkout(world: Path) -> None:
    _track(world)
    repo = world / "repo"
    ok(repo, "track", "data", "model.bin")
    commit_all(repo, "v2")
    git(repo, "checkout", "HEAD~1", "--", "data.relstate.yaml", "model.bin.relstate.yaml")


def _run(world: Path) -> None:
    (world / "repo" / "params.yaml").write_text("seed: 2\n")
    commit_all(world / "repo", "seed 2")


def _release(world: Path) -> None:
    pass


def _push(world: Path) -> None:
    _checkout(world)
    git(world / "repo", "checkout", "HEAD", "--", ".")  # pointers back at v2, as the data
    shutil.rmtree(world / "remote")


def _clone(world: Path) -> None:
    _checkout(world)
    repo = world / "repo"
    git(repo, "checkout", "HEAD", "--", ".")
    ok(repo, "push")
    git(world, "clone", "-q", "repo", "clone")
    # A committed relative folder remote is used only once this clone accepts it.
    ok(world / "clone", "remote", "add", "origin", "../remote", "--local")


def _gc(world: Path) -> None:
    repo = world / "repo"
    git(repo, "checkout", "-qb", "scratch")
    set_data(repo, 3)
    ok(repo, "track", "data", "model.bin")
    commit_all(repo, "scratch data")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-qD", "scratch")  # its data is garbage now
    ok(repo, "checkout")
    (repo / "junk.bin").write_bytes(b"junk" * 30_000)
    ok(repo, "track", "junk.bin")
    (repo / "junk.bin.relstate.yaml").unlink()  # and this
    write_tree(repo / "keep", {f"{i}.txt": b"keep %d\n" % i * 9 for i in range(6)})
    ok(repo, "track", "keep")
    (repo / "keep" / "5.txt").unlink()
    ok(repo, "track", "keep")  # one pack holds kept and garbage objects: gc rewrites it


@dataclass(frozen=True)
class Scenario:
    command: str
    build: Callable[[Path], None]  # turns a copy of the base world into this one
    args: tuple[str, ...]
    cwd: str = "repo"
    cache_complete: bool = True  # may everything the state files name be expected cached?
    remote_complete_after: bool = False

    def result(self, world: Path) -> dict[str, Any]:
        """What a run leaves behind (compared between an interrupted + rerun and a clean run)."""
        where = world / self.cwd
        if self.command == "push":
            return {"remote": sorted(remote_hexes(world / "remote"))}
        out: dict[str, Any] = {"cache": sorted(cache_hexes(where))}
        if self.command in ("track", "run"):
            out["pointers"] = {
                str(p.relative_to(where)): p.read_text()
                for p in sorted(where.rglob("*.relstate.yaml"))
            }
            out["gitignore"] = (where / ".gitignore").read_text()
        if self.command == "run":
            record = yamlio.read(where / ".relstate" / "runs" / "train.yaml")
            # The environment is captured live (free memory, packages as seen from
            # the current folder...): what a rerun must reproduce is the rest.
            for key in ("started", "finished", "duration", "environment"):
                record.pop(key)
            out["record"] = record
        if self.command == "release":
            doc = yamlio.read(where / ".relstate" / "releases" / "r1.yaml")
            state_id = doc.pop("state_id")
            doc.pop("created")
            doc.pop("environment")
            out["release"] = doc
            out["tag"] = state_id in git(where, "cat-file", "tag", "relstate/r1")
        if self.command in ("checkout", "pull"):
            out["tree"] = tree_hashes(where / "data")
            out["model"] = (where / "model.bin").read_bytes()
        return out


SCENARIOS = {
    "track": Scenario("track", _track, ("track", "data", "model.bin")),
    "checkout": Scenario("checkout", _checkout, ("checkout",)),
    "run": Scenario("run", _run, ("run", "train")),
    "release": Scenario("release", _release, ("release", "r1", "--tag", "-m", "first")),
    "push": Scenario("push", _push, ("push",), remote_complete_after=True),
    "fetch": Scenario("fetch", _clone, ("fetch",), cwd="clone", cache_complete=False),
    "pull": Scenario("pull", _clone, ("pull",), cwd="clone", cache_complete=False),
    "gc": Scenario("gc", _gc, ("gc",)),
}


@dataclass(frozen=True)
class Prepared:
    """A built world, and what its command does to it when nothing goes wrong."""

    scenario: Scenario
    template: Path
    steps: list[str]  # the write steps (checkpoint names) of an uninterrupted run
    took: float  # its wall time
    before: dict[str, str]  # work-tree file -> content hex, before the command
    after: dict[str, str]  # ... and after it
    expected: dict[str, Any]  # Scenario.result of the uninterrupted run

    def tree(self, world: Path) -> dict[str, str]:
        return tree_hashes(world / self.scenario.cwd, skip=(".git", ".relstate"))

    def copy(self, dest: Path) -> Path:
        """A fresh copy of the world (before the command); returns where to run it."""
        shutil.copytree(self.template, dest, symlinks=True)
        return dest / self.scenario.cwd


class Worlds:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._prepared: dict[str, Prepared] = {}

    def __getitem__(self, command: str) -> Prepared:
        if command not in self._prepared:
            self._prepared[command] = self._prepare(SCENARIOS[command])
        return self._prepared[command]

    def _prepare(self, scenario: Scenario) -> Prepared:
        base = self.root / "base"
        if not base.exists():
            build_base(base)
        template = self.root / f"template-{scenario.command}"
        shutil.copytree(base, template, symlinks=True)
        scenario.build(template)
        reference = self.root / f"reference-{scenario.command}"
        shutil.copytree(template, reference, symlinks=True)
        trace = self.root / f"trace-{scenario.command}"
        t0 = time.monotonic()
        code, err = cli(
            reference / scenario.cwd, scenario.args, {"RELSTATE_CRASH_TRACE": str(trace)}
        )
        took = time.monotonic() - t0
        assert code == 0, err
        prepared = Prepared(
            scenario=scenario,
            template=template,
            steps=trace.read_text().split() if trace.exists() else [],
            took=took,
            before={},
            after={},
            expected=scenario.result(reference),
        )
        prepared.before.update(prepared.tree(template))
        prepared.after.update(prepared.tree(reference))
        shutil.rmtree(reference)
        return prepared

"""Reading state files across history: git (one ``rev-list --objects`` + one
``cat-file --batch``) against dulwich in-process, on the same repository.

Decided that dulwich does not earn its place as a dependency (docs/design.md records
the result). Needs ``pip install dulwich`` to run.
Usage: python3 benchmarks/bench_history.py [--commits N] [--files N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUFFIX = ".relstate.yaml"


def build(root: Path, commits: int, files: int) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "b@example.invalid")
    git("config", "user.name", "bench")
    for c in range(commits):
        for i in range(files):
            if c == 0 or i % 10 == c % 10:
                p = root / f"data/part{i:03d}{SUFFIX}"
                p.parent.mkdir(exist_ok=True)
                p.write_text(
                    f"relstate: 1\nkind: data\npath: part{i:03d}\nhash: {c:064x}\nsize: {c}\n"
                )
        git("add", "-A")
        git("commit", "-q", "-m", f"c{c}")


def with_git(root: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gitrelstate import git

    blobs = git.blobs_matching(root, ["--all"], SUFFIX)
    return len(git.read_blobs(root, list(blobs)))


def with_dulwich(root: Path) -> int:
    from dulwich.objects import Blob, Tree
    from dulwich.repo import Repo

    repo = Repo(str(root))
    seen_trees: set[bytes] = set()
    found: dict[bytes, bytes] = {}

    def walk(tree_id: bytes) -> None:
        if tree_id in seen_trees:
            return
        seen_trees.add(tree_id)
        tree = repo[tree_id]
        assert isinstance(tree, Tree)
        for entry in tree.iteritems():
            if entry.mode & 0o40000:
                walk(entry.sha)
            elif entry.path.endswith(SUFFIX.encode()) and entry.sha not in found:
                blob = repo[entry.sha]
                assert isinstance(blob, Blob)
                found[entry.sha] = blob.data

    for entry in repo.get_walker(include=[repo.head()]):
        walk(entry.commit.tree)
    return len(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.commits, args.files)
        for objects in ("loose objects", "packed (after git gc)"):
            if objects.startswith("packed"):
                subprocess.run(["git", "gc", "-q"], cwd=root, check=True)
            for name, fn in (
                ("git rev-list + cat-file --batch", with_git),
                ("dulwich", with_dulwich),
            ):
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    count = fn(root)
                    times.append(time.perf_counter() - t0)
                print(f"{objects:22} {name:34} {min(times):.3f} s  ({count} versions)")


if __name__ == "__main__":
    main()

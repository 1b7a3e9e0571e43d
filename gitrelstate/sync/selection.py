"""What a transfer works on: pointers named by path, plus the data runs and releases bind."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import git
from gitrelstate.releases import registry
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import records
from gitrelstate.state.pointer import DataPointer
from gitrelstate.state.record import Artifact
from gitrelstate.workspace import pointers
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.selection import select_tracked


def selected(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    runs: Sequence[str],
    release_names: Sequence[str] = (),
) -> list[Tracked]:
    """The pointers named by ``paths``, plus the data each run in ``runs`` used and made
    and each release in ``release_names`` binds (at the hashes their files name);
    everything when none is given."""
    if not runs and not release_names:
        return select_tracked(repo, cwd, paths)
    chosen = select_tracked(repo, cwd, paths) if paths else []
    for name in runs:
        record = records.load_record(repo, name)
        for artifact in (*record.deps, *record.outs):
            if git.is_tracked(repo.root, artifact.path):
                continue  # code and other files Git itself carries
            where = f"{RUNS_DIR}/{name}.yaml ({artifact.path})"
            chosen.append(as_tracked(where, artifact))
    for name in release_names:
        release = registry.load(repo, name)
        for artifact in release.artifacts():
            chosen.append(as_tracked(f"release {name} ({artifact.path})", artifact))
    return chosen


def as_tracked(where: str, artifact: Artifact) -> Tracked:
    data_name = artifact.path.rpartition("/")[2]
    pointer = DataPointer(data_name, artifact.hash, artifact.size, artifact.nfiles)
    return Tracked(where, artifact.path, pointer)


def bound_paths(repo: Repo, runs: Sequence[str], release_names: Sequence[str]) -> list[str]:
    """Work-tree paths of the tracked data the named runs and releases bind."""
    artifacts = [
        a
        for name in runs
        for a in (*records.load_record(repo, name).deps, *records.load_record(repo, name).outs)
    ]
    artifacts += [a for name in release_names for a in registry.load(repo, name).artifacts()]
    return sorted(
        {
            str(repo.abspath(a.path))
            for a in artifacts
            if repo.abspath(pointers.pointer_rel_for(a.path)).exists()
        }
    )

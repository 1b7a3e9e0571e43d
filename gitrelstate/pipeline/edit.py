"""Dropping stages and data: ``remove STAGE`` and ``untrack PATH``.

Both only stop gitrelstate from keeping something; no data in the work tree is ever
deleted. ``remove`` deletes a stage's record (with ``--outs`` its outputs are
untracked too; without, they stay tracked data). ``untrack`` deletes a data pointer
and the ``.gitignore`` line that kept the data out of Git: the data stays where it is,
now an ordinary untracked file, and its content stays in the cache.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate import fsutil, git
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import define
from gitrelstate.runs.records import all_records
from gitrelstate.state.pointer import SUFFIX
from gitrelstate.workspace import gitignore, pointers


@dataclass
class Removed:
    """What ``remove`` / ``untrack`` did: record files deleted, paths untracked."""

    records: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    kept_outputs: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)  # files Git still has in HEAD


def remove_stages(repo: Repo, names: Sequence[str], *, outs: bool) -> Removed:
    """Delete the named stages' records; with ``outs``, untrack their outputs too."""
    records = all_records(repo)
    chosen = []
    for name in names:
        record = define.find_stage(records, name)
        if record is None:
            raise RelstateError(
                f"no stage named '{name}'", hint="see 'git relstate list' for the stages"
            )
        chosen.append(record)
    done = Removed()
    with repo.locked():
        for record in chosen:
            rel = f"{RUNS_DIR}/{record.name}.yaml"
            path = repo.resolve_inside(rel, rel, "record", allow_state=True, follow_symlinks=False)
            with_pointer = [
                o.path for o in record.outs if os.path.exists(repo.abspath(o.path + SUFFIX))
            ]
            if outs:
                for data in with_pointer:
                    _untrack_one(repo, data, done)
            else:
                done.kept_outputs += with_pointer
            path.unlink(missing_ok=True)
            done.records.append(rel)
            if git.is_tracked(repo.root, rel):
                done.committed.append(rel)
    return done


def untrack(repo: Repo, cwd: Path, paths: Sequence[str]) -> Removed:
    """Stop tracking ``paths`` (the data, or its pointer file); refused for an output of
    a recorded stage (drop it from the stage, or remove the stage, first)."""
    producers = {o.path: r.name for r in all_records(repo) for o in r.outs}
    wanted = []
    for given in paths:
        rel = repo.relpath(cwd / given)
        if rel.endswith(SUFFIX):
            rel = rel[: -len(SUFFIX)]
        if not os.path.exists(repo.abspath(rel + SUFFIX)):
            raise RelstateError(
                f"{given} is not tracked by gitrelstate",
                hint="see 'git relstate status' for the tracked paths",
            )
        if rel in producers:
            stage = producers[rel]
            raise RelstateError(
                f"{rel} is an output of stage '{stage}'",
                hint=f"drop it from the stage ('git relstate run {stage} --drop {rel}') or "
                f"remove the stage with its outputs ('git relstate remove {stage} --outs')",
            )
        wanted.append(rel)
    done = Removed()
    with repo.locked():
        for rel in dict.fromkeys(wanted):
            _untrack_one(repo, rel, done)
    return done


def _untrack_one(repo: Repo, data_rel: str, done: Removed) -> None:
    pointer_rel = pointers.pointer_rel_for(data_rel)
    pointer_path = repo.resolve_inside(pointer_rel, pointer_rel, "pointer", follow_symlinks=False)
    pointers.load(repo, pointer_rel)  # only a valid pointer of ours is deleted
    data = repo.abspath(data_rel)
    unignore(data.parent, data.name)
    pointer_path.unlink(missing_ok=True)
    done.untracked.append(data_rel)
    if git.is_tracked(repo.root, pointer_rel):
        done.committed.append(pointer_rel)


def unignore(folder: Path, name: str) -> bool:
    """Remove the ``/name`` line ``track`` added to ``folder/.gitignore`` (the file goes
    when nothing else is left in it); True when a line was removed."""
    path = folder / ".gitignore"
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return False
    line = gitignore.pattern_for(name)
    lines = text.splitlines()
    if line not in lines:
        return False
    kept = [x for x in lines if x != line]
    if not any(x.strip() for x in kept):
        path.unlink()
    else:
        fsutil.write_text_atomic(path, "\n".join(kept) + "\n")
    return True

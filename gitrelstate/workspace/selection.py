"""Which tracked paths a command's PATH arguments refer to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.state.pointer import SUFFIX
from gitrelstate.workspace import pointers
from gitrelstate.workspace.pointers import Tracked


def select_tracked(repo: Repo, cwd: Path, paths: Sequence[str]) -> list[Tracked]:
    """All tracked paths, or those named by ``paths`` (data path, pointer, or a folder above)."""
    everything = pointers.load_all(repo)
    if not paths:
        return everything
    chosen: dict[str, Tracked] = {}
    for given in paths:
        rel = repo.relpath(cwd / given)
        if rel.endswith(SUFFIX):
            rel = rel[: -len(SUFFIX)]
        hits = [
            t
            for t in everything
            if rel == "" or t.data_rel == rel or t.data_rel.startswith(rel + "/")
        ]
        if not hits:
            raise RelstateError(
                f"{given} is not tracked by gitrelstate",
                hint="see what is tracked with 'git relstate status'",
            )
        for t in hits:
            chosen[t.data_rel] = t
    return [chosen[k] for k in sorted(chosen)]

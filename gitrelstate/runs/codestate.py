"""The code state of a run: commit, branch, and a digest of uncommitted code changes.

Uncommitted code is every change to tracked files *and* every untracked file Git does
not ignore (a script written but not committed yet is code too), compared with HEAD —
or, before the first commit, with the empty tree. gitrelstate's own files are never
code. The digest is that of ``git diff`` in a form a later ``git diff COMMIT LATER``
reproduces byte for byte when the changes were committed as they were, which is how a
run on uncommitted code is recognised once its code is committed (:func:`committed_as`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
from pathlib import Path
from typing import Any

from gitrelstate import fsutil, git, hashing
from gitrelstate.repo import STATE_DIR, Repo
from gitrelstate.state.pointer import SUFFIX

# State files (records, pointers, the .gitignore entries track writes, the attributes
# init writes) are not code: they are what gitrelstate itself writes around a run.
NOT_CODE = (
    f":(exclude){STATE_DIR}",
    f":(exclude,glob)**/*{SUFFIX}",
    ":(exclude,glob)**/.gitignore",
    ":(exclude,glob)**/.gitattributes",
)
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# How far back ``committed_as`` looks for the commit that holds a run's code.
SEARCH_COMMITS = 20


@functools.lru_cache(maxsize=8)
def empty_tree(root: str) -> str:
    """The id of the empty tree in this repository's object format."""
    return git.run(Path(root), ["hash-object", "-t", "tree", os.devnull]).strip()


def code_diff_digest(repo: Repo, *revs: str | None) -> str | None:
    """Digest of ``git diff REVS`` over code files (None when there is no difference);
    a None revision is the empty tree (before the first commit)."""
    args = [r if r is not None else empty_tree(str(repo.root)) for r in revs]
    diff = git.run_bytes(repo.root, ["diff", *args, "--binary", "--", ".", *NOT_CODE])
    return hashing.content_id(hashing.hash_bytes(diff)) if diff else None


def untracked_code(repo: Repo) -> list[str]:
    """Untracked files Git does not ignore, gitrelstate's own excluded."""
    return git.ls_files(repo.root, ["--others", "--exclude-standard", "--", ".", *NOT_CODE])


def _work_tree_digest(repo: Repo, base: str | None, untracked: list[str]) -> str | None:
    """Digest of the work tree's code against ``base`` (None: the empty tree), untracked
    files included as additions (``git add -N`` in a copy of the index: the real index
    is never touched)."""
    if not untracked:
        return code_diff_digest(repo, base)
    tmp = fsutil.tmp_name(repo.private_dir / "code-index")
    repo.private_dir.mkdir(parents=True, exist_ok=True)
    index = repo.git_dir / "index"
    try:
        if index.exists():
            shutil.copyfile(index, tmp)
        env = {"GIT_INDEX_FILE": str(tmp), "GIT_OPTIONAL_LOCKS": "0"}
        git.run(
            repo.root,
            ["add", "-N", "--", *[f":(literal){p}" for p in untracked]],
            extra_env=env,
        )
        args = [base if base is not None else empty_tree(str(repo.root))]
        diff = git.run_bytes(
            repo.root, ["diff", *args, "--binary", "--", ".", *NOT_CODE], extra_env=env
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return hashing.content_id(hashing.hash_bytes(diff)) if diff else None


def code_state(repo: Repo) -> dict[str, Any]:
    """Commit, branch, and — when the code differs from the commit (tracked files
    changed, untracked files present) — a digest of the difference."""
    commit = git.head_commit(repo.root)
    branch = git.run(repo.root, ["branch", "--show-current"], check=False).strip() or None
    state: dict[str, Any] = {"commit": commit, "branch": branch}
    digest = _work_tree_digest(repo, commit, untracked_code(repo))
    state["dirty"] = digest is not None
    if digest:
        state["diff"] = digest
    return state


def committed_as(repo: Repo, code: Any) -> str | None:
    """For a run on uncommitted code: the commit that holds exactly the code it ran
    (its changes committed as they were), searching the commits after its own on
    HEAD's first-parent line; None when none does (or the run was clean)."""
    if not isinstance(code, dict) or not code.get("dirty") or not code.get("diff"):
        return None
    head = git.head_commit(repo.root)
    if head is None:
        return None
    commit = code.get("commit")
    if commit is not None and (not isinstance(commit, str) or not _COMMIT.fullmatch(commit)):
        return None
    base = commit if isinstance(commit, str) else None
    # Oldest first (before the first commit: from the root): the first commit after the
    # run is where its changes usually land.
    span = f"{base}..{head}" if base else head
    out = git.run(repo.root, ["rev-list", "--first-parent", "--reverse", span], check=False)
    for candidate in out.split()[:SEARCH_COMMITS]:
        if code_diff_digest(repo, base, candidate) == code["diff"]:
            return candidate
    return None


def ran_at(repo: Repo, code: Any) -> tuple[str | None, bool]:
    """(the commit holding the code a run ran, whether no commit holds it): a run on
    uncommitted or untracked code that was then committed as it was ran at that commit,
    and is no longer shown as dirty."""
    if not isinstance(code, dict):
        return None, False
    commit = code.get("commit")
    # Only a full object id reaches git: a record is another person's text, and a
    # "commit" such as --output=FILE would be an option.
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        commit = None
    if not code.get("dirty"):
        return commit, False
    later = committed_as(repo, code)
    return (later, False) if later else (commit, True)

"""The code state of a run: commit, branch, and a digest of uncommitted code changes."""

from __future__ import annotations

from typing import Any

from gitrelstate import git, hashing
from gitrelstate.repo import STATE_DIR, Repo
from gitrelstate.state.pointer import SUFFIX

# State files (records, pointers, the .gitignore entries track writes) are not
# code: they are what gitrelstate itself writes around a run.
NOT_CODE = (
    f":(exclude){STATE_DIR}",
    f":(exclude,glob)**/*{SUFFIX}",
    ":(exclude,glob)**/.gitignore",
)


def code_diff_digest(repo: Repo, *revs: str) -> str | None:
    """Digest of ``git diff REVS`` over code files (None when there is no difference)."""
    diff = git.run_bytes(repo.root, ["diff", *revs, "--binary", "--", ".", *NOT_CODE])
    return hashing.content_id(hashing.hash_bytes(diff)) if diff else None


def code_state(repo: Repo) -> dict[str, Any]:
    """Commit, branch, and — when tracked code differs from it — a digest of the diff."""
    commit = git.head_commit(repo.root)
    branch = git.run(repo.root, ["branch", "--show-current"], check=False).strip() or None
    state: dict[str, Any] = {"commit": commit, "branch": branch}
    digest = code_diff_digest(repo, "HEAD") if commit else None
    state["dirty"] = digest is not None
    if digest:
        state["diff"] = digest
    return state

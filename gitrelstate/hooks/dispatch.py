"""Running a git hook: ``git relstate hook NAME ARGS...`` (what the installed shims call).

Each hook is a small function of the repository and git's arguments that returns the
exit code git sees (only pre-commit and pre-push can stop git).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.errors import NotARepoError, RelstateError
from gitrelstate.repo import Repo

# RELSTATE_SKIP_HOOKS=1 skips every gitrelstate hook; RELSTATE_SKIP_PUSH=1 only
# the upload in pre-push. RELSTATE_IN_HOOK is set while a hook runs, so git
# commands it starts (a notes push) never run the hooks again.
SKIP_HOOKS = "RELSTATE_SKIP_HOOKS"
SKIP_PUSH = "RELSTATE_SKIP_PUSH"
IN_HOOK = "RELSTATE_IN_HOOK"


def _err(line: str) -> None:
    ui.stderr(line)


def hook(cwd: Path, name: str, args: Sequence[str]) -> int:
    """Run the hook ``name`` with git's ``args``; the exit code is what git sees."""
    handler = HOOKS.get(name)
    if handler is None:
        raise RelstateError(
            f"unknown hook '{name}'", hint=f"gitrelstate has: {', '.join(sorted(HOOKS))}"
        )
    if os.environ.get(IN_HOOK) or os.environ.get(SKIP_HOOKS) == "1":
        return 0
    try:
        repo = Repo.discover(cwd)
    except NotARepoError:
        return 0  # a bare repository: nothing of ours to check
    with repo:
        if not repo.initialised:
            return 0
        os.environ[IN_HOOK] = "1"
        try:
            return handler(repo, args)
        finally:
            os.environ.pop(IN_HOOK, None)


def pre_commit(repo: Repo, args: Sequence[str]) -> int:
    from gitrelstate.hooks import precommit

    problems = precommit.check(repo)
    blocking = [p for p in problems if p.blocking]
    if blocking:
        _err(f"gitrelstate: {len(blocking)} problem(s) block this commit:")
    for line in precommit.summary_lines(problems):
        _err(line)
    if blocking:
        _err(
            "hint: fix them and commit again; 'git commit --no-verify' (or "
            f"{SKIP_HOOKS}=1) commits without gitrelstate's checks"
        )
        return 1
    return 0


def post_commit(repo: Repo, args: Sequence[str]) -> int:
    from gitrelstate.environment import envnotes

    # Too late to stop anything: on trouble, say so and let the commit stand.
    try:
        envnotes.record(repo, "HEAD")
    except RelstateError as exc:
        ui.warn(f"the environment of this commit was not recorded: {exc.message}")
    except Exception as exc:
        ui.warn(f"the environment of this commit was not recorded: {type(exc).__name__}: {exc}")
    return 0


def pre_push(repo: Repo, args: Sequence[str]) -> int:
    from gitrelstate.environment import envnotes
    from gitrelstate.hooks import prepush

    if os.environ.get(SKIP_PUSH) == "1":
        return 0
    git_remote = args[0] if args else os.environ.get("PRE_COMMIT_REMOTE_NAME") or None
    if os.environ.get("PRE_COMMIT") == "1":  # run by the pre-commit framework
        updates = prepush.updates_from_environment(os.environ)
    else:
        updates = prepush.parse_updates(sys.stdin.read())
    if not any(not u.deletes for u in updates):
        return 0
    try:
        tracked = prepush.data_to_push(repo, git_remote, updates)
        result = prepush.upload(repo, tracked)
    except RelstateError as exc:
        _err(f"error: gitrelstate could not upload the data of this push: {exc.message}")
        if exc.hint:
            _err(f"hint: {exc.hint}")
        _err(
            "hint: the push was stopped so that no commit reaches the remote without its "
            f"data; fix this and push again, or push without the upload: {SKIP_PUSH}=1 git push"
        )
        return 1
    if result is None:
        if tracked:
            ui.warn(
                f"no default data remote: the data of {len(tracked)} pointer(s) in this push "
                "was not uploaded"
            )
            _err("hint: set one with 'git relstate remote add NAME URL --default'")
    else:
        shown, sent, _ = result
        if sent:
            _err(f"gitrelstate: uploaded {sent} object(s) to {shown}")
    if git_remote and any(
        not u.deletes and not u.local_ref.startswith("refs/notes/") for u in updates
    ):
        try:
            envnotes.push_notes(repo, git_remote)
        except RelstateError as exc:
            ui.warn(exc.message)
            if exc.hint:
                _err(f"hint: {exc.hint}")
    return 0


def post_checkout(repo: Repo, args: Sequence[str]) -> int:
    # git passes: previous HEAD, new HEAD, 1 for a branch checkout (0: files only).
    if len(args) < 3 or args[2] != "1":
        return 0
    try:
        if not repo.config.post_checkout:
            return 0
        from gitrelstate.hooks.postcheckout import after_checkout

        after_checkout(repo, args[0], args[1])
    except RelstateError as exc:
        ui.warn(f"data not checked out after the branch switch: {exc.message}")
        if exc.hint:
            _err(f"hint: {exc.hint}")
    return 0


HOOKS: dict[str, Callable[[Repo, Sequence[str]], int]] = {
    "pre-commit": pre_commit,
    "post-commit": post_commit,
    "pre-push": pre_push,
    "post-checkout": post_checkout,
}

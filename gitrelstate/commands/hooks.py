"""``git relstate install|uninstall``, and ``git relstate hook NAME``: the git hooks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.hooks import dispatch, installing
from gitrelstate.repo import Repo


def install(cwd: Path, *, force: bool) -> int:
    with Repo.discover(cwd) as repo:
        where, report = installing.install(repo, force=force)
        initialised = repo.initialised
    if report.done:
        ui.echo(f"git hooks in {where}:")
        for line in report.done:
            ui.echo(f"  {line}")
    elif not report.problems:
        ui.echo(f"gitrelstate's git hooks are up to date in {where}")
    if report.problems:
        raise RelstateError(
            f"{len(report.problems)} hook(s) not installed in {where}:\n"
            + ui.bullets(report.problems),
            hint="see docs/hooks.md for how gitrelstate's hooks live beside others",
        )
    if not initialised:
        ui.echo("hint: the hooks do nothing until 'git relstate init'")
    return 0


def uninstall(cwd: Path) -> int:
    with Repo.discover(cwd) as repo:
        report = installing.uninstall(repo)
    for line in report.done:
        ui.echo(line)
    for problem in report.problems:
        ui.warn(problem)
    if not report.done and not report.problems:
        ui.echo("no gitrelstate hooks were installed")
    return 0


def hook(cwd: Path, name: str, args: Sequence[str]) -> int:
    """Run the hook ``name`` with git's ``args``; the exit code is what git sees."""
    return dispatch.hook(cwd, name, args)

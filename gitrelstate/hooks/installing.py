"""Installing gitrelstate's hook shims into a repository (and removing them)."""

from __future__ import annotations

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.hooks import shims
from gitrelstate.hooks.shims import HooksDir, Report
from gitrelstate.repo import Repo


def hooks_dir_for(repo: Repo, *, force: bool) -> HooksDir:
    """Where git runs this repository's hooks; refuses a shared core.hooksPath unless
    ``force``."""
    hooks_dir = shims.locate(repo.root, repo.common_dir)
    if hooks_dir.configured is not None and not hooks_dir.private and not force:
        raise RelstateError(
            f"core.hooksPath is set to {hooks_dir.configured!r}: git runs the hooks in that "
            "folder, which is shared beyond this clone (with other repositories, or "
            "committed with the project), so gitrelstate does not write into it by itself",
            hint="install there anyway with 'git relstate install --force' (hooks already "
            "there are chained, not replaced), or call 'git relstate hook NAME \"$@\"' "
            "from your own hooks (docs/hooks.md)",
        )
    return hooks_dir


def install(repo: Repo, *, force: bool) -> tuple[str, Report]:
    """Install (or upgrade) the shims, and rewrite an older textconv driver: (where, what
    was done)."""
    hooks_dir = hooks_dir_for(repo, force=force)
    report = shims.install(hooks_dir, force=force)
    if _refresh_textconv(repo):
        report.done.append("git diff driver (diff.relstate.textconv): updated")
    return hooks_dir.shown(repo.root), report


def _refresh_textconv(repo: Repo) -> bool:
    """An older gitrelstate's driver ran ``git-relstate`` from PATH or ``python -m
    gitrelstate`` (which imports a committed ``gitrelstate/``): upgrading means
    reinstalling, so ``install`` rewrites it too."""
    from gitrelstate import git
    from gitrelstate.diff import textconv

    configured = git.run(repo.root, ["config", "--local", "diff.relstate.textconv"], check=False)
    if not (repo.initialised or configured.strip()):
        return False
    return textconv.refresh_driver(repo)


def install_for_init(repo: Repo) -> None:
    """What ``init`` does about hooks: install them, and only warn when it cannot."""
    try:
        hooks_dir = hooks_dir_for(repo, force=False)
        report = shims.install(hooks_dir)
    except RelstateError as exc:
        ui.warn(f"git hooks not installed: {exc.message}")
        if exc.hint:
            ui.stderr(f"hint: {exc.hint}")
        return
    where = hooks_dir.shown(repo.root)
    if report.done and all(line.endswith(": installed") for line in report.done):
        ui.echo(f"Installed git hooks in {where} ({', '.join(shims.HOOKS)})")
    elif report.done:
        ui.echo(f"git hooks in {where}: {'; '.join(report.done)}")
    for problem in report.problems:
        ui.warn(problem)


def uninstall(repo: Repo) -> Report:
    """Remove the shims wherever git may run them, restoring chained hooks."""
    located = shims.locate(repo.root, repo.common_dir)
    default = shims.HooksDir(repo.common_dir / "hooks", None, True)
    return shims.uninstall([located, default])

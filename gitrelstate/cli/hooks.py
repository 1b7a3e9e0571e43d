"""Git integration and the demo: install, uninstall, hook, textconv, demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitrelstate.cli.app import cli, cwd


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), help="Build the demo here and keep it.")
def demo(keep: str | None) -> int:
    """Build a small example repository and walk through the main workflow."""
    from gitrelstate.commands.demo import demo as run

    return run(Path(keep) if keep else None)


# -- git hooks (gitrelstate.commands.hooks) -----------------------------------


@cli.command()
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Install into a core.hooksPath shared beyond this clone; replace newer shims.",
)
def install(force: bool) -> int:
    """Install the git hooks (pre-commit, post-commit, pre-push, post-checkout)."""
    from gitrelstate.commands.hooks import install as run

    return run(cwd(), force=force)


@cli.command()
def uninstall() -> int:
    """Remove the git hooks (restoring any hook they chained)."""
    from gitrelstate.commands.hooks import uninstall as run

    return run(cwd())


@cli.command(hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> int:
    """Called by the installed hook shims: git relstate hook NAME [ARGS...]."""
    from gitrelstate.commands.hooks import hook as run

    return run(cwd(), name, args)


# -- end of git hooks ------------------------------------------------------------


@cli.command(hidden=True)
@click.argument("path", type=click.Path(dir_okay=False))
def textconv(path: str) -> int:
    """git's textconv driver for state files (git diff shows them normalised)."""
    from gitrelstate.diff.textconv import textconv as run

    sys.stdout.write(run(Path(path)))
    return 0

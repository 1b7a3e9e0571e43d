"""The click group, global flags and what every command shares."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from gitrelstate import __version__, ui
from gitrelstate.errors import ComparisonTrouble, RelstateError
from gitrelstate.repo import Repo

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def cwd() -> Path:
    return Path(os.getcwd())


def print_error(exc: RelstateError) -> None:
    """``error:`` and ``hint:`` lines on stderr (escaped by ``ui``: messages quote names)."""
    ui.stderr(f"error: {exc.message}")
    if exc.hint:
        ui.stderr(f"hint: {exc.hint}")


def in_repo(run: Callable[[Repo], int], *, comparing: bool = False) -> int:
    """Run a command in the initialised repository around the current folder.

    A comparing command (diff(1) style) reports a repository it cannot open as trouble
    (exit 2), not as a user error (exit 1).
    """
    try:
        repo = Repo.open(cwd())
    except RelstateError as exc:
        if comparing:
            raise ComparisonTrouble(exc.message, exc.hint) from None
        raise
    with repo:
        return run(repo)


@click.group(context_settings=CONTEXT)
@click.version_option(
    __version__, "--version", prog_name="git-relstate", message="%(prog)s %(version)s"
)
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and requested output.")
@click.option(
    "-v", "--verbose", is_flag=True, help="More detail; tracebacks for unexpected errors."
)
@click.option("--no-progress", is_flag=True, help="Never show progress bars.")
def cli(quiet: bool, verbose: bool, no_progress: bool) -> None:
    """Record what ran: bind model, data, pipeline and environment to Git commits."""
    ui.settings.quiet = quiet
    ui.settings.verbose = verbose
    ui.settings.progress = not no_progress

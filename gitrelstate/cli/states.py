"""State commands: release, diff, reproduce, list, show."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitrelstate.cli import options
from gitrelstate.cli.app import cli, cwd, in_repo

if TYPE_CHECKING:
    from gitrelstate.runs.tolerance import Tolerance


@cli.command()
@click.argument("name")
@click.option(
    "--run", "runs", multiple=True, metavar="NAME", help="Bind this run (repeatable; default all)."
)
@click.option("--model", metavar="PATH|URI", help="The model: a tracked path or models:/NAME/VER.")
@click.option("-m", "--message", default="", help="Why this release.")
@click.option("--tag", is_flag=True, help="Also create the annotated git tag relstate/NAME.")
@click.option("--sign", is_flag=True, help="Sign that tag with your git signing setup.")
@click.option("--allow-dirty", is_flag=True, help="Release uncommitted code (recorded as dirty).")
def release(
    name: str,
    runs: tuple[str, ...],
    model: str | None,
    message: str,
    tag: bool,
    sign: bool,
    allow_dirty: bool,
) -> int:
    """Fix the current state as the immutable release NAME (.relstate/releases/NAME.yaml)."""
    from gitrelstate.commands.release import release as run

    return in_repo(
        lambda repo: run(
            repo,
            cwd(),
            name,
            runs=runs,
            model=model,
            message=message,
            allow_dirty=allow_dirty,
            tag=tag,
            sign=sign,
        )
    )


@cli.command()
@click.argument("release", required=False)
@click.argument("alias", required=False)
@click.option("--history", is_flag=True, help="The moves of ALIAS (or of every alias) from Git.")
@click.option("--json", "as_json", is_flag=True, help="--history as JSON.")
def promote(release: str | None, alias: str | None, history: bool, as_json: bool) -> int:
    """Point ALIAS (e.g. production) at RELEASE, in the committed .relstate/aliases.yaml.

    \b
    git relstate promote v2 production     # then commit it: the PR shows the move
    git relstate promote --history production
    """
    from gitrelstate.commands import promote as run

    if history:
        if alias is not None:
            raise click.UsageError("--history takes at most one ALIAS")
        return in_repo(lambda repo: run.history(repo, release, as_json=as_json))
    if release is None or alias is None or as_json:
        raise click.UsageError("give RELEASE and ALIAS (or --history [ALIAS])")
    return in_repo(lambda repo: run.promote(repo, release, alias))


@cli.command()
@click.argument("refs", nargs=-1, metavar="[A [B]]")
@click.option("--json", "as_json", is_flag=True, help="The full comparison as JSON.")
@click.option("--md", "markdown", is_flag=True, help="GitHub Markdown (for a PR comment).")
@click.option(
    "--layer",
    "layers",
    multiple=True,
    type=click.Choice(["model", "metrics", "data", "pipeline", "environment", "code"]),
    help="Compare only this layer (repeatable).",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything changed (2 on trouble).")
@click.option("--stat", is_flag=True, help="Only a summary line per layer.")
def diff(
    refs: tuple[str, ...],
    as_json: bool,
    markdown: bool,
    layers: tuple[str, ...],
    exit_code: bool,
    stat: bool,
) -> int:
    """Compare two states layer by layer (A/B: release, alias, run, git revision; B: work tree).

    With no argument, compares HEAD's state with the work tree.
    """
    from gitrelstate.commands.diff import diff as run

    if as_json and markdown:
        raise click.UsageError("choose one of --json and --md")
    return in_repo(
        lambda repo: run(
            repo,
            refs,
            as_json=as_json,
            markdown=markdown,
            layers=layers,
            exit_code=exit_code,
            stat=stat,
        ),
        comparing=True,
    )


@cli.command()
@click.argument("ref")
@click.option("--run", "run_name", metavar="NAME", help="Re-run only this stage (inputs restored).")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    help="Make the worktree here (new or empty folder; default: a temp folder).",
)
@click.option("--keep", is_flag=True, help="Keep the worktree afterwards.")
@click.option("--strict-env", is_flag=True, help="Stop (exit 1) when the environment differs.")
@click.option(
    "--fetch/--no-fetch", default=True, help="Fetch missing objects from the remote (default)."
)
@click.option(
    "-r",
    "--remote",
    "remote_name",
    metavar="NAME",
    help="Remote to fetch from (default: the default).",
)
@click.option("-j", "--jobs", type=click.IntRange(1, 256), help="Parallel transfers.")
@click.option(
    "--tolerance",
    metavar="REL[,ABS]",
    callback=options.tolerance,
    help="Compare JSON/YAML/CSV outputs numerically within this (default: each stage's "
    "recorded tolerance, else byte for byte).",
)
@click.option("--json", "as_json", is_flag=True, help="The reproduction report as JSON.")
def reproduce(
    ref: str,
    run_name: str | None,
    workdir: str | None,
    keep: bool,
    strict_env: bool,
    fetch: bool,
    remote_name: str | None,
    jobs: int | None,
    tolerance: Tolerance | None,
    as_json: bool,
) -> int:
    """Re-run a release, alias, run or revision at its commit with its data; compare outputs.

    Exit 0 identical or within-tolerance, 1 differs (or --strict-env stopped it), 2 failed.
    """
    from gitrelstate.commands.reproduce import reproduce_command as run
    from gitrelstate.reproduce.engine import Request

    request = Request(
        ref=ref,
        run=run_name,
        workdir=Path(workdir) if workdir else None,
        keep=keep,
        strict_env=strict_env,
        fetch=fetch,
        remote=remote_name,
        jobs=jobs,
        tolerance=tolerance,
    )
    return in_repo(lambda repo: run(repo, request, as_json=as_json), comparing=True)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> int:
    """List releases, aliases and recorded runs (newest first)."""
    from gitrelstate.commands.show import list_states as run

    return in_repo(lambda repo: run(repo, as_json=as_json))


@cli.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the audit export).")
def show(ref: str, as_json: bool) -> int:
    """Show one state in full: a release, an alias, a run, or the latest run at a revision."""
    from gitrelstate.commands.show import show_state as run

    return in_repo(lambda repo: run(repo, ref, as_json=as_json))

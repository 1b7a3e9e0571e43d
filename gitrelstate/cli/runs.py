"""Run commands: run, trace, env."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gitrelstate.cli import options
from gitrelstate.cli.app import cli, cwd, in_repo

if TYPE_CHECKING:
    from gitrelstate.runs.tolerance import Tolerance


@cli.command("run")
@click.option("-n", "--name", help="Name of the stage (its record: .relstate/runs/NAME.yaml).")
@click.option("-d", "--dep", "deps", multiple=True, metavar="PATH", help="Dependency (repeatable).")
@click.option("-o", "--out", "outs", multiple=True, metavar="PATH", help="Output (repeatable).")
@click.option("-m", "--metrics", multiple=True, metavar="FILE", help="Metrics file (an output).")
@click.option(
    "--out-git", "git_outs", multiple=True, metavar="PATH", help="Output kept in Git (no pointer)."
)
@click.option(
    "--metrics-git", "git_metrics", multiple=True, metavar="FILE", help="Metrics file kept in Git."
)
@click.option("-p", "--params", multiple=True, metavar="FILE[:KEY,...]", help="Params by value.")
@click.option("-e", "--env", "variables", multiple=True, metavar="VAR", help="Also capture VAR.")
@click.option("--wdir", metavar="DIR", help="Working folder of the command.")
@click.option(
    "--tolerance",
    metavar="REL[,ABS]",
    callback=options.tolerance,
    help="Let reproduce compare JSON/YAML/CSV outputs within this (recorded).",
)
@click.option(
    "--drop",
    multiple=True,
    metavar="PATH|FILE:KEY|VAR",
    help="With 'run NAME': remove a dependency, output, params key or variable.",
)
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Replace a stage defined differently; run even when a stage upstream is stale.",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_command(
    name: str | None,
    deps: tuple[str, ...],
    outs: tuple[str, ...],
    metrics: tuple[str, ...],
    git_outs: tuple[str, ...],
    git_metrics: tuple[str, ...],
    params: tuple[str, ...],
    variables: tuple[str, ...],
    wdir: str | None,
    tolerance: Tolerance | None,
    drop: tuple[str, ...],
    force: bool,
    args: tuple[str, ...],
) -> int:
    """Run CMD (after --) and record what ran; 'run NAME' re-runs a recorded stage.

    'run NAME [OPTIONS] [-- CMD]' changes one thing of a recorded stage and runs it:
    options add to it, --drop removes, a command after -- replaces its command.
    """
    from gitrelstate.commands import run as runmod
    from gitrelstate.runs.define import Changes

    if name is None:
        if not args:
            raise click.UsageError("give -n NAME and the command after '--', or a stage name")
        changes = Changes(
            command=args[1:],
            deps=deps,
            outs=outs,
            metrics=metrics,
            params=params,
            variables=variables,
            git_outs=git_outs,
            git_metrics=git_metrics,
            drop=drop,
            wdir=wdir,
            tolerance=tolerance,
        )
        return in_repo(lambda repo: runmod.rerun(repo, cwd(), args[0], changes, force=force))
    if drop:
        raise click.UsageError("--drop changes a recorded stage: git relstate run NAME --drop PATH")
    return in_repo(
        lambda repo: runmod.run_stage(
            repo,
            cwd(),
            name,
            args,
            deps=deps,
            outs=outs,
            metrics=metrics,
            params=params,
            variables=variables,
            wdir=wdir,
            tolerance=tolerance,
            git_outs=git_outs,
            git_metrics=git_metrics,
            force=force,
        )
    )


@cli.group()
def env() -> None:
    """The environment a run was recorded in, and the live one against it."""


@env.command("show")
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def env_show(ref: str | None, as_json: bool) -> int:
    """Print the environment recorded by a release, an alias, a run or at a git revision."""
    from gitrelstate.commands.env import env_show as run

    return in_repo(lambda repo: run(repo, ref, as_json=as_json))


@env.command("check")
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def env_check(ref: str | None, as_json: bool) -> int:
    """Compare the live environment with a recorded one (release, alias, run, revision).

    Exit 0 same, 1 differs, 2 trouble.
    """
    from gitrelstate.commands.env import env_check as run

    return in_repo(lambda repo: run(repo, ref, as_json=as_json), comparing=True)


@cli.command()
@click.argument("target", metavar="PATH|HASH")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def trace(target: str, as_json: bool) -> int:
    """Which run or release produced this output (searches all of history).

    PATH may be a file inside an output folder; HASH may be any unique prefix of 8 or
    more hex digits, with or without 'blake3:'.
    """
    from gitrelstate.commands.trace import trace as run

    return in_repo(lambda repo: run(repo, cwd(), target, as_json=as_json))

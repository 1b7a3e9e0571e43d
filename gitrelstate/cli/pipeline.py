"""Pipeline commands: repro, dag, remove, untrack, import-dvc."""

from __future__ import annotations

import click

from gitrelstate.cli.app import cli, cwd, in_repo


@cli.command()
@click.argument("stages", nargs=-1, metavar="[STAGE]...")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Run up to N independent stages at once.",
)
@click.option("--dry", is_flag=True, help="Print the plan in order; run nothing.")
@click.option("-f", "--force", is_flag=True, help="Run every planned stage, stale or not.")
@click.option(
    "--no-run-cache",
    is_flag=True,
    help="Run stale stages even when a run with the same inputs was seen before.",
)
def repro(stages: tuple[str, ...], jobs: int, dry: bool, force: bool, no_run_cache: bool) -> int:
    """Bring recorded stages up to date in dependency order: only stale ones run.

    With STAGE, that stage and everything upstream of it (nothing downstream). A stage
    whose inputs match an earlier run gets that run's outputs from the run cache.
    """
    from gitrelstate.commands.repro import repro as run

    return in_repo(
        lambda repo: run(repo, stages, jobs=jobs, dry=dry, force=force, run_cache=not no_run_cache)
    )


@cli.command()
@click.argument("stages", nargs=-1, metavar="[STAGE]...")
@click.option("--mermaid", "fmt", flag_value="mermaid", help="A Mermaid flowchart.")
@click.option("--dot", "fmt", flag_value="dot", help="Graphviz DOT.")
def dag(stages: tuple[str, ...], fmt: str | None) -> int:
    """Show the stage graph: which stage reads what another makes (upstream first)."""
    from gitrelstate.commands.dag import dag as run

    return in_repo(lambda repo: run(repo, stages, fmt=fmt or "text"))


@cli.command()
@click.argument("stages", nargs=-1, required=True, metavar="STAGE...")
@click.option("--outs", is_flag=True, help="Also untrack the stages' outputs (data stays).")
def remove(stages: tuple[str, ...], outs: bool) -> int:
    """Remove stages (their records); their outputs stay tracked unless --outs."""
    from gitrelstate.commands.remove import remove as run

    return in_repo(lambda repo: run(repo, stages, outs=outs))


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
def untrack(paths: tuple[str, ...]) -> int:
    """Stop tracking data: its pointer and .gitignore entry go, the data stays on disk."""
    from gitrelstate.commands.untrack import untrack as run

    return in_repo(lambda repo: run(repo, cwd(), paths))


@cli.command("import-dvc")
@click.argument("path", required=False, metavar="[PATH]")
def import_dvc(path: str | None) -> int:
    """Turn a DVC project's dvc.yaml, dvc.lock and .dvc files into stages and pointers.

    Nothing runs; DVC's files are left as they are. PATH: the folder to import
    (default: the whole repository).
    """
    from gitrelstate.commands.import_dvc import import_dvc as run

    return in_repo(lambda repo: run(repo, cwd(), path))

"""Data commands: init, track, status, checkout, remotes, push/fetch/pull, verify, gc."""

from __future__ import annotations

from typing import Any

import click

from gitrelstate.cli.app import cli, cwd, in_repo


@cli.command()
@click.option("--no-hooks", is_flag=True, help="Do not install git hooks.")
def init(no_hooks: bool) -> int:
    """Set up .relstate/ in this Git repository (idempotent)."""
    from gitrelstate.commands.init import init as run

    return run(cwd(), no_hooks=no_hooks)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
def track(paths: tuple[str, ...]) -> int:
    """Store files or folders in the cache and write their data pointers."""
    from gitrelstate.commands.track import track as run

    return in_repo(lambda repo: run(repo, cwd(), paths))


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything differs.")
@click.option("-r", "--remote", "remote_name", help="Also report objects this remote lacks.")
def status(paths: tuple[str, ...], as_json: bool, exit_code: bool, remote_name: str | None) -> int:
    """Show how tracked data in the work tree differs from its pointers."""
    from gitrelstate.commands.status import status as run

    return in_repo(
        lambda repo: run(
            repo, cwd(), paths, as_json=as_json, exit_code=exit_code, remote_name=remote_name
        )
    )


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Discard local changes not saved in the cache.")
@click.option("--release", "release_name", metavar="NAME", help="The data state of this release.")
@click.option("--run", "run_name", metavar="NAME", help="The data this recorded run used and made.")
def checkout(
    paths: tuple[str, ...], force: bool, release_name: str | None, run_name: str | None
) -> int:
    """Make the work tree's data match the pointers (or a release's / a run's recorded data)."""
    from gitrelstate.commands.checkout import checkout as run

    if release_name and run_name:
        raise click.UsageError("choose one of --release and --run")
    return in_repo(
        lambda repo: run(repo, cwd(), paths, force=force, release=release_name, run=run_name)
    )


@cli.group()
def remote() -> None:
    """Manage remotes (fsspec URLs: folders, s3://, gs://, ...)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("-d", "--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="fsspec storage option (repeatable).",
)
@click.option("--local", is_flag=True, help="Write to config.local.yaml (git-ignored).")
@click.option("-f", "--force", is_flag=True, help="Replace an existing remote of that name.")
@click.option(
    "--client",
    type=click.Choice(["auto", "obstore", "fsspec"]),
    help="Library that moves the bytes (default auto: obstore for S3 where it can).",
)
def remote_add(
    name: str,
    url: str,
    make_default: bool,
    options: tuple[str, ...],
    local: bool,
    force: bool,
    client: str | None,
) -> int:
    """Add a remote."""
    from gitrelstate.commands.remote import remote_add as run

    return in_repo(
        lambda repo: run(
            repo, name, url, options, default=make_default, local=local, force=force, client=client
        )
    )


@remote.command("list")
def remote_list() -> int:
    """List remotes (* marks the default)."""
    from gitrelstate.commands.remote import remote_list as run

    return in_repo(lambda repo: run(repo))


@remote.command("remove")
@click.argument("name")
def remote_remove(name: str) -> int:
    """Remove a remote."""
    from gitrelstate.commands.remote import remote_remove as run

    return in_repo(lambda repo: run(repo, name))


@remote.command("default")
@click.argument("name")
@click.option("--local", is_flag=True, help="Set it only on this machine.")
def remote_default(name: str, local: bool) -> int:
    """Set the default remote."""
    from gitrelstate.commands.remote import remote_default as run

    return in_repo(lambda repo: run(repo, name, local=local))


def _transfer_options(func: Any) -> Any:
    func = click.option(
        "--release",
        "release_names",
        multiple=True,
        metavar="NAME",
        help="Only the data this release binds (repeatable).",
    )(func)
    func = click.option(
        "--run",
        "runs",
        multiple=True,
        metavar="NAME",
        help="Only the data this recorded run used and made (repeatable).",
    )(func)
    func = click.option("-j", "--jobs", type=click.IntRange(1, 256), help="Parallel transfers.")(
        func
    )
    func = click.option(
        "-r", "--remote", "remote_name", help="Remote name (default: the default remote)."
    )(func)
    return click.argument("paths", nargs=-1)(func)


@cli.command()
@_transfer_options
def push(
    paths: tuple[str, ...],
    remote_name: str | None,
    jobs: int | None,
    runs: tuple[str, ...],
    release_names: tuple[str, ...],
) -> int:
    """Upload objects the remote is missing."""
    from gitrelstate.commands.sync import push as run

    return in_repo(lambda repo: run(repo, cwd(), paths, remote_name, jobs, runs, release_names))


@cli.command()
@_transfer_options
def fetch(
    paths: tuple[str, ...],
    remote_name: str | None,
    jobs: int | None,
    runs: tuple[str, ...],
    release_names: tuple[str, ...],
) -> int:
    """Download objects the cache is missing (verified by hash)."""
    from gitrelstate.commands.sync import fetch as run

    return in_repo(lambda repo: run(repo, cwd(), paths, remote_name, jobs, runs, release_names))


@cli.command()
@_transfer_options
@click.option("-f", "--force", is_flag=True, help="Discard local changes not saved in the cache.")
def pull(
    paths: tuple[str, ...],
    remote_name: str | None,
    jobs: int | None,
    runs: tuple[str, ...],
    release_names: tuple[str, ...],
    force: bool,
) -> int:
    """Fetch, then check out."""
    from gitrelstate.commands.sync import pull as run

    return in_repo(
        lambda repo: run(
            repo,
            cwd(),
            paths,
            remote_name,
            jobs,
            force=force,
            runs=runs,
            release_names=release_names,
        )
    )


@cli.command()
@click.option("-r", "--remote", "remote_name", help="Check this remote instead of the cache.")
@click.option("--all-refs", is_flag=True, help="Every branch and tag, not just HEAD.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), help="Parallel checks.")
def verify(remote_name: str | None, all_refs: bool, jobs: int | None) -> int:
    """Check that every referenced object exists and re-hashes correctly."""
    from gitrelstate.commands.verify import verify as run

    return in_repo(lambda repo: run(repo, remote_name=remote_name, all_refs=all_refs, jobs=jobs))


@cli.command()
@click.option("-n", "--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("-r", "--remote", "remote_name", help="Collect garbage on this remote instead.")
@click.option("-f", "--force", is_flag=True, help="Required with --remote.")
def gc(dry_run: bool, remote_name: str | None, force: bool) -> int:
    """Remove objects no branch, tag, release or work-tree pointer references."""
    from gitrelstate.commands.gc import gc as run

    return in_repo(lambda repo: run(repo, dry_run=dry_run, remote_name=remote_name, force=force))

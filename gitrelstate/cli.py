"""The command line: click decorators only; every command delegates to ``commands/``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from gitrelstate import __version__, ui
from gitrelstate.errors import RelstateError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _cwd() -> Path:
    return Path(os.getcwd())


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


@cli.command()
@click.option("--no-hooks", is_flag=True, help="Do not install git hooks.")
def init(no_hooks: bool) -> int:
    """Set up .relstate/ in this Git repository (idempotent)."""
    from gitrelstate.commands.init import init as run

    return run(_cwd(), no_hooks=no_hooks)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
def track(paths: tuple[str, ...]) -> int:
    """Store files or folders in the cache and write their data pointers."""
    from gitrelstate.commands.track import track as run

    return run(_cwd(), paths)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything differs.")
@click.option("-r", "--remote", "remote_name", help="Also report objects this remote lacks.")
def status(paths: tuple[str, ...], as_json: bool, exit_code: bool, remote_name: str | None) -> int:
    """Show how tracked data in the work tree differs from its pointers."""
    from gitrelstate.commands.status import status as run

    return run(_cwd(), paths, as_json=as_json, exit_code=exit_code, remote_name=remote_name)


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
    return run(_cwd(), paths, force=force, release=release_name, run=run_name)


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

    return run(
        _cwd(), name, url, options, default=make_default, local=local, force=force, client=client
    )


@remote.command("list")
def remote_list() -> int:
    """List remotes (* marks the default)."""
    from gitrelstate.commands.remote import remote_list as run

    return run(_cwd())


@remote.command("remove")
@click.argument("name")
def remote_remove(name: str) -> int:
    """Remove a remote."""
    from gitrelstate.commands.remote import remote_remove as run

    return run(_cwd(), name)


@remote.command("default")
@click.argument("name")
@click.option("--local", is_flag=True, help="Set it only on this machine.")
def remote_default(name: str, local: bool) -> int:
    """Set the default remote."""
    from gitrelstate.commands.remote import remote_default as run

    return run(_cwd(), name, local=local)


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

    return run(_cwd(), paths, remote_name, jobs, runs, release_names)


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

    return run(_cwd(), paths, remote_name, jobs, runs, release_names)


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

    return run(
        _cwd(), paths, remote_name, jobs, force=force, runs=runs, release_names=release_names
    )


@cli.command("run")
@click.option("-n", "--name", help="Name of the stage (its record: .relstate/runs/NAME.yaml).")
@click.option("-d", "--dep", "deps", multiple=True, metavar="PATH", help="Dependency (repeatable).")
@click.option("-o", "--out", "outs", multiple=True, metavar="PATH", help="Output (repeatable).")
@click.option("-m", "--metrics", multiple=True, metavar="FILE", help="Metrics file (an output).")
@click.option("-p", "--params", multiple=True, metavar="FILE[:KEY,...]", help="Params by value.")
@click.option("-e", "--env", "variables", multiple=True, metavar="VAR", help="Also capture VAR.")
@click.option("--wdir", metavar="DIR", help="Working folder of the command.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_command(
    name: str | None,
    deps: tuple[str, ...],
    outs: tuple[str, ...],
    metrics: tuple[str, ...],
    params: tuple[str, ...],
    variables: tuple[str, ...],
    wdir: str | None,
    args: tuple[str, ...],
) -> int:
    """Run CMD (after --) and record what ran; 'run NAME' re-runs a recorded stage."""
    from gitrelstate.commands import run as runmod

    if name is None:
        if len(args) != 1 or deps or outs or metrics or params or variables or wdir:
            raise click.UsageError("give -n NAME and the command after '--', or just a stage name")
        return runmod.rerun(_cwd(), args[0])
    return runmod.run_stage(
        _cwd(),
        name,
        args,
        deps=deps,
        outs=outs,
        metrics=metrics,
        params=params,
        variables=variables,
        wdir=wdir,
    )


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

    return run(
        _cwd(),
        name,
        runs=runs,
        model=model,
        message=message,
        allow_dirty=allow_dirty,
        tag=tag,
        sign=sign,
    )


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
    """Compare two states layer by layer (A/B: release, run, git revision; B default: work tree).

    With no argument, compares HEAD's state with the work tree.
    """
    from gitrelstate.commands.diff import diff as run

    if as_json and markdown:
        raise click.UsageError("choose one of --json and --md")
    return run(
        _cwd(),
        refs,
        as_json=as_json,
        markdown=markdown,
        layers=layers,
        exit_code=exit_code,
        stat=stat,
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
    as_json: bool,
) -> int:
    """Re-run a release, run or revision at its commit with its data; compare the outputs.

    Exit 0 identical, 1 differs (or --strict-env stopped it), 2 failed.
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
    )
    return run(_cwd(), request, as_json=as_json)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> int:
    """List releases and recorded runs (newest first)."""
    from gitrelstate.commands.show import list_states as run

    return run(_cwd(), as_json=as_json)


@cli.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the audit export).")
def show(ref: str, as_json: bool) -> int:
    """Show one state in full: a release, a run, or the latest run at a git revision."""
    from gitrelstate.commands.show import show_state as run

    return run(_cwd(), ref, as_json=as_json)


@cli.group()
def env() -> None:
    """The environment a run was recorded in, and the live one against it."""


@env.command("show")
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def env_show(ref: str | None, as_json: bool) -> int:
    """Print the environment recorded by a run (name) or at a git revision."""
    from gitrelstate.commands.env import env_show as run

    return run(_cwd(), ref, as_json=as_json)


@env.command("check")
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def env_check(ref: str | None, as_json: bool) -> int:
    """Compare the live environment with a recorded one (exit 0 same, 1 differs, 2 trouble)."""
    from gitrelstate.commands.env import env_check as run

    return run(_cwd(), ref, as_json=as_json)


@cli.command()
@click.argument("target", metavar="PATH|HASH")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def trace(target: str, as_json: bool) -> int:
    """Which run or release produced this output (searches all of history)."""
    from gitrelstate.commands.trace import trace as run

    return run(_cwd(), target, as_json=as_json)


@cli.command()
@click.option("-r", "--remote", "remote_name", help="Check this remote instead of the cache.")
@click.option("--all-refs", is_flag=True, help="Every branch and tag, not just HEAD.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), help="Parallel checks.")
def verify(remote_name: str | None, all_refs: bool, jobs: int | None) -> int:
    """Check that every referenced object exists and re-hashes correctly."""
    from gitrelstate.commands.verify import verify as run

    return run(_cwd(), remote_name=remote_name, all_refs=all_refs, jobs=jobs)


@cli.command()
@click.option("-n", "--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("-r", "--remote", "remote_name", help="Collect garbage on this remote instead.")
@click.option("-f", "--force", is_flag=True, help="Required with --remote.")
def gc(dry_run: bool, remote_name: str | None, force: bool) -> int:
    """Remove objects no branch, tag, release or work-tree pointer references."""
    from gitrelstate.commands.gc import gc as run

    return run(_cwd(), dry_run=dry_run, remote_name=remote_name, force=force)


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

    return run(_cwd(), force=force)


@cli.command()
def uninstall() -> int:
    """Remove the git hooks (restoring any hook they chained)."""
    from gitrelstate.commands.hooks import uninstall as run

    return run(_cwd())


@cli.command(hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> int:
    """Called by the installed hook shims: git relstate hook NAME [ARGS...]."""
    from gitrelstate.commands.hooks import hook as run

    return run(_cwd(), name, args)


# -- end of git hooks ------------------------------------------------------------


@cli.command(hidden=True)
@click.argument("path", type=click.Path(dir_okay=False))
def textconv(path: str) -> int:
    """git's textconv driver for state files (git diff shows them normalised)."""
    from gitrelstate.diff.textconv import textconv as run

    sys.stdout.write(run(Path(path)))
    return 0


def _print_error(exc: RelstateError) -> None:
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)


GLOBAL_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose", "--no-progress"})


def hoist_global_flags(args: list[str]) -> list[str]:
    """Accept global flags anywhere (``git relstate track -q x``), except after ``--``."""
    try:
        end = args.index("--")
    except ValueError:
        end = len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    rest = [a for a in args[:end] if a not in GLOBAL_FLAGS]
    return flags + rest + args[end:]


def _crash(exc: BaseException, args: list[str]) -> int:
    """An unexpected error: one line (the traceback with -v), exit 3."""
    if ui.settings.verbose or "-v" in args or "--verbose" in args:
        import traceback

        traceback.print_exception(exc)
    print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
    print(
        "hint: this is a bug in gitrelstate; rerun with -v and report the traceback",
        file=sys.stderr,
    )
    return 3


def main(argv: list[str] | None = None) -> None:
    """Entry point: map errors to exit codes (1 user error, 2 usage, 3 crash, 130 Ctrl-C)."""
    args = hoist_global_flags(sys.argv[1:] if argv is None else list(argv))
    try:
        code = cli.main(args=args, prog_name="git relstate", standalone_mode=False)
    except RelstateError as exc:
        _print_error(exc)
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = 2 if isinstance(exc, click.UsageError) else exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:
        code = 1
    except OSError as exc:
        # A full disk (or quota, or read-only file system) anywhere is the user's to
        # fix, not a bug; every writer leaves nothing half-written behind.
        from gitrelstate.fsutil import storage_error

        storage = storage_error(exc)
        if storage is None:
            code = _crash(exc, args)
        else:
            _print_error(storage)
            code = storage.exit_code
    except Exception as exc:  # the last line of defence: no tracebacks for users
        code = _crash(exc, args)
    final = code if isinstance(code, int) else 0
    if argv is None and "obstore" in sys.modules:  # the real entry point, not a test
        # obstore's Rust runtime can abort the interpreter while it shuts down
        # after large multipart uploads (SIGABRT after a successful push). All our
        # files and databases are closed by now, so leave without finalisation.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(final)
    sys.stdout.flush()
    sys.exit(final)

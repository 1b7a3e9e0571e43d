"""Entry point: every command module registers itself on the group; errors become exit
codes here."""

from __future__ import annotations

import io
import os
import sys

import click

from gitrelstate import ui
from gitrelstate.cli import data, exports, hooks, runs, states
from gitrelstate.cli import pipeline as _pipeline  # noqa: F401 (registers repro, dag, ...)
from gitrelstate.cli.app import cli, print_error
from gitrelstate.errors import RelstateError

COMMAND_MODULES = (data, runs, states, hooks, exports)  # imported for their @cli.command()s

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

        ui.stderr("".join(traceback.format_exception(exc)).rstrip("\n"))
    ui.stderr(f"error: unexpected {type(exc).__name__}: {exc}")
    ui.stderr("hint: this is a bug in gitrelstate; rerun with -v and report the traceback")
    return 3


def _show_click_error(exc: click.ClickException) -> None:
    """click's own message (usage, bad parameter), escaped like every other: it quotes
    the arguments, which a script may have taken from a repository."""
    text = io.StringIO()
    exc.show(file=text)
    ui.stderr(text.getvalue().rstrip("\n"))


def main(argv: list[str] | None = None) -> None:
    """Entry point: map errors to exit codes (1 user error, 2 usage, 3 crash, 130 Ctrl-C)."""
    args = hoist_global_flags(sys.argv[1:] if argv is None else list(argv))
    try:
        code = cli.main(args=args, prog_name="git relstate", standalone_mode=False)
    except RelstateError as exc:
        print_error(exc)
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        _show_click_error(exc)
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
            print_error(storage)
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

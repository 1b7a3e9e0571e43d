"""Trusted executables: what gitrelstate runs is chosen by the user, never by a repository.

A repository, a remote or a pull request can carry files named ``git``,
``python3`` or ``gitrelstate/__main__.py``. Three rules keep them from running:

- :func:`which` looks programs up in *absolute* PATH entries only. An empty or
  relative entry means "the current folder", which for gitrelstate, git hooks and
  git's textconv drivers is the work tree.
- :func:`cli_argv` starts gitrelstate's own CLI (the textconv driver, the hook
  shims) through an absolute interpreter path with an import path that holds no
  work-tree folder: ``-I`` (isolated mode) where this installation imports that
  way, and in every case a bootstrap that keeps only absolute ``sys.path``
  entries. Never ``python -m gitrelstate``, which puts the current folder first.
- an interpreter found is run with its current folder at the file system root
  (:data:`NEUTRAL_CWD`), so nothing relative resolves into the work tree.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence

# The exit status of the CLI bootstrap when the interpreter cannot import gitrelstate
# (uninstalled, another version half-removed): "cannot run", never a verdict.
UNAVAILABLE = 97
# Keep only absolute sys.path entries ('' and relative PYTHONPATH entries are the
# current folder), then run the CLI with the arguments after -c's code.
CLI_BOOTSTRAP = (
    "import os, sys\n"
    "sys.path[:] = [p for p in sys.path if os.path.isabs(p)]\n"
    "try:\n"
    "    from gitrelstate.cli import main\n"
    "except Exception:\n"
    f"    sys.exit({UNAVAILABLE})\n"
    "main()"
)
NEUTRAL_CWD = os.path.abspath(os.sep)
_PROBE_TIMEOUT = 30.0


def which(name: str, path: str | None = None) -> str | None:
    """``shutil.which`` over the absolute entries of PATH only; None when not found.

    A name with a slash is never looked up (it is a path, relative to whatever the
    current folder is). Returns an absolute path.
    """
    if not name or os.sep in name or (os.altsep and os.altsep in name):
        return None
    entries = (os.environ.get("PATH", os.defpath) if path is None else path).split(os.pathsep)
    safe = os.pathsep.join(e for e in entries if os.path.isabs(e))
    if not safe:
        return None
    found = shutil.which(name, path=safe)
    return os.path.abspath(found) if found else None


def resolve_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with a bare program name replaced by its absolute path from :func:`which`
    (this process's PATH, not the child's: a record can restore PATH); raises
    :class:`FileNotFoundError` when it is not there, rather than let ``exec`` search
    an empty or relative PATH entry, which is the current folder."""
    if not argv:
        raise FileNotFoundError("empty command")
    first = argv[0]
    if os.sep in first or (os.altsep and os.altsep in first):
        return list(argv)
    found = which(first)
    if found is None:
        raise FileNotFoundError(first)
    return [found, *argv[1:]]


def path_dirs() -> list[str]:
    """The absolute folders of PATH, the active virtual environment's and this
    interpreter's own: where an interpreter the user chose may live."""
    dirs = [e for e in os.environ.get("PATH", os.defpath).split(os.pathsep) if os.path.isabs(e)]
    venv = os.environ.get("VIRTUAL_ENV", "")
    if os.path.isabs(venv):
        dirs.append(os.path.join(venv, "Scripts" if os.name == "nt" else "bin"))
    dirs.append(os.path.dirname(os.path.abspath(sys.executable)))
    return [os.path.normpath(d) for d in dirs]


def is_user_chosen(program: str) -> bool:
    """Whether ``program`` (an absolute path) is this interpreter or sits in a folder of
    :func:`path_dirs`: somewhere the user, not a repository, put it."""
    if not os.path.isabs(program):
        return False
    absolute = os.path.normpath(program)
    if absolute == os.path.normpath(os.path.abspath(sys.executable)):
        return True
    return os.path.dirname(absolute) in path_dirs()


def cli_argv(*args: str, python: str | None = None) -> list[str]:
    """The argv that runs ``git relstate ARGS`` with ``python`` (default: this one),
    importing nothing from the current folder. For commands other programs run for
    us: git's textconv driver and the hook shims."""
    exe = os.path.abspath(python or sys.executable)
    return [exe, *isolation_flags(exe), "-c", CLI_BOOTSTRAP, *args]


def cli_shell_command(*args: str) -> str:
    """:func:`cli_argv` as one shell-quoted line (git config values are run by ``sh``)."""
    return shlex.join(cli_argv(*args))


@functools.cache
def isolation_flags(python: str) -> tuple[str, ...]:
    """``("-I",)`` when ``python`` imports this very gitrelstate in isolated mode (no
    PYTHONPATH, no user site), ``("-E",)`` when it does with the user site (a
    ``pip install --user``), else ``()`` (a PYTHONPATH install: the bootstrap's
    absolute-path filter is then the only fence). Checked once per process by
    running ``python`` from the file system root."""
    # This module is gitrelstate/guard/executables.py: the package is two levels up.
    ours = os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    check = (
        "import os, sys; sys.path[:] = [p for p in sys.path if os.path.isabs(p)]; "
        "import gitrelstate; print(os.path.realpath(os.path.dirname(gitrelstate.__file__)))"
    )
    for flags in (("-I",), ("-E",)):
        try:
            proc = subprocess.run(
                [python, *flags, "-c", check],
                cwd=NEUTRAL_CWD,
                capture_output=True,
                text=True,
                timeout=_PROBE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ()
        if proc.returncode == 0 and proc.stdout.strip().splitlines()[-1:] == [ours]:
            return flags
    return ()

"""Environment capture: interpreter, platform, hardware, packages, lock files, variables.

The document is plain data in a stable key order with sorted collections, so the
same environment always gives the same bytes and ``git diff`` of two run records
shows a package bump as one changed line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitrelstate.environment.hardware import capture_hardware
from gitrelstate.environment.lockfiles import capture_lockfiles
from gitrelstate.environment.variables import (
    DEFAULT_PATTERNS,
    capture_variables,
    check_key,
    is_secret_name,
    load_or_create_secret_key,
)
from gitrelstate.errors import RelstateError
from gitrelstate.guard import executables

__all__ = [
    "DEFAULT_PATTERNS",
    "LAYERS",
    "canonical_executable",
    "capture_environment",
    "find_python",
    "is_secret_name",
    "live_python",
    "load_or_create_secret_key",
]

LAYERS = ("interpreter", "platform", "hardware", "packages", "lockfiles", "variables")
# Generous: a cold venv on a network file system with thousands of packages.
PROBE_TIMEOUT = 60.0
# Run in the target interpreter: drop '' from sys.path before anything is imported,
# so a json.py in the current folder cannot stand in for the standard library,
# then run the probe's source, passed as an argument.
_BOOTSTRAP = (
    "import sys; sys.path[:] = [p for p in sys.path if p]; "
    "exec(compile(sys.argv[1], 'gitrelstate-probe', 'exec'), {'__name__': '__main__'})"
)
_PYTHON_NAME = re.compile(r"(python|pypy)[0-9.]*(\.exe)?", re.IGNORECASE)


def capture_environment(
    *,
    python: str | None = None,
    repo_root: Path | None = None,
    variables: Sequence[str] = (),
    secret_key: bytes | None = None,
) -> dict[str, Any]:
    """The environment a run used, as a plain JSON/YAML-ready dict (keys in ``LAYERS`` order).

    ``python`` names the interpreter the user's command runs (its packages are the
    ones recorded); None means this process's own interpreter. ``variables`` adds
    fnmatch patterns to the default list; ``secret_key`` (32 bytes, see
    ``load_or_create_secret_key``) keys the digests that stand in for secret values.
    """
    if secret_key is not None:
        check_key(secret_key)
    import threading

    # nvidia-smi and the probe subprocess both mostly wait; let them wait together.
    hardware: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: hardware.update(capture_hardware()), daemon=True)
    worker.start()
    try:
        probed = _run_probe(python)
    finally:
        worker.join()
    interpreter = dict(probed["interpreter"])
    if isinstance(interpreter.get("executable"), str):
        interpreter["executable"] = canonical_executable(interpreter["executable"])
    from gitrelstate.guard import secrets

    doc = {
        "interpreter": interpreter,
        "platform": probed["platform"],
        "hardware": hardware,
        "packages": probed["packages"],
        "lockfiles": capture_lockfiles(repo_root) if repo_root is not None else {},
        "variables": capture_variables(variables, secret_key),
    }
    # The one redaction every writer shares (notes, records, releases, exports): what a
    # probe found in a package URL or a variable's value never leaves in clear.
    redacted: dict[str, Any] = secrets.redact(doc, secret_key)
    return redacted


# The names one interpreter goes by in its folder, the preferred first: a venv's
# ``python`` and ``python3`` are one interpreter, recorded under one name.
_CANONICAL_NAMES = ("python3", "python", "pypy3", "pypy")


def canonical_executable(executable: str) -> str:
    """``executable`` under the name it is recorded by: the first of ``python3``,
    ``python`` (``pypy3``, ``pypy``) beside it that is the same file, else as given.
    So a command run as ``python`` and a check run as ``python3`` in the same virtual
    environment record the same interpreter."""
    folder, name = os.path.split(executable)
    if not folder or not _PYTHON_NAME.fullmatch(name):
        return executable
    try:
        real = os.path.realpath(executable)
        for candidate in _CANONICAL_NAMES:
            sibling = os.path.join(folder, candidate)
            if sibling == executable:
                return executable
            if os.path.realpath(sibling) == real and os.path.isfile(sibling):
                return sibling
    except OSError:
        pass
    return executable


def _run_probe(python: str | None) -> dict[str, Any]:
    from gitrelstate.environment import _probe

    if python is None or _same_interpreter(python):
        return _probe.collect()
    import json
    import subprocess

    source = Path(_probe.__file__).read_text(encoding="utf-8")
    try:
        # From the file system root: a relative PYTHONPATH entry must not find a
        # sitecustomize.py in the work tree.
        proc = subprocess.run(
            [python, "-c", _BOOTSTRAP, source],
            cwd=executables.NEUTRAL_CWD,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except OSError as exc:
        raise RelstateError(
            f"cannot run the Python interpreter {python!r} ({exc.strerror or exc})",
            hint="give the path of the interpreter that runs the command",
        ) from None
    except subprocess.TimeoutExpired:
        raise RelstateError(
            f"{python} did not list its packages within {PROBE_TIMEOUT:.0f} s"
        ) from None
    answer = [ln for ln in proc.stdout.splitlines() if ln.startswith(_probe.MARKER)]
    data: Any = None
    if proc.returncode == 0 and answer:
        try:
            data = json.loads(answer[-1][len(_probe.MARKER) :])
        except ValueError:
            data = None
    if not (isinstance(data, dict) and all(isinstance(data.get(k), dict) for k in _PROBED)):
        last = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        raise RelstateError(
            f"{python} could not list its packages: {last[:300]}",
            hint="gitrelstate reads the packages of CPython or PyPy 3.8 or newer",
        )
    return data


_PROBED = ("interpreter", "platform", "packages")


def _same_interpreter(python: str) -> bool:
    # Not realpath: a venv's python is a symlink to the base interpreter, yet it
    # sees other packages.
    return os.path.abspath(python) == os.path.abspath(sys.executable)


def find_python(argv: Sequence[str], cwd: Path | None = None) -> str | None:
    """The interpreter a command line runs: ``python ...``, or a script with a python shebang.

    For ``run``, which is about to execute the command anyway: the interpreter it
    names is the one whose packages get recorded. ``argv[0]`` is looked up in the
    absolute PATH entries, then relative to ``cwd``. Falls back to ``python3`` /
    ``python`` on PATH (what a shell script or a Makefile would most likely run);
    None when there is none. Read-only commands use :func:`live_python` instead.
    """
    named, _ = _named_python(argv, cwd)
    if named is not None and os.sep not in named:
        named = executables.which(named)
    return named or _default_python()


def live_python(argv: Sequence[str], cwd: Path | None = None) -> str | None:
    """The interpreter whose live environment stands for a *recorded* command's.

    Read-only commands (``diff``, ``env check``, ``reproduce``'s comparison) must not
    run what a state file names: an interpreter named by the record, or by the
    shebang of a script in the work tree, is used only where the user put it (this
    interpreter, a folder on PATH, the active virtual environment); otherwise the
    same name is looked up on PATH, else ``python3``/``python`` on PATH. None means
    this process's own interpreter.
    """
    named, chosen = _named_python(argv, cwd)
    if named is None:
        return _default_python()
    if os.sep not in named:
        return executables.which(named) or _default_python()
    if chosen or executables.is_user_chosen(named):
        return named
    return executables.which(os.path.basename(named)) or _default_python()


def _default_python() -> str | None:
    return executables.which("python3") or executables.which("python")


def _named_python(argv: Sequence[str], cwd: Path | None) -> tuple[str | None, bool]:
    """The interpreter ``argv`` names (a bare name or an absolute path; None when it
    names none), and whether a program the user put on PATH named it (a console
    script's shebang). Runs nothing: a shebang is read, not executed."""
    if not argv:
        return None, False
    first = argv[0]
    if os.sep in first:
        path = Path(first) if os.path.isabs(first) else (cwd or Path.cwd()) / first
        exe: str | None = os.path.abspath(path) if path.is_file() else None
    else:
        exe = executables.which(first)
        if exe is None and cwd is not None and (cwd / first).is_file():
            exe = str(cwd / first)  # read for its shebang only
    if exe is None:
        return None, False
    if _PYTHON_NAME.fullmatch(os.path.basename(exe)):
        return exe, False
    return _shebang_python(Path(exe)), executables.is_user_chosen(exe)


def _shebang_python(script: Path) -> str | None:
    """The python a script's shebang names: a bare name for ``#!/usr/bin/env NAME``, an
    absolute path, or None (no shebang, another program, or a relative path, which the
    kernel would resolve against whatever the current folder is)."""
    import shlex

    try:
        with open(script, "rb") as f:
            head = f.read(1024).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    # pip writes this two-line form when the interpreter path is too long or has spaces.
    if len(head) > 1 and head[0].strip() == "#!/bin/sh" and head[1].startswith("'''exec' "):
        words = _split(head[1][len("'''exec' ") :], shlex)
    else:
        words = _split(head[0][2:], shlex)
        if words and os.path.basename(words[0]) == "env":
            words = [w for w in words[1:] if not w.startswith("-")]
            return words[0] if words and _PYTHON_NAME.fullmatch(words[0]) else None
    if words and os.path.isabs(words[0]) and _PYTHON_NAME.fullmatch(os.path.basename(words[0])):
        return os.path.normpath(words[0])
    return None


def _split(text: str, shlex: Any) -> list[str]:
    try:
        return list(shlex.split(text))
    except ValueError:
        return text.split()

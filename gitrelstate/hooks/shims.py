"""Installing and removing the git hook shims, chaining any hook that was there first.

Each hook is a tiny POSIX shell script rendered from ``hooks/shim.sh``: it runs the
hook that was in place before (kept as ``<hook>.relstate-chained``), then
``git relstate hook <hook>`` with the interpreter that installed it. A shim
carries an id and a version, so a newer gitrelstate recognises and upgrades its
own older shims, and never mistakes someone else's hook for one of them.

The shim's entry is stable across versions: the interpreter's absolute path and
the bootstrap of :func:`gitrelstate.guard.executables.cli_argv`, which exits
``UNAVAILABLE`` when gitrelstate cannot be imported. Only exit 1 (a verdict) stops
git; anything that means "gitrelstate cannot run" prints one notice and lets git go on.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate import fsutil, git
from gitrelstate.errors import RelstateError
from gitrelstate.guard import executables
from gitrelstate.workspace.walk import inside

HOOKS = ("pre-commit", "post-commit", "pre-push", "post-checkout")
# 2: the CLI bootstrap (isolated import path, exit 97 without gitrelstate), one notice
# and no veto when gitrelstate cannot run, no Python at all without .relstate/.
VERSION = 2
HOOK_ID = "gitrelstate-hook-id: 5d0c7a3e91b4"
CHAINED_SUFFIX = ".relstate-chained"
_ID_VERSION = re.compile(re.escape(HOOK_ID) + r" v([0-9]{1,6})")
# Shipped inside the package (package data); hooks/shim.sh in the source tree links here.
TEMPLATE_FILE = Path(__file__).resolve().parent / "templates" / "hook-shim.sh"


@dataclass(frozen=True)
class HooksDir:
    """Where git looks for this repository's hooks."""

    path: Path
    configured: str | None  # the value of core.hooksPath, when it is set
    private: bool  # inside the git common dir: this clone's own, safe to write

    def shown(self, root: Path) -> str:
        try:
            return self.path.relative_to(root).as_posix()
        except ValueError:
            return str(self.path)


@dataclass
class Report:
    """What install or uninstall did, hook by hook, and what it had to leave alone."""

    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def locate(root: Path, common_dir: Path) -> HooksDir:
    """The hooks folder: ``core.hooksPath`` when set, else the git common dir's
    ``hooks/`` (shared by every worktree of the clone)."""
    value = git.run(root, ["config", "--path", "--get", "core.hooksPath"], check=False).strip()
    if not value:
        return HooksDir(common_dir / "hooks", None, True)
    # Git runs hooks from the work tree's top, so a relative path starts there.
    path = Path(value) if os.path.isabs(value) else root / value
    private = inside(os.path.realpath(path), os.path.realpath(common_dir))
    return HooksDir(path, value, private)


def template() -> str:
    """The shim template (``hooks/shim.sh`` in the source tree)."""
    return TEMPLATE_FILE.read_text("utf-8")


def render(hook: str, python: str | None = None) -> str:
    """The shim for ``hook``, calling ``python`` (default: this interpreter)."""
    exe = os.path.abspath(python or sys.executable)
    flags = " ".join(shlex.quote(f) for f in executables.isolation_flags(exe))
    return (
        template()
        .replace("@HOOK@", hook)
        .replace("@VERSION@", str(VERSION))
        .replace("@PYTHON@", shlex.quote(exe))
        .replace("@FLAGS@ ", f"{flags} " if flags else "")
        .replace("@BOOTSTRAP@", shlex.quote(executables.CLI_BOOTSTRAP))
        .replace("@UNAVAILABLE@", str(executables.UNAVAILABLE))
    )


def shim_version(text: str) -> int | None:
    """The version of a gitrelstate shim, or None for a hook that is not one."""
    match = _ID_VERSION.search(text[:4096])
    return int(match.group(1)) if match else None


def _read(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(65536).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RelstateError(f"cannot read the hook {path} ({exc.strerror})") from None


def install(hooks_dir: HooksDir, *, force: bool = False) -> Report:
    """Write the shims into ``hooks_dir``; a foreign hook is moved aside and chained."""
    hooks_dir.path.mkdir(parents=True, exist_ok=True)
    report = Report()
    for hook in HOOKS:
        path = hooks_dir.path / hook
        chained = hooks_dir.path / (hook + CHAINED_SUFFIX)
        text = render(hook)
        action = "installed"
        if os.path.lexists(path):
            current = _read(path)  # None: a dangling symlink
            version = shim_version(current) if current is not None else None
            if version is not None:
                if current == text:
                    continue
                if version > VERSION and not force:
                    report.problems.append(
                        f"{hook}: kept the shim of a newer gitrelstate (v{version}; this is "
                        f"v{VERSION}); use --force to replace it"
                    )
                    continue
                action = f"upgraded from v{version}" if version < VERSION else "updated"
            elif os.path.lexists(chained):
                report.problems.append(
                    f"{hook}: left alone: both {path.name} (not gitrelstate's) and "
                    f"{chained.name} exist; merge them into {chained.name} by hand, "
                    f"delete {path.name}, then install again"
                )
                continue
            else:
                os.rename(path, chained)
                action = f"installed; the hook that was there runs first ({chained.name})"
        fsutil.write_atomic(path, text.encode("utf-8"), mode=0o755)
        os.chmod(path, 0o755)  # whatever the umask, git must be able to run it
        report.done.append(f"{hook}: {action}")
    return report


def uninstall(hooks_dirs: list[HooksDir]) -> Report:
    """Remove the shims and put back the hooks they chained."""
    report = Report()
    seen: set[str] = set()
    for hooks_dir in hooks_dirs:
        key = os.path.realpath(hooks_dir.path)
        if key in seen or not hooks_dir.path.is_dir():
            continue
        seen.add(key)
        for hook in HOOKS:
            path = hooks_dir.path / hook
            chained = hooks_dir.path / (hook + CHAINED_SUFFIX)
            current = _read(path) if os.path.lexists(path) else None
            ours = current is not None and shim_version(current) is not None
            if ours:
                path.unlink()
            if os.path.lexists(chained):
                if os.path.lexists(path):
                    report.problems.append(
                        f"{hook}: {path.name} is not gitrelstate's; the hook it replaced "
                        f"stays in {chained.name}"
                    )
                    continue
                os.rename(chained, path)
                report.done.append(f"{hook}: removed; the previous hook is back in place")
            elif ours:
                report.done.append(f"{hook}: removed")
    return report

"""Installing and removing the git hook shims, chaining any hook that was there first.

Each hook is a tiny POSIX shell script rendered from ``hooks/shim.sh``: it runs the
hook that was in place before (kept as ``<hook>.relstate-chained``), then
``git relstate hook <hook>`` with the interpreter that installed it. A shim
carries an id and a version, so a newer gitrelstate recognises and upgrades its
own older shims, and never mistakes someone else's hook for one of them.
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
from gitrelstate.worktree import inside

HOOKS = ("pre-commit", "post-commit", "pre-push", "post-checkout")
VERSION = 1
HOOK_ID = "gitrelstate-hook-id: 5d0c7a3e91b4"
CHAINED_SUFFIX = ".relstate-chained"
_ID_VERSION = re.compile(re.escape(HOOK_ID) + r" v([0-9]{1,6})")
TEMPLATE_FILE = Path(__file__).resolve().parent.parent / "hooks" / "shim.sh"


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
    """The shim template: ``hooks/shim.sh`` of a source checkout, else the built-in copy."""
    try:
        text = TEMPLATE_FILE.read_text("utf-8")
    except OSError:
        return BUILTIN_TEMPLATE
    return text if HOOK_ID in text else BUILTIN_TEMPLATE


def render(hook: str, python: str | None = None) -> str:
    """The shim for ``hook``, calling ``python`` (default: this interpreter)."""
    return (
        template()
        .replace("@HOOK@", hook)
        .replace("@VERSION@", str(VERSION))
        .replace("@PYTHON@", shlex.quote(python or sys.executable))
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


# The copy used when hooks/shim.sh is not beside the package (an installed wheel);
# tests/test_hooks.py checks that the two are identical.
BUILTIN_TEMPLATE = r"""#!/bin/sh
# gitrelstate @HOOK@ hook -- gitrelstate-hook-id: 5d0c7a3e91b4 v@VERSION@
# Written by 'git relstate install'. The checks live in 'git relstate hook @HOOK@';
# 'git relstate uninstall' removes this file and restores the hook it replaced.
hook=@HOOK@
python=@PYTHON@
chained="$(dirname "$0")/$hook.relstate-chained"
status=0
if [ -x "$chained" ]; then
    # The hook that was here before runs first, with the same arguments.
    if [ "$hook" = pre-push ]; then
        # Both read the refs being pushed from stdin: keep a copy for the second.
        refs=$(mktemp "${TMPDIR:-/tmp}/relstate-pre-push.XXXXXX") || exit 1
        trap 'rm -f "$refs"' EXIT
        cat >"$refs"
        "$chained" "$@" <"$refs" || status=$?
        exec <"$refs"
    else
        "$chained" "$@" || status=$?
    fi
    case "$hook" in pre-*) [ "$status" = 0 ] || exit "$status" ;; esac
fi
# RELSTATE_SKIP_HOOKS=1 skips gitrelstate's part; RELSTATE_IN_HOOK: no re-entry.
[ "$RELSTATE_SKIP_HOOKS" = 1 ] || [ -n "$RELSTATE_IN_HOOK" ] && exit "$status"
if [ -x "$python" ]; then
    # The interpreter that installed the hook; '' is dropped from sys.path so that
    # a folder named gitrelstate in the work tree cannot stand in for the package.
    "$python" -c 'import sys; sys.path[:] = [p for p in sys.path if p]
from gitrelstate.cli import main; main()' hook "$hook" "$@" || exit $?
elif command -v git-relstate >/dev/null 2>&1; then
    git-relstate hook "$hook" "$@" || exit $?
else
    echo "gitrelstate: cannot run its $hook hook: neither $python nor git-relstate exists" >&2
    echo "hint: reinstall gitrelstate, skip once with RELSTATE_SKIP_HOOKS=1, or delete $0" >&2
    case "$hook" in pre-*) exit 1 ;; esac
fi
exit "$status"
"""

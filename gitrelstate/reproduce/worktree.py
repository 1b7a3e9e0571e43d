"""The isolated work tree a reproduction runs in: a git worktree at the recorded commit.

A worktree shares the repository's objects, and through the git common dir the
gitrelstate cache and private files, while the user's own work tree is never
touched. Each one carries a marker in its git admin folder naming the process
that made it, so the worktree of a reproduction that was killed outright
(``kill -9``, a lost machine) is recognised and removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from gitrelstate import fsutil, git
from gitrelstate.errors import RelstateError
from gitrelstate.guard.paths import inside
from gitrelstate.repo import Repo

# A file in <git common dir>/worktrees/<id>/: "<pid> <host>" of the reproduction.
MARKER = "relstate-reproduce"
TEMP_PREFIX = "relstate-reproduce-"
# Signals that end a process politely; each becomes KeyboardInterrupt so that
# every ``finally`` on the way out (worktree removal, child termination) runs.
_POLITE_SIGNALS = ("SIGTERM", "SIGHUP")


def _admin_dirs(repo: Repo) -> list[Path]:
    folder = repo.common_dir / "worktrees"
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []


def _checkout_of(admin: Path) -> Path | None:
    """The work-tree folder an admin folder belongs to (from its ``gitdir`` file)."""
    try:
        dot_git = Path((admin / "gitdir").read_text("utf-8").strip())
    except OSError:
        return None
    return dot_git.parent


def _abandoned(admin: Path) -> bool:
    """Whether ``admin`` is a reproduction's worktree whose process is gone."""
    try:
        pid_text, _, host = (admin / MARKER).read_text("utf-8").strip().partition(" ")
    except OSError:
        return False
    # A pid means nothing on another machine sharing this repository's folder.
    return (
        host == socket.gethostname() and pid_text.isdigit() and not fsutil.pid_alive(int(pid_text))
    )


def prune_stale(repo: Repo) -> list[Path]:
    """Remove the worktrees of reproductions that were killed; return their folders."""
    removed = []
    for admin in _admin_dirs(repo):
        if _abandoned(admin):
            checkout = _checkout_of(admin)
            _remove(repo, admin, checkout)
            if checkout is not None:
                removed.append(checkout)
    return removed


def _prepare_folder(repo: Repo, workdir: Path | None) -> Path:
    """A new empty folder for the worktree: ``workdir``, or one in the temp folder."""
    if workdir is None:
        path = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
        if _inside_repository(repo, path):
            path.rmdir()
            raise RelstateError(
                f"the temp folder {path.parent} is inside the repository",
                hint="give --workdir a folder outside the work tree",
            )
        return path
    path = Path(os.path.abspath(workdir))
    if path.is_symlink():
        # The worktree is removed afterwards: through a symlink, that could be anywhere.
        raise RelstateError(
            f"--workdir {workdir} is a symlink",
            hint="give a new folder (it is created) or an empty real one",
        )
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RelstateError(
            f"--workdir {workdir}: exists and is not an empty folder",
            hint="give a new folder (it is created) or an empty one",
        )
    if _inside_repository(repo, path):
        raise RelstateError(
            f"--workdir {workdir} is inside the repository",
            hint="give a folder outside the work tree (your files stay untouched)",
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def _inside_repository(repo: Repo, path: Path) -> bool:
    real = os.path.realpath(path)
    return any(
        inside(real, os.path.realpath(folder))
        for folder in (repo.root, repo.git_dir, repo.common_dir)
    )


def _add(repo: Repo, path: Path, commit: str) -> Path:
    """``git worktree add --detach``; return the worktree's admin folder."""
    # Hooks stay quiet: a post-checkout hook has no business in a throwaway tree.
    try:
        git.run(
            repo.root,
            ["-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", str(path), commit],
        )
    except RelstateError as exc:
        raise RelstateError(
            f"cannot create a worktree at commit {commit[:12]}: "
            f"{exc.message.removeprefix('git -c failed: ')}",
            hint="is that commit in this clone? fetch it with 'git fetch'",
        ) from None
    admin = Path(git.run(path, ["rev-parse", "--absolute-git-dir"]).strip())
    (admin / MARKER).write_text(f"{os.getpid()} {socket.gethostname()}\n", "utf-8")
    return admin


def _remove(repo: Repo, admin: Path | None, checkout: Path | None) -> None:
    """Unregister and delete one worktree, whatever state a crash left it in."""
    if checkout is not None:
        git.run(repo.root, ["worktree", "remove", "--force", str(checkout)], check=False)
        # Only a folder that is this worktree's (its .git file names our admin folder).
        if checkout.exists() and (admin is None or _belongs(checkout, admin)):
            shutil.rmtree(checkout, ignore_errors=True)
    # 'git worktree prune' would also drop other worktrees whose folders are merely
    # unmounted right now; remove only our own registration.
    if admin is not None and admin.exists() and inside(str(admin), str(repo.common_dir)):
        shutil.rmtree(admin, ignore_errors=True)


def _belongs(checkout: Path, admin: Path) -> bool:
    try:
        text = (checkout / ".git").read_text("utf-8")
    except OSError:
        return not any(checkout.iterdir()) if checkout.is_dir() else False
    named = text.strip().removeprefix("gitdir:").strip()
    return os.path.realpath(named) == os.path.realpath(admin)


@contextlib.contextmanager
def isolated(repo: Repo, commit: str, workdir: Path | None, *, keep: bool) -> Iterator[Path]:
    """A worktree at ``commit`` for the duration of the block.

    With ``keep`` it stays (and loses its marker, so no later run removes it) when
    the block ends normally or with an error; an interrupted block always removes
    it, so an interrupted reproduction leaves nothing registered in git.
    """
    path = _prepare_folder(repo, workdir)
    admin: Path | None = None
    interrupted = True
    try:
        with polite_signals_interrupt():
            admin = _add(repo, path, commit)
            try:
                yield path
            except KeyboardInterrupt:
                raise
            except BaseException:
                interrupted = False
                raise
            interrupted = False
    finally:
        with _signals_ignored():
            if keep and not interrupted and admin is not None:
                with contextlib.suppress(OSError):
                    (admin / MARKER).unlink()
            else:
                _remove(repo, admin, path)


@contextlib.contextmanager
def polite_signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt (like Ctrl-C) inside the block."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous: dict[signal.Signals, object] = {}
    try:
        for name in _POLITE_SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, interrupt)
    except ValueError:
        pass  # not the main thread: signals cannot be handled here
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Let a cleanup finish: a second Ctrl-C must not leave half a worktree behind."""
    previous: dict[signal.Signals, object] = {}
    try:
        for name in ("SIGINT", *_POLITE_SIGNALS):
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, signal.SIG_IGN)
    except ValueError:
        pass  # not the main thread
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

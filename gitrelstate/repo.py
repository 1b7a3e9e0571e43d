"""The repository context: where the work tree, the state files and the cache are."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from gitrelstate import git
from gitrelstate.errors import RelstateError, UnsafePathError
from gitrelstate.guard import limits
from gitrelstate.guard import paths as guard_paths
from gitrelstate.state import config as config_model
from gitrelstate.state import yamlio
from gitrelstate.state.paths import RESERVED_PREFIX
from gitrelstate.state.pointer import SUFFIX
from gitrelstate.store.objects import ObjectStore
from gitrelstate.store.statcache import StatCache

STATE_DIR = ".relstate"
RUNS_DIR = f"{STATE_DIR}/runs"
CONFIG = "config.yaml"
LOCAL_CONFIG = "config.local.yaml"


class Repo:
    """A Git work tree with gitrelstate state; the cache is shared via the git common dir."""

    def __init__(self, dirs: git.GitDirs) -> None:
        self.root = dirs.toplevel.resolve()
        self.git_dir = dirs.git_dir
        self.common_dir = dirs.common_dir
        self.state_dir = self.root / STATE_DIR
        self.private_dir = self.common_dir / "relstate"
        cache_override = os.environ.get("RELSTATE_CACHE_DIR")
        cache_root = Path(cache_override) if cache_override else self.private_dir / "cache"
        self.cache = ObjectStore(cache_root)

    @classmethod
    def discover(cls, cwd: Path | None = None) -> Repo:
        """The Git repository around ``cwd`` (set up for gitrelstate or not)."""
        return cls(git.discover(cwd or Path.cwd()))

    @classmethod
    def open(cls, cwd: Path | None = None) -> Repo:
        """The repository around ``cwd``, which must be set up for gitrelstate."""
        repo = cls.discover(cwd)
        repo.require_initialised()
        return repo

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- configuration -------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.state_dir / CONFIG

    @property
    def local_config_path(self) -> Path:
        return self.state_dir / LOCAL_CONFIG

    @property
    def initialised(self) -> bool:
        return self.config_path.is_file()

    def require_initialised(self) -> None:
        if not self.initialised:
            raise RelstateError(
                "this repository is not set up for gitrelstate",
                hint="run 'git relstate init'",
            )

    def read_config_doc(self, local: bool = False) -> dict[str, Any]:
        path = self.local_config_path if local else self.config_path
        if not path.exists():
            return config_model.empty_document()
        label = f"{STATE_DIR}/{path.name}"
        return config_model.validate(yamlio.read(path, label, cap=limits.CONFIG), label)

    @cached_property
    def config(self) -> config_model.Config:
        shared = self.read_config_doc()
        for name, spec in (shared.get("remotes") or {}).items():
            leaked = config_model.secret_option_names(spec.get("options") or {})
            if leaked:
                from gitrelstate import ui

                ui.warn(
                    f".relstate/config.yaml (committed) holds secret-looking option(s) "
                    f"{', '.join(leaked)} of remote '{name}'; move them with "
                    f"'git relstate remote add {name} URL -o KEY=VALUE --local --force'"
                )
        return config_model.merge(shared, self.read_config_doc(local=True))

    # -- paths ---------------------------------------------------------------

    def relpath(self, path: Path) -> str:
        """Repo-relative '/'-separated form of ``path``; error when outside the work tree."""
        absolute = Path(os.path.abspath(path))
        try:
            rel = absolute.relative_to(self.root)
        except ValueError:
            resolved = absolute.resolve()
            try:
                rel = resolved.relative_to(self.root)
            except ValueError:
                raise UnsafePathError(
                    f"{path} is outside the repository {self.root}",
                    hint="gitrelstate tracks only paths inside the work tree",
                ) from None
        return rel.as_posix() if str(rel) != "." else ""

    def abspath(self, relpath: str) -> Path:
        """``relpath`` (repo-relative, ``/``-separated) under the work tree.

        Refuses an absolute path or a ``..`` component outright (``root / "/etc"`` is
        ``/etc``); paths a state file names go through :meth:`resolve_inside`, which
        also follows symlinks."""
        if not relpath or relpath == ".":
            return self.root
        if relpath[0] == "/" or (".." in relpath and ".." in relpath.split("/")):
            raise UnsafePathError(
                f"{relpath[:200]!r} is not a path inside the repository",
                hint="paths in state files are relative, '/'-separated and stay inside "
                "the repository",
            )
        return self.root / relpath

    def resolve_inside(
        self,
        rel: object,
        source: str,
        key: str = "path",
        *,
        root: Path | None = None,
        allow_state: bool = False,
        follow_symlinks: bool = True,
    ) -> Path:
        """The real location of a path a state file names; refused unless it stays inside.

        ``root`` is the work tree it is relative to (default this one; reproduce passes
        its worktree). Git's folders are always refused, ``.relstate/`` unless
        ``allow_state`` (a params file naming ``config.local.yaml`` would show its
        credentials). See :func:`gitrelstate.guard.paths.resolve_inside`.
        """
        base = root if root is not None else self.root
        guarded = [self.git_dir, self.common_dir]
        if not allow_state:
            guarded.append(base / STATE_DIR)
        return guard_paths.resolve_inside(
            base, rel, source, key, guarded=guarded, follow_symlinks=follow_symlinks
        )

    def pointer_paths(self) -> list[str]:
        """Repo-relative paths of every data pointer in the work tree (tracked or new)."""
        found = git.ls_files(
            self.root,
            ["--cached", "--others", "--exclude-standard", "--", f"*{SUFFIX}"],
        )
        # A killed writer's temp file (".relstate-tmp-<pid>-<hex>-data.relstate.yaml")
        # ends like a pointer but is none.
        return sorted(
            {
                p
                for p in found
                if p.endswith(SUFFIX)
                and not p.rpartition("/")[2].startswith(RESERVED_PREFIX)
                and (self.root / p).is_file()
            }
        )

    # -- shared resources ----------------------------------------------------

    @cached_property
    def statcache(self) -> StatCache:
        return StatCache(self.private_dir / "statcache.sqlite")

    @contextlib.contextmanager
    def locked(self, *, shared: bool = False) -> Iterator[None]:
        from gitrelstate.lock import locked

        with locked(self.private_dir / "lock", shared=shared):
            yield

    def close(self) -> None:
        if "statcache" in self.__dict__:
            self.statcache.close()
        self.cache.close()

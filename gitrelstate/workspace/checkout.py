"""The checkout engine: plan what to write and remove for each tracked path, refuse to
lose unsaved content, then write files atomically (verified by hash on the way)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate import parallel, ui
from gitrelstate.errors import CheckoutConflict, IntegrityError, RelstateError, UnsafePathError
from gitrelstate.fsutil import is_stale_tmp, remove_stale_tmps
from gitrelstate.repo import Repo
from gitrelstate.store.materialize import materialize
from gitrelstate.workspace.compare import SELF, Comparison, compare
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.walk import inside

FETCH_HINT = "fetch them first: git relstate fetch (or git relstate pull)"


@dataclass
class Plan:
    cmp: Comparison
    writes: list[str] = field(default_factory=list)
    chmods: list[str] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.writes or self.chmods or self.removals or self.cmp.leftovers)


def plan_for(repo: Repo, cmp: Comparison) -> Plan:
    plan = Plan(cmp)
    if cmp.problem is not None:
        plan.missing.append(f"{cmp.tracked.data_rel}: {cmp.problem}")
        return plan
    for key in cmp.added:
        plan.removals.append(key)
        if not repo.cache.exists(cmp.current_hex[key]):
            plan.conflicts.append(cmp.display(key))
    for key in cmp.modified:
        entry = cmp.expected[key]
        current = cmp.current_hex[key]
        if current == entry.hex and cmp.present[key].st_nlink == 1:
            plan.chmods.append(key)
            continue
        plan.writes.append(key)
        if current != entry.hex and not repo.cache.exists(current):
            plan.conflicts.append(cmp.display(key))
    plan.writes.extend(cmp.deleted)
    plan.writes.sort()
    for key in plan.writes:
        if not repo.cache.exists(cmp.expected[key].hex):
            plan.missing.append(cmp.display(key))
    return plan


def refuse_unsafe(
    plans: Sequence[Plan],
    force: bool,
    fetch_hint: str = FETCH_HINT,
) -> None:
    missing = [m for p in plans for m in p.missing]
    if missing:
        raise RelstateError(
            f"{len(missing)} object(s) needed for checkout are not in the cache:\n"
            + ui.bullets(missing),
            hint=fetch_hint,
        )
    conflicts = [c for p in plans for c in p.conflicts]
    if conflicts and not force:
        raise CheckoutConflict(
            f"checkout would discard {len(conflicts)} local change(s) that are not saved "
            f"in the cache:\n{ui.bullets(conflicts)}",
            hint="save them with 'git relstate track PATH', or discard them with --force",
        )


def checkout_tracked(
    repo: Repo,
    tracked: Sequence[Tracked],
    *,
    force: bool,
    fetch_hint: str = FETCH_HINT,
) -> tuple[int, int]:
    """Make each tracked path's data match its pointer: (files written, files removed).

    Decides for every file before changing anything; refuses (CheckoutConflict) to
    discard content the cache does not hold unless ``force``. The caller holds the lock.
    """
    plans = [plan_for(repo, compare(repo, t, hash_changed=True)) for t in tracked]
    refuse_unsafe(plans, force, fetch_hint)
    written = removed = 0
    for plan in plans:
        if not plan.empty:
            w, r = apply_plan(repo, plan)
            written += w
            removed += r
    repo.statcache.flush()
    return written, removed


def summary(written: int, removed: int, paths: int) -> str:
    """The one line a checkout reports."""
    if not (written or removed):
        return "data is up to date"
    extra = f", removed {removed}" if removed else ""
    return f"checked out {written} file(s){extra} in {paths} tracked path(s)"


def apply_plan(repo: Repo, plan: Plan) -> tuple[int, int]:
    cmp = plan.cmp
    base = cmp.tracked.data_abs(repo)
    link_types = repo.config.link
    # Leftovers of a killed run: temp files beside the data, its pointer and .gitignore.
    remove_stale_tmps(base.parent)
    for leftover in cmp.leftovers:
        if is_stale_tmp(leftover):
            with contextlib.suppress(OSError):
                os.unlink(leftover)
    # Removals first: a file may stand where a folder has to be created.
    for key in plan.removals:
        path = base / key if key else base
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    if cmp.tracked.pointer.is_dir:
        if base.exists() and not base.is_dir():
            base.unlink()
        base.mkdir(parents=True, exist_ok=True)
        if plan.removals:
            prune_empty_dirs(base)
    elif base.is_dir():
        shutil.rmtree(base)
    for key in plan.chmods:
        entry = cmp.expected[key]
        os.chmod(base / key if key else base, 0o755 if entry.executable else 0o644)

    base_real = os.path.realpath(base)
    safe_parents: set[Path] = set()

    def write(key: str) -> None:
        entry = cmp.expected[key]
        target = base / key if key != SELF else base
        if key != SELF and target.parent not in safe_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
            # A symlinked folder inside the data must not redirect writes elsewhere.
            if not inside(os.path.realpath(target.parent), base_real):
                raise UnsafePathError(
                    f"{cmp.display(key)}: its folder is a symlink leading out of "
                    f"{cmp.tracked.data_rel}",
                    hint="remove the symlink, then check out again",
                )
            safe_parents.add(target.parent)
        st = materialize(
            repo.cache,
            entry.hex,
            target,
            executable=entry.executable,
            link_types=link_types,
            display=cmp.display(key),
        )
        repo.statcache.put(st, entry.hex)

    failures = parallel.run_each(plan.writes, write, parallel.default_jobs(), serial_below=65)
    errors: list[RelstateError] = []
    for _, exc in failures:
        if not isinstance(exc, (IntegrityError, UnsafePathError)):
            raise exc
        errors.append(exc)
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise IntegrityError(
            f"{len(errors)} file(s) could not be checked out:\n"
            + ui.bullets([e.message for e in errors]),
            hint=errors[0].hint,
        )
    return len(plan.writes), len(plan.removals)


def prune_empty_dirs(base: Path) -> None:
    """Remove folders left empty by removals (the manifest lists files only)."""
    for folder, _, _ in os.walk(base, topdown=False):
        if folder != str(base):
            with contextlib.suppress(OSError):
                os.rmdir(folder)

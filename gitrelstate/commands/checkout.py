"""``git relstate checkout``: make the work tree's data match the pointers."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gitrelstate import git, ui
from gitrelstate.errors import CheckoutConflict, IntegrityError, RelstateError, UnsafePathError
from gitrelstate.fsutil import is_stale_tmp, remove_stale_tmps
from gitrelstate.releases import releases
from gitrelstate.repo import Repo
from gitrelstate.runs import runner
from gitrelstate.state.pointer import SUFFIX, DataPointer
from gitrelstate.state.record import Artifact
from gitrelstate.store import ingest
from gitrelstate.store.materialize import materialize
from gitrelstate.workspace import gitignore, pointers
from gitrelstate.workspace.compare import SELF, Comparison, compare
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.selection import select_tracked
from gitrelstate.workspace.walk import inside


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


def checkout(
    cwd: Path,
    paths: Sequence[str],
    *,
    force: bool,
    release: str | None = None,
    run: str | None = None,
) -> int:
    if release is not None or run is not None:
        return checkout_recorded(cwd, paths, force=force, release=release, run=run)
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        with repo.locked():
            plans = [
                plan_for(repo, compare(repo, t, hash_changed=True))
                for t in select_tracked(repo, cwd, paths)
            ]
            _refuse_unsafe(plans, force)
            written = removed = 0
            for plan in plans:
                if not plan.empty:
                    w, r = _apply(repo, plan)
                    written += w
                    removed += r
            repo.statcache.flush()
    finally:
        repo.close()
    if written or removed:
        extra = f", removed {removed}" if removed else ""
        ui.echo(f"checked out {written} file(s){extra} in {len(plans)} tracked path(s)")
    else:
        ui.echo("data is up to date")
    return 0


def _refuse_unsafe(
    plans: Sequence[Plan],
    force: bool,
    fetch_hint: str = "fetch them first: git relstate fetch (or git relstate pull)",
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


def _apply(repo: Repo, plan: Plan) -> tuple[int, int]:
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
            _prune_empty_dirs(base)
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

    errors: list[RelstateError] = []
    if len(plan.writes) > 64:
        with ThreadPoolExecutor(max_workers=ingest.default_jobs()) as pool:
            for future in [pool.submit(write, k) for k in plan.writes]:
                try:
                    future.result()
                except (IntegrityError, UnsafePathError) as exc:
                    errors.append(exc)
    else:
        for key in plan.writes:
            try:
                write(key)
            except (IntegrityError, UnsafePathError) as exc:
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


def _prune_empty_dirs(base: Path) -> None:
    """Remove folders left empty by removals (the manifest lists files only)."""
    for folder, _, _ in os.walk(base, topdown=False):
        if folder != str(base):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


# -- checkout --release NAME / --run NAME ---------------------------------------------


def checkout_recorded(
    cwd: Path,
    paths: Sequence[str],
    *,
    force: bool,
    release: str | None,
    run: str | None,
) -> int:
    """Write the data a release (or a run) recorded into the work tree, by its recorded
    hashes, and point the pointers at them; the same no-data-loss rules as checkout."""
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        label, selector, artifacts = _recorded_data(repo, release, run)
        chosen = _restrict(repo, cwd, paths, artifacts, label)
        tracked = [_recorded_tracked(repo, a, label) for a in chosen]
        with repo.locked():
            plans = [plan_for(repo, compare(repo, t, hash_changed=True)) for t in tracked]
            _refuse_unsafe(plans, force, f"fetch them first: git relstate fetch {selector}")
            written = removed = 0
            for plan in plans:
                if not plan.empty:
                    w, r = _apply(repo, plan)
                    written += w
                    removed += r
            updated = sum(_save_pointer(repo, t) for t in tracked)
            repo.statcache.flush()
    finally:
        repo.close()
    extra = f", removed {removed}" if removed else ""
    ui.echo(
        f"checked out the data of {label}: {written} file(s) written{extra} in "
        f"{len(tracked)} tracked path(s); {updated} pointer(s) updated"
    )
    if updated:
        ui.echo("hint: the updated pointers name the recorded data; commit them to keep it")
    return 0


def _recorded_data(
    repo: Repo, release: str | None, run: str | None
) -> tuple[str, str, list[Artifact]]:
    """(label, fetch selector, artifacts): every path once, the data state first."""
    if release is not None:
        found = releases.load(repo, release).artifacts()
        label, selector = f"release {release}", f"--release {release}"
    else:
        assert run is not None
        record = runner.load_record(repo, run)
        # Files Git carries (code, params) are Git's to check out, not ours.
        found = [a for a in (*record.deps, *record.outs) if not git.is_tracked(repo.root, a.path)]
        label, selector = f"run {run}", f"--run {run}"
    unique: dict[str, Artifact] = {}
    for artifact in found:
        if git.is_tracked(repo.root, artifact.path):
            ui.warn(f"{artifact.path} is tracked by Git now: left as it is")
            continue
        unique.setdefault(artifact.path, artifact)
    return label, selector, [unique[k] for k in sorted(unique)]


def _restrict(
    repo: Repo, cwd: Path, paths: Sequence[str], artifacts: list[Artifact], label: str
) -> list[Artifact]:
    if not paths:
        return artifacts
    chosen: dict[str, Artifact] = {}
    for given in paths:
        rel = repo.relpath(cwd / given)
        rel = rel[: -len(SUFFIX)] if rel.endswith(SUFFIX) else rel
        hits = [a for a in artifacts if rel in ("", a.path) or a.path.startswith(rel + "/")]
        if not hits:
            raise RelstateError(
                f"{given} is not part of the data of {label}",
                hint=f"see 'git relstate show {label.split()[-1]}'",
            )
        chosen.update((a.path, a) for a in hits)
    return [chosen[k] for k in sorted(chosen)]


def _recorded_tracked(repo: Repo, artifact: Artifact, label: str) -> Tracked:
    """The artifact as a pointer (keeping the current pointer's extra keys and, for the
    same content, its executable bit, which records do not hold)."""
    pointer_rel = pointers.pointer_rel_for(artifact.path)
    pointers.check_data_location(repo, artifact.path, f"{label} ({artifact.path})")
    previous: DataPointer | None = None
    if repo.abspath(pointer_rel).is_file():
        try:
            previous = pointers.load(repo, pointer_rel).pointer
        except RelstateError:
            previous = None  # rewritten below from the record
    same = previous is not None and previous.hash == artifact.hash
    pointer = DataPointer(
        artifact.path.rpartition("/")[2],
        artifact.hash,
        artifact.size,
        artifact.nfiles,
        previous.executable if same and previous is not None else False,
        dict(previous.extra) if previous is not None else {},
    )
    repo.abspath(artifact.path).parent.mkdir(parents=True, exist_ok=True)
    return Tracked(pointer_rel, artifact.path, pointer)


def _save_pointer(repo: Repo, tracked: Tracked) -> bool:
    data = tracked.data_abs(repo)
    gitignore.ensure_ignored(data.parent, data.name)
    return pointers.save(repo, tracked.pointer_rel, tracked.pointer)

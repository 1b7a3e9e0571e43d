"""Checking out the data a release (or an alias of one) or a run recorded, by its recorded
hashes: the work tree gets that data and the pointers name it (``checkout --release/--run``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitrelstate import git, refs, ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.runs import records
from gitrelstate.state.pointer import SUFFIX, DataPointer
from gitrelstate.state.record import Artifact
from gitrelstate.workspace import gitignore, pointers
from gitrelstate.workspace.checkout import checkout_tracked
from gitrelstate.workspace.pointers import Tracked


@dataclass(frozen=True)
class RecordedCheckout:
    label: str
    written: int
    removed: int
    paths: int
    pointers_updated: int

    def lines(self) -> list[str]:
        """What to tell the user."""
        extra = f", removed {self.removed}" if self.removed else ""
        out = [
            f"checked out the data of {self.label}: {self.written} file(s) written{extra} in "
            f"{self.paths} tracked path(s); {self.pointers_updated} pointer(s) updated"
        ]
        if self.pointers_updated:
            out.append("hint: the updated pointers name the recorded data; commit them to keep it")
        return out


def checkout_recorded(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    *,
    force: bool,
    release: str | None,
    run: str | None,
) -> RecordedCheckout:
    """Write the data a release (or a run) recorded into the work tree, by its recorded
    hashes, and point the pointers at them; the same no-data-loss rules as checkout."""
    label, selector, artifacts = recorded_data(repo, release, run)
    chosen = restrict(repo, cwd, paths, artifacts, label)
    tracked = [recorded_tracked(repo, a, label) for a in chosen]
    with repo.locked():
        written, removed = checkout_tracked(
            repo,
            tracked,
            force=force,
            fetch_hint=f"fetch them first: git relstate fetch {selector}",
        )
        updated = sum(save_pointer(repo, t) for t in tracked)
        repo.statcache.flush()
    return RecordedCheckout(label, written, removed, len(tracked), updated)


def recorded_data(
    repo: Repo, release: str | None, run: str | None
) -> tuple[str, str, list[Artifact]]:
    """(label, fetch selector, artifacts): every path once, the data state first."""
    if release is not None:
        # A release name or an alias, read as every command reads one (gitrelstate.refs).
        ref = refs.resolve_release(repo, release)
        assert ref.release is not None
        found = ref.release.artifacts()
        label, selector = ref.label, f"--release {release}"
    else:
        assert run is not None
        record = records.load_record(repo, run)
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


def restrict(
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
                hint=f"see 'git relstate show {label.split()[1]}'",
            )
        chosen.update((a.path, a) for a in hits)
    return [chosen[k] for k in sorted(chosen)]


def recorded_tracked(repo: Repo, artifact: Artifact, label: str) -> Tracked:
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


def save_pointer(repo: Repo, tracked: Tracked) -> bool:
    data = tracked.data_abs(repo)
    gitignore.ensure_ignored(data.parent, data.name)
    return pointers.save(repo, tracked.pointer_rel, tracked.pointer)

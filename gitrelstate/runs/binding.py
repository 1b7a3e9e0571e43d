"""Binding a stage's paths to content: dependencies hashed (and tracked when nothing
else keeps them), outputs stored with their pointers, and the rules on where outputs
may be (never inside tracked data, never overlapping another stage's)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gitrelstate import fsutil, git, ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.runs.codefiles import CODE_SUFFIXES
from gitrelstate.runs.graph import overlapping_outputs, overlaps
from gitrelstate.runs.spec import StageSpec
from gitrelstate.state.pointer import SUFFIX
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.workspace import gitignore, pointers, tracking


def _artifact(rel: str, snap: tracking.Snapshot) -> Artifact:
    return Artifact(rel, snap.hash, snap.size, snap.nfiles)


def tracked_folder_of(repo: Repo, rel: str) -> str | None:
    """The tracked folder (one with a pointer) strictly above ``rel``, if any."""
    parts = rel.split("/")
    for n in range(1, len(parts)):
        folder = "/".join(parts[:n])
        if os.path.exists(repo.root / (folder + SUFFIX)):
            return folder
    return None


def hash_only(repo: Repo, rel: str) -> Artifact:
    """``rel``'s content id, nothing stored."""
    return _artifact(rel, tracking.snapshot(repo, repo.abspath(rel), store=False))


def bind_dependency(repo: Repo, rel: str, *, params_file: bool = False) -> Artifact:
    """Hash a dependency; data that neither Git nor gitrelstate keeps is tracked now, so
    every input of a run can be restored later. Code and params files are Git's to keep
    (a script not committed yet is uncommitted code, not data); a path inside a tracked
    folder is kept by that folder's listing: hashed, nothing written inside the folder."""
    if (
        params_file
        or git.is_tracked(repo.root, rel)
        or tracked_folder_of(repo, rel) is not None
        or is_code(repo.abspath(rel))
    ):
        return hash_only(repo, rel)
    return bind_output(repo, rel, announce="tracked dependency")


def is_code(path: Path) -> bool:
    """A code file (by its suffix, or executable), or a folder holding one."""
    if path.is_file():
        return path.suffix.lower() in CODE_SUFFIXES or os.access(path, os.X_OK)
    if not path.is_dir():
        return False
    for _, _, files in os.walk(path):
        if any(os.path.splitext(f)[1].lower() in CODE_SUFFIXES for f in files):
            return True
    return False


def bind_output(repo: Repo, rel: str, announce: str = "", *, pointer: bool = True) -> Artifact:
    """Store data in the cache and (``pointer``) write or refresh its pointer and
    git-ignore it; an output kept in Git gets neither."""
    path = repo.abspath(rel)
    if not path.exists():
        raise RelstateError(f"output {rel} was not produced by the command")
    if not pointer:
        return _artifact(rel, tracking.snapshot(repo, path, store=True, label=f"storing {rel}"))
    pointer_rel = pointers.pointer_rel_for(rel)
    fsutil.remove_stale_tmps(path.parent)  # leftovers of a killed run beside the output
    previous = None
    if repo.abspath(pointer_rel).exists():
        previous = pointers.load(repo, pointer_rel).pointer
    snap = tracking.snapshot(repo, path, store=True, label=f"storing {rel}", previous=previous)
    made = tracking.pointer_from(snap, path.name, previous)
    if pointers.save(repo, pointer_rel, made) and announce:
        ui.echo(f"{announce} {rel} -> {pointer_rel}")
    gitignore.ensure_ignored(path.parent, path.name)
    return _artifact(rel, snap)


def inside_outputs(spec: StageSpec, rel: str) -> str | None:
    """The output folder of ``spec`` that holds ``rel`` (a metrics or plot file written
    inside it, as dvclive does), if any."""
    return next((o for o in spec.outs if rel.startswith(o + "/")), None)


def bind_outputs(repo: Repo, spec: StageSpec) -> list[Artifact]:
    """Every output stored; a metrics file inside an output folder is part of the
    folder (its values are recorded, it gets no pointer of its own)."""
    bound = []
    for rel in spec.all_outs:
        if inside_outputs(spec, rel) is not None:
            continue
        bound.append(bind_output(repo, rel, pointer=rel not in spec.git_outs))
    return bound


def check_outputs(repo: Repo, spec: StageSpec, records: Sequence[RunRecord]) -> None:
    """Refuse outputs that overlap each other (but for metrics inside an output folder),
    that lie inside tracked data or hold tracked data of their own, or that overlap
    another stage's outputs."""
    outs = spec.all_outs
    for i, a in enumerate(outs):
        for b in outs[i + 1 :]:
            if overlaps(a, b) and not (
                (a in spec.metrics and inside_outputs(spec, a))
                or (b in spec.metrics and inside_outputs(spec, b))
            ):
                raise RelstateError(
                    f"outputs {a} and {b} of '{spec.name}' overlap",
                    hint="give the folder, or the files in it, not both (a metrics file "
                    "may lie inside an output folder)",
                )
    clashes = overlapping_outputs(outs, records, spec.name)
    if clashes:
        path, other, out = clashes[0]
        raise RelstateError(
            f"output {path} of '{spec.name}' overlaps output {out} of stage '{other}'",
            hint=f"one path is made by one stage: change the outputs, or remove stage "
            f"'{other}' first (git relstate remove {other})",
        )
    produced = {o.path for r in records for o in r.outs}
    for rel in outs:
        if inside_outputs(spec, rel) is not None:
            continue
        folder = tracked_folder_of(repo, rel)
        if folder is not None and folder not in produced:
            raise RelstateError(
                f"output {rel} of '{spec.name}' is inside {folder}, which is tracked data",
                hint="nothing is written inside a tracked folder: write the output "
                f"elsewhere, or make {folder} itself the output",
            )
    if outs:
        inner = _tracked_inside(repo, [o for o in outs if inside_outputs(spec, o) is None])
        if inner:
            rel, tracked = inner
            raise RelstateError(
                f"output {rel} of '{spec.name}' holds {tracked}, which is tracked on its own",
                hint=f"stop tracking it first (git relstate untrack {tracked}), or choose "
                "another output folder",
            )


def _tracked_inside(repo: Repo, outs: Sequence[str]) -> tuple[str, str] | None:
    """(output, tracked path) for a pointer found strictly inside an output folder."""
    folders = [o for o in outs if (repo.root / o).is_dir()]
    if not folders:
        return None
    for p in repo.pointer_paths():
        data = p[: -len(SUFFIX)]
        for folder in folders:
            if data.startswith(folder + "/"):
                return folder, data
    return None

"""Defining a stage again: what differs from its record, and changing one thing of it.

``run -n NAME ...`` with a definition that differs from the recorded one (command,
working folder, dependencies, outputs, params, variables) is refused without
``--force``: replacing a stage silently drops what it was. ``run NAME [changes]``
changes a recorded stage without re-typing it: options add to it, ``--drop PATH``
removes a dependency, output, params file (or ``FILE:KEY``) or variable, ``-- CMD``
replaces the command.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.runs.spec import StageSpec, merge_params, parse_params
from gitrelstate.runs.tolerance import Tolerance
from gitrelstate.state.record import RunRecord


def differences(old: StageSpec, new: StageSpec) -> list[str]:
    """What ``new`` changes of ``old``'s definition, one line per part (empty: same)."""
    a, b = old.definition(), new.definition()
    found = []
    if a["command"] != b["command"]:
        found.append(f"command: {shlex.join(a['command'])} -> {shlex.join(b['command'])}")
    if a["wdir"] != b["wdir"]:
        found.append(f"working folder: {a['wdir']} -> {b['wdir']}")
    for key, label in (
        ("deps", "dependencies"),
        ("outs", "outputs"),
        ("metrics", "metrics"),
        ("variables", "variables"),
        ("git_outs", "kept in Git"),
    ):
        added = [p for p in b[key] if p not in a[key]]
        removed = [p for p in a[key] if p not in b[key]]
        if added or removed:
            found.append(
                f"{label}: " + ", ".join([*(f"+{p}" for p in added), *(f"-{p}" for p in removed)])
            )
    if a["params"] != b["params"]:
        found.append(f"params: {_params_text(a['params'])} -> {_params_text(b['params'])}")
    return found


def _params_text(params: dict[str, list[str]]) -> str:
    if not params:
        return "(none)"
    return " ".join(f"{f}:{','.join(k)}" if k else f for f, k in sorted(params.items()))


def refuse_redefinition(old: StageSpec, new: StageSpec) -> None:
    """Raise when ``new`` defines ``old.name`` differently (the caller has no --force)."""
    diffs = differences(old, new)
    if not diffs:
        return
    raise RelstateError(
        f"stage '{old.name}' is already defined differently:\n"
        + "\n".join(f"  {line}" for line in diffs),
        hint=f"to replace it, add --force; to change one thing, e.g. 'git relstate run "
        f"{old.name} -d NEW_DEP' (adds), '--drop PATH' (removes), 'git relstate run "
        f"{old.name} -- NEW COMMAND' (replaces the command)",
    )


@dataclass(frozen=True)
class Changes:
    """What ``run NAME [changes]`` asks to change (paths relative to ``here``)."""

    command: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
    git_outs: tuple[str, ...] = ()
    git_metrics: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    wdir: str | None = None
    tolerance: Tolerance | None = None

    @property
    def empty(self) -> bool:
        return self == Changes()


def amend(repo: Repo, here: Path, spec: StageSpec, changes: Changes) -> StageSpec:
    """``spec`` with ``changes`` applied."""

    def rel(p: str) -> str:
        return repo.relpath(here / p)

    deps = list(spec.deps)
    outs = list(spec.outs)
    metrics = list(spec.metrics)
    git_outs = list(spec.git_outs)
    params = list(spec.params)
    variables = list(spec.variables)
    for item in changes.drop:
        _drop(rel, spec.name, item, deps, outs, metrics, git_outs, params, variables)
    deps += [rel(p) for p in changes.deps]
    outs += [rel(p) for p in (*changes.outs, *changes.git_outs)]
    metrics += [rel(p) for p in (*changes.metrics, *changes.git_metrics)]
    git_outs += [rel(p) for p in (*changes.git_outs, *changes.git_metrics)]
    params += parse_params(rel, changes.params)
    variables += list(changes.variables)
    return replace(
        spec,
        command=tuple(changes.command) or spec.command,
        wdir=(rel(changes.wdir) or ".") if changes.wdir is not None else spec.wdir,
        deps=_unique(deps),
        outs=_unique(outs),
        metrics=_unique(metrics),
        git_outs=_unique(git_outs),
        params=merge_params(params),
        variables=_unique(variables),
        tolerance=changes.tolerance or spec.tolerance,
    )


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _drop(
    rel: object,
    name: str,
    item: str,
    deps: list[str],
    outs: list[str],
    metrics: list[str],
    git_outs: list[str],
    params: list[tuple[str, tuple[str, ...]]],
    variables: list[str],
) -> None:
    """Remove ``item`` (a path, ``FILE:KEY,...`` or a variable) wherever it is."""
    assert callable(rel)
    if item in variables:
        variables.remove(item)
        return
    file, sep, keys = item.partition(":")
    path = rel(file)
    hit = False
    for bucket in (deps, outs, metrics, git_outs):
        if path in bucket and not sep:
            bucket.remove(path)
            hit = True
    for i, (pfile, pkeys) in enumerate(list(params)):
        if pfile != path:
            continue
        if not sep:
            params.remove((pfile, pkeys))
            hit = True
        else:
            gone = {k.strip() for k in keys.split(",") if k.strip()}
            left = tuple(k for k in pkeys if k not in gone)
            if len(left) != len(pkeys):
                hit = True
                params[i] = (pfile, left)
                if not left:
                    params.remove((pfile, left))
    if not hit:
        raise RelstateError(
            f"stage '{name}' has no dependency, output, params or variable {item!r}",
            hint=f"see 'git relstate show {name}'",
        )


def find_stage(records: Sequence[RunRecord], name: str) -> RunRecord | None:
    """The stage called ``name``, or imported under that name (``sweep@0.1-5`` from DVC)."""
    for record in records:
        if record.name == name:
            return record
    for record in records:
        imported = record.extra.get("imported")
        if isinstance(imported, dict) and imported.get("name") == name:
            return record
    return None

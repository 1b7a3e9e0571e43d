"""A stage: what to run and what it touches (from user input or from a record)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitrelstate import values
from gitrelstate.errors import RelstateError
from gitrelstate.guard import secrets
from gitrelstate.repo import Repo
from gitrelstate.runs.tolerance import Tolerance, of_record
from gitrelstate.state.record import RunRecord, check_run_name, pending_paths


@dataclass(frozen=True)
class StageSpec:
    """What to run and what it touches; paths are repo-relative.

    The definition of a stage: a record carries it (:func:`spec_from_record`), so a
    re-run, ``repro`` and the run cache all start from the same thing.
    """

    name: str
    command: tuple[str, ...]
    wdir: str = "."
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    variables: tuple[str, ...] = ()
    # Outputs (and metrics) kept in Git: hashed and stored, but no pointer, not ignored.
    git_outs: tuple[str, ...] = ()
    # How reproduce compares this stage's numeric outputs (None: byte for byte).
    tolerance: Tolerance | None = None
    # Plot files (outputs) -> their display properties (x, y, template, title, ...).
    plots: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    frozen: bool = False  # never run by repro; judged by its outputs only
    always_changed: bool = False  # repro always runs it
    imported: Mapping[str, Any] | None = None  # where the definition came from (DVC)

    def __post_init__(self) -> None:
        check_command(self.name, self.command)

    @property
    def all_outs(self) -> tuple[str, ...]:
        """Outputs and metrics files, each once."""
        return tuple(dict.fromkeys((*self.outs, *self.metrics)))

    def definition(self) -> dict[str, Any]:
        """What makes the stage what it is (compared when it is defined again)."""
        return {
            "command": list(self.command),
            "wdir": self.wdir,
            "deps": sorted(self.deps),
            "outs": sorted(self.outs),
            "metrics": sorted(self.metrics),
            "params": {f: sorted(k) for f, k in self.params},
            "variables": sorted(self.variables),
            "git_outs": sorted(self.git_outs),
        }


def check_command(name: str, command: Sequence[str]) -> None:
    """Refuse a command line that holds a secret (``--api-key X``, ``--password=Y``, a URL
    with a password, ``TOKEN=...``): the record would keep it in clear, and a redacted
    record could not be run again (``run NAME``). Every StageSpec passes here."""
    found = secrets.command_secrets(command)
    if not found:
        return
    index, secret = found[0]
    shown = secrets.redact_text(command[index])
    if secret.by_name or shown == command[index]:
        shown = secrets.MASK
    raise RelstateError(
        f"run '{name}': argument {index} of the command ({shown!r}) holds what looks like "
        f"{secret.what}; it would be recorded in clear",
        hint="pass it through an environment variable the program reads itself, or let a "
        "shell expand it at run time: -- sh -c 'train --api-key \"$API_KEY\"' (with "
        "API_KEY exported; captured variables are redacted)",
    )


def make_spec(
    repo: Repo,
    here: Path,
    name: str,
    command: Sequence[str],
    *,
    deps: Sequence[str] = (),
    outs: Sequence[str] = (),
    metrics: Sequence[str] = (),
    params: Sequence[str] = (),
    variables: Sequence[str] = (),
    wdir: str | None = None,
    git_outs: Sequence[str] = (),
    git_metrics: Sequence[str] = (),
    tolerance: Tolerance | None = None,
) -> StageSpec:
    """A stage from user-given paths (relative to ``here``) and ``FILE[:KEY,...]`` params.

    ``git_outs``/``git_metrics``: outputs and metrics files kept in Git."""

    def rel(p: str) -> str:
        return repo.relpath(here / p)

    return StageSpec(
        name=check_run_name(name),
        command=tuple(command),
        wdir=(rel(wdir) if wdir else repo.relpath(here)) or ".",
        deps=_unique(rel(d) for d in deps),
        outs=_unique([*(rel(o) for o in outs), *(rel(o) for o in git_outs)]),
        metrics=_unique([*(rel(m) for m in metrics), *(rel(m) for m in git_metrics)]),
        params=merge_params(parse_params(rel, params)),
        variables=_unique(variables),
        git_outs=_unique(rel(p) for p in (*git_outs, *git_metrics)),
        tolerance=tolerance,
    )


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def parse_params(rel: Any, params: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``FILE[:KEY,...]`` specs as (repo-relative file, keys); no keys = the whole file."""
    found = []
    for spec in params:
        file, keys = values.parse_param_spec(spec)
        found.append((rel(file), tuple(keys)))
    return found


def merge_params(
    items: Sequence[tuple[str, tuple[str, ...]]],
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """One entry per file: keys of the same file merge; the whole file wins over keys."""
    merged: dict[str, tuple[str, ...] | None] = {}
    for file, keys in items:
        if not keys or merged.get(file, ()) is None:
            merged[file] = None
        else:
            merged[file] = tuple(dict.fromkeys((*(merged.get(file) or ()), *keys)))
    return tuple((f, k or ()) for f, k in merged.items())


def spec_from_record(record: RunRecord) -> StageSpec:
    """The definition a record carries (a re-run runs exactly this)."""
    metrics = tuple(dict.fromkeys([*record.metrics, *pending_paths(record.extra, "metrics")]))
    keyed = record.extra.get("param_keys") or {}
    plots = record.extra.get("plots")
    imported = record.extra.get("imported")
    return StageSpec(
        name=record.name,
        command=record.command,
        wdir=record.wdir,
        deps=tuple(
            dict.fromkeys(
                [d.path for d in record.deps if d.path not in record.params]
                + [p for p in pending_paths(record.extra, "deps") if p not in record.params]
            )
        ),
        outs=tuple(
            dict.fromkeys(
                [o.path for o in record.outs if o.path not in metrics]
                + [p for p in pending_paths(record.extra, "outs") if p not in metrics]
            )
        ),
        metrics=metrics,
        params=tuple(
            (f, tuple(keyed.get(f) or ())) for f in dict.fromkeys([*record.params, *keyed])
        ),
        variables=tuple(record.extra.get("env_vars", [])),
        git_outs=tuple(record.extra.get("git_outs") or ()),
        tolerance=of_record(record),
        plots=dict(plots) if isinstance(plots, dict) else {},
        frozen=record.extra.get("frozen") is True,
        always_changed=record.extra.get("always_changed") is True,
        imported=dict(imported) if isinstance(imported, dict) else None,
    )

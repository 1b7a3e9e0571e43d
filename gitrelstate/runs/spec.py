"""A stage: what to run and what it touches (from user input or from a record)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitrelstate import values
from gitrelstate.errors import RelstateError
from gitrelstate.guard import secrets
from gitrelstate.repo import Repo
from gitrelstate.state.record import RunRecord, check_run_name


@dataclass(frozen=True)
class StageSpec:
    """What to run and what it touches; paths are repo-relative."""

    name: str
    command: tuple[str, ...]
    wdir: str = "."
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    variables: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_command(self.name, self.command)


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
) -> StageSpec:
    """A stage from user-given paths (relative to ``here``) and ``FILE[:KEY,...]`` params."""

    def rel(p: str) -> str:
        return repo.relpath(here / p)

    param_specs = []
    for spec in params:
        file, keys = values.parse_param_spec(spec)
        param_specs.append((rel(file), tuple(keys)))
    return StageSpec(
        name=check_run_name(name),
        command=tuple(command),
        wdir=(rel(wdir) if wdir else repo.relpath(here)) or ".",
        deps=tuple(rel(d) for d in deps),
        outs=tuple(rel(o) for o in outs),
        metrics=tuple(rel(m) for m in metrics),
        params=tuple(param_specs),
        variables=tuple(variables),
    )


def spec_from_record(record: RunRecord) -> StageSpec:
    metrics = tuple(record.metrics)
    return StageSpec(
        name=record.name,
        command=record.command,
        wdir=record.wdir,
        deps=tuple(d.path for d in record.deps if d.path not in record.params),
        outs=tuple(o.path for o in record.outs if o.path not in metrics),
        metrics=metrics,
        params=tuple((f, tuple(keys)) for f, keys in record.extra.get("param_keys", {}).items())
        or tuple((f, ()) for f in record.params),
        variables=tuple(record.extra.get("env_vars", [])),
    )

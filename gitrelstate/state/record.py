"""Run records: ``.relstate/runs/<name>.yaml``, the execution state of one stage.

A record says what ran (command, working folder), on what (code commit, every
dependency by hash, params by value), under which environment, and what came
out (every output by hash, metrics by value), when, and how it ended.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrelstate.errors import StateFileError
from gitrelstate.state import FORMAT_VERSION, model
from gitrelstate.state.paths import check_relpath

KIND = "run"
KEYS = (
    "relstate",
    "kind",
    "name",
    "command",
    "wdir",
    "code",
    "deps",
    "outs",
    "params",
    "metrics",
    "environment",
    "started",
    "finished",
    "duration",
    "exit_status",
    "host",
    "env_vars",
    "param_keys",
    "tolerance",
    "git_outs",
    "plots",
    "frozen",
    "always_changed",
    "pending",
    "restored",
    "imported",
)
# Keys with their canonical place in KEYS but no field: they travel in ``extra``.
EXTRA_KEYS = (
    "env_vars",
    "param_keys",
    "tolerance",
    "git_outs",
    "plots",
    "frozen",
    "always_changed",
    "pending",
    "restored",
    "imported",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_run_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise StateFileError(
            f"invalid run name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 100 characters)",
        )
    return name


@dataclass(frozen=True)
class Artifact:
    """A dependency or output: repo-relative path and content id (size, file count)."""

    path: str
    hash: str
    size: int
    nfiles: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "hash": self.hash, "size": self.size}
        if self.nfiles is not None:
            out["nfiles"] = self.nfiles
        return out

    @classmethod
    def from_dict(cls, data: object, source: str, key: str) -> Artifact:
        if not isinstance(data, dict):
            raise StateFileError(f"{source}: each entry of '{key}' must be a mapping")
        path = check_relpath(model.require(data, "path", str, source), source, f"{key}.path")
        hash_ = model.check_hash(model.require(data, "hash", str, source), source)
        size = model.check_size(model.require(data, "size", int, source), source)
        nfiles = data.get("nfiles")
        if nfiles is not None:
            nfiles = model.check_size(nfiles, source, "nfiles")
        return cls(path, hash_, size, nfiles)


@dataclass(frozen=True)
class RunRecord:
    name: str
    command: tuple[str, ...]
    wdir: str
    code: Mapping[str, Any]
    deps: tuple[Artifact, ...]
    outs: tuple[Artifact, ...]
    params: Mapping[str, Mapping[str, Any]]
    metrics: Mapping[str, Mapping[str, Any]]
    environment: Mapping[str, Any]
    started: str
    finished: str
    duration: float
    exit_status: int
    host: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "relstate": FORMAT_VERSION,
            "kind": KIND,
            "name": self.name,
            "command": list(self.command),
            "wdir": self.wdir,
            "code": dict(self.code),
            "deps": [d.to_dict() for d in self.deps],
            "outs": [o.to_dict() for o in self.outs],
            "params": {k: dict(v) for k, v in self.params.items()},
            "metrics": {k: dict(v) for k, v in self.metrics.items()},
            "environment": dict(self.environment),
            "started": self.started,
            "finished": self.finished,
            "duration": round(self.duration, 3),
            "exit_status": self.exit_status,
            "host": self.host,
        }
        data.update(self.extra)
        return model.ordered(data, KEYS)

    @classmethod
    def from_dict(cls, data: object, source: str) -> RunRecord:
        doc = model.check_header(data, source, KIND)
        name = check_run_name(model.require(doc, "name", str, source))
        command = model.require(doc, "command", list, source)
        if not command or not all(isinstance(a, str) for a in command):
            raise StateFileError(f"{source}: 'command' must be a non-empty list of strings")
        wdir = model.require(doc, "wdir", str, source)
        if wdir != ".":
            check_relpath(wdir, source, "wdir")
        deps = tuple(
            Artifact.from_dict(d, source, "deps")
            for d in model.optional(doc, "deps", list, source) or []
        )
        outs = tuple(
            Artifact.from_dict(o, source, "outs")
            for o in model.optional(doc, "outs", list, source) or []
        )
        return cls(
            name=name,
            command=tuple(command),
            wdir=wdir,
            code=_checked_code(model.check_code(doc.get("code"), source), source),
            deps=deps,
            outs=outs,
            params=_values_by_file(doc, "params", source),
            metrics=_values_by_file(doc, "metrics", source),
            environment=model.optional(doc, "environment", dict, source) or {},
            started=str(doc.get("started", "")),
            finished=str(doc.get("finished", "")),
            duration=float(model.optional(doc, "duration", (int, float), source) or 0.0),
            exit_status=model.optional(doc, "exit_status", int, source) or 0,
            host=str(doc.get("host", "")),
            # The definition keys have their canonical place in KEYS but no field: they
            # travel in ``extra`` (a rerun, repro, reproduce and env check read them there).
            extra=_checked_extra(
                model.extras(doc, [k for k in KEYS if k not in EXTRA_KEYS]), source
            ),
        )


def _checked_code(code: dict[str, Any], source: str) -> dict[str, Any]:
    code_files_of(code, source)  # each path is checked like every stored path
    return code


def _values_by_file(doc: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    """``params`` / ``metrics``: file -> {dotted key -> value}; both levels mappings.

    The files are read (``diff``, ``reproduce``) and written (``reproduce`` restores
    params), so their names obey the same path rules as every other stored path."""
    found = model.optional(doc, key, dict, source) or {}
    for file, values in found.items():
        check_relpath(file, source, f"{key} file")
        model.check_type(values, f"{key}.{file}", dict, source)
    return dict(found)


_MAX_NAMES = 10_000
_MAX_NAME_CHARS = 1024


def _checked_extra(extra: dict[str, Any], source: str) -> dict[str, Any]:
    """``param_keys`` (params file -> the keys recorded) and ``env_vars`` (variable
    names or patterns): the shapes a rerun and ``reproduce`` rely on."""
    keyed = extra.get("param_keys")
    if keyed is not None:
        model.check_type(keyed, "param_keys", dict, source)
        for file, keys in keyed.items():
            check_relpath(file, source, "param_keys file")
            _check_names(keys, f"param_keys.{file}", source)
    if extra.get("env_vars") is not None:
        _check_names(extra["env_vars"], "env_vars", source)
    git_outs = extra.get("git_outs")
    if git_outs is not None:
        model.check_type(git_outs, "git_outs", list, source)
        for path in git_outs:
            check_relpath(model.check_type(path, "git_outs", str, source), source, "git_outs")
    plots = extra.get("plots")
    if plots is not None:
        model.check_type(plots, "plots", dict, source)
        for file, props in plots.items():
            check_relpath(file, source, "plots file")
            model.check_type(props, f"plots.{file}", dict, source)
    for flag in ("frozen", "always_changed"):
        if extra.get(flag) is not None:
            model.check_type(extra[flag], flag, bool, source)
    pending = extra.get("pending")
    if pending is not None:
        model.check_type(pending, "pending", dict, source)
        model.check_type(pending.get("reason", ""), "pending.reason", str, source)
        for key in ("deps", "outs", "metrics"):
            for path in model.check_type(pending.get(key) or [], f"pending.{key}", list, source):
                check_relpath(
                    model.check_type(path, f"pending.{key}", str, source), source, f"pending.{key}"
                )
    return extra


def pending_paths(extra: Mapping[str, Any], key: str) -> list[str]:
    """The ``deps``/``outs``/``metrics`` a pending record defines but has no content
    for yet (a stage defined, never run)."""
    pending = extra.get("pending")
    found = pending.get(key) if isinstance(pending, dict) else None
    return [p for p in found if isinstance(p, str)] if isinstance(found, list) else []


def code_files_of(code: Mapping[str, Any], source: str) -> list[Artifact]:
    """``code.files``: the code files a run read, with their content ids."""
    listed = code.get("files")
    if listed is None:
        return []
    model.check_type(listed, "code.files", list, source)
    return [Artifact.from_dict(a, source, "code.files") for a in listed]


def _check_names(names: object, key: str, source: str) -> None:
    if (
        not isinstance(names, list)
        or len(names) > _MAX_NAMES
        or not all(
            isinstance(n, str) and 0 < len(n) <= _MAX_NAME_CHARS and n.isprintable() for n in names
        )
    ):
        raise StateFileError(
            f"{source}: '{key}' must be a list of names (printable text, "
            f"at most {_MAX_NAME_CHARS} characters each)"
        )

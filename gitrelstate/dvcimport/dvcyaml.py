"""Reading a ``dvc.yaml`` the way DVC 3 does: variables, ``foreach`` and ``matrix``
stages, params by key or by file, outputs with their flags, metrics and plots.

Paths come out repo-relative (a stage's paths are relative to its ``wdir``, itself
relative to the ``dvc.yaml``'s folder). Files are read as YAML 1.2 with the bounded
reader every state file goes through.
"""

from __future__ import annotations

import itertools
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrelstate import values
from gitrelstate.dvcimport import interp
from gitrelstate.errors import RelstateError, UnsafePathError
from gitrelstate.guard import limits
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from gitrelstate.state.paths import check_relpath

PLOT_PROPS = ("template", "x", "y", "x_label", "y_label", "title", "header")
STAGE_KEYS = frozenset(
    [
        "cmd",
        "wdir",
        "deps",
        "params",
        "outs",
        "metrics",
        "plots",
        "vars",
        "frozen",
        "always_changed",
        "desc",
        "meta",
    ]
)


@dataclass(frozen=True)
class Output:
    """An output as DVC declares it: kind ``out``, ``metric`` or ``plot``."""

    path: str  # repo-relative
    written: str  # as written in dvc.yaml (relative to the stage's wdir)
    kind: str
    cache: bool = True
    persist: bool = False
    props: Mapping[str, Any] = field(default_factory=dict)  # plot properties


@dataclass(frozen=True)
class Params:
    """A params file and the keys a stage reads (None: the whole file)."""

    path: str
    written: str
    keys: tuple[str, ...] | None


@dataclass(frozen=True)
class Stage:
    """One stage of a dvc.yaml, resolved (a foreach/matrix group gives one per item)."""

    name: str  # within its dvc.yaml: "train", "sweep@0.1-5"
    addressing: str  # how `dvc repro` names it: "train", "sub/dvc.yaml:train"
    dvcfile: str  # repo-relative path of the dvc.yaml
    wdir: str  # repo-relative, "." for the root
    cmd: str | list[str]
    deps: tuple[tuple[str, str], ...]  # (repo-relative, as written)
    params: tuple[Params, ...]
    outs: tuple[Output, ...]
    frozen: bool = False
    always_changed: bool = False
    desc: str | None = None


@dataclass(frozen=True)
class TopPlot:
    """A top-level ``plots:`` entry: an id (a file or a name) and its properties."""

    id: str
    props: Mapping[str, Any]
    dvcfile: str


@dataclass
class Project:
    stages: list[Stage] = field(default_factory=list)
    plots: list[TopPlot] = field(default_factory=list)


def join(base: str, rel: str, where: str) -> str:
    """``rel`` (relative to the repo folder ``base``) as a repo-relative path."""
    if not isinstance(rel, str) or not rel:
        raise RelstateError(f"{where}: expected a path, got {rel!r}")
    if rel.startswith("/"):
        raise UnsafePathError(f"{where}: {rel} is an absolute path")
    joined = (
        posixpath.normpath(posixpath.join(base, rel))
        if base not in ("", ".")
        else (posixpath.normpath(rel))
    )
    if joined == ".":
        return "."
    return check_relpath(joined, where, "path")


def load_params_file(repo: Repo, rel: str, where: str) -> dict[str, Any]:
    """A params/vars file (YAML, JSON, TOML) as a mapping."""
    if rel.endswith(".py"):
        raise RelstateError(
            f"{where}: Python params files ({rel}) are not supported by import-dvc",
            hint="use a YAML, JSON or TOML params file",
        )
    real = repo.resolve_inside(rel, where, "params")
    doc = values.load_structured(real, rel)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise RelstateError(f"{rel}: a params file must hold a mapping")
    return doc


def read(repo: Repo, dvcfile: str) -> Project:
    """The stages and top-level plots of the dvc.yaml at ``dvcfile`` (repo-relative)."""
    raw = limits.read_capped(repo.resolve_inside(dvcfile, dvcfile), limits.STATE_FILE, dvcfile)
    doc = yamlio.loads(raw, dvcfile, text_keys=True)
    if doc is None:
        return Project()
    if not isinstance(doc, dict):
        raise RelstateError(f"{dvcfile}: not a dvc.yaml (a mapping of stages)")
    folder = posixpath.dirname(dvcfile)
    context = _global_context(repo, folder, doc, dvcfile)
    project = Project()
    stages = doc.get("stages") or {}
    if not isinstance(stages, dict):
        raise RelstateError(f"{dvcfile}: 'stages' must be a mapping")
    for group, body in stages.items():
        where = f"{dvcfile}: stage '{group}'"
        if not isinstance(body, dict):
            raise RelstateError(f"{where}: must be a mapping")
        for name, resolved, ctx in _generated(repo, folder, str(group), body, context, where):
            project.stages.append(_stage(folder, dvcfile, name, resolved, ctx))
    for item in doc.get("plots") or []:
        project.plots += _top_plots(interp.resolve(item, context, f"{dvcfile}: plots"), dvcfile)
    return project


def _global_context(repo: Repo, folder: str, doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    context: dict[str, Any] = {}
    default = join(folder, "params.yaml", where)
    loaded: dict[str, set[str] | None] = {}  # file -> keys loaded (None: whole)
    if (repo.root / default).is_file():
        interp.merge(context, load_params_file(repo, default, where), "params.yaml", where)
        loaded[default] = None
    _add_vars(repo, folder, doc.get("vars"), context, loaded, where, "vars")
    return context


def _add_vars(
    repo: Repo,
    base: str,
    items: Any,
    context: dict[str, Any],
    loaded: dict[str, set[str] | None],
    where: str,
    label: str,
) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        raise RelstateError(f"{where}: '{label}' must be a list")
    for i, item in enumerate(items):
        source = f"{label}[{i}]"
        if interp.has_interpolation(item):
            raise RelstateError(f"{where}: {source}: interpolating is not allowed in vars")
        if isinstance(item, dict):
            interp.merge(context, item, source, where)
            continue
        if not isinstance(item, str):
            raise RelstateError(f"{where}: {source} must be a file name or a mapping")
        file, sep, keys = item.partition(":")
        rel = join(base, file, where)
        before = loaded.get(rel, False)
        if not sep and before is None:
            continue  # the same file whole twice is allowed
        doc = load_params_file(repo, rel, where)
        if sep:
            wanted = [k.strip() for k in keys.split(",") if k.strip()]
            missing = [k for k in wanted if k not in doc]
            if missing:
                raise RelstateError(f"{where}: {source}: no key '{missing[0]}' in {file}")
            if before is None or (isinstance(before, set) and before & set(wanted)):
                raise RelstateError(
                    f"{where}: {source}: cannot partially load '{item}' as it's already loaded"
                )
            loaded[rel] = (before if isinstance(before, set) else set()) | set(wanted)
            doc = {k: doc[k] for k in wanted}
        else:
            if before is not False:
                raise RelstateError(
                    f"{where}: {source}: cannot load '{item}' whole, part of it is loaded"
                )
            loaded[rel] = None
        interp.merge(context, doc, source, where)


def _generated(
    repo: Repo,
    folder: str,
    group: str,
    body: dict[str, Any],
    context: dict[str, Any],
    where: str,
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, resolved body, context) of the stage(s) a dvc.yaml entry defines."""
    if "foreach" in body:
        data = body["foreach"]
        do = body.get("do")
        if not isinstance(do, dict):
            raise RelstateError(f"{where}: 'foreach' needs a 'do' mapping")
        data = interp.resolve(data, context, where, raw=True)
        found = []
        for key, item, has_key in _foreach_items(data, where):
            ctx = interp._copy(context)
            ctx["item"] = item
            if has_key:
                ctx["key"] = key
            else:
                ctx.pop("key", None)
            found.append((f"{group}@{key}", *_resolve_body(repo, folder, do, ctx, where)))
        return _unique(found)
    if "matrix" in body:
        matrix = body["matrix"]
        if not isinstance(matrix, dict):
            raise RelstateError(f"{where}: 'matrix' must be a mapping")
        rest = {k: v for k, v in body.items() if k != "matrix"}
        axes = []
        for axis, options in matrix.items():
            options = interp.resolve(options, context, where, raw=True)
            if not isinstance(options, list):
                raise RelstateError(f"{where}: matrix '{axis}' must be a list")
            axes.append([(str(axis), i, v) for i, v in enumerate(options)])
        found = []
        for combo in itertools.product(*axes):
            key = "-".join(
                f"{axis}{i}" if isinstance(v, (list, dict)) else interp.text_of(v)
                for axis, i, v in combo
            )
            ctx = interp._copy(context)
            ctx["item"] = {axis: v for axis, _, v in combo}
            ctx["key"] = key
            found.append((f"{group}@{key}", *_resolve_body(repo, folder, rest, ctx, where)))
        return _unique(found)
    return [(group, *_resolve_body(repo, folder, body, interp._copy(context), where))]


def _unique(
    found: list[tuple[str, dict[str, Any], dict[str, Any]]],
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    # Keys that collide collapse, the later one winning (as DVC does).
    by_name = {name: (name, body, ctx) for name, body, ctx in found}
    return list(by_name.values())


def _foreach_items(data: Any, where: str) -> list[tuple[str, Any, bool]]:
    """(key, item, whether ``key`` is defined) for each foreach item."""
    if isinstance(data, dict):
        return [(interp.text_of(k), v, True) for k, v in data.items()]
    if isinstance(data, list):
        if any(isinstance(v, (list, dict)) for v in data):
            return [(str(i), v, False) for i, v in enumerate(data)]
        return [(interp.text_of(v), v, False) for v in data]
    raise RelstateError(f"{where}: 'foreach' must be a list or a mapping")


def _resolve_body(
    repo: Repo, folder: str, body: dict[str, Any], ctx: dict[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stage body resolved; ``wdir`` first, then the stage's own ``vars`` (relative
    to its wdir, visible to it only)."""
    unknown = set(body) - STAGE_KEYS
    if unknown:
        raise RelstateError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    wdir = interp.resolve(body.get("wdir", "."), ctx, where)
    if not isinstance(wdir, str):
        wdir = interp.text_of(wdir)
    base = join(folder, wdir, where)
    _add_vars(repo, "" if base == "." else base, body.get("vars"), ctx, {}, where, "vars")
    out: dict[str, Any] = {"wdir": wdir}
    for key, value in body.items():
        if key in ("wdir", "vars"):
            continue
        out[key] = interp.resolve(value, ctx, where, in_cmd=key == "cmd")
    return out, ctx


def _stage(folder: str, dvcfile: str, name: str, body: dict[str, Any], ctx: Any) -> Stage:
    del ctx
    where = f"{dvcfile}: stage '{name}'"
    cmd = body.get("cmd")
    if isinstance(cmd, list):
        cmd = [interp.text_of(c) for c in cmd]
    elif cmd is not None and not isinstance(cmd, str):
        cmd = interp.text_of(cmd)
    if not cmd:
        raise RelstateError(f"{where}: 'cmd' is missing")
    base = join(folder, str(body.get("wdir", ".")), where)
    wbase = "" if base == "." else base
    deps = tuple(
        (join(wbase, interp.text_of(d), where), interp.text_of(d))
        for d in _list(body, "deps", where)
    )
    outs: list[Output] = []
    for kind, key in (("out", "outs"), ("metric", "metrics"), ("plot", "plots")):
        for item in _list(body, key, where):
            outs.append(_output(wbase, item, kind, where))
    seen: set[str] = set()
    for o in outs:
        if o.path in seen:
            raise RelstateError(f"{where}: output {o.path} is listed twice")
        seen.add(o.path)
    addressing = name if dvcfile == "dvc.yaml" else f"{dvcfile}:{name}"
    return Stage(
        name=name,
        addressing=addressing,
        dvcfile=dvcfile,
        wdir=base,
        cmd=cmd,
        deps=deps,
        params=_params(wbase, body.get("params"), where),
        outs=tuple(outs),
        frozen=body.get("frozen") is True,
        always_changed=body.get("always_changed") is True,
        desc=body.get("desc") if isinstance(body.get("desc"), str) else None,
    )


def _list(body: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RelstateError(f"{where}: '{key}' must be a list")
    return value


def _output(wbase: str, item: Any, kind: str, where: str) -> Output:
    flags: Mapping[str, Any] = {}
    if isinstance(item, dict):
        if len(item) != 1:
            raise RelstateError(f"{where}: each output is one path with its flags")
        [(written, given)] = item.items()
        flags = given if isinstance(given, dict) else {}
    else:
        written = item
    written = interp.text_of(written)
    props = {k: flags[k] for k in PLOT_PROPS if k in flags} if kind == "plot" else {}
    return Output(
        path=join(wbase, written, where),
        written=written,
        kind=kind,
        cache=flags.get("cache", True) is not False,
        persist=flags.get("persist") is True,
        props=props,
    )


def _params(wbase: str, items: Any, where: str) -> tuple[Params, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise RelstateError(f"{where}: 'params' must be a list")
    merged: dict[str, tuple[str, list[str] | None]] = {}
    default = "params.yaml"

    def add(written: str, keys: list[str] | None) -> None:
        path = join(wbase, written, where)
        old = merged.get(path)
        before = old[1] if old is not None else []
        if keys is None or before is None:
            merged[path] = (written, None)
        else:
            merged[path] = (written, [*before, *keys])

    for item in items:
        if isinstance(item, str):
            add(default, [item])
        elif isinstance(item, dict):
            for file, keys in item.items():
                if keys is None or keys == []:
                    add(str(file), None)
                elif isinstance(keys, list):
                    add(str(file), [interp.text_of(k) for k in keys])
                else:
                    raise RelstateError(f"{where}: params of {file} must be a list of keys")
        else:
            raise RelstateError(f"{where}: each params entry is a key or a mapping")
    return tuple(
        Params(path, written, tuple(dict.fromkeys(keys)) if keys is not None else None)
        for path, (written, keys) in merged.items()
    )


def _top_plots(item: Any, dvcfile: str) -> list[TopPlot]:
    if isinstance(item, str):
        return [TopPlot(item, {}, dvcfile)]
    if isinstance(item, dict):
        return [
            TopPlot(str(k), dict(v) if isinstance(v, dict) else {}, dvcfile)
            for k, v in item.items()
        ]
    return []

"""The run cache: which outputs a stage made from exactly these inputs.

The **input key** of a run is the blake3 of its canonical inputs: command, working
folder, the content ids of its dependencies and code files, the values of the params
keys it selected, the values of the variables it declared, and the paths of its
outputs. Two runs with the same key ran the same thing on the same inputs, so
``repro`` may restore the outputs of one instead of running the other.

After each successful run an **entry** is kept under ``<git common dir>/relstate/
runcache/<key hex>.json``: the run record without its environment, which is stored
as an object in the cache (the entry names it by content id). Entries are small, hold
nothing a record may not hold (they are checked by the one secret classifier), and
travel with ``push``/``fetch`` (:mod:`gitrelstate.runs.cacheshare`). Records committed
anywhere in history are the other source (:mod:`gitrelstate.runs.traceindex`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gitrelstate import fsutil, hashing, ui
from gitrelstate.errors import RelstateError
from gitrelstate.guard import jsonload, limits
from gitrelstate.repo import Repo
from gitrelstate.runs import staleness
from gitrelstate.runs.codefiles import code_files
from gitrelstate.runs.spec import StageSpec, spec_from_record
from gitrelstate.state import FORMAT_VERSION, model
from gitrelstate.state.record import RunRecord

FOLDER = "runcache"
KIND = "runcache"
ENTRY = limits.Cap("a run-cache entry", 1024 * 1024)
ENVIRONMENT = limits.Cap("a recorded environment", limits.RECORD.max_bytes)


def input_key(
    spec: StageSpec,
    deps: Mapping[str, str],
    params: Mapping[str, Mapping[str, Any]],
    code: Mapping[str, str],
    variables: Mapping[str, Any],
) -> str:
    """The content id of a run's inputs (see the module docstring)."""
    keyed = {f for f, k in spec.params if k}
    doc = {
        "command": list(spec.command),
        "wdir": spec.wdir,
        "deps": {p: h for p, h in sorted(deps.items()) if p not in keyed},
        "params": {f: dict(sorted(params.get(f, {}).items())) for f in sorted(keyed)},
        "code": dict(sorted(code.items())),
        "variables": dict(sorted(variables.items())),
        "outs": sorted(spec.all_outs),
        "git_outs": sorted(spec.git_outs),
    }
    raw = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashing.content_id(hashing.hash_bytes(raw.encode("utf-8", "surrogatepass")))


def key_of_record(record: RunRecord) -> str:
    """The input key of the run ``record`` describes."""
    recorded = record.environment.get("variables")
    return input_key(
        spec_from_record(record),
        {d.path: d.hash for d in record.deps},
        record.params,
        {c.path: c.hash for c in staleness.code_files(record)},
        staleness.declared_values(record, recorded if isinstance(recorded, dict) else {}),
    )


def current_key(repo: Repo, spec: StageSpec, view: staleness.WorkTree) -> str | None:
    """The input key a run of ``spec`` would have now (None when an input is missing or
    unreadable: then nothing can match)."""
    from gitrelstate.state.record import Artifact

    source = f"stage '{spec.name}'"
    paths = list(dict.fromkeys([*spec.deps, *(f for f, _ in spec.params)]))
    try:
        deps = {}
        for rel in paths:
            found = view.content_id(Artifact(rel, "", 0), source, "deps")
            if found is None:
                return None
            deps[rel] = found
        code = {}
        for rel in code_files(repo, spec.command, spec.wdir, (*paths, *spec.all_outs)):
            found = view.content_id(Artifact(rel, "", 0), source, "code.files")
            if found is None:
                return None
            code[rel] = found
        from gitrelstate import values

        params = {
            f: values.select(view.param_values(f, source), keys, f)
            for f, keys in spec.params
            if keys
        }
    except RelstateError:
        return None
    variables = view.variables(spec.variables) if spec.variables else {}
    return input_key(spec, deps, params, code, variables)


# -- entries --------------------------------------------------------------------------


def folder(repo: Repo) -> Path:
    return repo.private_dir / FOLDER


def entry_name(key: str) -> str:
    return f"{hashing.hex_of(key)}.json"


def remember(repo: Repo, record: RunRecord) -> str | None:
    """Keep an entry for the run ``record`` describes; its key (None when not kept)."""
    from gitrelstate.guard import secrets

    doc = record.to_dict()
    environment = doc.pop("environment", {}) or {}
    # The declared variables' values stay in the entry: they are part of its key.
    recorded = environment.get("variables") if isinstance(environment, dict) else None
    declared = staleness.declared_values(record, recorded if isinstance(recorded, dict) else {})
    if declared:
        doc["environment"] = {"variables": declared}
    try:
        env_raw = canonical(environment)
        env_id = hashing.content_id(hashing.hash_bytes(env_raw))
        repo.cache.add_bytes(hashing.hex_of(env_id), env_raw)
        key = key_of_record(record)
        entry = {
            "relstate": FORMAT_VERSION,
            "kind": KIND,
            "key": key,
            "environment": env_id,
            "record": doc,
        }
        if secrets.scan(entry):
            ui.debug(f"run '{record.name}': not kept in the run cache (a value looks secret)")
            return None
        raw = canonical(entry)
        target = folder(repo) / entry_name(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fsutil.write_atomic(target, raw)
    except (OSError, RelstateError, ValueError) as exc:
        # Only a cache: a run that cannot be remembered is still recorded.
        ui.debug(f"run '{record.name}': not kept in the run cache ({exc})")
        return None
    return key


def canonical(doc: Any) -> bytes:
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Entry:
    """A run-cache entry: the input key, the record (its environment reduced to the
    declared variables) and the content id of the full environment object."""

    key: str
    record: RunRecord
    environment: str | None


def parse_entry(raw: bytes, source: str) -> Entry:
    """An entry from its bytes; refused when damaged or when its key is not the key of
    the inputs it holds (a remote cannot file outputs under other inputs by naming)."""
    doc = jsonload.loads(raw, source, cap=ENTRY)
    if not isinstance(doc, dict) or doc.get("kind") != KIND or doc.get("relstate") != 1:
        raise RelstateError(f"{source}: not a run-cache entry")
    body = doc.get("record")
    if not isinstance(body, dict):
        raise RelstateError(f"{source}: not a run-cache entry")
    record = RunRecord.from_dict(body, source)
    key = doc.get("key")
    if not isinstance(key, str) or key != key_of_record(record):
        raise RelstateError(f"{source}: its key does not match its inputs")
    env = doc.get("environment")
    if env is not None:
        model.check_hash(env, source, "environment")
    return Entry(key, record, env if isinstance(env, str) else None)


def read_entry(path: Path) -> Entry | None:
    """The entry in ``path`` (None when missing or damaged: only a cache)."""
    try:
        return parse_entry(limits.read_capped(path, ENTRY, path.name), f"run cache {path.name}")
    except RelstateError as exc:
        if path.exists():
            ui.debug(f"run cache {path.name} ignored: {exc.message}")
        return None


def lookup(repo: Repo, key: str) -> RunRecord | None:
    """The local entry for ``key`` as a full record (environment from the cache), or None."""
    entry = read_entry(folder(repo) / entry_name(key))
    if entry is None or entry.key != key:
        return None
    return with_environment(repo, entry)


def with_environment(repo: Repo, entry: Entry) -> RunRecord:
    """The entry's record with the environment it names, read from the cache (what the
    entry holds when the object is not there)."""
    environment: Any = None
    if entry.environment is not None:
        with contextlib.suppress(RelstateError, OSError, ValueError):
            hex_ = hashing.hex_of(entry.environment)
            raw = repo.cache.read_bytes(hex_)
            if hashing.hash_bytes(raw) == hex_:
                environment = jsonload.loads(raw, "recorded environment", cap=ENVIRONMENT)
    if not isinstance(environment, dict):
        return entry.record
    return replace(entry.record, environment=environment)


def entries(repo: Repo) -> Iterator[Path]:
    """The local entry files."""
    base = folder(repo)
    try:
        names = sorted(os.listdir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        if name.endswith(".json") and not fsutil.is_tmp_name(name):
            yield base / name

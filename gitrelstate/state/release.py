"""Release states: ``.relstate/releases/<name>.yaml``, a fixed, named execution unit.

A release binds the model, the data state (every tracked path by hash), the
pipeline (its run records, in full), the environment and the code commit, and
carries a ``state_id``: a digest over everything else in the file, so any later
edit is detectable by ``verify``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrelstate import hashing
from gitrelstate.errors import StateFileError
from gitrelstate.state import FORMAT_VERSION, model
from gitrelstate.state.paths import check_relpath
from gitrelstate.state.record import Artifact, RunRecord, check_run_name

KIND = "release"
RELEASES_DIR = ".relstate/releases"
KEYS = (
    "relstate",
    "kind",
    "name",
    "state_id",
    "created",
    "author",
    "message",
    "code",
    "allow_dirty",
    "dirty",
    "model",
    "data",
    "runs",
    "environment",
)


def check_release_name(name: str) -> str:
    """Release names follow run names (they become file names and tag names)."""
    try:
        return check_run_name(name)
    except StateFileError:
        raise StateFileError(
            f"invalid release name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 100 characters)",
        ) from None


def release_path(name: str) -> str:
    return f"{RELEASES_DIR}/{name}.yaml"


def compute_state_id(doc: Mapping[str, Any]) -> str:
    """blake3 over the canonical JSON of every key but ``state_id`` itself.

    Injective: the document holds only JSON values (the YAML reader accepts nothing
    else: string keys, finite numbers), and JSON tells apart what YAML tells apart
    (1 and 1.0 and "1" and true), so two documents share an id only if they are equal.
    Anything that is not plain JSON data is refused here rather than turned into text.
    """
    content = {k: v for k, v in doc.items() if k != "state_id"}
    try:
        _check_keys(content)
        canonical = json.dumps(
            content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise StateFileError(
            f"release content is not plain data ({exc})",
            hint="release files hold only strings, finite numbers, true/false, null, "
            "mappings with string keys and lists",
        ) from None
    return hashing.content_id(hashing.hash_bytes(canonical.encode("utf-8", "surrogatepass")))


def _check_keys(doc: object) -> None:
    """Refuse a mapping key that is not a string: JSON would turn 1 into "1"."""
    todo = [doc]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            if not all(type(k) is str for k in value):
                raise TypeError("a mapping key is not a string")
            todo.extend(value.values())
        elif isinstance(value, (list, tuple)):
            todo.extend(value)


@dataclass(frozen=True)
class ModelRef:
    """The released model: a tracked artifact (path + hash) or an external reference."""

    path: str | None = None
    hash: str | None = None
    size: int | None = None
    nfiles: int | None = None
    reference: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "path": self.path,
            "hash": self.hash,
            "size": self.size,
            "nfiles": self.nfiles,
            "reference": self.reference,
        }
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: object, source: str) -> ModelRef:
        if not isinstance(data, dict):
            raise StateFileError(f"{source}: 'model' must be a mapping")
        reference = model.optional(data, "reference", str, source)
        if "hash" not in data:
            if reference is None:
                raise StateFileError(f"{source}: 'model' needs a 'hash' or a 'reference'")
            return cls(reference=reference)
        art = Artifact.from_dict(data, source, "model")
        return cls(art.path, art.hash, art.size, art.nfiles, reference)

    @property
    def artifact(self) -> Artifact | None:
        if self.path is None or self.hash is None or self.size is None:
            return None
        return Artifact(self.path, self.hash, self.size, self.nfiles)


@dataclass(frozen=True)
class Release:
    name: str
    state_id: str
    created: str
    author: Mapping[str, Any]
    message: str
    code: Mapping[str, Any]
    model: ModelRef | None
    data: tuple[Artifact, ...]
    runs: tuple[RunRecord, ...]
    environment: Mapping[str, Any]
    allow_dirty: bool = False
    dirty: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "relstate": FORMAT_VERSION,
            "kind": KIND,
            "name": self.name,
            "state_id": self.state_id,
            "created": self.created,
            "author": dict(self.author),
            "message": self.message,
            "code": dict(self.code),
            "allow_dirty": self.allow_dirty or None,
            "dirty": list(self.dirty) or None,
            "model": self.model.to_dict() if self.model else None,
            "data": [a.to_dict() for a in self.data],
            "runs": [_run_body(r) for r in self.runs],
            "environment": dict(self.environment),
        }
        data.update(self.extra)
        return model.ordered(data, KEYS)

    @property
    def run_names(self) -> list[str]:
        return [r.name for r in self.runs]

    def artifacts(self) -> list[Artifact]:
        """Every stored object this release needs: its data state, the runs' outputs and
        the model. (A run's dependencies are either in the data state or files Git
        carries itself.)"""
        found = list(self.data)
        for run in self.runs:
            found.extend(run.outs)
        if self.model is not None and self.model.artifact is not None:
            found.append(self.model.artifact)
        return found

    @classmethod
    def from_dict(cls, data: object, source: str) -> Release:
        doc = model.check_header(data, source, KIND)
        name = check_release_name(model.require(doc, "name", str, source))
        state_id = model.check_hash(model.require(doc, "state_id", str, source), source, "state_id")
        runs = []
        for i, body in enumerate(model.optional(doc, "runs", list, source) or []):
            if not isinstance(body, dict):
                raise StateFileError(f"{source}: runs[{i}] must be a mapping")
            run = RunRecord.from_dict({"relstate": 1, "kind": "run", **body}, source)
            model.check_code(run.code, source, f"runs[{i}].code")
            runs.append(run)
        model_doc = doc.get("model")
        dirty = model.optional(doc, "dirty", list, source) or []
        if not all(isinstance(d, str) for d in dirty):
            raise StateFileError(f"{source}: 'dirty' must be a list of strings")
        author = model.optional(doc, "author", dict, source) or {}
        if not all(isinstance(v, str) for v in author.values()):
            raise StateFileError(f"{source}: 'author' must map names to strings")
        return cls(
            name=name,
            state_id=state_id,
            created=model.optional(doc, "created", str, source) or "",
            author=author,
            message=model.optional(doc, "message", str, source) or "",
            code=model.check_code(doc.get("code"), source),
            model=None if model_doc is None else ModelRef.from_dict(model_doc, source),
            data=tuple(
                Artifact.from_dict(a, source, "data")
                for a in model.optional(doc, "data", list, source) or []
            ),
            runs=tuple(runs),
            environment=model.optional(doc, "environment", dict, source) or {},
            allow_dirty=bool(model.optional(doc, "allow_dirty", bool, source)),
            dirty=tuple(dirty),
            extra=model.extras(doc, KEYS),
        )


def _run_body(record: RunRecord) -> dict[str, Any]:
    """A run record as embedded in a release: the record without its file header."""
    body = record.to_dict()
    body.pop("relstate", None)
    body.pop("kind", None)
    return body


def check_model_path(path: str, source: str) -> str:
    return check_relpath(path, source, "model.path")

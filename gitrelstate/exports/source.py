"""The state an export describes: a release, or one run seen as a release of its own.

``resolve`` is the one place a reference becomes that state, through the resolver
``diff`` and ``reproduce`` use, so every format accepts the same references (and aliases,
once that resolver knows them). Releases are read through ``releases.registry``, runs
through ``runs.records``; the only other input is the clone's repository URL, credentials
stripped. What the formats show of a state passes here, once, through the redaction every
sink applies (``guard.secrets.redact``): no format redacts on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gitrelstate import git, hashing, refs, ui
from gitrelstate.errors import RelstateError
from gitrelstate.exports import common
from gitrelstate.guard import secrets
from gitrelstate.releases import registry
from gitrelstate.repo import Repo
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.state.release import ModelRef, Release


@dataclass(frozen=True)
class ExportState:
    """What every format reads: a release, or a run exported on its own (``kind: run``)."""

    kind: str  # "release" | "run"
    name: str
    state_id: str  # a release's state_id; a run's record id (record_id)
    created: str  # UTC, YYYY-MM-DDTHH:MM:SSZ: the release's time, a run's finish
    author: Mapping[str, Any]
    message: str
    code: Mapping[str, Any]
    model: ModelRef | None
    data: tuple[Artifact, ...]  # sorted by path
    runs: tuple[RunRecord, ...]  # in pipeline order (upstream first)
    environment: Mapping[str, Any]
    repository: str | None  # the clone's remote, credentials stripped (common.clean_url)
    run_ids: Mapping[str, str]  # stage -> content id of its record as recorded (record_id)

    @property
    def label(self) -> str:
        return f"{self.kind} '{self.name}'"

    @property
    def model_artifact(self) -> Artifact | None:
        return self.model.artifact if self.model is not None else None

    def outputs(self) -> list[Artifact]:
        """Every output of a bound run, once per path, sorted by path."""
        found: dict[str, Artifact] = {}
        for run in self.runs:
            for out in run.outs:
                found.setdefault(out.path, out)
        return [found[p] for p in sorted(found)]

    def producer(self, path: str) -> RunRecord | None:
        """The bound run that wrote ``path`` (None for source data)."""
        return next((r for r in self.runs if any(o.path == path for o in r.outs)), None)

    def lineage(self, path: str) -> list[RunRecord]:
        """The runs ``path`` comes from: its producer and every run upstream of it."""
        chain: list[RunRecord] = []
        todo = [path]
        while todo:
            run = self.producer(todo.pop())
            if run is not None and run not in chain:
                chain.append(run)
                todo.extend(d.path for d in run.deps)
        return chain

    def model_run(self) -> RunRecord | None:
        art = self.model_artifact
        return self.producer(art.path) if art is not None else None

    def started(self) -> str:
        return min((r.started for r in self.runs if r.started), default=self.created)

    def finished(self) -> str:
        return max((r.finished for r in self.runs if r.finished), default=self.created)

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Metrics of every bound run: file -> {key -> value} (as ``diff`` merges them)."""
        return _merged(self.runs, "metrics")


def _merged(runs: tuple[RunRecord, ...], what: str) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: r.name):
        for file, values in getattr(run, what).items():
            merged.setdefault(file, {}).update(values)
    return merged


def record_id(record: RunRecord) -> str:
    """A run record's content id (blake3 over its canonical JSON, as ``state_id`` is made):
    the same record bound in two releases keeps one id."""
    canonical = json.dumps(
        record.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashing.content_id(hashing.hash_bytes(canonical.encode("utf-8")))


def resolve(repo: Repo, ref: str) -> ExportState:
    """The state ``ref`` names, read as every command reads a reference
    (:func:`gitrelstate.refs.resolve`: a release, an alias, a run; ``release:``,
    ``alias:``, ``run:`` force one reading)."""
    if ref in refs.WORK_TREE_NAMES:
        raise RelstateError(
            "export takes a release or a run, not the work tree",
            hint="make a release first: git relstate release NAME --model PATH",
        )
    found = refs.resolve(repo, ref, work_tree=False)
    repository = repository_url(repo)
    if found.release is not None:
        return from_release(found.release, repository)
    if found.run is not None:
        return from_run(repo, found.run, repository)
    raise RelstateError(
        f"export takes a release, an alias or a run, not a git revision ('{ref}')",
        hint="see 'git relstate list' for releases, aliases and runs",
    )


def _clean(doc: Any) -> Any:
    """What an export shows of a state file, through the one redaction every sink applies
    (guard.secrets.redact). No key: a value that would need a new digest becomes
    ``{redacted: unkeyed}``; an export neither reads nor creates the clone's key."""
    return secrets.redact(doc, None)


def _clean_run(run: RunRecord) -> RunRecord:
    doc = _clean(
        {
            "command": list(run.command),
            "params": {f: dict(v) for f, v in run.params.items()},
            "metrics": {f: dict(v) for f, v in run.metrics.items()},
            "environment": dict(run.environment),
        }
    )
    return replace(
        run,
        command=tuple(doc["command"]),
        params=doc["params"],
        metrics=doc["metrics"],
        environment=doc["environment"],
        extra={},  # env_vars, param_keys and unknown keys: no format shows them
    )


def _clean_model(model: ModelRef | None) -> ModelRef | None:
    if model is None or model.reference is None:
        return model
    return replace(model, reference=str(_clean({"model": model.reference})["model"]))


def from_release(release: Release, repository: str | None) -> ExportState:
    top = _clean(
        {
            "author": dict(release.author),
            "message": release.message,
            "code": dict(release.code),
            "environment": dict(release.environment),
        }
    )
    return ExportState(
        kind="release",
        name=release.name,
        state_id=release.state_id,
        created=release.created,
        author=top["author"],
        message=top["message"],
        code=top["code"],
        model=_clean_model(release.model),
        data=tuple(sorted(release.data, key=lambda a: a.path)),
        runs=tuple(_clean_run(r) for r in _pipeline_order(release.runs)),
        environment=top["environment"],
        repository=repository,
        run_ids={r.name: record_id(r) for r in release.runs},
    )


def from_run(repo: Repo, record: RunRecord, repository: str | None) -> ExportState:
    """One run as a state: its data are the inputs and outputs Git does not carry."""
    data: dict[str, Artifact] = {}
    for art in (*record.deps, *record.outs):
        if art.path not in data and not git.is_tracked(repo.root, art.path):
            data[art.path] = art
    clean = _clean_run(record)
    return ExportState(
        kind="run",
        name=record.name,
        state_id=record_id(record),
        created=record.finished,
        author={},
        message="",
        code=_clean({"code": dict(record.code)})["code"],
        model=None,
        data=tuple(data[p] for p in sorted(data)),
        runs=(clean,),
        environment=clean.environment,
        repository=repository,
        run_ids={record.name: record_id(record)},
    )


def _pipeline_order(runs: tuple[RunRecord, ...]) -> tuple[RunRecord, ...]:
    """Upstream stages first (a stage after every stage that made one of its inputs), ties
    by start time, finish and name: a stable order for every format, even when the
    recorded times (whole seconds) are equal."""

    def key(r: RunRecord) -> tuple[str, str, str]:
        return (r.started, r.finished, r.name)

    made_by = {o.path: r.name for r in runs for o in r.outs}
    needs = {r.name: {made_by[d.path] for d in r.deps if made_by.get(d.path, r.name) != r.name}
             for r in runs}  # fmt: skip
    todo = sorted(runs, key=key)
    done: list[RunRecord] = []
    while todo:
        ready = [r for r in todo if not needs[r.name] - {d.name for d in done}]
        chosen = ready[0] if ready else todo[0]  # a cycle (never recorded): time order
        done.append(chosen)
        todo.remove(chosen)
    return tuple(done)


def repository_url(repo: Repo) -> str | None:
    """The clone's ``origin`` (else its first remote), as a shareable URL: credentials,
    query and fragment removed; None for a local path or no remote."""
    url = git.run(repo.root, ["config", "--get", "remote.origin.url"], check=False).strip()
    if not url:
        names = sorted(git.run(repo.root, ["remote"], check=False).split())
        if names:
            url = git.run(
                repo.root, ["config", "--get", f"remote.{names[0]}.url"], check=False
            ).strip()
    return common.clean_url(url) if url else None


@dataclass(frozen=True)
class Previous:
    """The release made before the exported one (for the model card's deltas)."""

    name: str
    metrics: dict[str, dict[str, Any]]


def previous_release(repo: Repo, state: ExportState) -> Previous | None:
    """The newest release created before ``state`` (None for a run, or the first release)."""
    if state.kind != "release":
        return None
    try:
        made = registry.all_releases(repo)
    except RelstateError as exc:
        ui.warn(f"metric deltas left out: a release could not be read ({exc.message})")
        return None
    earlier = [r for r in made if (r.created, r.name) < (state.created, state.name)]
    if not earlier:
        return None
    prev = max(earlier, key=lambda r: (r.created, r.name))
    return Previous(prev.name, _merged(prev.runs, "metrics"))

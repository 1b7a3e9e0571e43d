"""One shape for every state ``diff`` compares: a release, a run, a git revision, the work tree.

Each layer is computed on first use, so ``diff --layer data`` never captures an
environment and ``diff --layer environment`` never walks the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gitrelstate import git, refs, ui, values
from gitrelstate.environment.variables import configured_patterns
from gitrelstate.errors import RelstateError
from gitrelstate.guard import limits
from gitrelstate.releases import aliases
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import codestate, executor, records
from gitrelstate.state import yamlio
from gitrelstate.state.aliases import AliasFile
from gitrelstate.state.manifest import Manifest
from gitrelstate.state.pointer import SUFFIX, DataPointer, parse_canonical
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.state.release import ModelRef, Release

WORK_TREE = refs.WORK_TREE


@dataclass
class State:
    """What a reference names, layer by layer."""

    repo: Repo
    kind: str  # "release" | "run" | "commit" | "worktree"
    name: str
    commit: str | None
    release: Release | None = None
    run: RunRecord | None = None
    alias: str | None = None  # the alias a release was reached through
    # Where the model lies when this state is no release (see resolve_pair).
    model_path: str | None = None
    # Manifests of directories whose listing is known only in memory (work tree).
    manifests: dict[str, Manifest] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.kind == "release":
            return f"release {self.name}" + (f" (alias {self.alias})" if self.alias else "")
        if self.kind == "run":
            return f"run {self.name}"
        if self.kind == "commit":
            return f"{self.name} ({(self.commit or '')[:12]})"
        return WORK_TREE

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "commit": self.commit}
        if self.alias is not None:
            out["alias"] = self.alias
        if self.release is not None:
            out["state_id"] = self.release.state_id
            out["created"] = self.release.created
        if self.run is not None:
            out["finished"] = self.run.finished
        return out

    # -- layers ----------------------------------------------------------------

    @cached_property
    def code(self) -> dict[str, Any]:
        if self.release is not None:
            return dict(self.release.code)
        if self.run is not None:
            return dict(self.run.code)
        if self.kind == "worktree":
            return codestate.code_state(self.repo)
        return {"commit": self.commit, "dirty": False}

    @cached_property
    def runs(self) -> dict[str, RunRecord]:
        if self.release is not None:
            found = list(self.release.runs)
        elif self.run is not None:
            found = [self.run]
        elif self.kind == "worktree":
            found = records.all_records(self.repo)
        else:
            found = records.records_at(self.repo, self.commit or "HEAD")
        return {r.name: r for r in sorted(found, key=lambda r: r.name)}

    @cached_property
    def data(self) -> dict[str, Artifact]:
        if self.release is not None:
            return {a.path: a for a in self.release.data}
        if self.run is not None:
            # Data, not code: files Git carries are the code layer's business.
            return {
                a.path: a
                for a in (*self.run.deps, *self.run.outs)
                if not git.is_tracked(self.repo.root, a.path)
            }
        if self.kind == "worktree":
            return self._work_tree_data()
        return _pointers_at(self.repo, self.commit or "HEAD")

    @cached_property
    def params(self) -> dict[str, dict[str, Any]]:
        if self.kind == "worktree":
            return self._live_values(params=True)
        merged: dict[str, dict[str, Any]] = {}
        for record in self.runs.values():
            for file, flat in record.params.items():
                merged.setdefault(file, {}).update(flat)
        return merged

    @cached_property
    def metrics(self) -> dict[str, dict[str, Any]]:
        if self.kind == "worktree":
            return self._live_values(params=False)
        merged: dict[str, dict[str, Any]] = {}
        for record in self.runs.values():
            for file, flat in record.metrics.items():
                merged.setdefault(file, {}).update(flat)
        return merged

    @cached_property
    def model(self) -> ModelRef | None:
        """The release's model; for another state, what it holds at ``model_path``."""
        if self.release is not None:
            return self.release.model
        if self.model_path is None:
            return None
        found = self.data.get(self.model_path)
        if found is None:
            outs = (o for r in self.runs.values() for o in r.outs)
            found = next((o for o in outs if o.path == self.model_path), None)
        if found is None:
            return None
        return ModelRef(found.path, found.hash, found.size, found.nfiles)

    @cached_property
    def aliases(self) -> AliasFile | None:
        """The aliases this state holds: the work tree's or a commit's (None for a
        release or a run, which hold none)."""
        if self.kind == "worktree":
            return aliases.read(self.repo)
        if self.kind == "commit" and self.commit is not None:
            return aliases.read_at(self.repo, self.commit) or AliasFile()
        return None

    @cached_property
    def environment(self) -> tuple[dict[str, Any] | None, str]:
        """(environment document, where it came from); None when nothing recorded one."""
        if self.release is not None:
            return dict(self.release.environment) or None, f"recorded in {self.label}"
        if self.run is not None:
            return dict(self.run.environment) or None, f"recorded by {self.label}"
        if self.kind == "worktree":
            return self._live_environment(), "captured now"
        note = _commit_note(self.repo, self.commit)
        if note is not None:
            return note, f"recorded when {self.name} was committed"
        newest = max(self.runs.values(), key=lambda r: r.finished, default=None)
        if newest is not None:
            return dict(newest.environment), f"recorded by run {newest.name} at {self.name}"
        return None, f"no environment is recorded for {self.label}"

    # -- the work tree -----------------------------------------------------------

    def _work_tree_data(self) -> dict[str, Artifact]:
        """What the tracked paths hold now (not what their pointers say)."""
        from gitrelstate.workspace import pointers, tracking
        from gitrelstate.workspace.compare import compare

        found: dict[str, Artifact] = {}
        for tracked in pointers.load_all(self.repo):
            p = tracked.pointer
            state = compare(self.repo, tracked)
            if state.clean or state.state == "unknown":
                found[tracked.data_rel] = Artifact(tracked.data_rel, p.hash, p.size, p.nfiles)
                continue
            if state.state == "missing":
                continue
            snap = tracking.snapshot(self.repo, tracked.data_abs(self.repo), store=False)
            found[tracked.data_rel] = Artifact(tracked.data_rel, snap.hash, snap.size, snap.nfiles)
            if snap.manifest is not None:
                self.manifests[snap.hash] = snap.manifest
        self.repo.statcache.flush()
        return found

    def _live_values(self, *, params: bool) -> dict[str, dict[str, Any]]:
        """Params (or metrics) as the files in the work tree hold them now."""
        out: dict[str, dict[str, Any]] = {}
        for record in self.runs.values():
            if params:
                keyed = record.extra.get("param_keys") or {}
                files = {f: tuple(keyed.get(f, ())) for f in record.params}
            else:
                files = {f: () for f in record.metrics}
            for file, keys in files.items():
                # A record names the file: it must stay inside the work tree (a pull
                # request must not make diff print ../creds.json).
                path = self.repo.resolve_inside(
                    file, f"{RUNS_DIR}/{record.name}.yaml", "params" if params else "metrics"
                )
                if not path.is_file():
                    continue
                flat = values.flatten(values.load_structured(path, file))
                chosen = values.select(flat, keys, file) if keys else flat
                out.setdefault(file, {}).update(chosen)
        return out

    def _live_environment(self) -> dict[str, Any]:
        from gitrelstate.environment import capture_environment, load_or_create_secret_key

        newest = max(self.runs.values(), key=lambda r: r.finished, default=None)
        python = (
            executor.interpreter_for(newest.command, self.repo.abspath(newest.wdir))
            if newest is not None
            else None
        )
        variables = tuple(configured_patterns(self.repo))
        for record in self.runs.values():
            variables += tuple(record.extra.get("env_vars", []))
        return capture_environment(
            python=python,
            repo_root=self.repo.root,
            variables=variables,
            secret_key=load_or_create_secret_key(self.repo.private_dir),
        )


def _commit_note(repo: Repo, commit: str | None) -> dict[str, Any] | None:
    """The environment the post-commit hook recorded for ``commit`` (a git note)."""
    if commit is None:
        return None
    from gitrelstate.environment import envnotes

    try:
        return envnotes.read_note(repo, commit)
    except RelstateError as exc:  # a damaged note: compare as "not recorded", say why
        ui.warn(f"ignoring the environment note of {commit[:12]}: {exc.message}")
        return None


def _pointers_at(repo: Repo, rev: str) -> dict[str, Artifact]:
    """Tracked paths as the pointers committed in ``rev`` name them."""
    listing = git.run(repo.root, ["ls-tree", "-r", "-l", "-z", rev], check=False)
    blobs: dict[str, str] = {}
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 4 and fields[1] == "blob" and path.endswith(SUFFIX):
            # Refused by its size before git hands over the bytes.
            limits.POINTER.check(int(fields[3]) if fields[3].isdigit() else 0, f"{rev}:{path}")
            blobs[fields[2]] = path
    found: dict[str, Artifact] = {}
    for sha, raw in git.read_blobs(repo.root, list(blobs)).items():
        where = f"{rev}:{blobs[sha]}"
        text = raw.decode("utf-8", "replace")
        doc = parse_canonical(text) or yamlio.loads(raw, where, cap=limits.POINTER)
        pointer = DataPointer.from_dict(doc, where)
        folder, _, name = blobs[sha].rpartition("/")
        if name[: -len(SUFFIX)] != pointer.path:
            continue  # a pointer describing something other than its neighbour
        data_rel = f"{folder}/{pointer.path}" if folder else pointer.path
        found[data_rel] = Artifact(data_rel, pointer.hash, pointer.size, pointer.nfiles)
    return dict(sorted(found.items()))


# -- resolving a reference -------------------------------------------------------


def resolve(repo: Repo, ref: str | None) -> State:
    """The state ``ref`` names (:func:`gitrelstate.refs.resolve`: a release, an alias, a
    run, a git revision; None or ``.`` is the work tree)."""
    found = refs.resolve(repo, ref)
    return State(
        repo, found.kind, found.name, found.commit, found.release, found.run, alias=found.alias
    )


def resolve_pair(repo: Repo, ref_a: str | None, ref_b: str | None) -> tuple[State, State]:
    """Both sides of a comparison. A release names its model; a run, a commit or the work
    tree compared with it has as its model what it holds at that path (so ``diff v1``
    compares the model in the work tree, not "nothing")."""
    a, b = resolve(repo, ref_a), resolve(repo, ref_b)
    for this, other in ((a, b), (b, a)):
        if this.release is None and other.release is not None and other.release.model:
            this.model_path = other.release.model.path
    return a, b

"""``git relstate import-dvc``: a DVC project's stages and data as gitrelstate's.

Nothing runs, and DVC's own files (``dvc.yaml``, ``dvc.lock``, ``*.dvc``, ``.dvc/``)
are left as they are. For each stage of each ``dvc.yaml``:

- what ``dvc.lock`` recorded is checked against the work tree, as ``dvc status`` would:
  the command, every dependency's md5, the params values, every output's md5. When all
  hold, the stage is imported **up to date**: its record binds the blake3 ids of the
  same content, so ``repro`` runs nothing. Otherwise it is imported **stale**
  (``pending``, with the reasons, said per stage) and ``repro`` runs it;
- outputs become tracked data (pointers, stored in the cache); ``cache: false``
  outputs stay in Git as they were (``git_outs``); an output missing from the work tree
  but present in DVC's cache is imported from there (``checkout`` puts it back);
- plots keep DVC's properties (``plots`` in the record).

``.dvc`` files become data pointers the same way. ``.gitignore`` lines that would hide
a pointer are fixed.
"""

from __future__ import annotations

import posixpath
import shutil
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitrelstate import git, values
from gitrelstate.dvcimport import convert, dvcyaml
from gitrelstate.dvcimport.dvchash import DvcCache, DvcHash, manifest_md5, md5_of
from gitrelstate.dvcimport.dvclock import LockEntry, read_dvcfile, read_lock
from gitrelstate.dvcimport.dvcyaml import Stage
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import binding, executor, runcache, staleness
from gitrelstate.runs.codefiles import code_files
from gitrelstate.runs.codestate import code_state
from gitrelstate.runs.records import all_records
from gitrelstate.runs.spec import StageSpec
from gitrelstate.state.pointer import SUFFIX
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.workspace import gitignore, pointers, tracking


@dataclass
class Imported:
    """What the import did, for the report."""

    fresh: list[tuple[str, str]] = field(default_factory=list)  # (name, DVC name)
    stale: list[tuple[str, str, list[str]]] = field(default_factory=list)
    data: list[tuple[str, str]] = field(default_factory=list)  # (path, .dvc file)
    from_cache: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignore_fixed: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)


def find_files(repo: Repo, base: str) -> tuple[list[str], list[str]]:
    """(dvc.yaml files, .dvc files) under ``base`` that Git would see."""
    spec = [f":(glob){base}/**/dvc.yaml" if base else ":(glob)**/dvc.yaml"]
    spec += [f":(glob){base}/**/*.dvc" if base else ":(glob)**/*.dvc"]
    listed = git.ls_files(repo.root, ["--cached", "--others", "--exclude-standard", "--", *spec])
    yamls = sorted({p for p in listed if p.rpartition("/")[2] == "dvc.yaml"})
    dvcs = sorted({p for p in listed if p.endswith(".dvc") and not p.startswith(".dvc/")})
    return yamls, dvcs


def import_project(repo: Repo, base: str) -> Imported:
    """Import every dvc.yaml and .dvc file under ``base`` (repo-relative, '' = all)."""
    yamls, dvcs = find_files(repo, base)
    if not yamls and not dvcs:
        raise RelstateError(
            f"no dvc.yaml or .dvc file in {base or 'this repository'}",
            hint="run import-dvc in (or give the path of) the DVC project",
        )
    done = Imported()
    stages: list[Stage] = []
    plots: list[dvcyaml.TopPlot] = []
    locks: dict[str, dict[str, LockEntry]] = {}
    for rel in yamls:
        project = dvcyaml.read(repo, rel)
        stages += project.stages
        plots += project.plots
        locks[rel] = read_lock(repo, posixpath.join(posixpath.dirname(rel), "dvc.lock"))
    added = [a for rel in dvcs for a in read_dvcfile(repo, rel)]
    existing = {r.name: r for r in all_records(repo)}
    ours = {n for n, r in existing.items() if _from_dvc(r)}
    names = convert.stage_names(stages, set(existing) - ours)
    _check_overlaps(stages, added, [r for n, r in existing.items() if n not in ours])
    with repo.locked():
        session = _Session(repo, done)
        for item in added:
            session.add_data(item.path, item.hash, item.cache, item.dvcfile)
        code = code_state(repo)
        for stage in _upstream_first(stages):
            lock = locks[stage.dvcfile].get(stage.name)
            session.add_stage(stage, names[stage.addressing], lock, plots, code)
        done.ignore_fixed, hidden = _fix_ignores(repo, done.written)
        done.warnings += hidden
        repo.statcache.flush()
    return done


def _upstream_first(stages: Sequence[Stage]) -> list[Stage]:
    """The stages in an order where every stage comes after those whose outputs it
    reads (a cycle, which DVC refuses too, keeps the rest in file order)."""
    from gitrelstate.runs.graph import overlaps

    todo = list(stages)
    done: list[Stage] = []
    while todo:
        made_later = [o.path for s in todo for o in s.outs]
        ready = [
            s
            for s in todo
            if not any(
                overlaps(d, o)
                for d, _ in s.deps
                for o in made_later
                if o not in {x.path for x in s.outs}
            )
        ]
        if not ready:
            ready = todo[:1]
        done += ready
        todo = [s for s in todo if s not in ready]
    return done


def _from_dvc(record: RunRecord) -> bool:
    imported = record.extra.get("imported")
    return isinstance(imported, dict) and imported.get("from") == "dvc"


def _check_overlaps(
    stages: Sequence[Stage], added: Sequence[Any], others: Sequence[RunRecord]
) -> None:
    from gitrelstate.runs.graph import overlaps

    made: list[tuple[str, str]] = [(o.path, s.addressing) for s in stages for o in s.outs]
    made += [(a.path, a.dvcfile) for a in added]
    made += [(o.path, f"stage '{r.name}'") for r in others for o in r.outs]
    for i, (a, who) in enumerate(made):
        for b, other in made[i + 1 :]:
            if who != other and overlaps(a, b):
                raise RelstateError(
                    f"{a} ({who}) overlaps {b} ({other}): one path is made by one stage",
                    hint="fix the DVC project (DVC refuses this too), or remove the "
                    "gitrelstate stage first",
                )


class _Session:
    """One import: DVC's cache, md5s computed once, what was written."""

    def __init__(self, repo: Repo, done: Imported) -> None:
        self.repo = repo
        self.done = done
        self.cache = DvcCache(repo.root)
        self.md5s: dict[tuple[str, bool], str | None] = {}
        # What was imported from DVC's cache (not in the work tree): its verified md5.
        self.known_md5: dict[str, str] = {}
        # Content ids of what this import stored: path -> (id, size, file count).
        self.imported_ids: dict[str, tuple[str, int, int | None]] = {}

    def md5(self, rel: str, legacy: bool) -> str | None:
        key = (rel, legacy)
        if key not in self.md5s:
            path = self.repo.resolve_inside(rel, "dvc.lock", "path")
            self.md5s[key] = (
                md5_of(path, dos2unix=legacy) if path.exists() else self.known_md5.get(rel)
            )
        return self.md5s[key]

    # -- data ------------------------------------------------------------------------

    def add_data(self, rel: str, expected: DvcHash | None, cache: bool, where: str) -> None:
        """A ``dvc add``ed path: a pointer (content checked against its md5)."""
        present = self.repo.abspath(rel).exists()
        if present and expected is not None and self.md5(rel, expected.legacy) != expected.md5:
            self.done.warnings.append(
                f"{rel} differs from {where}; imported as it is in the work tree "
                "(DVC would call it modified)"
            )
        if not present and (expected is None or not self._from_dvc_cache(rel, expected)):
            self.done.warnings.append(
                f"{rel} ({where}) is neither in the work tree nor in DVC's cache: not imported"
            )
            return
        if not cache:
            self.done.warnings.append(f"{rel} ({where}) has cache: false: left to Git")
            return
        self._track(rel)
        self.done.data.append((rel, where))

    def _track(self, rel: str) -> Artifact:
        artifact = binding.bind_output(self.repo, rel)
        self.done.written.append(pointers.pointer_rel_for(rel))
        return artifact

    def _from_dvc_cache(self, rel: str, expected: DvcHash) -> bool:
        """Store the object(s) DVC's cache holds for ``rel`` in gitrelstate's cache and
        write the pointer; the work tree is left alone. False when they are not there."""
        staging = Path(tempfile.mkdtemp(prefix="dvcimport-", dir=self._tmp_root()))
        try:
            target = staging / posixpath.basename(rel)
            if not self._materialize(expected, target):
                return False
            snap = tracking.snapshot(self.repo, target, store=True, label=f"importing {rel}")
            pointer = tracking.pointer_from(snap, posixpath.basename(rel), None)
            pointer_rel = pointers.pointer_rel_for(rel)
            self.repo.abspath(pointer_rel).parent.mkdir(parents=True, exist_ok=True)
            pointers.save(self.repo, pointer_rel, pointer)
            data = self.repo.abspath(rel)
            gitignore.ensure_ignored(data.parent, data.name)
            self.done.written.append(pointer_rel)
            self.done.from_cache.append(rel)
            self.imported_ids[rel] = (snap.hash, snap.size, snap.nfiles)
            self.known_md5[rel] = expected.md5
            return True
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _tmp_root(self) -> Path:
        root = self.repo.private_dir / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _materialize(self, expected: DvcHash, target: Path) -> bool:
        """Copy DVC's cached content (checked against its md5) to ``target``."""
        if not expected.is_dir:
            src = self.cache.object(expected.md5, legacy=expected.legacy)
            if src is None:
                return False
            shutil.copyfile(src, target)
            return md5_of(target, dos2unix=expected.legacy) == expected.md5
        entries = self.cache.manifest(expected.md5, legacy=expected.legacy)
        if entries is None or manifest_md5(entries) != expected.md5:
            return False
        for entry in entries:
            rel = entry["relpath"]
            if rel.startswith("/") or ".." in rel.split("/"):
                return False
            src = self.cache.object(entry["md5"], legacy=expected.legacy)
            if src is None:
                return False
            dst = target / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        return md5_of(target, dos2unix=expected.legacy) == expected.md5

    # -- stages ----------------------------------------------------------------------

    def add_stage(
        self,
        stage: Stage,
        name: str,
        lock: LockEntry | None,
        plots: Sequence[dvcyaml.TopPlot],
        code: Mapping[str, Any],
    ) -> None:
        argv = convert.argv_of(stage.cmd)
        spec = convert.definition(stage, name, convert.stage_plots(stage, plots), argv)
        reasons = self._lock_problems(stage, lock)
        deps, missing_deps = self._deps(spec)
        outs, missing_outs = self._outs(stage, spec, lock, reasons)
        params = self._params(spec, reasons)
        metrics = {}
        for rel in spec.metrics:
            try:
                metrics[rel] = values.flatten(
                    values.load_structured(self.repo.resolve_inside(rel, name, "metrics"), rel)
                )
            except RelstateError:
                continue
        extra = executor.definition_extra(spec)
        if reasons or missing_deps or missing_outs:
            extra["pending"] = {
                "reason": "imported from DVC stale: " + "; ".join(reasons[:5] or ["not run"]),
                "deps": missing_deps,
                "outs": [p for p in missing_outs if p not in spec.metrics],
                "metrics": [p for p in missing_outs if p in spec.metrics],
            }
        found = code_files(self.repo, spec.command, spec.wdir, (*spec.deps, *spec.all_outs))
        files = [binding.hash_only(self.repo, rel).to_dict() for rel in found]
        now = executor.now_utc()
        record = RunRecord(
            name=name,
            command=spec.command,
            wdir=spec.wdir,
            code={**code, **({"files": files} if files else {})},
            deps=tuple(deps),
            outs=tuple(outs),
            params=params,
            metrics=metrics,
            environment={},
            started=now,
            finished=now,
            duration=0.0,
            exit_status=0,
            host=socket.gethostname(),  # written here, by this import
            extra=extra,
        )
        executor.write_record(self.repo, record)
        self.done.written.append(f"{RUNS_DIR}/{name}.yaml")
        if "pending" in extra:
            self.done.stale.append((name, stage.addressing, reasons or ["never run"]))
        else:
            runcache.remember(self.repo, record)
            self.done.fresh.append((name, stage.addressing))

    def _lock_problems(self, stage: Stage, lock: LockEntry | None) -> list[str]:
        """Why dvc.lock no longer describes the stage (``dvc status``'s answer)."""
        if lock is None:
            return ["never run by DVC (no entry in dvc.lock)"]
        reasons = []
        if lock.cmd != stage.cmd:
            reasons.append("command changed since dvc.lock")
        if stage.frozen:
            return reasons
        for rel, written in stage.deps:
            expected = lock.deps.get(written)
            if expected is None:
                reasons.append(f"dependency {written} is not in dvc.lock")
                continue
            current = self.md5(rel, expected.legacy)
            if current is None:
                reasons.append(f"dependency {written} is missing")
            elif current != expected.md5:
                reasons.append(f"dependency {written} changed since dvc.lock")
        for params in stage.params:
            reasons += self._params_problems(params, lock)
        return reasons

    def _params_problems(self, params: dvcyaml.Params, lock: LockEntry) -> list[str]:
        recorded = values.flatten(dict(lock.params.get(params.written) or {}))
        try:
            current = values.flatten(
                values.load_structured(
                    self.repo.resolve_inside(params.path, "dvc.yaml", "params"), params.path
                )
            )
            if params.keys is not None:
                current = values.select(current, params.keys, params.path)
        except RelstateError as exc:
            return [f"params {params.written}: {exc.message}"]
        found = []
        for key in sorted(set(recorded) | set(current)):
            if key not in current or key not in recorded:
                found.append(f"params {params.written}: {key} is new or removed")
            elif not staleness.same_value(recorded[key], current[key]):
                found.append(f"params {params.written}: {key} changed since dvc.lock")
        return found

    def _deps(self, spec: StageSpec) -> tuple[list[Artifact], list[str]]:
        made = set(self.imported_ids)
        deps, missing = [], []
        params = {f for f, _ in spec.params}
        for rel in dict.fromkeys([*spec.deps, *params]):
            if not self.repo.abspath(rel).exists():
                if rel in self.imported_ids:  # another stage's output, from DVC's cache
                    hash_, size, nfiles = self.imported_ids[rel]
                    deps.append(Artifact(rel, hash_, size, nfiles))
                else:
                    missing.append(rel)
                continue
            if rel in made or _has_pointer(self.repo, rel) or rel in params:
                deps.append(binding.hash_only(self.repo, rel))
            else:
                deps.append(binding.bind_dependency(self.repo, rel))
                if _has_pointer(self.repo, rel):
                    self.done.written.append(rel + SUFFIX)
        return deps, missing

    def _outs(
        self, stage: Stage, spec: StageSpec, lock: LockEntry | None, reasons: list[str]
    ) -> tuple[list[Artifact], list[str]]:
        outs, missing = [], []
        for out in stage.outs:
            expected = lock.outs.get(out.written) if lock is not None else None
            present = self.repo.abspath(out.path).exists()
            if present and expected is not None:
                if self.md5(out.path, expected.legacy) != expected.md5:
                    if stage.frozen:
                        self.done.warnings.append(
                            f"frozen stage '{spec.name}': {out.written} differs from dvc.lock; "
                            "taken as it is (as 'dvc repro' would)"
                        )
                    else:
                        reasons.append(f"output {out.written} differs from dvc.lock")
            elif present and lock is not None:
                reasons.append(f"output {out.written} is not in dvc.lock")
            if not present:
                if out.cache and expected is not None and self._from_dvc_cache(out.path, expected):
                    hash_, size, nfiles = self.imported_ids[out.path]
                    outs.append(Artifact(out.path, hash_, size, nfiles))
                    continue
                missing.append(out.path)
                if lock is not None:
                    reasons.append(f"output {out.written} is missing")
                continue
            artifact = binding.bind_output(self.repo, out.path, pointer=out.cache)
            if out.cache:
                self.done.written.append(out.path + SUFFIX)
            self.imported_ids[out.path] = (artifact.hash, artifact.size, artifact.nfiles)
            outs.append(artifact)
        return outs, missing

    def _params(self, spec: StageSpec, reasons: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for file, keys in spec.params:
            try:
                flat = values.flatten(
                    values.load_structured(
                        self.repo.resolve_inside(file, spec.name, "params"), file
                    )
                )
                found[file] = (
                    values.select(flat, keys, file) if keys else dict(sorted(flat.items()))
                )
            except RelstateError as exc:
                reasons.append(f"params {file}: {exc.message}")
                found[file] = {}
        return found


def _has_pointer(repo: Repo, rel: str) -> bool:
    return (repo.root / (rel + SUFFIX)).exists() or binding.tracked_folder_of(repo, rel) is not None


def _fix_ignores(repo: Repo, written: Sequence[str]) -> tuple[list[str], list[str]]:
    """Pointers written that a ``.gitignore`` line hides (a pattern DVC or someone wrote
    that also matches ``*.relstate.yaml``): un-ignored by a ``!/name`` line beside them.
    (fixed, warnings): a pointer inside an ignored folder cannot be re-included so."""
    from gitrelstate import fsutil

    pointers_written = sorted({p for p in written if p.endswith(SUFFIX)})
    if not pointers_written:
        return [], []
    out = git.run(
        repo.root,
        ["check-ignore", "--no-index", "-v", "-z", "--stdin"],
        check=False,
        input="".join(f"{p}\0" for p in pointers_written).encode(),
    )
    fields = out.split("\0")
    fixed, warnings = [], []
    for i in range(0, len(fields) - 3, 4):
        source, _, pattern, path = fields[i : i + 4]
        if not path or pattern.startswith("!"):
            continue
        folder, _, name = path.rpartition("/")
        hiding = [p for p in _parents(folder) if _ignored(repo, p)]
        if hiding:
            warnings.append(
                f"{path} is inside {hiding[0]}/, which .gitignore hides: commit it with "
                f"'git add -f {path}' or stop ignoring {hiding[0]}/"
            )
            continue
        line = "!" + gitignore.pattern_for(name)
        target = repo.abspath(folder) / ".gitignore" if folder else repo.root / ".gitignore"
        text = target.read_text("utf-8") if target.exists() else ""
        if line not in text.splitlines():
            sep = "" if not text or text.endswith("\n") else "\n"
            fsutil.write_text_atomic(target, f"{text}{sep}{line}\n")
        fixed.append(f"{path} (was hidden by '{pattern}' in {source})")
    return fixed, warnings


def _parents(folder: str) -> list[str]:
    parts = folder.split("/") if folder else []
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def _ignored(repo: Repo, rel: str) -> bool:
    out = git.run(repo.root, ["check-ignore", "--no-index", "--", rel + "/"], check=False)
    return bool(out.strip())

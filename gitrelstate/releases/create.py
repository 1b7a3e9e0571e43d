"""Making a release state: binding runs, model, data, code and environment, with checks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gitrelstate import faults, fsutil, git, ui
from gitrelstate.environment.variables import configured_patterns
from gitrelstate.errors import RelstateError
from gitrelstate.releases.registry import exists, parse, tag_name
from gitrelstate.repo import Repo
from gitrelstate.runs import codestate, graph, records, staleness
from gitrelstate.state import yamlio
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.state.release import (
    ModelRef,
    Release,
    check_release_name,
    compute_state_id,
    release_path,
)
from gitrelstate.workspace import pointers

# An external model reference: a URI with a scheme (models:/name/1, s3://..., runs:/...).
_REFERENCE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")


@dataclass
class ReleaseRequest:
    name: str
    runs: Sequence[str] = ()
    model: str | None = None
    message: str = ""
    allow_dirty: bool = False
    tag: bool = False
    sign: bool = False


def create(repo: Repo, here: Path, request: ReleaseRequest) -> Release:
    """Check the work tree against what the release binds, then write the release file."""
    name = check_release_name(request.name)
    if exists(repo, name) or _committed_anywhere(repo, name):
        raise RelstateError(
            f"release '{name}' already exists; releases are immutable",
            hint="choose a new name (e.g. a higher version)",
        )
    leftover_tag = (request.tag or request.sign) and _leftover_tag(repo, name)
    if (request.tag or request.sign) and not leftover_tag and _tag_exists(repo, name):
        raise RelstateError(
            f"git tag '{tag_name(name)}' already exists",
            hint=f"choose a new release name, or delete the tag: git tag -d {tag_name(name)}",
        )
    records = _bound_runs(repo, request.runs)
    tracked = pointers.load_all(repo)
    model_ref = _model_ref(repo, here, request.model, tracked, records)
    problems, dirty = _problems(repo, records, tracked)
    if problems:
        raise RelstateError(
            f"cannot release '{name}': the work tree does not match what it would bind:\n"
            + ui.bullets(problems),
            hint="bring stale stages up to date with 'git relstate repro', track or check "
            "out modified data, then release again",
        )
    if dirty and not request.allow_dirty:
        raise RelstateError(
            f"cannot release '{name}': uncommitted code:\n" + ui.bullets(dirty),
            hint="commit your changes first, or record them as dirty with --allow-dirty",
        )
    code = codestate.code_state(repo)
    if code.get("commit") is None:
        raise RelstateError(
            "the repository has no commit yet", hint="commit your code, then release"
        )
    data = tuple(
        Artifact(t.data_rel, t.pointer.hash, t.pointer.size, t.pointer.nfiles)
        for t in sorted(tracked, key=lambda t: t.data_rel)
    )
    doc: dict[str, Any] = Release(
        name=name,
        state_id="",
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        author=_author(repo),
        message=request.message,
        code=code,
        model=model_ref,
        data=data,
        runs=tuple(records),
        environment=_environment(repo, records, model_ref),
        allow_dirty=request.allow_dirty and bool(dirty),
        dirty=tuple(dirty),
    ).to_dict()
    # The id is computed over the document as it reads back, so verify agrees with it.
    readback = yamlio.loads(yamlio.dumps(doc), release_path(name))
    doc["state_id"] = compute_state_id(readback)
    text = yamlio.dumps(doc)
    release = parse(text, release_path(name))
    # Where the file goes, refused before anything is made if a committed symlink on its
    # way (.relstate, .relstate/releases) would send it out of the work tree.
    path = repo.resolve_inside(
        release_path(name), f"release {name}", allow_state=True, follow_symlinks=False
    )
    if request.tag or request.sign:
        if leftover_tag:
            git.run(repo.root, ["tag", "-d", tag_name(name)], check=False)
        faults.checkpoint("releases.tag")
        _make_tag(repo, release, sign=request.sign)
    path.parent.mkdir(parents=True, exist_ok=True)
    fsutil.remove_stale_tmps(path.parent)  # a killed release's temp file: never commit it
    with fsutil.storage_errors():
        faults.checkpoint("releases.write")
        fsutil.write_text_atomic(path, text)
    return release


def _committed_anywhere(repo: Repo, name: str) -> bool:
    if not git.has_commits(repo.root):
        return False
    out = git.run(
        repo.root, ["log", "--all", "--format=%H", "-1", "--", release_path(name)], check=False
    )
    return bool(out.strip())


def _tag_exists(repo: Repo, name: str) -> bool:
    out = git.run(
        repo.root, ["rev-parse", "--verify", "-q", f"refs/tags/{tag_name(name)}"], check=False
    )
    return bool(out.strip())


def _leftover_tag(repo: Repo, name: str) -> bool:
    """Is ``relstate/NAME`` a tag an interrupted ``release NAME --tag`` made before it
    could write the release file? (Called once the file is known not to exist.)"""
    body = git.run(repo.root, ["cat-file", "tag", f"refs/tags/{tag_name(name)}"], check=False)
    _, _, message = body.partition("\n\n")
    return message.startswith(f"gitrelstate release {name}\n")


def _bound_runs(repo: Repo, names: Sequence[str]) -> list[RunRecord]:
    """The named runs and every stage upstream of them; all runs when none is named."""
    every = records.all_records(repo)
    if not names:
        return sorted(every, key=lambda r: r.name)
    by_name = {r.name: r for r in every}
    chosen: dict[str, RunRecord] = {}
    todo = [records.load_record(repo, n) for n in names]
    while todo:
        record = todo.pop()
        if record.name in chosen:
            continue
        chosen[record.name] = by_name.get(record.name, record)
        todo.extend(graph.upstream_of(every, record))
    return sorted(chosen.values(), key=lambda r: r.name)


def _model_ref(
    repo: Repo,
    here: Path,
    given: str | None,
    tracked: list[pointers.Tracked],
    records: list[RunRecord],
) -> ModelRef | None:
    if given is None:
        return None
    if _REFERENCE.match(given):
        return ModelRef(reference=given)
    rel = repo.relpath(here / given)
    for record in records:
        for out in record.outs:
            if out.path == rel:
                return ModelRef(out.path, out.hash, out.size, out.nfiles)
    for t in tracked:
        if t.data_rel == rel:
            p = t.pointer
            return ModelRef(rel, p.hash, p.size, p.nfiles)
    raise RelstateError(
        f"--model {given}: {rel} is neither an output of a bound run nor tracked data",
        hint="track it first (git relstate track PATH), or give an external reference "
        "such as models:/NAME/VERSION",
    )


def _problems(
    repo: Repo, records: list[RunRecord], tracked: list[pointers.Tracked]
) -> tuple[list[str], list[str]]:
    """(blocking problems, uncommitted-code problems) of the work tree.

    A bound run must still describe what its stage reads and makes (the one staleness
    rule, :mod:`gitrelstate.runs.staleness`): its dependencies, the params keys it
    selected, its code files, its outputs. Code the stage cannot have read (a README, an
    unrelated script) changing since the run is no reason to refuse; a run whose code
    was uncommitted, or untracked, and then committed as it was is fine too: what it
    read is what HEAD holds, as the work tree shows."""
    from gitrelstate.workspace.compare import compare

    problems = []
    view = staleness.WorkTree(repo)
    for record in records:
        for reason in staleness.stale_reasons(record, view):
            problems.append(f"run '{record.name}' is stale: {reason}")
    for t in tracked:
        state = compare(repo, t)
        if not state.clean:
            problems.append(f"tracked data {t.data_rel} is {state.state}")
    repo.statcache.flush()
    dirty = [f"{path} ({status})" for status, path in _uncommitted_code(repo)]
    return problems, dirty


def _uncommitted_code(repo: Repo) -> list[tuple[str, str]]:
    """(status, path) of code that differs from HEAD: tracked files changed (M, D, ...)
    and untracked files Git does not ignore (?), gitrelstate's own files never."""
    if not git.has_commits(repo.root):
        return []
    out = git.run(
        repo.root, ["diff", "HEAD", "--name-status", "-z", "--", ".", *codestate.NOT_CODE]
    )
    fields = out.split("\0")
    found = []
    i = 0
    while i + 1 < len(fields):
        status = fields[i]
        step = 3 if status[:1] in ("R", "C") else 2
        found.append((status[:1], fields[i + step - 1]))
        i += step
    found += [("?", path) for path in codestate.untracked_code(repo)]
    return found


def _author(repo: Repo) -> dict[str, str]:
    name = git.run(repo.root, ["config", "user.name"], check=False).strip()
    email = git.run(repo.root, ["config", "user.email"], check=False).strip()
    return {k: v for k, v in (("name", name), ("email", email)) if v}


def _environment(
    repo: Repo, records: list[RunRecord], model_ref: ModelRef | None
) -> dict[str, Any]:
    """The environment the released state ran in: the run that made the model, else
    the newest bound run; with no run, the environment the release was made in."""
    if records:
        producer = None
        if model_ref is not None and model_ref.hash is not None:
            producer = next(
                (r for r in records if any(o.hash == model_ref.hash for o in r.outs)), None
            )
        chosen = producer or max(records, key=lambda r: r.finished)
        return dict(chosen.environment)
    from gitrelstate.environment import capture_environment, load_or_create_secret_key

    return capture_environment(
        repo_root=repo.root,
        variables=tuple(configured_patterns(repo)),
        secret_key=load_or_create_secret_key(repo.private_dir),
    )


def _make_tag(repo: Repo, release: Release, *, sign: bool) -> None:
    message = (
        f"gitrelstate release {release.name}\n\n"
        f"state_id: {release.state_id}\nrelease file: {release_path(release.name)}\n"
        + (f"\n{release.message}\n" if release.message else "")
    )
    tag = tag_name(release.name)
    args = ["tag", "-s" if sign else "-a", tag, "-F", "-", "HEAD"]
    hint = (
        "set up git signing (user.signingkey, and gpg.format=ssh for SSH keys), "
        "or release without --sign"
        if sign
        else None
    )
    try:
        git.run(repo.root, args, input=message.encode("utf-8"))
    except RelstateError as exc:
        raise RelstateError(f"could not create tag {tag}: {exc.message}", hint=hint) from None
    if sign and "-----BEGIN " not in git.run(repo.root, ["cat-file", "tag", tag], check=False):
        # Some git versions report a signing failure yet exit 0 with an unsigned tag.
        git.run(repo.root, ["tag", "-d", tag], check=False)
        raise RelstateError(f"could not create tag {tag}: git did not sign it", hint=hint)

"""``git relstate env show|check``: the recorded environment, and the live one against it.

An environment is recorded by every run (in its record) and, with the hooks
installed, for every commit (a git note, ``gitrelstate.envnotes``). A reference is
read as every command reads one (:mod:`gitrelstate.refs`): a release (or an alias)
gives the release's environment; a run name the run's; a git revision the commit's
note, else the latest run recorded at that commit; no argument gives the latest run
in the work tree, else HEAD's note.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gitrelstate import refs, ui
from gitrelstate.environment import envnotes
from gitrelstate.environment.variables import configured_patterns
from gitrelstate.errors import ComparisonTrouble, RelstateError
from gitrelstate.repo import Repo
from gitrelstate.runs import executor, records
from gitrelstate.state import yamlio
from gitrelstate.state.record import RunRecord


@dataclass(frozen=True)
class Recorded:
    """An environment as recorded, where it was found, and when."""

    label: str
    when: str
    environment: dict[str, Any]
    record: RunRecord | None = None  # set when it comes from a run record


def find_environment(repo: Repo, ref: str | None) -> Recorded:
    """The environment ``ref`` names (see the module's docstring)."""
    if ref is None:
        try:
            return _from_run(records.find_run(repo, None))
        except RelstateError as exc:
            no_run = exc
        commit = envnotes.resolve_commit(repo, "HEAD")
        note = _from_note(repo, "HEAD", commit) if commit else None
        if note is None:
            raise no_run
        return note
    found = refs.resolve(repo, ref, work_tree=False)
    if found.release is not None:
        release = found.release
        newest = max(release.runs, key=lambda r: r.finished, default=None)
        return Recorded(found.label, release.created, dict(release.environment), newest)
    if found.run is not None:
        return _from_run(records.Found(found.label, found.run))
    commit = found.commit or ""
    note = _from_note(repo, ref, commit)
    if note is not None:
        return note
    latest = max(records.records_at(repo, commit), key=lambda r: r.finished, default=None)
    if latest is not None:
        return _from_run(records.Found(f"run '{latest.name}' at {ref}", latest))
    raise RelstateError(
        f"no environment is recorded for {ref} ({commit[:12]})",
        hint="commits made with gitrelstate's hooks installed carry one "
        "('git relstate install'); so do runs and releases ('git relstate list')",
    )


def _from_run(found: records.Found) -> Recorded:
    record = found.record
    return Recorded(found.label, record.finished, dict(record.environment), record)


def _from_note(repo: Repo, ref: str, commit: str) -> Recorded | None:
    doc = envnotes.read_document(repo, commit)
    if doc is None:
        return None
    label = f"commit {ref} ({commit[:12]})"
    return Recorded(label, str(doc.get("captured", "")), dict(doc["environment"]))


def env_show(repo: Repo, ref: str | None, *, as_json: bool) -> int:
    found = find_environment(repo, ref)
    if as_json:
        ui.result(json.dumps(found.environment, indent=2, default=str))
    else:
        ui.result(f"# environment recorded by {found.label} ({found.when})")
        ui.result(yamlio.dumps(found.environment).rstrip())
    return 0


def env_check(repo: Repo, ref: str | None, *, as_json: bool) -> int:
    """Exit 0 when the live environment matches the recorded one, 1 when not, 2 on trouble."""
    from gitrelstate.environment import capture_environment, load_or_create_secret_key
    from gitrelstate.environment.envdiff import compare_environments

    try:
        found = find_environment(repo, ref)
        record = found.record
        if record is None:
            live = envnotes.capture(repo)
        else:
            live = capture_environment(
                python=executor.interpreter_for(record.command, repo.abspath(record.wdir)),
                repo_root=repo.root,
                variables=tuple(configured_patterns(repo))
                + tuple(record.extra.get("env_vars", [])),
                secret_key=load_or_create_secret_key(repo.private_dir),
            )
    except RelstateError as exc:
        raise ComparisonTrouble(exc.message, exc.hint) from None
    diff = compare_environments(found.environment, live)
    if as_json:
        ui.result(
            json.dumps(
                {"matches": not diff, "against": found.label, "differences": diff.to_dict()},
                indent=2,
                default=str,
            )
        )
    elif diff:
        ui.result(f"the live environment differs from the one recorded by {found.label}:")
        for line in diff.lines():
            ui.result(f"  {line}")
    else:
        ui.result(f"the live environment matches the one recorded by {found.label}")
    return 1 if diff else 0

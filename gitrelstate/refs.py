"""References: what every command that takes a state reads, in one place.

A reference is a release name, an alias, a run name or a git revision; ``release:``,
``alias:``, ``run:`` and ``rev:`` choose one reading of a name that could be several.
A bare name is tried in that order (a release, an alias, a run, a revision); ``.``,
``worktree`` or no reference at all mean the work tree where a command allows it. A
reference that names nothing the command takes is refused with one message shape
everywhere (``'X' is not a release, an alias, a run or a git revision``, exit 1; exit 2
in the comparing commands), see docs/usage.md, "References".
"""

from __future__ import annotations

from dataclasses import dataclass

from gitrelstate import git
from gitrelstate.errors import RelstateError
from gitrelstate.releases import aliases, registry
from gitrelstate.releases.aliases import ReferenceNotFound, not_found
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import records
from gitrelstate.state.aliases import check_alias_name
from gitrelstate.state.record import RunRecord, check_run_name
from gitrelstate.state.release import Release

__all__ = ["ALL", "RELEASES", "Reference", "ReferenceNotFound", "resolve", "resolve_release"]

WORK_TREE = "work tree"
WORK_TREE_NAMES = (".", "worktree", "WORKTREE")
PREFIXES = ("release", "alias", "run", "rev")
ALL = PREFIXES
RELEASES = ("release", "alias")


@dataclass(frozen=True)
class Reference:
    """What a reference names: a release (possibly through an alias), a run, a commit,
    or the work tree."""

    kind: str  # "release" | "run" | "commit" | "worktree"
    name: str  # the release's or run's name, the revision as given
    given: str  # what the user typed
    commit: str | None
    release: Release | None = None
    run: RunRecord | None = None
    alias: str | None = None  # the alias a release was reached through

    @property
    def label(self) -> str:
        if self.kind == "release":
            return f"release {self.name}" + (f" (alias {self.alias})" if self.alias else "")
        if self.kind == "run":
            return f"run {self.name}"
        if self.kind == "commit":
            return f"{self.name} ({(self.commit or '')[:12]})"
        return WORK_TREE


def resolve(
    repo: Repo,
    given: str | None,
    *,
    kinds: tuple[str, ...] = ALL,
    work_tree: bool = True,
) -> Reference:
    """The state ``given`` names, among ``kinds`` (``release``, ``alias``, ``run``,
    ``rev``); None or ``.`` is the work tree when ``work_tree`` allows it."""
    if given is None or given in WORK_TREE_NAMES:
        if not work_tree:
            raise RelstateError(
                "this command takes a recorded state, not the work tree",
                hint=f"give {_kinds_text(kinds)} ('git relstate list')",
            )
        return Reference("worktree", WORK_TREE, given or ".", git.head_commit(repo.root))
    prefix, sep, rest = given.partition(":")
    if sep and prefix in PREFIXES and rest:
        if prefix not in kinds:
            raise not_found(given, kinds)
        found = _as(repo, prefix, rest, given)
        if found is None:
            raise not_found(given, (prefix,))
        return found
    for kind in kinds:
        found = _as(repo, kind, given, given)
        if found is not None:
            return found
    raise not_found(given, kinds)


def resolve_release(repo: Repo, given: str) -> Reference:
    """A release or an alias (``checkout --release``, ``pull --release``, ``promote``)."""
    return resolve(repo, given, kinds=RELEASES, work_tree=False)


def _as(repo: Repo, kind: str, name: str, given: str) -> Reference | None:
    """``name`` read as ``kind``; None when it is not one."""
    if kind == "release":
        if not _is_name(name) or not registry.exists(repo, name):
            return None
        release = registry.load_file(repo, name)
        return Reference("release", name, given, _commit_of(release), release=release)
    if kind == "alias":
        if not _is_alias(name):
            return None
        alias = aliases.lookup(repo, name)
        if alias is None:
            return None
        release, _ = aliases.release_for(repo, f"alias:{name}")
        return Reference(
            "release", release.name, given, _commit_of(release), release=release, alias=name
        )
    if kind == "run":
        if not _is_name(name) or not (repo.root / RUNS_DIR / f"{name}.yaml").exists():
            return None
        record = records.load_record(repo, name)
        commit = record.code.get("commit")
        return Reference(
            "run", name, given, commit if isinstance(commit, str) else None, run=record
        )
    commit = rev_parse(repo, name)
    return None if commit is None else Reference("commit", name, given, commit)


def _commit_of(release: Release) -> str | None:
    commit = release.code.get("commit")
    return commit if isinstance(commit, str) else None


def _is_name(name: str) -> bool:
    try:
        check_run_name(name)  # release names follow run names
    except RelstateError:
        return False
    return True


def _is_alias(name: str) -> bool:
    try:
        check_alias_name(name)
    except RelstateError:
        return False
    return True


def rev_parse(repo: Repo, rev: str) -> str | None:
    """The commit ``rev`` names (None when it names none; never read as an option)."""
    if not rev or rev.startswith("-"):
        return None
    out = git.run(repo.root, ["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], check=False)
    return out.strip() or None


def _kinds_text(kinds: tuple[str, ...]) -> str:
    words = [aliases.KIND_WORDS[k] for k in kinds]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]

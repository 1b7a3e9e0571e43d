"""Reading release states (``.relstate/releases/NAME.yaml``): by name, all of them, at a
git revision — always verified.

A release file reaches a clone through any merge, fast-forwards included (no hook
runs), so every command that loads a release checks it here, and this module is the
only way to load one (docs/releases.md, "What protects a release"):

1. the file parses strictly (:mod:`gitrelstate.state.yamlio`: plain JSON values only,
   so the ``state_id`` encoding is injective) and names itself (``name`` = file name);
2. its content gives back its ``state_id``: an edit that did not recompute the id is
   refused, naming the file;
3. when the tag ``relstate/NAME`` exists (``release --tag``), the ``state_id`` it records
   must be the file's; when the tag is signed, ``git verify-tag`` must pass with the
   user's own signing configuration; ``git config relstate.requireSignedReleases true``
   refuses a release without a tag that does.

Without a tag, step 2 detects accidents only: ``state_id`` is not keyed, so whoever
can edit the file can recompute it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from gitrelstate import fsutil, git
from gitrelstate.errors import IntegrityError, RelstateError, StateFileError
from gitrelstate.guard import limits
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from gitrelstate.state.release import (
    RELEASES_DIR,
    Release,
    check_release_name,
    compute_state_id,
    release_path,
)
from gitrelstate.store import parsed

TAG_PREFIX = "relstate/"
REQUIRE_SIGNED = "relstate.requireSignedReleases"
_TAGGED_ID = re.compile(r"^state_id: (blake3:[0-9a-f]{64})$", re.MULTILINE)
# Where git's own parser finds a tag's signature: a line opening an armoured block.
_SIGNATURE = re.compile(r"^-----BEGIN [A-Z0-9 ]*(?:SIGNATURE|SIGNED MESSAGE)-----$", re.MULTILINE)
_EDITED_HINT = (
    "releases are immutable: restore the file from Git (git log -p -- FILE shows who "
    "changed it) and make a new release for new content"
)


def tag_name(name: str) -> str:
    return f"{TAG_PREFIX}{name}"


def _shown(state_id: str) -> str:
    return f"{state_id[:19]}…"


# -- the content: strict parse, self-consistent ------------------------------------------


def parse(
    text: str | bytes, source: str, *, file_name: str | None = None, repo: Repo | None = None
) -> Release:
    """A release from its file's text, refused unless its content gives its ``state_id``
    (and, with ``file_name``, unless it names itself after its file). With ``repo``,
    a large file is parsed once per content (:mod:`gitrelstate.store.parsed`)."""
    if isinstance(text, bytes) and repo is not None:
        folder = parsed.folder_of(repo.private_dir)
        doc = parsed.loads(folder, text, source, cap=limits.RELEASE)
    else:
        doc = yamlio.loads(text, source, cap=limits.RELEASE)
    release = Release.from_dict(doc, source)
    if file_name is not None and release.name != file_name:
        raise StateFileError(
            f"{source}: names release {release.name!r}, but it is the file of release "
            f"{file_name!r}",
            hint=_EDITED_HINT,
        )
    actual = compute_state_id(doc)
    if actual != release.state_id:
        raise IntegrityError(
            f"{source}: content does not match its state_id (recorded "
            f"{_shown(release.state_id)}, content gives {_shown(actual)}): the file was edited",
            hint=_EDITED_HINT,
        )
    return release


# -- the tag: what release --tag/--sign recorded ----------------------------------------


@dataclass(frozen=True)
class Tag:
    """``refs/tags/relstate/NAME`` as git holds it."""

    name: str
    annotated: bool
    state_id: str | None  # the 'state_id:' line of an annotated tag's message
    signed: bool


def read_tag(repo: Repo, name: str) -> Tag | None:
    """The release's tag, None when there is none."""
    ref = f"refs/tags/{tag_name(name)}"
    raw = git.run(repo.root, ["cat-file", "-p", ref], check=False)
    if not raw:
        return None
    head, _, message = raw.partition("\n\n")
    annotated = head.startswith("object ") and "\ntype " in head
    if not annotated:  # a lightweight tag: the ref names a commit directly
        return Tag(tag_name(name), False, None, False)
    signature = _SIGNATURE.search(message)
    body = message[: signature.start()] if signature else message
    found = _TAGGED_ID.search(body)
    return Tag(tag_name(name), True, found.group(1) if found else None, signature is not None)


def _require_signed(repo: Repo) -> bool:
    # The user's git config, never the committed .relstate/config.yaml: whoever can
    # change the repository must not be able to turn the requirement off.
    out = git.run(repo.root, ["config", "--type=bool", "--get", REQUIRE_SIGNED], check=False)
    return out.strip() == "true"


def check_tag(repo: Repo, release: Release, source: str, *, blob: str | None = None) -> None:
    """Refuse ``release`` (read from ``source``) when its tag disagrees with it.

    ``blob`` is the git blob id of the file's bytes, compared with the file in the
    tagged commit when the tag itself records no ``state_id`` (a tag made by hand).
    """
    tag = read_tag(repo, release.name)
    if tag is None or not tag.signed:
        if _require_signed(repo):
            what = "no tag" if tag is None else f"an unsigned tag {tag.name}"
            raise IntegrityError(
                f"{source}: release '{release.name}' has {what}, and {REQUIRE_SIGNED} is set",
                hint="fetch the signed tag from a trusted remote (git fetch --tags), or "
                f"unset {REQUIRE_SIGNED} to trust untagged releases",
            )
        if tag is None:
            return
    if tag.signed:
        try:
            git.run(repo.root, ["verify-tag", f"refs/tags/{tag.name}"])
        except RelstateError as exc:
            raise IntegrityError(
                f"{source}: its tag {tag.name} is signed, but git cannot verify the "
                f"signature ({exc.message.removeprefix('git verify-tag failed: ')})",
                hint="make the signer's key known to git (gpg --import, or "
                "gpg.ssh.allowedSignersFile for SSH keys); if the tag was replaced, "
                "fetch it again from a trusted remote",
            ) from None
    if tag.state_id is not None:
        if tag.state_id != release.state_id:
            raise IntegrityError(
                f"{source}: does not match its tag {tag.name} (the tag records state_id "
                f"{_shown(tag.state_id)}, the file has {_shown(release.state_id)}): the "
                "release file was changed after it was tagged",
                hint=_EDITED_HINT,
            )
        return
    _check_tagged_file(repo, tag, release, source, blob)


def _check_tagged_file(
    repo: Repo, tag: Tag, release: Release, source: str, blob: str | None
) -> None:
    """A tag without a recorded ``state_id``: the release file in its commit is the
    reference (refused when there is none)."""
    spec = f"refs/tags/{tag.name}:{release_path(release.name)}"
    tagged = git.run(repo.root, ["rev-parse", "--verify", "-q", spec], check=False).strip()
    if not tagged:
        raise IntegrityError(
            f"{source}: the tag {tag.name} records no state_id and its commit holds no "
            "release file, so it cannot vouch for this release",
            hint=f"delete the tag (git tag -d {tag.name}) if it is not a release tag",
        )
    if tagged == blob:
        return
    raw = git.read_blobs(repo.root, [tagged]).get(tagged, b"")
    reference = parse(raw, f"{tag.name}:{release_path(release.name)}")
    if reference.state_id != release.state_id:
        raise IntegrityError(
            f"{source}: differs from the release file in the commit its tag {tag.name} "
            f"names (state_id {_shown(reference.state_id)} there, "
            f"{_shown(release.state_id)} here)",
            hint=_EDITED_HINT,
        )


# -- loading -------------------------------------------------------------------------------


def _read(repo: Repo, name: str) -> bytes:
    rel = release_path(name)
    path = repo.abspath(rel)
    if not os.path.lexists(path):
        raise RelstateError(
            f"no release named '{name}'",
            hint="see 'git relstate list'; make one with 'git relstate release NAME'",
        )
    # A committed symlink must not make gitrelstate read (and quote) a file elsewhere.
    real = repo.resolve_inside(rel, rel, "release file", allow_state=True)
    return limits.read_capped(real, limits.RELEASE, rel)


def load(repo: Repo, name: str) -> Release:
    """The release ``name`` names in the work tree, verified (see the module doc).

    ``name`` may also be an alias, or carry a ``release:``/``alias:`` prefix: every
    command that takes a release takes an alias, read by
    :func:`gitrelstate.releases.aliases.release_for` (as :mod:`gitrelstate.refs` does).
    """
    from gitrelstate.releases import aliases

    return aliases.release_for(repo, name)[0]


def load_file(repo: Repo, name: str) -> Release:
    """The release file of ``name`` (a release name only), verified."""
    check_release_name(name)
    raw = _read(repo, name)
    rel = release_path(name)
    release = parse(raw, rel, file_name=name, repo=repo)
    check_tag(repo, release, rel, blob=git.blob_id(raw))
    return release


def exists(repo: Repo, name: str) -> bool:
    return repo.abspath(release_path(name)).exists()


def names(repo: Repo) -> list[str]:
    """The names of the release files in the work tree."""
    folder = repo.abspath(RELEASES_DIR)
    if not folder.is_dir():
        return []
    return [p.stem for p in sorted(folder.glob("*.yaml")) if not fsutil.is_tmp_name(p.name)]


def all_releases(repo: Repo) -> list[Release]:
    """Every release of the work tree, each verified."""
    return [load_file(repo, name) for name in names(repo)]


def releases_at(repo: Repo, rev: str) -> list[Release]:
    """The release files committed in ``rev``'s tree, each verified."""
    listing = git.run(repo.root, ["ls-tree", "-l", "-z", rev, f"{RELEASES_DIR}/"], check=False)
    blobs: dict[str, str] = {}
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 4 and fields[1] == "blob" and path.endswith(".yaml"):
            limits.RELEASE.check(int(fields[3]) if fields[3].isdigit() else 0, f"{rev}:{path}")
            blobs[fields[2]] = path
    found = []
    for sha, raw in git.read_blobs(repo.root, list(blobs)).items():
        source = f"{rev}:{blobs[sha]}"
        stem = blobs[sha].rpartition("/")[2][: -len(".yaml")]
        release = parse(raw, source, file_name=stem, repo=repo)
        check_tag(repo, release, source, blob=sha)
        found.append(release)
    return found


def load_at(repo: Repo, rev: str, name: str) -> Release | None:
    """The release ``name`` as committed in ``rev``, verified (None when ``rev`` has no
    such release file)."""
    check_release_name(name)
    rel = release_path(name)
    listing = git.run(repo.root, ["ls-tree", "-l", "-z", rev, "--", rel], check=False)
    meta, _, path = listing.rstrip("\0").partition("\t")
    fields = meta.split()
    if path != rel or len(fields) != 4 or fields[1] != "blob":
        return None
    source = f"{rev}:{rel}"
    limits.RELEASE.check(int(fields[3]) if fields[3].isdigit() else 0, source)
    raw = git.read_blobs(repo.root, [fields[2]]).get(fields[2], b"")
    release = parse(raw, source, file_name=name, repo=repo)
    check_tag(repo, release, source, blob=fields[2])
    return release


# -- for verify ------------------------------------------------------------------------------


def state_id_problem(text: str, source: str) -> str | None:
    """Why a release file's content does not match its ``state_id`` (None when it does).

    The content checks only; :func:`release_problem` adds the tag."""
    try:
        parse(text, source)
    except RelstateError as exc:
        return exc.message
    return None


def release_problem(
    repo: Repo, text: str | bytes, source: str, *, file_name: str | None = None
) -> str | None:
    """Why a release file cannot be trusted: its content (as :func:`state_id_problem`)
    or its tag (None when both hold)."""
    try:
        release = parse(text, source, file_name=file_name)
        raw = text.encode("utf-8") if isinstance(text, str) else text
        check_tag(repo, release, source, blob=git.blob_id(raw))
    except RelstateError as exc:
        return exc.message
    return None


def verify_problems(repo: Repo, *, all_refs: bool) -> tuple[list[str], int]:
    """What ``verify`` reports about releases: (problems, files checked).

    Every release file of the work tree, and with ``all_refs`` every version of one in
    any ref's history, checked as every command checks it (content, name, tag,
    signature), each read within the release cap: a file that is a symlink to
    ``/dev/zero`` or a 1 GB blob is a problem, not a hang.
    """
    from gitrelstate.workspace.history import within_cap

    problems: list[str] = []
    checked = 0
    for name in names(repo):
        checked += 1
        try:
            load_file(repo, name)
        except RelstateError as exc:
            problems.append(exc.message)
    if all_refs and git.has_commits(repo.root):
        blobs = git.blobs_matching(repo.root, ["--all"], ".yaml")
        wanted = {sha: p for sha, p in blobs.items() if p.startswith(RELEASES_DIR + "/")}
        small = within_cap(repo, wanted, limits.RELEASE)
        for sha in sorted(set(wanted) - set(small)):
            checked += 1
            problems.append(f"{wanted[sha]} (blob {sha[:12]}): larger than a release file may be")
        for sha, raw in git.read_blobs(repo.root, list(small)).items():
            checked += 1
            path = small[sha]
            stem = path.rpartition("/")[2][: -len(".yaml")]
            problem = release_problem(repo, raw, f"{path} (blob {sha[:12]})", file_name=stem)
            if problem is not None:
                problems.append(problem)
    return problems, checked

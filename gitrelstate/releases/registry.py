"""Reading and checking release states (``.relstate/releases/NAME.yaml``): by name, all of
them, at a git revision."""

from __future__ import annotations

from gitrelstate import fsutil, git
from gitrelstate.errors import RelstateError, StateFileError
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from gitrelstate.state.release import (
    RELEASES_DIR,
    Release,
    check_release_name,
    compute_state_id,
    release_path,
)

TAG_PREFIX = "relstate/"


def tag_name(name: str) -> str:
    return f"{TAG_PREFIX}{name}"


def parse(text: str, source: str) -> Release:
    return Release.from_dict(yamlio.loads(text, source), source)


def load(repo: Repo, name: str) -> Release:
    check_release_name(name)
    rel = release_path(name)
    path = repo.abspath(rel)
    if not path.exists():
        raise RelstateError(
            f"no release named '{name}'",
            hint="see 'git relstate list'; make one with 'git relstate release NAME'",
        )
    return Release.from_dict(yamlio.read(path, rel), rel)


def exists(repo: Repo, name: str) -> bool:
    return repo.abspath(release_path(name)).exists()


def all_releases(repo: Repo) -> list[Release]:
    folder = repo.abspath(RELEASES_DIR)
    if not folder.is_dir():
        return []
    return [
        load(repo, p.stem) for p in sorted(folder.glob("*.yaml")) if not fsutil.is_tmp_name(p.name)
    ]


def releases_at(repo: Repo, rev: str) -> list[Release]:
    """The release files committed in ``rev``'s tree."""
    listing = git.run(repo.root, ["ls-tree", "-z", rev, f"{RELEASES_DIR}/"], check=False)
    blobs: dict[str, str] = {}
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == "blob" and path.endswith(".yaml"):
            blobs[fields[2]] = path
    found = []
    for sha, raw in git.read_blobs(repo.root, list(blobs)).items():
        found.append(parse(raw.decode("utf-8"), f"{rev}:{blobs[sha]}"))
    return found


def state_id_problem(text: str, source: str) -> str | None:
    """Why a release file's ``state_id`` does not match its content (None when it does)."""
    try:
        doc = yamlio.loads(text, source)
        release = Release.from_dict(doc, source)
    except StateFileError as exc:
        return exc.message
    actual = compute_state_id(doc)
    if actual != release.state_id:
        return (
            f"{source}: content does not match its state_id (recorded "
            f"{release.state_id[:19]}…, content gives {actual[:19]}…): the file was edited"
        )
    return None

"""sha256 digests of released objects, computed from the cache (state files hold blake3
only; SLSA verifiers and most tools know sha256).

Each object's bytes are read once and hashed twice: blake3 proves they are the bytes the
state names, sha256 is what the export publishes. A folder's digest is in-toto's
``dirHash``: sha256 over ``"<sha256 of file>  <path>\\n"`` lines in manifest order, which
is what ``find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum`` prints there.
"""

from __future__ import annotations

import hashlib

from gitrelstate import hashing
from gitrelstate.errors import IntegrityError, RelstateError
from gitrelstate.exports.source import ExportState
from gitrelstate.repo import Repo
from gitrelstate.state.record import Artifact
from gitrelstate.workspace.pointers import load_manifest

CHUNK = hashing.CHUNK


class Digests:
    """sha256 / dirHash of a state's objects, each object hashed at most once."""

    def __init__(self, repo: Repo, state: ExportState) -> None:
        self.repo = repo
        self.state = state
        self._files: dict[str, str] = {}

    def _hint(self) -> str:
        which = f"--{self.state.kind} {self.state.name}"
        return f"fetch the objects it binds: git relstate fetch {which}"

    def of(self, art: Artifact) -> tuple[str, str]:
        """(``sha256`` or ``dirHash``, hex) for a file or a tracked folder."""
        if art.nfiles is None:
            return "sha256", self.file_sha256(hashing.hex_of(art.hash), art.path)
        return "dirHash", self.dir_hash(art)

    def file_sha256(self, hex_: str, where: str) -> str:
        known = self._files.get(hex_)
        if known is not None:
            return known
        try:
            stream = self.repo.cache.open(hex_)
        except FileNotFoundError:
            raise RelstateError(
                f"{where}: object {hashing.content_id(hex_)} is not in the cache "
                f"(needed for its sha256)",
                hint=self._hint(),
            ) from None
        blake = hashing.hasher()
        sha = hashlib.sha256()
        with stream:
            while chunk := stream.read(CHUNK):
                blake.update(chunk)
                sha.update(chunk)
        if blake.hexdigest() != hex_:
            # Spec 7.1: an object that does not hash to its name is removed when read.
            self.repo.cache.remove(hex_)
            raise IntegrityError(
                f"{where}: cached object {hashing.content_id(hex_)} is corrupt (removed)",
                hint=self._hint(),
            )
        self._files[hex_] = sha.hexdigest()
        return self._files[hex_]

    def dir_hash(self, art: Artifact) -> str:
        manifest = load_manifest(self.repo, art.hash, art.path)
        lines = "".join(
            f"{self.file_sha256(entry.hex, f'{art.path}/{path}')}  {path}\n"
            for path, entry in sorted(manifest.entries.items())
        )
        return hashlib.sha256(lines.encode("utf-8")).hexdigest()

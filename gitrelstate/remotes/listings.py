"""Reading a folder listing (directory manifest) from a remote: bounded by the file
count its pointer declares, verified against its id, and parsed before anyone keeps it.

``diff``, ``verify -r``, ``gc --remote`` and ``reproduce`` read listings the cache
lacks straight from the remote; this is the one way they do it, so none of them can
be held by an object that never ends or be left with an unparsable listing in the
cache.
"""

from __future__ import annotations

from pathlib import Path

from gitrelstate import hashing
from gitrelstate.errors import IntegrityError
from gitrelstate.guard import reads
from gitrelstate.remotes.backends.base import object_key
from gitrelstate.remotes.packindex import temp_file
from gitrelstate.remotes.remote import Remote
from gitrelstate.state.manifest import Manifest

# Listings up to this bound are read into memory; a larger bound (a pointer claiming
# many files) streams to a temp file first, so only bytes that hash to the listing's
# id are ever held in memory whole.
IN_MEMORY = 16 * 1024 * 1024


def read_listing(
    remote: Remote, hex_: str, nfiles: int | None, source: str, tmp_dir: Path | None = None
) -> tuple[bytes, Manifest]:
    """The listing ``hex_`` from ``remote``: its bytes and its parsed manifest.

    Raises FileNotFoundError when the remote lacks it, :class:`IntegrityError` when it
    does not hash to its id or exceeds what ``nfiles`` files can take, StateFileError
    when it does not parse, and the backend's own errors when the remote is unreachable.
    """
    limit = reads.listing_limit(nfiles)
    name = object_key(hex_)
    if limit <= IN_MEMORY:
        raw = remote.backend.fetch_bytes(name, limit)
        actual = hashing.hash_bytes(raw)
    else:
        with temp_file(tmp_dir) as tmp:
            actual = remote.backend.fetch_file(name, tmp, limit)
            raw = tmp.read_bytes() if actual == hex_ else b""
    if actual != hex_:
        raise IntegrityError(
            f"folder listing {hex_[:16]}… on remote {remote.shown} is corrupt "
            f"(its content hashes to {actual[:16]}…); it was not used",
            hint=f"run 'git relstate verify -r {remote.name}' in a clone that has a good "
            "copy (it removes corrupt objects from the remote), then push from there",
        )
    return raw, Manifest.from_bytes(raw, source)

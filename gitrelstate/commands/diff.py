"""``git relstate diff [A [B]]``: what changed between two states, layer by layer."""

from __future__ import annotations

import json
from collections.abc import Sequence

from gitrelstate import hashing, ui
from gitrelstate.diff import states
from gitrelstate.diff.document import LAYERS
from gitrelstate.diff.layers import diff_states
from gitrelstate.errors import ComparisonTrouble, RelstateError
from gitrelstate.repo import Repo


class Listings:
    """Folder listings for per-file data changes: the cache first, then the default remote.

    A listing fetched from the remote is verified and kept in the cache. When no
    remote can be reached, the listing is reported as unavailable, not an error.
    """

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._remote: object | None = None
        self._remote_failed = False

    def __call__(self, content_id: str) -> bytes | None:
        """The listing's bytes, verified against its id (parsed by the comparison)."""
        hex_ = hashing.hex_of(content_id)
        raw = self._from_cache(hex_)
        if raw is None:
            raw = self._from_remote(hex_)
        return raw

    def _from_cache(self, hex_: str) -> bytes | None:
        try:
            raw = self.repo.cache.read_bytes(hex_)
        except (FileNotFoundError, KeyError):
            return None
        return raw if hashing.hash_bytes(raw) == hex_ else None

    def _from_remote(self, hex_: str) -> bytes | None:
        if self._remote_failed:
            return None
        try:
            if self._remote is None:
                from gitrelstate.remotes.remote import resolve as resolve_remote

                self._remote = resolve_remote(self.repo, None)
            remote = self._remote
            with remote.backend.open(hex_) as f:  # type: ignore[attr-defined]
                raw = f.read()
        except Exception as exc:  # no remote, unreachable, or the object is not there
            if isinstance(exc, FileNotFoundError):
                return None
            self._remote_failed = True
            ui.debug(f"diff: no folder listings from a remote ({exc})")
            return None
        if hashing.hash_bytes(raw) != hex_:
            return None
        self.repo.cache.add_bytes(hex_, raw)
        return bytes(raw)


def diff(
    repo: Repo,
    refs: Sequence[str],
    *,
    as_json: bool,
    markdown: bool,
    layers: Sequence[str],
    exit_code: bool,
    stat: bool,
) -> int:
    """Exit 0 (1 with --exit-code when something changed); trouble is exit 2."""
    try:
        if len(refs) > 2:
            raise RelstateError("diff compares two states: give at most A and B")
        ref_a = refs[0] if refs else "HEAD"
        ref_b = refs[1] if len(refs) > 1 else None
        a = states.resolve(repo, ref_a)
        b = states.resolve(repo, ref_b)
        chosen = tuple(layers) or LAYERS
        result = diff_states(a, b, chosen, Listings(repo))
    except RelstateError as exc:
        raise ComparisonTrouble(exc.message, exc.hint) from None
    if as_json:
        ui.result(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    elif markdown:
        from gitrelstate.diff.render_markdown import render_markdown

        ui.result(render_markdown(result).rstrip("\n"))
    else:
        from gitrelstate.diff.render_text import render_text

        ui.result(render_text(result, stat=stat))
    return 1 if exit_code and result.changed else 0

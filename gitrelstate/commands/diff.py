"""``git relstate diff [A [B]]``: what changed between two states, layer by layer."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from gitrelstate import hashing, ui
from gitrelstate.diff import states
from gitrelstate.diff.aliasdiff import alias_changes
from gitrelstate.diff.document import LAYERS
from gitrelstate.diff.layers import diff_states
from gitrelstate.errors import ComparisonTrouble, IntegrityError, RelstateError, StateFileError
from gitrelstate.repo import Repo

if TYPE_CHECKING:
    from gitrelstate.diff.states import State
    from gitrelstate.remotes.remote import Remote


class Listings:
    """Folder listings for per-file data changes: the cache first, then the default remote.

    A listing read from the remote is bounded by the file count its pointer declares,
    verified against its id and parsed before it is kept in the cache. When no remote
    can provide it (none set, unreachable, the object missing or damaged), the diff
    notes that per-file changes are not shown; that is not trouble (docs/pr-review.md).
    """

    def __init__(
        self, repo: Repo, nfiles: Callable[[str], int | None], commits: Sequence[str] = ()
    ) -> None:
        self.repo = repo
        self.nfiles = nfiles  # content id -> file count its pointer declares
        self.commits = commits  # the compared states' commits
        self._remote: Remote | None = None
        self._remote_failed = False

    def __call__(self, content_id: str) -> bytes | None:
        """The listing's bytes, verified against its id (parsed by the comparison)."""
        hex_ = hashing.hex_of(content_id)
        raw = self._from_cache(hex_)
        if raw is None:
            raw = self._from_remote(hex_, content_id)
        return raw

    def _from_cache(self, hex_: str) -> bytes | None:
        try:
            raw = self.repo.cache.read_bytes(hex_)
        except (FileNotFoundError, KeyError):
            return None
        return raw if hashing.hash_bytes(raw) == hex_ else None

    def _from_remote(self, hex_: str, content_id: str) -> bytes | None:
        if self._remote_failed:
            return None
        from gitrelstate.remotes import listings
        from gitrelstate.remotes.remote import resolve as resolve_remote
        from gitrelstate.remotes.remote import settings_agree

        if self._remote is None:
            try:
                self._remote = resolve_remote(self.repo, None)
            except RelstateError as exc:  # none set, or one this clone may not use
                self._remote_failed = True
                ui.debug(f"diff: no folder listings from a remote ({exc.message})")
                return None
            if not settings_agree(self.repo, self._remote.name, self.commits):
                # A pull request that changes the remote's endpoint must not send this
                # machine's credentials (CI's) there: compare without it.
                self._remote_failed = True
                ui.warn(
                    f"folder listings not read from remote '{self._remote.name}': its "
                    "committed settings differ between the compared states"
                )
                return None
        try:
            raw, _ = listings.read_listing(
                self._remote, hex_, self.nfiles(content_id), content_id, self.repo.cache.tmp_dir
            )
        except (MemoryError, RecursionError):
            raise  # a bug to fix, never "unavailable" (the reads are bounded)
        except FileNotFoundError:
            return None
        except (IntegrityError, StateFileError) as exc:  # damaged, too large, unparsable
            ui.warn(f"folder listing {hex_[:16]}… not used: {exc.message}")
            return None
        except RelstateError as exc:  # the remote itself cannot be used: ask it no more
            self._remote_failed = True
            ui.warn(f"folder listings not read from the remote: {exc.message}")
            return None
        except Exception as exc:  # unreachable: do not wait on it for every listing
            self._remote_failed = True
            ui.debug(f"diff: no folder listings from a remote ({exc})")
            return None
        # Kept only now: verified and parsed, so nothing unusable enters the cache.
        self.repo.cache.add_bytes(hex_, raw)
        return raw


def _declared_nfiles(*sides: State) -> Callable[[str], int | None]:
    """content id -> the largest file count a pointer of ``sides`` declares for it."""
    found: dict[str, int] | None = None

    def nfiles(content_id: str) -> int | None:
        nonlocal found
        if found is None:  # data layers are computed by the time listings are asked for
            found = {}
            for side in sides:
                for art in side.data.values():
                    if art.nfiles is not None:
                        found[art.hash] = max(found.get(art.hash, 0), art.nfiles)
        return found.get(content_id)

    return nfiles


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
        a, b = states.resolve_pair(repo, ref_a, ref_b)
        chosen = tuple(layers) or LAYERS
        commits = [side.commit for side in (a, b) if side.commit]
        listings = Listings(repo, _declared_nfiles(a, b), commits)
        result = diff_states(a, b, chosen, listings)
        moved = alias_changes(a, b, chosen, listings)
        if moved is not None:
            result = replace(result, aliases=moved)
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

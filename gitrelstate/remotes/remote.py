"""Remotes: the one place where fsspec URLs and storage options are turned into storage.

A remote holds the same content-addressed layout as the cache
(``<url>/blake3/ab/cdef...``).  Local folders get a direct backend (atomic
rename, no fsspec overhead); every other protocol goes through fsspec.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitrelstate import ui
from gitrelstate.errors import RelstateError, RemoteError
from gitrelstate.guard import secrets
from gitrelstate.remotes.backends.base import Backend
from gitrelstate.remotes.backends.fsspec_backend import FsspecBackend
from gitrelstate.remotes.backends.local import LocalBackend
from gitrelstate.state import config as config_model
from gitrelstate.state.config import RemoteConfig

if TYPE_CHECKING:
    from gitrelstate.repo import Repo

BACKEND_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "http": "aiohttp",
    "https": "aiohttp",
    "ssh": "sshfs",
    "sftp": "sshfs",
}


def redact_url(url: str) -> str:
    """A URL (or any text holding URLs) as it may be shown: any user info hidden, even a
    plain user name (also where a storage library moved it into a path, as in
    ``http://host/user:password@bucket/key``), and every other secret part
    (:func:`gitrelstate.guard.secrets.redact_text`: query tokens, webhook paths, ...)."""
    url = re.sub(r"(://)[^/@\s]*@", r"\1***@", url)
    url = re.sub(r"(/)[^/@\s]*:[^/@\s]*@", r"\1***@", url)
    return secrets.redact_text(url)


def protocol_of(url: str) -> str:
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return match.group(1).lower() if match else "file"


def is_local(url: str) -> bool:
    return protocol_of(url) in ("file", "local")


class Remote:
    """A named remote from the configuration, opened lazily."""

    def __init__(self, config: RemoteConfig, repo_root: Path) -> None:
        self.name = config.name
        self.url = config.url
        self.options: Mapping[str, Any] = config.options
        self.client = config.client
        self.packs = config.packs  # push small objects in packs (reading always knows them)
        self.repo_root = repo_root
        # Where copies of the remote's pack indexes are kept (set by resolve()).
        self.private_dir: Path | None = None
        self._backend: Backend | None = None

    @property
    def shown(self) -> str:
        return f"'{self.name}' ({redact_url(self.url)})"

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._open()
        return self._backend

    def _open(self) -> Backend:
        if is_local(self.url):
            raw = re.sub(r"^(file|local)://", "", self.url)
            root = Path(os.path.expanduser(raw))
            if not root.is_absolute():
                root = self.repo_root / root
            return LocalBackend(root)
        protocol = protocol_of(self.url)
        if protocol in ("s3", "s3a") and self.client in ("auto", "obstore"):
            backend = self._open_obstore_s3()
            if backend is not None:
                return backend
            if self.client == "obstore":
                raise RemoteError(
                    f"remote {self.shown}: its options cannot be expressed for obstore",
                    hint="use 'client: auto' (falls back to s3fs) or adjust the options",
                )
        try:
            import fsspec

            fs, root = fsspec.core.url_to_fs(self.url, **dict(self.options))
        except ImportError as exc:
            package = BACKEND_PACKAGES.get(protocol, str(exc.name or "the fsspec backend"))
            raise RemoteError(
                f"remote {self.shown} needs the Python package '{package}'",
                hint=f"pip install {package}",
            ) from None
        except (ValueError, TypeError) as exc:
            raise RemoteError(
                f"remote {self.shown}: unsupported URL or option ({self.redact(str(exc))})",
                hint="check the URL and the -o options with 'git relstate remote list'",
            ) from None
        return FsspecBackend(fs, str(root))

    def _open_obstore_s3(self) -> Backend | None:
        from gitrelstate.remotes.backends.obstore_backend import ObstoreBackend, s3_config

        config = s3_config(self.options)
        if config is None:
            return None
        try:
            from obstore.store import S3Store
        except ImportError:
            return None
        bucket, _, prefix = re.sub(r"^s3a?://", "", self.url).partition("/")
        try:
            store = S3Store(bucket, **config)
        except Exception as exc:
            raise RemoteError(
                f"remote {self.shown}: invalid S3 settings ({self.redact(str(exc))})",
                hint="check the URL and the -o options with 'git relstate remote list'",
            ) from None
        return ObstoreBackend(store, prefix)

    def redact(self, text: str) -> str:
        """``text`` (say, an error of a storage library) without this remote's credentials:
        neither the URL's user:password nor the value of any secret-looking option."""
        from gitrelstate.state.config import secret_option_names

        found: list[str] = []
        creds = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^\s/?#@:]*(?::[^\s@]*)?)@", self.url)
        if creds:
            found += [creds.group(1), *creds.group(1).split(":")]
        # Libraries quote URLs in their errors however they like: every secret part of
        # the URL is replaced wherever it appears, not only where the URL shows it.
        found += [self.url[s.start : s.end] for s in secrets.find(self.url)]
        for dotted in secret_option_names(self.options):
            value: Any = self.options
            for part in dotted.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
            found.append(str(value) if value is not None else "")
        for secret in sorted({s for s in found if len(s) >= 3}, key=len, reverse=True):
            text = text.replace(secret, "***")
        return redact_url(text)

    def error(self, action: str, exc: BaseException) -> RemoteError:
        detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return RemoteError(
            f"could not {action} remote {self.shown}: {self.redact(detail)}",
            hint="check that the remote is reachable and your credentials, then retry",
        )


def resolve(repo: Repo, name: str | None) -> Remote:
    """The remote called ``name``, or the default remote when ``name`` is None.

    Refuses a remote whose committed settings the local ones are not bound to
    (:func:`check_binding`)."""
    config = repo.config
    chosen = name or config.default_remote
    if chosen is None:
        raise RelstateError(
            "no remote given and no default remote set",
            hint="add one: git relstate remote add origin /path/to/storage --default",
        )
    if chosen not in config.remotes:
        raise RelstateError(f"no remote named '{chosen}'", hint="see 'git relstate remote list'")
    check_binding(repo, config.remotes[chosen])
    remote = Remote(config.remotes[chosen], repo.root)
    remote.private_dir = repo.private_dir
    return remote


def check_binding(repo: Repo, config: RemoteConfig) -> None:
    """Refuse to use a remote where the committed config (other people's) would decide
    where this machine's credentials or data go (docs/remotes.md, "Credentials"):

    - the committed settings changed since the local settings for the remote were made;
    - a committed folder URL that is relative or starts with '~' (it names a different
      place on every machine) that this machine never accepted.

    Local settings made before pins existed are pinned now (first use).
    """
    state = config_model.binding(config)
    if state == "ok":
        return
    if state == "unpinned":
        try:
            pin(repo, config.name)
        except OSError as exc:  # a read-only work tree: checked again next time
            ui.debug(f"could not pin remote '{config.name}': {exc}")
        return
    name = config.name
    if state == "folder":
        shown = redact_url(config.url)
        raise RelstateError(
            f"remote '{name}': the committed URL '{shown}' is a folder relative to the "
            "repository or your home; a repository may not choose folders on this machine",
            hint=f"if that folder is right here, say so for this clone: "
            f"git relstate remote add {name} '{shown}' --local",
        )
    raise RelstateError(
        f"remote '{name}': its settings in .relstate/config.yaml (URL, endpoint or options) "
        "changed since this machine's settings for it in .relstate/config.local.yaml were "
        "made; your credentials and data are not sent to the new destination",
        hint="review the change (git log -p -- .relstate/config.yaml); if you trust it, "
        f"delete the 'pinned:' line of remotes.{name} in .relstate/config.local.yaml (the "
        "new settings are pinned on the next use)",
    )


def settings_agree(repo: Repo, name: str, revs: Iterable[str]) -> bool:
    """Whether remote ``name``'s committed settings (URL, options, client) are the same in
    the work tree and at every revision of ``revs`` (a remote only this machine's
    config.local.yaml names agrees).

    A comparison across commits (``diff BASE HEAD`` in CI) must not let the newer side
    choose where the machine's ambient credentials go: a pull request that changes a
    remote's endpoint is compared without that remote.
    """
    from gitrelstate import git
    from gitrelstate.guard import limits
    from gitrelstate.repo import CONFIG, STATE_DIR
    from gitrelstate.state import yamlio

    here = (repo.read_config_doc().get("remotes") or {}).get(name)
    if here is None:
        return True  # set in config.local.yaml only: this machine chose it
    wanted = config_model.fingerprint(here)
    for rev in dict.fromkeys(revs):
        where = f"{rev}:{STATE_DIR}/{CONFIG}"
        size = git.run(repo.root, ["cat-file", "-s", where], check=False).strip()
        if not size.isdigit() or int(size) > limits.CONFIG.max_bytes:
            return False  # no config there, or more than a config may be: not the same
        try:
            raw = git.run_bytes(repo.root, ["cat-file", "blob", where])
            doc = config_model.validate(yamlio.loads(raw, where, cap=limits.CONFIG), where)
        except RelstateError:
            return False
        there = (doc.get("remotes") or {}).get(name)
        if there is None or config_model.fingerprint(there) != wanted:
            return False
    return True


def pin(repo: Repo, name: str) -> None:
    """Bind the local settings of remote ``name`` to its committed settings as they are
    now: write their fingerprint to ``remotes.NAME.pinned`` in config.local.yaml."""
    shared = (repo.read_config_doc().get("remotes") or {}).get(name)
    doc = repo.read_config_doc(local=True)
    remotes = doc.get("remotes") or {}
    entry = remotes.get(name) or {}
    if shared is None:
        if "pinned" not in entry:
            return
        del entry["pinned"]
    else:
        value = config_model.fingerprint(shared)
        if entry.get("pinned") == value:
            return
        entry["pinned"] = value
    if entry:
        remotes[name] = entry
    else:
        remotes.pop(name, None)
    if remotes:
        doc["remotes"] = remotes
    else:
        doc.pop("remotes", None)
    save_config_doc(repo, doc, local=True)


def save_config_doc(repo: Repo, doc: dict[str, Any], *, local: bool) -> None:
    """Write ``.relstate/config.yaml`` (or ``config.local.yaml``) atomically, canonical."""
    from gitrelstate import fsutil
    from gitrelstate.state import FORMAT_VERSION, yamlio

    path = repo.local_config_path if local else repo.config_path
    doc["relstate"] = FORMAT_VERSION  # writers write the latest version
    fsutil.write_text_atomic(path, yamlio.dumps(config_model.ordered(doc)))
